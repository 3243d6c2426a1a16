"""scripts/device_check.sh, the one command for a lent GPU, dry-run on CPU so that it cannot rot; the
report's statuses; and the offline install it and docs/gpu.md rely on."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import device_check as DC  # noqa: E402
from test_bare_machine import bare_env  # noqa: E402


@pytest.mark.slow
def test_dry_run_on_cpu_reports_every_step_with_a_status(tmp_path):
    """As on the GPU machine: no tabulate, pandas, scipy, ... importable (tests/bare_env)."""
    env = {**bare_env(), "DEVICE": "cpu", "STEPS": "install env timer oom", "PYTHON": sys.executable}
    env |= {"OUT": str(tmp_path / "out"), "WORK": str(tmp_path / "work"), "WHEELS": str(tmp_path / "no-wheels")}
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "device_check.sh")], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    report = json.loads((tmp_path / "out" / "device_check.json").read_text())
    status = {s["step"]: s["status"] for s in report["steps"]}
    assert list(status) == DC.NAMES and set(status.values()) <= {"ok", "failed", "timeout", "skipped"}
    assert (status["install"], status["env"], status["timer"], status["oom"]) == ("ok", "ok", "skipped", "ok"), status
    assert all(status[n] == "skipped" for n in DC.NAMES if n not in ("install", "env", "timer", "oom"))
    steps = {s["step"]: s for s in report["steps"]}
    assert steps["timer"]["why"] == "needs CUDA (DEVICE=cpu)" and steps["measure"]["why"] == "not selected (STEPS)"
    assert steps["oom"]["figures"]["tried"] == [64, 32, 16, 8, 4] and steps["oom"]["figures"]["ran"] == 4
    env_figures = steps["env"]["figures"]
    assert env_figures["optional_packages"]["tabulate"] is False and env_figures["optional_packages"]["pandas"] is False
    assert env_figures["bench_env"]["torch"] and "python_h_present" in env_figures["compiler"]
    assert "no wheels in" in steps["install"]["figures"]["note"]
    md = (tmp_path / "out" / "device_check.md").read_text()
    assert md.startswith("# Device check") and "3 ok, 0 failed, 0 timed out, 10 skipped" in md
    with tarfile.open(tmp_path / "out" / "device_check_logs.tar.gz") as tar:
        assert {"logs/install.log", "logs/env.log", "logs/oom.log"} <= set(tar.getnames())
    assert len(list((tmp_path / "out").iterdir())) <= 8  # the device tool brings back at most 8 files


def test_report_turns_exit_codes_and_budget_notes_into_statuses(tmp_path, monkeypatch, capsys):
    work = tmp_path / "work"
    (work / "figures").mkdir(parents=True)
    (work / "logs").mkdir()
    (work / "steps.tsv").write_text(
        "env\t0\t12\t\nmeasure\t1\t30\t\npipeline\t124\t150\t\ncompile\t\t0\tout of time: 480 s budget spent\ntimer\t0\t1\t\n"
    )
    (work / "figures" / "timer.json").write_text(json.dumps({"status": "skipped", "why": "needs CUDA (DEVICE=cpu)"}))
    (work / "figures" / "measure.json").write_text(json.dumps({"status": "failed", "rows": [], "failed": ["bf16: boom"]}))
    (work / "logs" / "measure.log").write_text("\n".join(f"line {i}" for i in range(40)))
    monkeypatch.setenv("WORK", str(work))
    monkeypatch.setenv("BUDGET_S", "480")
    DC.main(["report", "--out", str(tmp_path / "out")])
    report = json.loads((tmp_path / "out" / "device_check.json").read_text())
    by = {s["step"]: s for s in report["steps"]}
    assert [by[n]["status"] for n in ("env", "measure", "pipeline", "compile", "timer", "install")] == [
        "ok",
        "failed",
        "timeout",
        "skipped",
        "skipped",
        "skipped",
    ]
    assert by["compile"]["why"].startswith("out of time") and by["install"]["why"] == "not selected (STEPS)"
    assert by["measure"]["figures"]["failed"] == ["bf16: boom"] and by["measure"]["log_tail"].endswith("line 39")
    assert report["counts"] == {"ok": 1, "failed": 1, "timeout": 1, "skipped": 10} and report["wall_s"] == 193
    assert "line 39" in (tmp_path / "out" / "device_check.md").read_text()


def test_steps_of_the_shell_script_are_the_reports_steps():
    script = (ROOT / "scripts" / "device_check.sh").read_text()
    ran = [line.split()[1] for line in script.splitlines() if line.startswith("run_step ")]
    assert ran == DC.NAMES
    assert sum(t for _, t, _ in DC.STEPS) > 480 and "BUDGET_S:-480" in script  # the budget, not the sum, bounds the wall time


def _fresh_venv(tmp_path: Path) -> Path:
    """A new virtual environment with no pip of its own and no index; setuptools is visible in it (as on the GPU
    machine, whose python has it), through a .pth line to this interpreter's site-packages."""
    import setuptools

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (site,) = venv.glob("lib/python*/site-packages")
    (site / "host.pth").write_text(str(Path(setuptools.__file__).parent.parent) + "\n")
    return venv


def _source_copy(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "bench", src / "bench", ignore=shutil.ignore_patterns("__pycache__"))
    return src


@pytest.mark.slow
def test_offline_install_without_an_index(tmp_path):
    venv, src = _fresh_venv(tmp_path), _source_copy(tmp_path)
    py = str(venv / "bin" / "python")
    pip = [sys.executable, "-m", "pip", "--python", py, "--disable-pip-version-check", "install", "--no-index", "--no-deps"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")} | {"PIP_NO_INPUT": "1"}
    isolated = subprocess.run([*pip, "-e", str(src)], capture_output=True, text=True, env=env, timeout=300)
    assert isolated.returncode != 0 and "setuptools" in isolated.stdout + isolated.stderr  # the build env needs an index

    done = subprocess.run([*pip, "--no-build-isolation", "-e", str(src)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    where = subprocess.run([py, "-c", "import bench; print(bench.__file__)"], capture_output=True, text=True, cwd=tmp_path)
    assert where.stdout.strip() == str(src / "bench" / "__init__.py")
    helped = subprocess.run([str(venv / "bin" / "bench"), "--help"], capture_output=True, text=True, cwd=tmp_path)
    assert helped.returncode == 0 and "leaderboard" in helped.stdout

    # no install at all: the source tree on PYTHONPATH (what scripts/device_check.sh does)
    bare = _fresh_venv(tmp_path / "second")
    plain = subprocess.run(
        [str(bare / "bin" / "python"), "-m", "bench", "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env | {"PYTHONPATH": str(src)},
    )
    assert plain.returncode == 0 and "leaderboard" in plain.stdout
