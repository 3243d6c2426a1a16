"""Model efficiency: parameter count, MACs, throughput, latency and memory.

Timing follows timm's benchmark.py (synthetic input already on the device,
inference_mode, warm-up, synchronised timing) but reports the median and spread over
repeats instead of a single figure, adds batch-1 latency percentiles, and backs off the
batch size on CUDA OOM instead of failing the whole run.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from . import env
from ..errors import ConfigError

log = logging.getLogger(__name__)

T = TypeVar("T")

_MIB = 1024**2
_PRECISIONS = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass(frozen=True)
class _Settings:
    """Fully resolved run settings (no None left)."""

    batch_size: int
    warmup: int
    iters: int
    repeats: int
    latency_iters: int


# CPU defaults are small on purpose: `bench profile --models alexnet,resnet50` must stay
# well under a minute on 2 cores (resnet50 runs ~15 img/s there, so one batch of 32 is
# ~2 s), and CPU timings are steady after a couple of warm-up batches (no autotuning,
# no GPU clock ramp-up).
_GPU_DEFAULTS = _Settings(batch_size=256, warmup=10, iters=50, repeats=3, latency_iters=100)
_CPU_DEFAULTS = _Settings(batch_size=32, warmup=2, iters=2, repeats=3, latency_iters=20)


@dataclass
class EfficiencyConfig:
    """How to run `measure`; None fields get device-dependent defaults."""

    device: str = "cpu"  # "cpu" | "cuda" | "cuda:N" | "mps"
    batch_size: int | None = None  # None -> 256 on CUDA/MPS, 32 on CPU
    precision: str = "fp32"  # fp32 | fp16 | bf16 (autocast; weights stay fp32)
    channels_last: bool = False
    compile: bool = False  # torch.compile
    warmup: int | None = None  # None -> 10 on CUDA/MPS, 2 on CPU (also before latency)
    iters: int | None = None  # timed batches per repeat; None -> 50 CUDA/MPS, 2 CPU
    repeats: int = 3
    latency_iters: int | None = None  # timed batch-1 calls; None -> 100 CUDA/MPS, 20 CPU

    def settings(self) -> _Settings:
        """Validated settings with device defaults filled in."""
        if self.precision not in _PRECISIONS:
            raise ConfigError(f"precision must be one of {sorted(_PRECISIONS)}, got {self.precision!r}")
        try:
            device_type = torch.device(self.device).type
        except RuntimeError as err:
            raise ConfigError(f"invalid device {self.device!r}: {err}") from None
        d = _CPU_DEFAULTS if device_type == "cpu" else _GPU_DEFAULTS
        s = _Settings(
            batch_size=d.batch_size if self.batch_size is None else self.batch_size,
            warmup=d.warmup if self.warmup is None else self.warmup,
            iters=d.iters if self.iters is None else self.iters,
            repeats=self.repeats,
            latency_iters=d.latency_iters if self.latency_iters is None else self.latency_iters,
        )
        if min(s.batch_size, s.iters, s.repeats, s.latency_iters) < 1 or s.warmup < 0:
            raise ConfigError(f"batch_size, iters, repeats, latency_iters must be >= 1 and warmup >= 0: {s}")
        return s


# --- static cost --------------------------------------------------------------------


def _storage_key(t: torch.Tensor) -> tuple[Any, ...]:
    # Distinct Parameter objects can still be views of one storage (manual tying);
    # meta/fake tensors have no real storage, so fall back to object identity.
    if t.device.type != "meta" and t.numel() > 0:
        try:
            return (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), t.stride())
        except (RuntimeError, NotImplementedError):  # wrapper subclasses without storage
            pass
    return ("id", id(t))


def count_params(model: nn.Module) -> tuple[int, int]:
    """(total, trainable) over unique tensors, so tied weights are counted once."""
    seen: set[tuple[Any, ...]] = set()
    total = trainable = 0
    for p in model.parameters():  # already skips repeated Parameter objects
        key = _storage_key(p)
        if key in seen:
            continue
        seen.add(key)
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return total, trainable


def _flops_on_meta(model: nn.Module, input_size: tuple[int, int, int]) -> int:
    """FLOPs of one batch-1 forward with meta stand-ins: no compute, no copy of the
    weights, and the caller's tensors are never touched."""
    from torch.func import functional_call
    from torch.utils.flop_counter import FlopCounterMode

    # Default named_* de-duplicate, and functional_call(tie_weights=True) re-ties.
    state = {n: torch.empty_like(t, device="meta") for n, t in model.named_parameters()}
    state |= {n: torch.empty_like(t, device="meta") for n, t in model.named_buffers()}
    x = torch.empty(1, *input_size, device="meta")
    counter = FlopCounterMode(display=False)
    with _countable_attention(), counter, torch.inference_mode():
        functional_call(model, state, (x,))
    return counter.get_total_flops()


@contextlib.contextmanager
def _countable_attention() -> Iterator[None]:
    """Attention as plain matmuls the FLOP counter sees: nn.MultiheadAttention's fused fast path
    (`_native_multi_head_attention`) and the fused CPU/GPU SDPA kernels have no FLOP formula, so a
    real forward through them counts attention as free (a conv+MHA toy model came out 27% low)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with sdpa_kernel(SDPBackend.MATH):
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)


def _flops_real(model: nn.Module, input_size: tuple[int, int, int]) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    p = next(model.parameters(), None)
    device = p.device if p is not None else torch.device("cpu")
    x = torch.zeros(1, *input_size, device=device)
    counter = FlopCounterMode(display=False)
    with _countable_attention(), counter, torch.inference_mode():
        model(x)
    return counter.get_total_flops()


@dataclass(frozen=True)
class MacCount:
    """GMACs of one image and which counter produced them ("meta": meta-device trace, "forward": real batch-1 forward)."""

    gmacs: float
    counter: str


def count_macs(model: nn.Module, input_size: tuple[int, int, int]) -> MacCount:
    """GMACs (FLOPs / 2, torchvision's "GFLOPS" convention) of one image, and the counter path that ran.

    Runs on the meta device; models whose forward cannot (data-dependent control flow,
    tensors held outside parameters/buffers) fall back to a real batch-1 forward with the
    attention fast paths off (see _countable_attention).
    """
    was_training = model.training
    model.eval()  # eval-mode graph is what gets benchmarked (e.g. no aux heads)
    try:
        try:
            flops, counter = _flops_on_meta(model, input_size), "meta"
        except Exception as err:  # meta support is best-effort across arbitrary models
            log.debug("meta FLOP count failed (%s); running a real forward", err)
            flops, counter = _flops_real(model, input_size), "forward"
    finally:
        model.train(was_training)
    return MacCount(flops / 2 / 1e9, counter)


def count_gmacs(model: nn.Module, input_size: tuple[int, int, int]) -> float:
    """GMACs of one image (see count_macs, which also says which counter ran)."""
    return count_macs(model, input_size).gmacs


# --- timing helpers -----------------------------------------------------------------


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _time_ms(fn: Callable[[], None], device: torch.device) -> float:
    """Milliseconds for fn() including all device work it queued."""
    if device.type == "cuda":
        stream = torch.cuda.current_stream(device)
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize(device)
        start.record(stream)
        fn()
        end.record(stream)
        end.synchronize()
        return start.elapsed_time(end)
    _sync(device)
    t0 = time.perf_counter()
    fn()
    _sync(device)
    return (time.perf_counter() - t0) * 1e3


def _percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), without needing numpy."""
    s = sorted(values)
    pos = (len(s) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def _autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    dtype = _PRECISIONS[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def _make_input(batch: int, input_size: tuple[int, int, int], device: torch.device, channels_last: bool) -> torch.Tensor:
    x = torch.randn(batch, *input_size, device=device)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


# --- memory probes ------------------------------------------------------------------


def _proc_status_mb(field_name: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024  # reported in kB
    except (OSError, ValueError, IndexError):
        pass
    return None


def _maxrss_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / _MIB if sys.platform == "darwin" else rss / 1024  # bytes vs KiB


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (Linux >= 4.0); False where unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


@dataclass
class _RssProbe:
    """Peak RSS growth over a block of work.

    With a resettable peak (Linux) this is exact: VmHWM after minus VmRSS before.
    Elsewhere ru_maxrss only ever grows, so the growth of the lifetime peak is used:
    a lower bound that reads 0 when an earlier peak was higher.
    """

    exact: bool = False
    before_mb: float = 0.0

    def start(self) -> None:
        gc.collect()
        current = _proc_status_mb("VmRSS")
        self.exact = current is not None and _reset_peak_rss()
        self.before_mb = current if self.exact else _maxrss_mb()

    def growth_mb(self) -> float:
        peak = _proc_status_mb("VmHWM") if self.exact else None
        return max(0.0, (peak if peak is not None else _maxrss_mb()) - self.before_mb)


@dataclass
class _Memory:
    gpu_max_allocated_mb: float | None = None
    gpu_max_reserved_mb: float | None = None
    nvml_used_mb: float | None = None
    nvml_total_mb: float | None = None
    cpu_rss_growth_mb: float | None = None


def _cuda_index(device: torch.device) -> int:
    return device.index if device.index is not None else torch.cuda.current_device()


def _nvml_uuid(index: int) -> str | None:
    try:
        uuid = str(torch.cuda.get_device_properties(index).uuid)
    except Exception:
        return None
    return uuid if uuid.startswith(("GPU-", "MIG-")) else f"GPU-{uuid}"


@contextlib.contextmanager
def _memory_probe(device: torch.device) -> Iterator[_Memory]:
    """Fills a _Memory with the peak usage of the enclosed block (on normal exit)."""
    mem = _Memory()
    rss = _RssProbe()
    if device.type == "cuda":
        # Drop cached blocks of earlier work (e.g. the accuracy pass) so that the
        # reserved peak describes this batch, not the process history.
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    elif device.type == "cpu":
        rss.start()
    yield mem
    if device.type == "cuda":
        mem.gpu_max_allocated_mb = torch.cuda.max_memory_allocated(device) / _MIB
        mem.gpu_max_reserved_mb = torch.cuda.max_memory_reserved(device) / _MIB
        # Read while the batch's memory is still held by the caching allocator.
        index = _cuda_index(device)
        mem.nvml_used_mb, mem.nvml_total_mb = env.nvml_memory(index, _nvml_uuid(index))
    elif device.type == "cpu":
        mem.cpu_rss_growth_mb = rss.growth_mb()


# --- OOM back-off -------------------------------------------------------------------


def run_with_oom_backoff(
    fn: Callable[[int], T], batch_size: int, on_oom: Callable[[], None] = lambda: None
) -> tuple[T, int]:
    """Call fn(batch), halving batch on torch.cuda.OutOfMemoryError down to 1.

    Returns (result, batch that succeeded). Device-agnostic: only `on_oom` (e.g.
    emptying the CUDA cache) knows about the device.
    """
    batch = batch_size
    while True:
        failed = False
        try:
            return fn(batch), batch
        except torch.cuda.OutOfMemoryError as err:
            if batch <= 1:
                raise torch.cuda.OutOfMemoryError(
                    f"out of memory even at batch size 1 (requested {batch_size}): "
                    "the model does not fit on this device"
                ) from err
            log.warning("OOM at batch size %d; retrying with %d", batch, batch // 2)
            failed = True
        # Clean up outside the except block: the live traceback still references the
        # frames holding the failed batch's activations, so they can only be freed now.
        if failed:
            gc.collect()
            on_oom()
            batch //= 2


# --- measurement --------------------------------------------------------------------


@dataclass
class _Throughput:
    img_s: list[float] = field(default_factory=list)
    memory: _Memory = field(default_factory=_Memory)


def _throughput(
    forward: Callable[[torch.Tensor], Any],
    input_size: tuple[int, int, int],
    s: _Settings,
    channels_last: bool,
    device: torch.device,
    batch: int,
) -> _Throughput:
    result = _Throughput()
    with _memory_probe(device) as mem:
        x = _make_input(batch, input_size, device, channels_last)

        def run() -> None:
            for _ in range(s.iters):
                forward(x)  # noqa: F821 - x is alive while run() is; output dropped at once

        for _ in range(s.warmup):
            forward(x)
        for _ in range(s.repeats):
            ms = _time_ms(run, device)
            result.img_s.append(batch * s.iters / (ms / 1e3))
        del x
    result.memory = mem
    return result


def _latencies_ms(
    forward: Callable[[torch.Tensor], Any],
    input_size: tuple[int, int, int],
    s: _Settings,
    channels_last: bool,
    device: torch.device,
) -> list[float]:
    x = _make_input(1, input_size, device, channels_last)
    for _ in range(s.warmup):
        forward(x)
    return [_time_ms(lambda: forward(x), device) for _ in range(s.latency_iters)]


def device_name(device: torch.device) -> str | None:
    """GPU name for CUDA, else the CPU model (MPS shares the SoC with the CPU)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(_cuda_index(device))
    return env.cpu_name()


def measure(model: nn.Module, input_size: tuple[int, int, int], cfg: EfficiencyConfig) -> dict[str, Any]:
    """Params, GMACs, throughput, batch-1 latency and memory of `model`.

    The model is moved to cfg.device (and stays there); eval mode and channels_last
    are undone afterwards. Weights stay fp32: fp16/bf16 run under autocast.
    """
    s = cfg.settings()
    device = torch.device(cfg.device)
    if device.type == "cpu" and cfg.precision == "fp16":
        # Not an error (it is a legitimate measurement), but surprising enough to say.
        log.warning("fp16 autocast on CPU usually has no fast kernels: expect it to be far slower than fp32")
    c, h, w = input_size  # also rejects sizes that are not (C, H, W)
    input_size = (int(c), int(h), int(w))
    params, trainable = count_params(model)
    macs = count_macs(model, input_size)

    def on_oom() -> None:
        if device.type == "cuda":
            torch.cuda.empty_cache()

    was_training = model.training
    cudnn_benchmark = torch.backends.cudnn.benchmark
    try:
        model.to(device).eval()
        if cfg.channels_last:
            model.to(memory_format=torch.channels_last)
        # dynamic=False: specialise per batch size (throughput batch and batch 1) rather
        # than fall back to slower shape-generic kernels after the second shape.
        runner = torch.compile(model, dynamic=False) if cfg.compile else model

        def forward(x: torch.Tensor) -> Any:
            with torch.inference_mode(), _autocast(device, cfg.precision):
                return runner(x)

        # Fixed input shapes: let cuDNN pick the fastest kernels, as timm's benchmark does.
        torch.backends.cudnn.benchmark = True
        thr, ran_batch = run_with_oom_backoff(
            lambda b: _throughput(forward, input_size, s, cfg.channels_last, device, b), s.batch_size, on_oom
        )
        lat = _latencies_ms(forward, input_size, s, cfg.channels_last, device)
    finally:
        torch.backends.cudnn.benchmark = cudnn_benchmark
        if cfg.channels_last:
            model.to(memory_format=torch.contiguous_format)
        model.train(was_training)

    mem = thr.memory
    return {
        "params": params,
        "params_trainable": trainable,
        "gmacs": macs.gmacs,
        "macs_counter": macs.counter,
        "input_size": list(input_size),
        "device": str(device),
        "device_name": device_name(device),
        "precision": cfg.precision,
        "channels_last": cfg.channels_last,
        "compile": cfg.compile,
        "batch_size": ran_batch,
        "batch_size_requested": s.batch_size,
        "warmup": s.warmup,
        "iters": s.iters,
        "repeats": s.repeats,
        "throughput_img_s": statistics.median(thr.img_s),
        "throughput_img_s_min": min(thr.img_s),
        "throughput_img_s_max": max(thr.img_s),
        "latency_ms_p50": _percentile(lat, 50),
        "latency_ms_p95": _percentile(lat, 95),
        "latency_ms_p99": _percentile(lat, 99),
        "gpu_max_allocated_mb": mem.gpu_max_allocated_mb,
        "gpu_max_reserved_mb": mem.gpu_max_reserved_mb,
        "nvml_used_mb": mem.nvml_used_mb,
        "nvml_total_mb": mem.nvml_total_mb,
        "cpu_rss_growth_mb": mem.cpu_rss_growth_mb,
    }
