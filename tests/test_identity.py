"""Reruns with the real lite0 weights: only an identical experiment is skipped, sections merge, broken or
newer entries are handled, and the run ends with a summary table (or JSON) on stdout."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from bench.cli import main
from bench.store import results as R

MODEL = "timm:tf_efficientnet_lite0.in1k"
BASE = ["run", "--models", "tf_efficientnet_lite0", "--dataset", "samples", "--no-progress", "--device", "cpu"]


def _run(capsys, results: Path, *extra: str) -> tuple[int, str, str]:
    code = main([*BASE, "--results-dir", str(results), *extra])
    out, err = capsys.readouterr()
    return code, out, err


def _records(results: Path) -> list[R.Record]:
    return R.read_all(results)


def _row(out: str, model: str = MODEL) -> list[str]:
    """The summary table's row of `model`, split on runs of two or more spaces."""
    import re

    line = next(line for line in out.splitlines() if line.startswith(model))
    return re.split(r"\s{2,}", line.strip())


def _no_locks_left(results: Path) -> bool:
    return not [p for p in results.rglob("*") if p.name.endswith(".lock")]


# --- stale results -----------------------------------------------------------------------------


@pytest.mark.slow
def test_limit_then_full_run_is_a_new_entry_with_top1_printed(capsys, tmp_path):
    code, out, _ = _run(capsys, tmp_path, "--no-efficiency", "--limit", "3")
    assert code == 0 and _row(out)[1:4] == ["33.33", "100.00", "3"]  # coffee, rocket, grace_hopper: only coffee right
    code, out, _ = _run(capsys, tmp_path, "--no-efficiency")
    row = _row(out)
    assert code == 0 and row[1:4] == ["40.00", "100.00", "5"] and row[7].startswith("written")
    assert "1 written, 0 skipped, 0 failed" in out
    limited, full = sorted(_records(tmp_path), key=lambda r: r.accuracy.n)
    assert (limited.accuracy.n, full.accuracy.n) == (3, 5) and limited.key.hash != full.key.hash
    assert limited.dataset.limit == 3 and full.dataset.limit is None
    code, out, _ = _run(capsys, tmp_path, "--no-efficiency")
    assert code == 0 and "skipped (already done: accuracy stored)" in out and _row(out)[3] == "5"
    assert _no_locks_left(tmp_path)
    # the leaderboard shows the full run and says which run it left out
    from bench.report import leaderboard as LB

    LB.regenerate(tmp_path, tmp_path / "lb")
    page = (tmp_path / "lb" / "samples.md").read_text()
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in page.splitlines() if line.startswith("|")]
    (row,) = [r for r in rows if r[1] == MODEL]
    assert row[0] == "1" and row[2] == "40.00" and row[6] == "5"
    assert f"shows run {full.key.hash}; not shown: run {limited.key.hash}, n=3 (--limit 3)" in page


@pytest.fixture(scope="module")
def base_results(tmp_path_factory):
    """One accuracy-only run of lite0 on the samples, copied into each test that changes one setting."""
    root = tmp_path_factory.mktemp("base") / "results"
    assert main([*BASE, "--no-efficiency", "--results-dir", str(root)]) == 0
    return root


@pytest.mark.slow
@pytest.mark.parametrize(
    "flags,field,expected",
    [
        (["--precision", "bf16"], "precision", "bf16"),
        (["--mean", "0.485,0.456,0.406", "--std", "0.229,0.224,0.225"], "mean", [0.485, 0.456, 0.406]),
        (["--crop-pct", "1.0"], "crop_pct", 1.0),
        (["--interpolation", "bilinear"], "interpolation", "bilinear"),
    ],
)
def test_a_changed_setting_is_a_new_entry(capsys, tmp_path, base_results, flags, field, expected):
    results = tmp_path / "results"
    shutil.copytree(base_results, results)
    (old,) = _records(results)
    before = old.path.read_bytes()
    code, out, _ = _run(capsys, results, "--no-efficiency", *flags)
    assert code == 0 and "1 written" in out
    new = next(r for r in _records(results) if r.key != old.key)
    assert (new.key.precision if field == "precision" else new.key.transform[field]) == expected
    assert old.path.read_bytes() == before  # the other experiment's numbers are untouched


@pytest.mark.slow
def test_weights_files_are_known_by_their_content(capsys, tmp_path, lite0, monkeypatch):
    import torch

    _, model, _ = lite0
    state = model.state_dict()
    a, b = tmp_path / "a" / "model_best.pth", tmp_path / "b" / "model_best.pth"
    a.parent.mkdir(), b.parent.mkdir()
    torch.save(state, a)
    torch.save({**state, "classifier.bias": state["classifier.bias"] + 1.0}, b)
    results = tmp_path / "results"
    assert _run(capsys, results, "--no-efficiency", "--weights", str(a))[0] == 0
    code, out, _ = _run(capsys, results, "--no-efficiency", "--weights", str(b))
    assert code == 0 and "1 written" in out  # same name, other folder, other content: a new entry
    assert len(_records(results)) == 2 and len({r.key.weights_digest for r in _records(results)}) == 2

    import bench.models as M

    def no_build(*args, **kwargs):
        raise AssertionError("a skip must not build the model")

    with monkeypatch.context() as m:
        m.setattr(M, "build", no_build)
        code, out, _ = _run(capsys, results, "--no-efficiency", "--weights", str(a))
    assert code == 0 and "skipped (already done" in out  # the file's checksum is cached: no model built

    torch.save({**state, "classifier.bias": state["classifier.bias"] - 1.0}, a)  # re-saved at the same path
    code, out, _ = _run(capsys, results, "--no-efficiency", "--weights", str(a))
    assert code == 0 and "1 written" in out and len(_records(results)) == 3


@pytest.mark.slow
@pytest.mark.parametrize("first,second", [("--no-accuracy", "--no-efficiency"), ("--no-efficiency", "--no-accuracy")])
def test_accuracy_and_efficiency_merge_in_either_order(capsys, tmp_path, first, second):
    assert _run(capsys, tmp_path, first)[0] == 0
    code, out, _ = _run(capsys, tmp_path, second)
    assert code == 0 and "1 written" in out
    (record,) = _records(tmp_path)  # one experiment, one file
    assert record.accuracy.n == 5 and record.accuracy.restricted.top1 == 40.0
    assert record.efficiency.params == 4652008 and record.efficiency.throughput_img_s > 0
    row = _row(out)
    assert row[1] == "40.00" and row[4] == "4.65"  # the summary shows both sections
    code, out, _ = _run(capsys, tmp_path)
    assert code == 0 and "skipped (already done: accuracy+efficiency stored)" in out


@pytest.mark.slow
def test_truncated_entry_is_run_again_with_a_warning(capsys, tmp_path):
    assert _run(capsys, tmp_path, "--no-efficiency")[0] == 0
    (record,) = _records(tmp_path)
    text = record.path.read_text()
    record.path.write_text(text[: len(text) // 2])
    code, out, err = _run(capsys, tmp_path, "--no-efficiency")
    assert code == 0 and "1 written" in out
    assert "warning: cannot read result" in err and "corrupt or truncated" in err and "measuring it again" in err
    assert R.read(record.path).accuracy.n == 5


@pytest.mark.slow
def test_newer_schema_is_refused_and_never_overwritten(capsys, tmp_path):
    assert _run(capsys, tmp_path, "--no-efficiency")[0] == 0
    (record,) = _records(tmp_path)
    raw = json.loads(record.path.read_text())
    record.path.write_text(json.dumps({**raw, "schema_version": 4}))
    before = record.path.read_bytes()
    for extra in ([], ["--force"]):
        code, out, _ = _run(capsys, tmp_path, "--no-efficiency", *extra)
        assert code == 2 and "written by a newer imagenet-bench" in out and "upgrade imagenet-bench" in out and "0 written" in out
        assert record.path.read_bytes() == before
    assert main(["leaderboard", "--results-dir", str(tmp_path), "--out", str(tmp_path / "lb")]) == 2
    assert "upgrade imagenet-bench" in capsys.readouterr().err


# --- what a user sees --------------------------------------------------------------------------


@pytest.mark.slow
def test_json_summary_on_stdout_and_progress_on_stderr(capsys, tmp_path):
    code, out, err = _run(capsys, tmp_path, "--no-efficiency", "--json")
    doc = json.loads(out)  # nothing but the JSON on stdout
    (m,) = doc["models"]
    assert code == 0 and doc["exit_code"] == 0 and m["model"] == MODEL and m["status"] == "written"
    assert (m["top1"], m["top5"], m["n"]) == (40.0, 100.0, 5) and m["paths"][0].endswith(".json")
    assert "samples/val: 5 images" in err and f"== {MODEL}" in err


@pytest.mark.slow
def test_an_entry_locked_by_another_run_is_skipped_and_says_by_whom(capsys, tmp_path):
    from bench.store.locks import entry_lock

    assert _run(capsys, tmp_path, "--no-efficiency")[0] == 0
    (record,) = _records(tmp_path)
    record.path.unlink()
    with entry_lock(record.path):
        code, out, _ = _run(capsys, tmp_path, "--no-efficiency")
    assert code == 0 and f"skipped (locked: another bench run (pid {os.getpid()}) is computing it" in out
    assert not record.path.exists() and _no_locks_left(tmp_path)


# --- another machine ---------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[1]


def _committed(tmp_path: Path) -> Path:
    results = tmp_path / "results"
    shutil.copytree(REPO / "results", results)
    return results


def _snapshot(results: Path) -> dict[str, bytes]:
    return {str(p.relative_to(results)): p.read_bytes() for p in sorted(results.rglob("*")) if p.is_file()}


def test_committed_results_are_found_by_make_bench_on_this_machine(capsys, tmp_path):
    """A fresh clone's `make bench` (lite0 on samples) skips the committed result and writes nothing."""
    results = _committed(tmp_path)
    before = _snapshot(results)
    code, out, _ = _run(capsys, results)
    assert code == 0 and "skipped (already done: accuracy+efficiency stored)" in out and "0 written" in out
    assert _snapshot(results) == before


@pytest.mark.slow
def test_another_cpu_model_keeps_the_committed_accuracy_and_measures_only_efficiency(capsys, tmp_path, monkeypatch):
    from bench.measure import env

    results = _committed(tmp_path)
    (committed,) = [r for r in _records(results) if r.key.model == MODEL and r.key.corruptions is None]
    assert committed.efficiency.machine == "cpu:AMD EPYC"
    monkeypatch.setattr(env, "cpu_name", lambda: "Intel(R) Xeon(R) Processor")
    code, out, err = _run(capsys, results)
    assert code == 0 and "1 written" in out, err
    assert "measured efficiency" in out and "kept stored accuracy" in out
    (record,) = [r for r in _records(results) if r.key.model == MODEL and r.key.corruptions is None]
    assert record.accuracy.to_json() == committed.accuracy.to_json()  # not measured again
    assert record.efficiency.machine == "cpu:Intel(R) Xeon(R) Processor" and record.efficiency.throughput_img_s > 0
    assert R.read_samples(record) is not None
    code, out, _ = _run(capsys, results)
    assert code == 0 and "skipped (already done" in out  # and this machine's rerun skips
