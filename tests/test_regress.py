"""`bench check`: verdicts, flips, exit codes and the baseline file, on crafted results and the real model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench.cli import main
from bench.errors import ConfigError
from bench.measure.stats import mcnemar_exact
from bench.report import regress as G
from bench.store import results as R
from bench.store import schema as S

MODEL = "timm:tf_efficientnet_lite0.in1k"
TRANSFORM = {
    "policy": "model",
    "input_size": [3, 224, 224],
    "resize": 256,
    "crop_pct": 0.875,
    "interpolation": "bicubic",
    "mean": [0.5, 0.5, 0.5],
    "std": [0.5, 0.5, 0.5],
    "library": "timm",
}
ENV = {"torch": "2.4.0", "torchvision": "0.19.0", "timm": "1.0.29", "cpu": "AMD EPYC", "gpu_name": None}


def write_result(
    root,
    correct,
    *,
    model=MODEL,
    dataset="samples",
    split="val",
    nll=1.0,
    transform=None,
    env=None,
    index=None,
    top5_correct=None,
    label_protocols=("restricted", "full"),
    limit=None,
    started=None,
):
    """One result JSON + .npz as `bench run` writes it, with top-1 hits given per sample."""
    correct = np.asarray(correct, dtype=bool)
    n = len(correct)
    index = np.arange(n, dtype=np.int64) if index is None else np.asarray(index, dtype=np.int64)
    target = (index % 200).astype(np.int32)
    top5_correct = np.ones(n, bool) if top5_correct is None else np.asarray(top5_correct, bool)
    top5 = np.stack([(target + k) % 200 for k in range(1, 6)], axis=1).astype(np.int32)  # all wrong
    top5[top5_correct, 1] = target[top5_correct]
    top5[correct, 0] = target[correct]
    top5[correct, 1] = (target[correct] + 7) % 200
    samples = {
        "index": index,
        "target": target,
        "full_top5": top5,
        "restricted_top5": top5,
        "nll_full": np.full(n, nll, np.float32),
        "nll_restricted": np.full(n, nll, np.float32),
    }
    figures = {"top1": round(100 * correct.mean(), 4), "top5": round(100 * (correct | top5_correct).mean(), 4), "nll": nll}
    protocol = {
        "dataset": dataset,
        "split": split,
        "n": n,
        "indices": R.indices_hash(index.tolist()),
        "label_protocols": list(label_protocols),
        "transform_policy": "model",
        "dataset_space": "tiny-imagenet",
        "model_space": "imagenet-1k",
    }
    key = S.Identity(
        model=model,
        weights="pretrained",
        weights_digest="file:ab",
        dataset=dataset,
        split=split,
        samples=R.samples_digest(index.tolist(), np.zeros(int(index.max(initial=0)) + 1, np.int64)),
        transform=transform or TRANSFORM,
        precision="fp32",
        device="cpu:AMD EPYC",
    )
    result = S.Record(
        key=key,
        model=S.ModelRecord(id=model, weights=S.WeightsRecord(sha256="5e984df53b006fa8")),
        transform=transform or TRANSFORM,
        accuracy=S.Accuracy(n=n, restricted=S.Figures.from_json(figures), full=S.Figures.from_json(figures)),
        protocol=S.Protocol.from_json(protocol),
        protocol_hash=R.protocol_hash(protocol),
        env=S.Env.from_json(env or ENV),
        run=S.RunRecord(device="cpu", precision="fp32", started=started),
        dataset=None if limit is None else S.DatasetRecord(name=dataset, split=split, size=n + 100, limit=limit),
    )
    return R.write(result, samples, root)


def hits(n, wrong=()):
    """n samples, all right but those in `wrong`."""
    c = np.ones(n, bool)
    c[list(wrong)] = False
    return c


@pytest.fixture
def dirs(tmp_path):
    base, now = tmp_path / "base", tmp_path / "now"
    return base, now, tmp_path / "baseline.json"


def run_check(base_dir, now_dir, baseline, **kw):
    G.write_baseline(base_dir, baseline)
    return G.check(baseline, now_dir, **kw)


def only_row(report):
    assert len(report.rows) == 1, report.format()
    return report.rows[0]


def test_identical_is_same(dirs):
    base, now, bl = dirs
    for d in (base, now):
        write_result(d, hits(100, range(20)))
    report = run_check(base, now, bl)
    row = only_row(report)
    assert row.verdict == "same" and row.note == "" and report.exit_code == 0
    assert (row.right_to_wrong, row.wrong_to_right, row.p_value) == (0, 0, 1.0)
    assert "1 same" in report.format() and "OK" in report.format()


def test_a_newer_limit_run_beside_the_full_one_is_not_what_is_checked(dirs):
    """Results of one model that differ in their key (here a --limit run) are all kept; the check compares
    the one a leaderboard shows: the whole split first, whatever is newer."""
    base, now, bl = dirs
    write_result(base, hits(100, range(20)))
    write_result(now, hits(100, range(20)), started="2026-01-01T00:00:00+00:00")
    write_result(now, hits(30, range(30)), index=np.arange(30) * 3, limit=30, started="2026-12-01T00:00:00+00:00")  # 0% top-1
    assert len(list(now.rglob("*.json"))) == 2
    row = only_row(run_check(base, now, bl))
    assert row.verdict == "same" and row.now.n == 100 and row.now.top1 == 80.0


def test_one_point_drop_is_worse(dirs):
    base, now, bl = dirs
    write_result(base, hits(100, range(20)))
    write_result(now, hits(100, range(21)))
    report = run_check(base, now, bl)
    row = only_row(report)
    assert row.verdict == "worse" and report.exit_code == 1
    assert row.delta("top1") == -1.0 and (row.right_to_wrong, row.wrong_to_right) == (1, 0)
    assert "top-1 -1.00 pp" in row.note and "full top-1 -1.00 pp" in row.note
    text = report.format()
    assert "80.00 → 79.00" in text and "FAIL" in text and "bench check --update --baseline" in text


def test_one_point_gain_is_improved(dirs):
    base, now, bl = dirs
    write_result(base, hits(100, range(21)))
    write_result(now, hits(100, range(20)))
    report = run_check(base, now, bl)
    assert only_row(report).verdict == "improved" and report.exit_code == 0


def test_top5_drop_is_worse(dirs):
    base, now, bl = dirs
    write_result(base, hits(100, range(20)))
    write_result(now, hits(100, range(20)), top5_correct=hits(100, range(5)))  # 5 of the 20 top-1 misses leave the top-5
    row = only_row(run_check(base, now, bl))
    assert row.verdict == "worse" and row.delta("top1") == 0 and "top-5 -5.00 pp" in row.note


def test_drop_within_tolerance_is_same(dirs):
    base, now, bl = dirs
    write_result(base, hits(1000, range(100)))
    write_result(now, hits(1000, range(101)))  # -0.1 pp, exactly the tolerance
    assert only_row(run_check(base, now, bl)).verdict == "same"
    assert only_row(G.check(bl, now, tolerance=0.05)).verdict == "worse"


@pytest.mark.parametrize(
    "change, why",
    [
        (dict(correct=hits(99, range(20))), "n differs: 100 → 99"),
        (dict(split="test"), "split differs: val → test"),
        (dict(label_protocols=("full",)), "label protocol differs: label_protocols [restricted, full] → [full]"),
        (dict(index=np.arange(100) + 1), "sample indices differ"),
    ],
)
def test_not_comparable(dirs, change, why):
    base, now, bl = dirs
    write_result(base, hits(100, range(20)))
    write_result(now, **{"correct": hits(100, range(20)), **change})
    report = run_check(base, now, bl)
    row = only_row(report)
    assert row.verdict == "not comparable" and why in row.note and report.exit_code == 1


def test_transform_change_with_same_accuracy_is_same_with_a_note(dirs):
    base, now, bl = dirs
    write_result(base, hits(100, range(20)))
    write_result(now, hits(100, range(20)), transform={**TRANSFORM, "mean": [0.485, 0.456, 0.406]}, env={**ENV, "timm": "1.0.31"})
    report = run_check(base, now, bl)
    row = only_row(report)
    assert row.verdict == "same" and report.exit_code == 0
    assert "transform changed: mean [0.5, 0.5, 0.5] → [0.485, 0.456, 0.406]" in row.note
    assert "timm 1.0.29 → 1.0.31" in row.note and "torch" not in row.note
    assert "transform changed" in report.format()


def test_missing_and_new(dirs):
    base, now, bl = dirs
    write_result(base, hits(10), model="timm:a")
    write_result(base, hits(10), model="timm:b")
    write_result(now, hits(10), model="timm:a")
    report = run_check(base, now, bl)
    assert [r.verdict for r in report.rows] == ["same", "missing"] and report.exit_code == 1

    write_result(now, hits(10), model="timm:b")
    write_result(now, hits(10), model="timm:c")
    report = G.check(bl, now)
    assert [r.verdict for r in report.rows] == ["same", "same", "new"] and report.exit_code == 0
    assert report.rows[2].key["model"] == "timm:c"


def test_nll_up_five_percent_is_worse(dirs):
    base, now, bl = dirs
    write_result(base, hits(100, range(20)), nll=1.0)
    write_result(now, hits(100, range(20)), nll=1.05)
    row = only_row(run_check(base, now, bl))
    assert row.verdict == "worse" and "NLL +5.0%" in row.note and row.delta("top1") == 0


def test_opposite_flips_are_same(dirs):
    base, now, bl = dirs
    write_result(base, hits(100, range(0, 20)))
    write_result(now, hits(100, range(10, 30)))  # 0-9 got right, 20-29 got wrong
    row = only_row(run_check(base, now, bl))
    assert (row.right_to_wrong, row.wrong_to_right) == (10, 10)
    assert row.p_value == 1.0 and row.verdict == "same"
    assert row.predictions_changed == {"restricted": 20, "full": 20}


def test_significant_flips_within_tolerance_are_worse(dirs):
    base, now, bl = dirs
    n = 20000  # 8 flips are -0.04 pp: inside the tolerance, but all one way
    write_result(base, hits(n, range(1000)))
    write_result(now, hits(n, range(1008)))
    report = run_check(base, now, bl)
    row = only_row(report)
    assert row.delta("top1") == pytest.approx(-0.04)
    assert (row.right_to_wrong, row.wrong_to_right) == (8, 0) and row.p_value == pytest.approx(0.0078125)
    assert row.verdict == "worse" and row.reasons == ["flips 8/0 significant (McNemar p=0.00781)"]
    assert report.exit_code == 1
    assert bl.stat().st_size < 5_000 and G.samples_path(bl).stat().st_size < 100_000  # 20k samples: arrays in the npz


def test_mcnemar_known_values():
    assert mcnemar_exact(0, 6) == pytest.approx(0.03125)
    assert mcnemar_exact(0, 8) == pytest.approx(0.0078125)
    assert mcnemar_exact(2, 8) == pytest.approx(0.109375)
    assert mcnemar_exact(1, 0) == 1.0 and mcnemar_exact(10, 10) == 1.0 and mcnemar_exact(0, 0) == 1.0


def test_mcnemar_matches_the_exact_binomial_sum_and_is_fast_at_5000_pairs():
    import math
    import time

    def exact(b, c):  # the textbook definition, in exact integers
        n = b + c
        return min(1.0, 2 * sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2**n)

    for b, c in [(3, 9), (40, 60), (480, 520), (1, 30)]:
        assert mcnemar_exact(b, c) == pytest.approx(exact(b, c), rel=1e-9)
    t0 = time.perf_counter()
    mcnemar_exact(2400, 2600)
    assert time.perf_counter() - t0 < 1.0  # generous: quadratic big-integer sums took 9 s here


def test_baseline_arrays_round_trip_through_the_npz(dirs):
    base, _, bl = dirs
    write_result(base, hits(600, range(0, 600, 7)))
    G.write_baseline(base, bl)
    (entry,) = G.read_baseline(bl)
    np.testing.assert_array_equal(entry.samples["index"], np.arange(600))
    np.testing.assert_array_equal(entry.samples["target"], np.arange(600) % 200)  # write_result: target = index mod 200
    right = entry.samples["top1_restricted"] == entry.samples["target"]
    assert right.sum() == 600 - 86 and not right[0] and not right[7] and right[1]  # 86 multiples of 7 below 600
    G.samples_path(bl).unlink()
    with pytest.raises(ConfigError, match="npz is missing"):
        G.read_baseline(bl)


def test_baseline_file_is_small_readable_and_atomic(dirs):
    base, _, bl = dirs
    write_result(base, hits(5, [0]))
    path = G.write_baseline(base, bl)
    doc = json.loads(path.read_text())
    assert doc["baseline_schema_version"] == G.BASELINE_SCHEMA_VERSION
    entry = doc["entries"][0]
    assert entry["samples"] is True
    with np.load(G.samples_path(path)) as npz:
        assert npz[f"samples/val/{MODEL}/pretrained/model/index"].tolist() == [0, 1, 2, 3, 4]
        assert npz[f"samples/val/{MODEL}/pretrained/model/target"].tolist() == [0, 1, 2, 3, 4]
    assert entry["versions"] == {"torch": "2.4.0", "torchvision": "0.19.0", "timm": "1.0.29"}
    assert entry["transform"] == TRANSFORM and entry["weights_sha256"] and entry["protocol_hash"]
    assert not [p for p in bl.parent.iterdir() if p.name.endswith(".tmp")]


def test_bad_baselines_are_config_errors(dirs, capsys):
    base, now, bl = dirs
    write_result(now, hits(5))
    with pytest.raises(ConfigError, match="not found.*bench check --update --baseline"):
        G.check(bl, now)
    bl.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read baseline.*regenerate it with `bench check --update"):
        G.check(bl, now)
    bl.write_text(json.dumps({"baseline_schema_version": 99, "entries": []}))
    with pytest.raises(ConfigError, match="baseline_schema_version 99.*regenerate"):
        G.check(bl, now)
    bl.write_text(json.dumps({"baseline_schema_version": G.BASELINE_SCHEMA_VERSION, "entries": [{"nokey": 1}]}))
    with pytest.raises(ConfigError, match="malformed"):
        G.check(bl, now)
    assert main(["check", "--baseline", str(bl), "--results-dir", str(now)]) == 2
    assert "regenerate" in capsys.readouterr().err


def test_no_results_is_a_config_error(dirs):
    base, now, bl = dirs
    write_result(base, hits(5))
    G.write_baseline(base, bl)
    with pytest.raises(ConfigError, match="--results-dir"):
        G.check(bl, now)  # does not exist
    now.mkdir()
    with pytest.raises(ConfigError, match="no accuracy results"):
        G.check(bl, now)


def test_cli_exit_codes_and_json(dirs, capsys):
    base, now, bl = dirs
    write_result(base, hits(100, range(20)))
    write_result(now, hits(100, range(25)))
    assert main(["check", "--update", "--baseline", str(bl), "--results-dir", str(base)]) == 0
    assert main(["check", "--baseline", str(bl), "--results-dir", str(base)]) == 0
    capsys.readouterr()
    assert main(["check", "--baseline", str(bl), "--results-dir", str(now), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["exit_code"] == 1 and data["counts"] == {"worse": 1}
    row = data["rows"][0]
    assert row["verdict"] == "worse" and row["delta_pp"]["top1"] == -5.0
    assert row["flips"] == {"right_to_wrong": 5, "wrong_to_right": 0, "mcnemar_p": 0.0625}
    assert (
        main(["check", "--baseline", str(bl), "--results-dir", str(now), "--tolerance", "10"]) == 0
    )  # p=0.0625 is not significant


@pytest.mark.slow
def test_real_model_is_deterministic_on_cpu(tmp_path, capsys):
    dirs = [tmp_path / "a", tmp_path / "b"]
    for d in dirs:
        assert (
            main(
                [
                    "run",
                    "--models",
                    "tf_efficientnet_lite0",
                    "--dataset",
                    "samples",
                    "--device",
                    "cpu",
                    "--no-efficiency",
                    "--no-progress",
                    "--results-dir",
                    str(d),
                ]
            )
            == 0
        )
    a, b = (R.read_samples(R.read_all(d)[0]) for d in dirs)
    for k in ("index", "target", "restricted_top5", "full_top5"):
        np.testing.assert_array_equal(a[k], b[k])
    np.testing.assert_allclose(a["nll_restricted"], b["nll_restricted"], rtol=1e-6)
    report = run_check(dirs[0], dirs[1], tmp_path / "baseline.json")
    assert [r.verdict for r in report.rows] == ["same"] and report.exit_code == 0
    row = report.rows[0]
    assert row.now.top1 == 40.0 and (row.right_to_wrong, row.wrong_to_right) == (0, 0)
