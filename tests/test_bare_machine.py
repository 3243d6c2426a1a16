"""A lent GPU machine has torch, torchvision, timm and (carried) pytest, and none of the optional packages:
the GPU tests must collect there, a finished run must print its summary there, and a section that fails
(efficiency on a GPU without a C compiler) must not take a finished accuracy with it (docs/gpu.md)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import main
from bench.report import tables as F
from bench.store import results

ROOT = Path(__file__).resolve().parents[1]
# What a lent GPU machine lacks (issue 24): the dependencies of pyproject.toml beyond torch/torchvision/timm's own.
ABSENT = ("datasets", "pandas", "scipy", "matplotlib", "tabulate", "pynvml", "pyarrow", "sklearn", "imagecorruptions")
TINY = "timm:test_efficientnet"  # a 0.4 M-parameter timm network: random weights, no download


def bare_env() -> dict[str, str]:
    """The environment of a child process in which the ABSENT packages cannot be imported (tests/bare_env)."""
    path = os.pathsep.join(p for p in (str(ROOT / "tests" / "bare_env"), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "BENCH_HIDE_MODULES": ",".join(ABSENT)}


@pytest.fixture
def absent(monkeypatch):
    """The same, in this process: a None in sys.modules makes the import raise ModuleNotFoundError."""
    for name in ABSENT:
        monkeypatch.setitem(sys.modules, name, None)


@pytest.mark.slow
def test_gpu_tests_collect_where_the_optional_packages_are_absent():
    probe = "import importlib.util, sys; sys.exit(sum(importlib.util.find_spec(n) is not None for n in sys.argv[1:]))"
    hidden = subprocess.run([sys.executable, "-c", probe, *ABSENT], env=bare_env(), cwd=ROOT)
    assert hidden.returncode == 0, "tests/bare_env does not hide the packages: this test would prove nothing"
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "gpu", "--collect-only", "-q", "-p", "no:cacheprovider", "tests"],
        env=bare_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    collected = [line for line in out.stdout.splitlines() if "::" in line]
    assert any(line.startswith("tests/test_gpu.py::") for line in collected), out.stdout[-2000:]
    assert "error" not in out.stdout.lower().split("collected")[-1]


def test_plain_table_is_tabulates_simple_layout():
    from tabulate import tabulate  # the oracle: the layout a machine with tabulate prints

    rng = random.Random(0)
    for _ in range(400):
        cols = rng.randint(1, 6)
        headers = ["".join(rng.choice("ab —%1") for _ in range(rng.randint(0, 9))).strip() for _ in range(cols)]
        rows = [
            ["".join(rng.choice("xy 1.—-") for _ in range(rng.randint(0, 14))).strip() for _ in range(cols)]
            for _ in range(rng.randint(0, 5))
        ]
        align = [rng.choice(("left", "right")) for _ in range(cols)] if rng.random() < 0.7 else None
        expected = tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True, colalign=align)
        assert F.plain_table(headers, rows, align) == expected, (headers, rows, align)


def test_list_prints_the_same_table_without_tabulate(capsys, monkeypatch):
    assert main(["list", "resnet5*"]) == 0
    with_tabulate = capsys.readouterr().out
    monkeypatch.setitem(sys.modules, "tabulate", None)
    assert main(["list", "resnet5*"]) == 0
    assert capsys.readouterr().out == with_tabulate and "tv:resnet50.IMAGENET1K_V2" in with_tabulate


def test_run_profile_and_agreement_finish_without_the_optional_packages(absent, capsys, tmp_path):
    args = ["run", "--models", TINY, "--weights", "random", "--dataset", "samples", "--device", "cpu"]
    args += ["--no-efficiency", "--no-progress", "--results-dir", str(tmp_path)]
    assert main(args) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["model", "top-1", "top-5", "n"] and set(lines[1]) == {"-", " "}
    assert lines[2].startswith("timm:test_efficientnet") and "written (measured accuracy)" in lines[2]
    assert lines[3] == "1 written, 0 skipped, 0 failed"
    (path,) = (tmp_path / "samples" / "val").glob("*.json")
    assert results.read(path).accuracy.n == 5

    assert main(["profile", "--models", TINY, "--no-timing"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["model", "params", "GMACs"] and table[2].startswith("timm:test_efficientnet")

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import gpu_agreement
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    # random weights: agreement means nothing (exit 1 below the threshold), but the table must print
    gpu_agreement.main(["--models", TINY, "--weights", "random", "--device", "cpu", "--workers", "0", "--batch-size", "8"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[:3] == ["model", "n", "agree"] and lines[3].split()[:2] == ["timm:test_efficientnet.r160_in1k", "5"]


def test_a_command_that_needs_a_missing_package_says_which_in_one_line(absent, capsys, tmp_path):
    key = results.Identity("timm:m", "random", None, "samples", "val", "abc", {"input_size": [3, 8, 8]}, "fp32")
    results.write(results.Record(key=key), None, tmp_path)  # something to tabulate: pandas is what is missing
    assert main(["leaderboard", "--results-dir", str(tmp_path), "--out", str(tmp_path / "pages")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "pip install pandas" in err and "Traceback" not in err


def test_a_failed_efficiency_keeps_the_stored_accuracy_and_records_why(capsys, tmp_path, monkeypatch):
    from bench.measure import efficiency

    folder = tmp_path / "samples" / "val"
    seen_on_disk = []

    def compile_fails(*args, **kwargs):
        # the accuracy must be on disk before the efficiency measurement starts
        (path,) = folder.glob("*.json")
        seen_on_disk.append(json.loads(path.read_text())["accuracy"])
        raise RuntimeError("InductorError: CppCompileError: C++ compile error (no Python.h)")

    monkeypatch.setattr(efficiency, "measure", compile_fails)
    # real weights, so that the figures are deterministic and known (test_cli: 2 of the 5 photos right)
    base = ["run", "--models", "tf_efficientnet_lite0", "--dataset", "samples", "--device", "cpu", "--no-progress"]
    assert main([*base, "--results-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "failed (efficiency failed: RuntimeError: InductorError" in out and "1 failed" in out

    (path,) = folder.glob("*.json")
    stored = results.read(path)
    assert seen_on_disk and seen_on_disk[0]["n"] == 5 and seen_on_disk[0]["full"]["top1"] == 40.0
    assert stored.efficiency is None and stored.sections() == ("accuracy",)
    assert stored.run.sections["efficiency"].error.startswith("RuntimeError: InductorError: CppCompileError")
    assert stored.run.sections["accuracy"].error is None
    assert results.read_samples(stored)["index"].tolist() == [0, 1, 2, 3, 4]

    # the oracle: what an accuracy-only run of lite0 on the samples gives (test_cli), and what was on disk
    assert (stored.accuracy.full.top1, stored.accuracy.n) == (40.0, 5) and stored.accuracy.to_json() == seen_on_disk[0]

    # a rerun measures only what failed
    plan = results.lookup(stored.key, tmp_path, ("accuracy", "efficiency"))
    assert plan.measure == ("efficiency",)


def test_a_failed_efficiency_with_nothing_stored_writes_nothing(capsys, tmp_path, monkeypatch):
    from bench.measure import efficiency

    def boom(*args, **kwargs):
        raise RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`")

    monkeypatch.setattr(efficiency, "measure", boom)
    args = ["run", "--models", TINY, "--weights", "random", "--no-accuracy", "--device", "cpu", "--results-dir", str(tmp_path)]
    assert main(args) == 1
    assert "CUBLAS_STATUS_ALLOC_FAILED" in capsys.readouterr().out
    assert not list(tmp_path.rglob("*.json"))
