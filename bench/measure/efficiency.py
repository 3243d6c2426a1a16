"""Model efficiency: parameter count, MACs, throughput, latency and memory.

Timing follows timm's benchmark.py (synthetic input already on the device, inference_mode,
synchronised timing) under a time budget (`timing.Budget`): warm-up until step times settle,
then repeats of a minimum length, with the median and spread reported and the budget used
recorded. Batch-1 latency percentiles come from single calls under the same rule. Memory is the
steady state's (peaks are reset after warm-up; warm-up's peak is its own figure), and the batch
size backs off on CUDA OOM (and cuBLAS/cuDNN allocation failures) instead of failing the whole run.
With --compile each model is compiled afresh (dynamo reset), its compile time is its own figure
(warm-up starts after it), and the record says whether the timed steps really ran compiled code.
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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import torch
from torch import nn

from ..errors import ConfigError, is_out_of_memory
from . import env
from .device import DEFAULT_TF32, PRECISIONS, autocast, cuda_index, default_batch_size, tf32, tf32_flags
from .timing import (
    Budget,
    Repeats,
    Timer,
    Warmup,
    cuda_event_timer,
    default_budget,
    latency_samples,
    percentiles,
    time_repeats,
    wall_timer,
    warm_up,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

_MIB = 1024**2


@dataclass
class EfficiencyConfig:
    """How to run `measure`; None fields get device-dependent defaults."""

    device: str = "cpu"  # "cpu" | "cuda" | "cuda:N" | "mps"
    batch_size: int | None = None  # None -> device.default_batch_size(device, "timing")
    precision: str = "fp32"  # fp32 | fp16 | bf16 (autocast; weights stay fp32)
    channels_last: bool = False
    compile: bool = False  # torch.compile
    tf32: bool = DEFAULT_TF32  # TF32 for CUDA matmuls and convolutions (device.tf32)
    budget: Budget | None = None  # None -> timing.CPU_BUDGET on CPU, GPU_BUDGET elsewhere

    def device_type(self) -> str:
        try:
            return torch.device(self.device).type
        except RuntimeError as err:
            raise ConfigError(f"invalid device {self.device!r}: {err}") from None

    def resolved(self) -> tuple[int, Budget]:
        """Validated (batch size, budget) with device defaults filled in."""
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        device_type = self.device_type()
        batch = default_batch_size(device_type, "timing") if self.batch_size is None else self.batch_size
        if batch < 1:
            raise ConfigError(f"batch size must be >= 1, got {batch}")
        return batch, (self.budget or default_budget(device_type)).validate()


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


def _timer_for(device: torch.device) -> Timer:
    """CUDA events on CUDA; elsewhere wall time around a synchronize (none needed on CPU)."""
    if device.type == "cuda":
        return cuda_event_timer(device)
    if device.type == "mps":
        return wall_timer(torch.mps.synchronize)
    return wall_timer()


def _make_input(batch: int, input_size: tuple[int, int, int], device: torch.device, channels_last: bool) -> torch.Tensor:
    x = torch.randn(batch, *input_size, device=device)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


# --- memory probes ------------------------------------------------------------------
# A probe is told when the block starts, when warm-up ends (it records warm-up's peak and resets
# the peak, so that what follows is the steady state's) and when the block ends.


@dataclass
class _Memory:
    gpu_max_allocated_mb: float | None = None  # steady state (after warm-up)
    gpu_max_reserved_mb: float | None = None
    gpu_warmup_max_allocated_mb: float | None = None  # warm-up: cuDNN autotune workspaces, compile transients
    gpu_warmup_max_reserved_mb: float | None = None
    nvml_process_used_mb: float | None = None  # this process, as NVML sees it
    nvml_device_used_mb: float | None = None  # the whole device, every process
    nvml_total_mb: float | None = None
    cpu_rss_growth_mb: float | None = None  # steady state, over the RSS before the block
    cpu_warmup_rss_growth_mb: float | None = None


class _Probe(Protocol):
    def start(self) -> None: ...
    def after_warmup(self) -> None: ...
    def finish(self) -> _Memory: ...


class _NoProbe:
    """MPS: no peak statistics to read."""

    def start(self) -> None:
        pass

    def after_warmup(self) -> None:
        pass

    def finish(self) -> _Memory:
        return _Memory()


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
    """Reset the kernel's peak-RSS mark to the current RSS (Linux >= 4.0); False where unsupported."""
    try:
        from ..store.atomic import write_control

        write_control(Path("/proc/self/clear_refs"), "5")
        return True
    except OSError:
        return False


@dataclass
class _RssProbe:
    """Peak RSS growth over the RSS before the block (CPU).

    With a resettable peak (Linux) this is exact: VmHWM minus VmRSS before, and the steady figure
    starts from a peak reset after warm-up. Elsewhere ru_maxrss only ever grows, so both figures
    are the growth of the lifetime peak: a lower bound that reads 0 when an earlier peak was higher,
    and the steady figure includes warm-up.
    """

    exact: bool = False
    before_mb: float = 0.0
    mem: _Memory = field(default_factory=_Memory)

    def start(self) -> None:
        gc.collect()
        current = _proc_status_mb("VmRSS")
        self.exact = current is not None and _reset_peak_rss()
        self.before_mb = current if current is not None and self.exact else _maxrss_mb()

    def _growth_mb(self) -> float:
        peak = _proc_status_mb("VmHWM") if self.exact else None
        return max(0.0, (peak if peak is not None else _maxrss_mb()) - self.before_mb)

    def after_warmup(self) -> None:
        self.mem.cpu_warmup_rss_growth_mb = self._growth_mb()
        if self.exact:
            _reset_peak_rss()

    def finish(self) -> _Memory:
        self.mem.cpu_rss_growth_mb = self._growth_mb()
        return self.mem


def _nvml_uuid(index: int, cuda: Any = torch.cuda) -> str | None:
    try:
        uuid = str(cuda.get_device_properties(index).uuid)
    except Exception:
        return None
    return uuid if uuid.startswith(("GPU-", "MIG-")) else f"GPU-{uuid}"


@dataclass
class _CudaProbe:
    """torch's peak statistics, and NVML's view at the end; `cuda` and `nvml` are injectable for tests."""

    device: torch.device
    cuda: Any = torch.cuda
    nvml: Callable[[int, str | None], env.NvmlMemory] = env.nvml_process_memory
    mem: _Memory = field(default_factory=_Memory)

    def _peaks(self) -> tuple[float, float]:
        return self.cuda.max_memory_allocated(self.device) / _MIB, self.cuda.max_memory_reserved(self.device) / _MIB

    def start(self) -> None:
        # Earlier work's cached blocks (e.g. the accuracy pass) would otherwise stay in the reserved figure.
        self.cuda.empty_cache()
        self.cuda.reset_peak_memory_stats(self.device)

    def after_warmup(self) -> None:
        # Peaks only: emptying the cache here would make the first timed repeat allocate its blocks again (a dip
        # in throughput_img_s_min). So the steady reserved figure holds what the allocator kept from warm-up.
        self.mem.gpu_warmup_max_allocated_mb, self.mem.gpu_warmup_max_reserved_mb = self._peaks()
        self.cuda.reset_peak_memory_stats(self.device)

    def finish(self) -> _Memory:
        self.mem.gpu_max_allocated_mb, self.mem.gpu_max_reserved_mb = self._peaks()
        # Read while the batch's memory is still held by the caching allocator.
        index = cuda_index(self.device, self.cuda)
        nv = self.nvml(index, _nvml_uuid(index, self.cuda))
        self.mem.nvml_process_used_mb, self.mem.nvml_device_used_mb, self.mem.nvml_total_mb = (
            nv.process_used_mb, nv.device_used_mb, nv.total_mb)  # fmt: skip
        return self.mem


def _probe_for(device: torch.device) -> _Probe:
    if device.type == "cuda":
        return _CudaProbe(device)
    if device.type == "cpu":
        return _RssProbe()
    return _NoProbe()


# --- OOM back-off -------------------------------------------------------------------


def empty_cuda_cache() -> None:
    """Release the CUDA caching allocator's free blocks; a no-op in a process that never used CUDA."""
    if torch.cuda.is_initialized():
        torch.cuda.empty_cache()


def run_with_oom_backoff(fn: Callable[[int], T], batch_size: int, on_retry: Callable[[int], None] | None = None) -> tuple[T, int]:
    """Call fn(batch), halving batch after each out-of-memory error, down to 1.

    Out of memory is torch.cuda.OutOfMemoryError or a cuBLAS/cuDNN `*_ALLOC_FAILED` RuntimeError
    (errors.is_out_of_memory); at batch 1 either is raised as torch.cuda.OutOfMemoryError.

    Returns (result, the batch that succeeded); fn must start from scratch for each batch. After
    an OOM the failed attempt's tensors are released (its traceback dropped, garbage collected) and
    the CUDA cache is emptied; then `on_retry(next_batch)` runs (e.g. to tell the user).
    """
    batch = batch_size
    while True:
        try:
            return fn(batch), batch
        except RuntimeError as err:  # torch.cuda.OutOfMemoryError is a RuntimeError
            if not is_out_of_memory(err):
                raise
            if batch <= 1:
                raise torch.cuda.OutOfMemoryError(
                    f"out of memory even at batch size 1 (requested {batch_size}): the model does not fit on this device"
                ) from err
            log.warning("OOM at batch size %d; retrying with %d", batch, batch // 2)
        # Only reached after an OOM, and outside the except block on purpose: until it ends, the
        # traceback references the frames holding the failed batch's activations. gc breaks
        # cycles through it (an exception stored in one of those frames).
        batch //= 2
        gc.collect()
        empty_cuda_cache()
        if on_retry is not None:
            on_retry(batch)


# --- torch.compile ------------------------------------------------------------------

COMPILE_BACKEND = "inductor"  # torch.compile's default; tests use "eager" (the same dynamo front end, no code generation)


@dataclass
class CompileTracker:
    """A torch.compile backend around COMPILE_BACKEND that counts the graphs it compiled and the calls into them.

    Dynamo falls back to eager silently (at its recompile limit, or on code it cannot trace), so the only proof
    that a timed step ran compiled code is a call into a compiled graph during it."""

    graphs: int = 0  # graphs compiled (more than one per input shape: graph breaks)
    dynamic: bool = False  # a graph with symbolic shapes (shape-generic kernels) was compiled
    calls: int = 0  # calls into compiled graphs

    def __call__(self, gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
        from torch._dynamo.backends.registry import lookup_backend

        self.graphs += 1
        self.dynamic |= any(_symbolic(n.meta.get("example_value")) for n in gm.graph.nodes if n.op == "placeholder")
        compiled = lookup_backend(COMPILE_BACKEND)(gm, example_inputs)

        def run(*args: Any) -> Any:
            self.calls += 1
            return compiled(*args)

        return run


def _symbolic(value: Any) -> bool:
    if isinstance(value, torch.SymInt):
        return True
    return isinstance(value, torch.Tensor) and any(isinstance(d, torch.SymInt) for d in value.shape)


def compile_static(model: nn.Module) -> tuple[Callable[..., Any], CompileTracker]:
    """`model` compiled afresh, one static graph per input shape, with a tracker of what ran compiled.

    dynamo's caches are reset first: compiled entries pile up on a class's `forward` code across models
    (resnet18...152 share ResNet.forward), and from the recompile limit on dynamo runs them eagerly."""
    torch._dynamo.reset()
    tracker = CompileTracker()
    # dynamic=False: specialise per batch size (throughput batch and batch 1) rather than fall back to slower
    # shape-generic kernels after the second shape.
    return torch.compile(model, dynamic=False, backend=tracker), tracker


def _dynamo_fallback_reason() -> str | None:
    """Why dynamo gave up on a frame since the last reset (e.g. its recompile limit), if it said."""
    from torch._dynamo.utils import counters

    reasons = [str(k).strip().splitlines()[0] for k in counters.get("unimplemented", {})]
    return "; ".join(reasons) or None


# --- measurement --------------------------------------------------------------------


@dataclass
class _Throughput:
    batch: int
    warmup: Warmup
    repeats: Repeats
    memory: _Memory
    compile_s: float | None = None  # the first call when compiling: compile time, outside the warm-up
    compiled: bool | None = None  # every timed step called a compiled graph (None: not compiling)


def _first_call(step: Callable[[], None], timer: Timer, tracker: CompileTracker | None) -> float | None:
    """With compile on, the first call compiles: timed apart, so that the warm-up starts on compiled code."""
    return timer(step, 1) if tracker is not None else None


def _throughput(
    forward: Callable[[torch.Tensor], Any],
    input_size: tuple[int, int, int],
    budget: Budget,
    channels_last: bool,
    device: torch.device,
    batch: int,
    timer: Timer,
    probe: _Probe,
    tracker: CompileTracker | None = None,
) -> _Throughput:
    """(Compile,) warm-up, peak reset, timed repeats: the memory probe sees warm-up and steady state apart."""
    if tracker is not None:  # after an OOM the failed batch's graph is dead weight toward the recompile limit
        torch._dynamo.reset()
    probe.start()
    x = _make_input(batch, input_size, device, channels_last)

    def step() -> None:
        forward(x)  # noqa: F821 - x is alive while step() is used; output dropped at once

    compile_s = _first_call(step, timer, tracker)
    warmup = warm_up(step, timer, budget)
    probe.after_warmup()
    before = tracker.calls if tracker is not None else 0
    repeats = time_repeats(step, timer, budget, warmup.step_s(budget.settle_window))
    # Each step is one forward: it ran compiled only if it called a compiled graph (graph breaks call several).
    compiled = None if tracker is None else tracker.calls - before >= sum(repeats.iters)
    del x  # the input is released before the probe's final reading; the peak stays recorded
    return _Throughput(batch, warmup, repeats, probe.finish(), compile_s, compiled)


@dataclass
class _Latency:
    warmup: Warmup
    samples_s: list[float]
    compile_s: float | None = None
    compiled: bool | None = None


def _latencies(
    forward: Callable[[torch.Tensor], Any],
    input_size: tuple[int, int, int],
    budget: Budget,
    channels_last: bool,
    device: torch.device,
    timer: Timer,
    tracker: CompileTracker | None = None,
) -> _Latency:
    """(Batch-1 compile,) batch-1 warm-up under the same rule, then single-call samples in seconds."""
    x = _make_input(1, input_size, device, channels_last)

    def step() -> None:
        forward(x)

    compile_s = _first_call(step, timer, tracker)
    warmup = warm_up(step, timer, budget)
    before = tracker.calls if tracker is not None else 0
    samples = latency_samples(step, timer, budget, warmup.step_s(budget.settle_window))
    compiled = None if tracker is None else tracker.calls - before >= len(samples)
    return _Latency(warmup, samples, compile_s, compiled)


def device_name(device: torch.device) -> str | None:
    """GPU name for CUDA, else the CPU model (MPS shares the SoC with the CPU)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(cuda_index(device))
    return env.cpu_name()


def _timing_fields(thr: _Throughput, lat: _Latency, budget: Budget) -> dict[str, Any]:
    """Throughput median/spread, latency percentiles, and the budget actually spent."""
    img_s = thr.repeats.rates(per_step=thr.batch)  # each step is one batch of images
    lat_warmup, lat_s = lat.warmup, lat.samples_s
    p50, p95, p99 = percentiles([s * 1e3 for s in lat_s], [50, 95, 99])
    return {
        "throughput_img_s": statistics.median(img_s),
        "throughput_img_s_min": min(img_s),
        "throughput_img_s_max": max(img_s),
        "repeats": len(img_s),
        "repeat_iters": thr.repeats.iters,
        "repeat_s": thr.repeats.seconds,
        "first_call_s": thr.warmup.first_s,
        "warmup_iters": thr.warmup.iters,
        "warmup_s": thr.warmup.seconds,
        "warmup_settled": thr.warmup.settled,
        "throughput_timing_s": thr.warmup.seconds + sum(thr.repeats.seconds) + thr.repeats.discarded_s,
        "compile_s": thr.compile_s,  # the throughput batch's compile (first call), not part of the warm-up
        "latency_compile_s": lat.compile_s,
        "latency_ms_p50": p50,
        "latency_ms_p95": p95,
        "latency_ms_p99": p99,
        "latency_iters": len(lat_s),
        "latency_warmup_iters": lat_warmup.iters,
        "latency_timing_s": lat_warmup.seconds + sum(lat_s),
        "budget": budget.to_dict(),
    }


def cost(model: nn.Module, input_size: tuple[int, int, int]) -> dict[str, Any]:
    """Params and GMACs of one image at `input_size`: the static part of `measure`, and all of `bench profile
    --no-timing` (bench.profiling.static_cost)."""
    params, trainable = count_params(model)
    macs = count_macs(model, input_size)
    return {
        "params": params,
        "params_trainable": trainable,
        "gmacs": macs.gmacs,
        "macs_counter": macs.counter,
        "input_size": list(input_size),
    }


def measure(model: nn.Module, input_size: tuple[int, int, int], cfg: EfficiencyConfig) -> dict[str, Any]:
    """Params, GMACs, throughput, batch-1 latency and memory of `model`.

    The model is moved to cfg.device (and stays there); eval mode and channels_last
    are undone afterwards. Weights stay fp32: fp16/bf16 run under autocast.
    """
    t0 = time.perf_counter()
    batch, budget = cfg.resolved()
    device = torch.device(cfg.device)
    if device.type == "cpu" and cfg.precision == "fp16":
        # Not an error (it is a legitimate measurement), but surprising enough to say.
        log.warning("fp16 autocast on CPU usually has no fast kernels: expect it to be far slower than fp32")
    c, h, w = input_size  # also rejects sizes that are not (C, H, W)
    input_size = (int(c), int(h), int(w))
    timer = _timer_for(device)

    was_training = model.training
    cudnn_benchmark = torch.backends.cudnn.benchmark
    with tf32(cfg.tf32):
        static = cost(model, input_size)
        try:
            model.to(device).eval()
            if cfg.channels_last:
                model.to(memory_format=torch.channels_last)
            runner, tracker = compile_static(model) if cfg.compile else (model, None)

            def forward(x: torch.Tensor) -> Any:
                with torch.inference_mode(), autocast(device, cfg.precision):
                    return runner(x)

            # Fixed input shapes: let cuDNN pick the fastest kernels, as timm's benchmark does.
            torch.backends.cudnn.benchmark = True
            thr, ran_batch = run_with_oom_backoff(
                lambda b: _throughput(
                    forward, input_size, budget, cfg.channels_last, device, b, timer, _probe_for(device), tracker
                ),
                batch,
            )
            lat = _latencies(forward, input_size, budget, cfg.channels_last, device, timer, tracker)
            flags = tf32_flags()
        finally:
            torch.backends.cudnn.benchmark = cudnn_benchmark
            if cfg.channels_last:
                model.to(memory_format=torch.contiguous_format)
            model.train(was_training)

    return {
        **static,
        "device": str(device),
        "device_name": device_name(device),
        "precision": cfg.precision,
        "channels_last": cfg.channels_last,
        "compile": cfg.compile,
        **_compile_fields(tracker, thr, lat),
        **flags,
        "batch_size": ran_batch,
        "batch_size_requested": batch,
        **_timing_fields(thr, lat, budget),
        **asdict(thr.memory),
        "measure_s": time.perf_counter() - t0,
    }


def _compile_fields(tracker: CompileTracker | None, thr: _Throughput, lat: _Latency) -> dict[str, Any]:
    """Whether the timed throughput and latency steps ran compiled code, and if not, why dynamo said it fell back."""
    if tracker is None:
        return {"compiled": False}
    compiled = bool(thr.compiled and lat.compiled)
    return {
        "compiled": compiled,
        "compiled_throughput": thr.compiled,
        "compiled_latency": lat.compiled,
        "compile_graphs": tracker.graphs,
        "compile_dynamic": tracker.dynamic,
        "compile_backend": COMPILE_BACKEND,
        "compile_fallback": None if compiled else (_dynamo_fallback_reason() or "dynamo ran the steps eagerly"),
    }
