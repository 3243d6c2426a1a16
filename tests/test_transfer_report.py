"""Transfer pages, the Kornblith plot and `bench check` over transfer records (records written directly)."""

from __future__ import annotations

import json
import math

import pytest

from bench import cli
from bench.store import transfer as store


def _record(model, probe, shots, top1, dataset="digits", weights="pretrained", sd=0.0):
    key = store.TransferKey(
        model=model,
        weights=weights,
        weights_digest="file:abc",
        dataset=dataset,
        splits="full",
        parts={"train": "t", "val": "v", "test": "s"},
        transform={"input_size": [3, 224, 224]},
        feature={"kind": "timm-pre-logits"},
        precision="fp32",
        probe=probe,
        settings={"x": 1},
        shots=shots,
        episodes=1 if shots == "full" else 5,
        seed=None if shots == "full" else 0,
        sampled=None if shots == "full" else "d",
    )
    spread = {"mean": top1, "sd": sd, "min": top1, "median": top1, "max": top1}
    return store.TransferRecord(
        key=key,
        summary={"top1": spread, "top5": {**spread, "mean": 99.0}, "mean_per_class": spread},
        episodes=[],
        n={"train": 1079, "val": 359, "test": 359},
        num_classes=10,
    )


@pytest.fixture
def results(tmp_path):
    root = tmp_path / "results"
    for r in (
        _record("timm:tf_efficientnet_lite0.in1k", "logreg", "full", 95.5),
        _record("timm:tf_efficientnet_lite0.in1k", "knn", "full", 93.0),
        _record("timm:tf_efficientnet_lite0.in1k", "logreg", "5", 80.25, sd=1.5),
        _record("timm:test_resnet.r160_in1k", "logreg", "full", 60.0, weights="random"),
        _record("timm:tf_efficientnet_lite0.in1k", "logreg", "full", 90.0, dataset="cifar10"),
    ):
        store.write(r, root)
    return root


def test_pages_rank_models_show_imagenet_top1_and_means_across_datasets(results, tmp_path):
    out = tmp_path / "lb"
    assert cli.main(["leaderboard", "--results-dir", str(results), "--out", str(out)]) == 0
    page = (out / "transfer-digits.md").read_text()
    lines = [ln for ln in page.splitlines() if ln.startswith("| timm:")]
    assert lines[0].startswith("| timm:tf_efficientnet_lite0.in1k") and lines[1].startswith("| timm:test_resnet")
    header = [c.strip() for c in page.splitlines()[page.splitlines().index(lines[0]) - 2].strip("|").split("|")]
    cells = dict(zip(header, (c.strip() for c in lines[0].strip("|").split("|"))))
    assert cells["logreg full"] == "95.50" and cells["knn full"] == "93.00" and cells["logreg 5-shot"] == "80.25 ± 1.50"
    # lite0's reported ImageNet top-1 (timm's results table) beside its transfer figures; no ImageNet run stored
    from bench import models

    assert cells["ImageNet top-1 (reported)"] == f"{models.resolve('tf_efficientnet_lite0').reference['top1']:.2f}"
    assert cells["ImageNet top-1 (measured)"] == "—"
    index = (out / "transfer.md").read_text()
    row = next(ln for ln in index.splitlines() if "lite0" in ln and "logreg" in ln and "| full " in ln)
    vals = [c.strip() for c in row.strip("|").split("|")]
    z = (math.log(0.955 / 0.045) + math.log(0.9 / 0.1)) / 2
    assert vals[4:7] == ["2", f"{(95.5 + 90.0) / 2:.2f}", f"{100 / (1 + math.exp(-z)):.2f}"]
    assert (out / "transfer-kornblith.png").stat().st_size > 1000
    assert (out / "transfer-cifar10.md").is_file()


def test_bench_check_covers_transfer_results(results, tmp_path, capsys):
    base = tmp_path / "baseline.json"
    assert cli.main(["check", "--update", "--baseline", str(base), "--results-dir", str(results)]) == 0
    assert len(json.loads(base.read_text())["transfer"]) == 5
    assert cli.main(["check", "--baseline", str(base), "--results-dir", str(results)]) == 0
    # a worse figure under the same key fails the gate
    path = next(p for p in store.iter_paths(results) if "logreg__full" in p.name and "lite0" in p.name and "digits" in str(p))
    rec = store.read(path)
    rec.summary["top1"]["mean"] -= 1.0
    store.write(rec, results)
    capsys.readouterr()
    assert cli.main(["check", "--baseline", str(base), "--results-dir", str(results)]) == 1
    assert "worse" in capsys.readouterr().out
    path.unlink()  # a result that disappeared is missing, which fails too
    assert cli.main(["check", "--baseline", str(base), "--results-dir", str(results)]) == 1


def test_bench_run_readers_ignore_the_transfer_folder(results):
    from bench.store import results as run_results

    assert run_results.iter_paths(results) == [] and len(store.iter_paths(results)) == 5
