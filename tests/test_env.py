"""Environment capture and the NVML helpers (which must never raise)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import types
import warnings
from pathlib import Path

import pytest

from bench.measure import env

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def collected() -> dict:
    return env.collect()


def test_collect_has_all_keys(collected: dict) -> None:
    assert list(collected) == list(env.ENV_KEYS)


def test_collect_versions(collected: dict) -> None:
    import torch

    assert collected["torch"] == torch.__version__
    assert collected["cuda"] == torch.version.cuda
    assert collected["python"] == ".".join(map(str, sys.version_info[:3]))
    assert collected["cpu_count"] >= 1
    assert isinstance(collected["gpu_count"], int)


def test_missing_distribution_is_none() -> None:
    assert env.package_version("surely-not-an-installed-distribution") is None


def test_import_is_lazy() -> None:
    # `bench --help` imports env: pulling in torch there would cost seconds.
    code = "import sys, bench.measure.env; print('torch' in sys.modules, 'pynvml' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True, text=True, check=True, cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )  # fmt: skip
    assert out.stdout.split() == ["False", "False"]


# --- git ------------------------------------------------------------------------------


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory git cannot walk out of, so an enclosing repository can't leak in."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    work = tmp_path / "work"
    work.mkdir()
    return work


def test_git_sha_none_outside_checkout(isolated: Path) -> None:
    assert env.git_sha(isolated) is None
    assert env.collect(repo_dir=isolated)["git_sha"] is None


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_git_sha_clean_and_dirty(isolated: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=isolated, check=True,
                       capture_output=True)  # fmt: skip

    git("init", "-q")
    (isolated / "a.txt").write_text("a")
    git("add", "a.txt")
    git("commit", "-q", "-m", "init")
    assert re.fullmatch(r"[0-9a-f]{40}", env.git_sha(isolated) or "")
    for generated in ("results", "leaderboards"):  # the harness's own outputs are not code changes
        (isolated / generated).mkdir()
        (isolated / generated / "x.json").write_text("{}")
    assert re.fullmatch(r"[0-9a-f]{40}", env.git_sha(isolated) or "")
    (isolated / "a.txt").write_text("changed")
    assert re.fullmatch(r"[0-9a-f]{40}-dirty", env.git_sha(isolated) or "")


def test_git_sha_without_git_binary(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(isolated))
    assert env.git_sha(isolated) is None


def test_git_sha_ignores_installed_copy(tmp_path: Path) -> None:
    assert env.git_sha(tmp_path / "lib" / "site-packages" / "bench") is None


# --- formatting -----------------------------------------------------------------------


def test_format_env_aligned(collected: dict) -> None:
    text = env.format_env(collected)
    lines = text.splitlines()
    assert [line.split(":", 1)[0] for line in lines] == list(collected)
    # Values start in one column.
    assert len({len(line) - len(line[line.index(":") + 1 :].lstrip()) for line in lines}) == 1


def test_format_env_none_as_na() -> None:
    assert env.format_env({"driver": None, "gpu_count": 0}) == "driver:    n/a\ngpu_count: 0"


# --- NVML -----------------------------------------------------------------------------


def test_nvml_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` fail
    assert env.nvml_driver() is None
    assert env.nvml_memory(0) == (None, None)


def _real_pynvml() -> types.ModuleType:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return pytest.importorskip("pynvml")


def test_nvml_init_error(monkeypatch: pytest.MonkeyPatch) -> None:
    nv = _real_pynvml()

    def init() -> None:
        raise nv.NVMLError(nv.NVML_ERROR_DRIVER_NOT_LOADED)

    monkeypatch.setattr(nv, "nvmlInit", init)
    assert env.nvml_driver() is None
    assert env.nvml_memory(0, "GPU-0000") == (None, None)


def test_nvml_query_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    nv = _real_pynvml()

    def fail(*_args: object) -> None:
        raise nv.NVMLError(nv.NVML_ERROR_UNKNOWN)

    monkeypatch.setattr(nv, "nvmlInit", lambda: None)
    monkeypatch.setattr(nv, "nvmlShutdown", fail)  # must not mask anything either
    for name in ["nvmlSystemGetDriverVersion", "nvmlDeviceGetHandleByIndex", "nvmlDeviceGetHandleByUUID"]:
        monkeypatch.setattr(nv, name, fail)
    assert env.nvml_driver() is None
    assert env.nvml_memory(0) == (None, None)
    assert env.nvml_memory(0, "GPU-0000") == (None, None)


class _FakeNVMLError(Exception):
    pass


def _fake_pynvml(calls: list[str]) -> types.ModuleType:
    """Stand-in pynvml for a machine with one GPU whose UUID is GPU-abc."""
    mib = 1024**2

    def by_uuid(uuid: str) -> str:
        calls.append(f"uuid:{uuid}")
        if uuid != "GPU-abc":
            raise _FakeNVMLError(uuid)
        return "handle"

    def by_index(index: int) -> str:
        calls.append(f"index:{index}")
        return "handle"

    nv = types.ModuleType("pynvml")
    nv.NVMLError = _FakeNVMLError
    nv.nvmlInit = lambda: calls.append("init")
    nv.nvmlShutdown = lambda: calls.append("shutdown")
    nv.nvmlSystemGetDriverVersion = lambda: b"550.54.15"  # old releases return bytes
    nv.nvmlDeviceGetHandleByUUID = by_uuid
    nv.nvmlDeviceGetHandleByIndex = by_index
    nv.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(used=1000 * mib, total=80000 * mib)
    return nv


def test_nvml_success_path(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setitem(sys.modules, "pynvml", _fake_pynvml(calls))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert env.nvml_driver() == "550.54.15"
    assert env.nvml_memory(0, "GPU-abc") == (1000.0, 80000.0)
    assert env.nvml_memory(1) == (1000.0, 80000.0)
    assert calls.count("init") == calls.count("shutdown") == 3  # every session closed
    assert "index:1" in calls


def test_nvml_no_index_guess_when_devices_remapped(monkeypatch: pytest.MonkeyPatch) -> None:
    # With CUDA_VISIBLE_DEVICES, CUDA ordinal 0 may be NVML device 3: only trust the UUID.
    calls: list[str] = []
    monkeypatch.setitem(sys.modules, "pynvml", _fake_pynvml(calls))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    assert env.nvml_memory(0, "GPU-abc") == (1000.0, 80000.0)
    assert env.nvml_memory(0, "GPU-other") == (None, None)
    assert not any(c.startswith("index:") for c in calls)
