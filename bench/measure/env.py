"""Environment capture, so every benchmark number can be traced to the software and
hardware that produced it.

Imported by the CLI on every start-up: torch and pynvml are imported inside functions
only, so `bench --help` stays instant.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

from .device import cuda_index

_MIB = 1024**2

# Distributions reported by `collect`, as (key, distribution name). Versions come from
# metadata so that reporting never pays for (or fails on) importing the package itself.
_DISTRIBUTIONS = (
    ("torchvision", "torchvision"),
    ("timm", "timm"),
    ("datasets", "datasets"),
    ("pandas", "pandas"),
    ("numpy", "numpy"),
)

ENV_KEYS = (
    "python",
    "platform",
    "torch",
    "torchvision",
    "timm",
    "datasets",
    "pandas",
    "numpy",
    "cuda",
    "cudnn",
    "gpu_name",
    "gpu_count",
    "driver",
    "cpu",
    "cpu_count",
    "bench_version",
    "git_sha",
)


def package_version(dist: str) -> str | None:
    """Installed version of a distribution, or None when it is not installed."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


# --- NVML ---------------------------------------------------------------------------
# Every helper returns None on *any* failure: NVML is optional telemetry, and a missing
# library, missing driver or NVMLError must never abort a benchmark run.


@contextmanager
def _nvml_session() -> Iterator[ModuleType]:
    """Initialised pynvml module; raises if pynvml or the driver is unavailable."""
    with warnings.catch_warnings():
        # The deprecated `pynvml` shim package warns on import even though the module
        # actually loaded is nvidia-ml-py's; the warning is noise for our users.
        warnings.simplefilter("ignore", FutureWarning)
        import pynvml
    pynvml.nvmlInit()
    try:
        yield pynvml
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass  # a failed shutdown must not discard a value already read


def _text(value: str | bytes) -> str:
    # Older nvidia-ml-py releases return bytes.
    return value.decode() if isinstance(value, bytes) else value


def nvml_driver() -> str | None:
    """NVIDIA driver version, e.g. '550.54.15', or None."""
    try:
        with _nvml_session() as nv:
            return _text(nv.nvmlSystemGetDriverVersion())
    except Exception:
        return None


def _nvml_handle(nv: ModuleType, index: int, uuid: str | None) -> Any:
    if uuid:
        try:
            return nv.nvmlDeviceGetHandleByUUID(uuid)
        except nv.NVMLError:
            pass
    # CUDA ordinals match NVML indices only when CUDA_VISIBLE_DEVICES does not remap
    # them; reporting another GPU's memory would be worse than reporting nothing.
    if os.environ.get("CUDA_VISIBLE_DEVICES") is not None:
        raise LookupError("cannot map CUDA ordinal to NVML index")
    return nv.nvmlDeviceGetHandleByIndex(index)


def nvml_memory(index: int = 0, uuid: str | None = None) -> tuple[float | None, float | None]:
    """(used, total) device memory in MiB as nvidia-smi sees it, or (None, None).

    `uuid` ("GPU-..." as NVML spells it) is preferred over `index` because
    CUDA_VISIBLE_DEVICES can make CUDA ordinals differ from NVML indices.
    """
    try:
        with _nvml_session() as nv:
            info = nv.nvmlDeviceGetMemoryInfo(_nvml_handle(nv, index, uuid))
            return info.used / _MIB, info.total / _MIB
    except Exception:
        return None, None


@dataclass(frozen=True)
class NvmlMemory:
    """GPU memory in MiB as NVML sees it.

    `process_used_mb` is this process's own (nvmlDeviceGetComputeRunningProcesses, matched by
    pid); None where NVML cannot attribute memory to it: inside a container NVML lists host
    pids, and WDDM reports no per-process figure. `device_used_mb` is the whole device's, every
    process included, and is never a stand-in for the process figure.
    """

    process_used_mb: float | None = None
    device_used_mb: float | None = None
    total_mb: float | None = None


def nvml_process_memory(index: int = 0, uuid: str | None = None, pid: int | None = None) -> NvmlMemory:
    """This process's and the device's memory on one GPU (see `nvml_memory` for index/uuid)."""
    pid = os.getpid() if pid is None else pid
    try:
        with _nvml_session() as nv:
            handle = _nvml_handle(nv, index, uuid)
            info = nv.nvmlDeviceGetMemoryInfo(handle)
            return NvmlMemory(_process_used_mb(nv, handle, pid), info.used / _MIB, info.total / _MIB)
    except Exception:
        return NvmlMemory()


def _process_used_mb(nv: ModuleType, handle: Any, pid: int) -> float | None:
    try:
        procs = nv.nvmlDeviceGetComputeRunningProcesses(handle)
    except Exception:  # not supported (some vGPU/MIG setups) or no permission
        return None
    used = [p.usedGpuMemory for p in procs if p.pid == pid]
    if not used or any(u is None for u in used):  # not listed (pid namespace) or not available (WDDM)
        return None
    return sum(used) / _MIB


# --- CPU / git ----------------------------------------------------------------------


def cpu_name() -> str | None:
    """Human-readable CPU model; platform.processor() alone is often empty on Linux."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    if sys.platform == "darwin":
        brand = _run(["sysctl", "-n", "machdep.cpu.brand_string"], Path.cwd())
        if brand:
            return brand
    return platform.processor() or platform.machine() or None


def cpu_count() -> int | None:
    """CPUs this process may run on (affinity/cgroup-aware where the OS allows)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count()


def _run(cmd: list[str], cwd: Path) -> str | None:
    """stdout of a short command, or None if it fails or the tool is missing."""
    try:
        out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


GENERATED_DIRS = ("results", "leaderboards", "baselines")


def git_sha(directory: str | Path | None = None) -> str | None:
    """Commit of the harness checkout ('-dirty' if modified), None outside a checkout.

    Defaults to the directory of the bench package, not the CWD: results must identify
    the harness code that produced them, not whatever repository the user is in.
    """
    path = Path(directory) if directory is not None else Path(__file__).resolve().parent
    # A wheel installed into a venv that lives inside some repository would otherwise
    # report that repository's commit.
    if "site-packages" in path.parts:
        return None
    sha = _run(["git", "rev-parse", "HEAD"], path)
    if not sha:
        return None
    # The harness's own outputs (results/, leaderboards/) live in the repo too: writing them must not
    # make the next result claim that the code that produced it was modified.
    status = _run(["git", "status", "--porcelain", "--", ":(top)", *(f":(top,exclude){d}" for d in GENERATED_DIRS)], path)
    return f"{sha}-dirty" if status else sha


# --- torch --------------------------------------------------------------------------


def _torch_info(device: str | None) -> dict[str, Any]:
    try:
        import torch
    except ImportError:
        return {"torch": None, "cuda": None, "cudnn": None, "gpu_name": None, "gpu_count": 0}
    info: dict[str, Any] = {
        "torch": str(torch.__version__),
        "cuda": torch.version.cuda,
        "cudnn": None,
        "gpu_name": None,
        "gpu_count": 0,
    }
    try:
        # May try to load libcudnn; a broken install should not hide everything else.
        info["cudnn"] = torch.backends.cudnn.version()
    except Exception:
        pass
    if torch.cuda.is_available():
        info["gpu_count"] = torch.cuda.device_count()
        info["gpu_name"] = torch.cuda.get_device_name(cuda_index(device))
    return info


def collect(device: str | None = None, repo_dir: str | Path | None = None) -> dict[str, Any]:
    """Software/hardware description to store next to results (JSON-serialisable).

    `device` selects which CUDA GPU `gpu_name` describes ("cuda:1"); `repo_dir`
    overrides the checkout `git_sha` is taken from (default: the bench package's).
    Collected once per process and argument pair (git and NVML are not asked again for every
    model of a run); each caller gets its own copy.
    """
    return dict(_collect(device, None if repo_dir is None else str(repo_dir)))


@cache
def _collect(device: str | None, repo_dir: str | None) -> dict[str, Any]:
    torch_info = _torch_info(device)
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch_info["torch"],
    }
    env.update({key: package_version(dist) for key, dist in _DISTRIBUTIONS})
    env.update(
        cuda=torch_info["cuda"],
        cudnn=torch_info["cudnn"],
        gpu_name=torch_info["gpu_name"],
        gpu_count=torch_info["gpu_count"],
        driver=nvml_driver(),
        cpu=cpu_name(),
        cpu_count=cpu_count(),
        bench_version=package_version("imagenet-bench"),
        git_sha=git_sha(repo_dir),
    )
    return env


def format_env(env: dict[str, Any]) -> str:
    """Aligned 'key: value' lines for `bench env`; None shows as 'n/a'."""
    if not env:
        return ""
    width = max(len(key) for key in env) + 1
    return "\n".join(f"{key + ':':<{width}} {'n/a' if value is None else value}" for key, value in env.items())
