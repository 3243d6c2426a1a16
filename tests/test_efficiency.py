"""Efficiency measurement: static costs against torchvision's published figures, and the
timing/back-off machinery on CPU (offline, random weights)."""

from __future__ import annotations

import json
import os
import sys
import weakref
from dataclasses import replace
from types import SimpleNamespace

import fixtures as F
import pytest
import torch
import torchvision
from torch import nn

from bench.errors import ConfigError
from bench.measure import efficiency as E
from bench.measure import env
from bench.measure.efficiency import (
    EfficiencyConfig,
    count_gmacs,
    count_params,
    measure,
    run_with_oom_backoff,
)
from bench.measure.timing import CPU_BUDGET, GPU_BUDGET, Budget

TORCHVISION_MODELS = [
    "alexnet",
    "resnet18",
    "resnet50",
    "vgg16",
    "mobilenet_v3_large",
    "efficientnet_b0",
    "convnext_tiny",
    "vit_b_16",
]

MEASURE_KEYS = {
    "params", "params_trainable", "gmacs", "macs_counter", "input_size", "device", "device_name", "precision",
    "channels_last", "compile", "compiled", "allow_tf32_matmul", "allow_tf32_cudnn", "batch_size", "batch_size_requested",
    "compile_s", "latency_compile_s",
    "throughput_img_s", "throughput_img_s_min", "throughput_img_s_max", "repeats", "repeat_iters", "repeat_s",
    "first_call_s", "warmup_iters", "warmup_s", "warmup_settled", "throughput_timing_s",
    "latency_ms_p50", "latency_ms_p95", "latency_ms_p99", "latency_iters", "latency_warmup_iters", "latency_timing_s",
    "budget", "measure_s",
    "gpu_max_allocated_mb", "gpu_max_reserved_mb", "gpu_warmup_max_allocated_mb", "gpu_warmup_max_reserved_mb",
    "nvml_process_used_mb", "nvml_device_used_mb", "nvml_total_mb", "cpu_rss_growth_mb", "cpu_warmup_rss_growth_mb",
}  # fmt: skip

GPU_KEYS = [
    "gpu_max_allocated_mb",
    "gpu_max_reserved_mb",
    "gpu_warmup_max_allocated_mb",
    "gpu_warmup_max_reserved_mb",
    "nvml_process_used_mb",
    "nvml_device_used_mb",
    "nvml_total_mb",
]


def _meta(name: str) -> dict:
    return torchvision.models.get_model_weights(name).DEFAULT.meta


# --- static cost against torchvision's reference numbers -------------------------------


@pytest.mark.parametrize("name", TORCHVISION_MODELS)
def test_params_and_gmacs_match_torchvision(name: str) -> None:
    meta = _meta(name)
    # All of these are evaluated at 224 (vit_b_16's min_size is exactly 224).
    assert meta["min_size"][0] <= 224
    model = torchvision.models.get_model(name, weights=None)
    total, trainable = count_params(model)
    assert total == meta["num_params"]
    assert trainable == total
    assert count_gmacs(model, (3, 224, 224)) == pytest.approx(meta["_ops"], rel=0.02)


def test_known_values() -> None:
    assert count_params(torchvision.models.alexnet())[0] == 61_100_840
    assert count_gmacs(torchvision.models.alexnet(), (3, 224, 224)) == pytest.approx(0.714, rel=0.01)


def test_meta_device_model() -> None:
    # Models built on the meta device (no memory) must count the same.
    with torch.device("meta"):
        model = torchvision.models.resnet50()
    assert count_params(model)[0] == 25_557_032
    assert count_gmacs(model, (3, 224, 224)) == pytest.approx(4.089, rel=0.01)


def test_count_gmacs_leaves_model_untouched() -> None:
    model = torchvision.models.resnet18().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    count_gmacs(model, (3, 64, 64))
    assert model.training
    after = model.state_dict()
    assert all(after[k].device.type == "cpu" and torch.equal(before[k], after[k]) for k in before)


class _DataDependent(nn.Module):
    """Forward that cannot run on meta tensors (.item()), forcing the real fallback."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) if x.abs().sum().item() >= 0 else x


def test_count_gmacs_falls_back_to_real_forward() -> None:
    # 8 out channels * 6*6 positions * 3 in channels * 3*3 kernel
    assert count_gmacs(_DataDependent(), (3, 8, 8)) * 1e9 == pytest.approx(8 * 6 * 6 * 3 * 9)


class _Tied(nn.Module):
    def __init__(self, share_storage_only: bool = False) -> None:
        super().__init__()
        self.encode = nn.Linear(4, 4, bias=False)
        self.decode = nn.Linear(4, 4, bias=False)
        if share_storage_only:
            # Distinct Parameter objects over one storage: must still count once.
            self.decode.weight = nn.Parameter(self.encode.weight.data)
        else:
            self.decode.weight = self.encode.weight
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.decode(self.encode(x)))


@pytest.mark.parametrize("share_storage_only", [False, True])
def test_tied_weights_counted_once(share_storage_only: bool) -> None:
    model = _Tied(share_storage_only)
    assert count_params(model) == (16 + 8 + 2, 16 + 8 + 2)
    # Input (1, 1, 4): three linears on one 4-vector = 16 + 16 + 8 MACs.
    assert count_gmacs(model, (1, 1, 4)) * 1e9 == pytest.approx(40)


def test_frozen_params_are_not_trainable() -> None:
    model = _Tied()
    model.head.requires_grad_(False)
    assert count_params(model) == (26, 16)


# --- measure() on CPU -------------------------------------------------------------------


def _tiny() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10),
    )  # fmt: skip


# Fixed counts, no time involved: one warm-up step (the time cap of 0 s ends it once the minimum
# has run), 3 repeats of 2 steps (a 0 s repeat is never short), 10 latency samples.
_BUDGET = F.fixed_budget(warmup=1, repeats=3, iters=2, latency=10)
_FAST = dict(batch_size=4, budget=_BUDGET)


def test_measure_tiny_model_cpu() -> None:
    model = _tiny().train()
    r = measure(model, (3, 32, 32), EfficiencyConfig(**_FAST))
    assert set(r) == MEASURE_KEYS
    json.dumps(r)  # must be storable as-is
    # conv 3->8 3x3: 216 + 8; batch norm: 8 + 8; linear 8->10: 80 + 10 (by hand, not count_params)
    assert r["params"] == r["params_trainable"] == 330 and r["gmacs"] > 0
    assert r["throughput_img_s_min"] <= r["throughput_img_s"] <= r["throughput_img_s_max"]
    assert r["throughput_img_s_min"] > 0
    assert 0 < r["latency_ms_p50"] <= r["latency_ms_p95"] <= r["latency_ms_p99"]
    assert r["device"] == "cpu" and r["device_name"]
    assert r["input_size"] == [3, 32, 32]
    assert (r["batch_size"], r["batch_size_requested"]) == (4, 4)
    assert (r["warmup_iters"], r["repeat_iters"], r["repeats"], r["latency_iters"]) == (1, [2, 2, 2], 3, 10)
    assert r["latency_warmup_iters"] == 1 and r["budget"] == _BUDGET.to_dict()
    assert r["warmup_settled"] is False  # a window of 1 needs 2 steps to compare
    assert r["throughput_timing_s"] >= sum(r["repeat_s"]) + r["warmup_s"] > 0
    assert r["measure_s"] >= r["throughput_timing_s"] + r["latency_timing_s"]
    assert (r["precision"], r["channels_last"], r["compile"]) == ("fp32", False, False)
    assert all(r[k] is None for k in GPU_KEYS)
    # measured on CPU (clamped at 0, so only their presence can be checked)
    assert isinstance(r["cpu_rss_growth_mb"], float) and isinstance(r["cpu_warmup_rss_growth_mb"], float)
    assert model.training  # measure's eval() is undone


def test_measure_records_bf16_channels_last_and_restores_layout() -> None:
    model = _tiny()
    r = measure(model, (3, 32, 32), EfficiencyConfig(precision="bf16", channels_last=True, **_FAST))
    assert (r["precision"], r["channels_last"]) == ("bf16", True)
    assert r["throughput_img_s"] > 0
    conv = model[0].weight
    assert conv.dtype == torch.float32 and conv.is_contiguous()  # weights untouched


def test_device_defaults() -> None:
    assert EfficiencyConfig().resolved() == (8, CPU_BUDGET)
    assert EfficiencyConfig(device="cuda:1").resolved() == (256, GPU_BUDGET)  # resolving needs no GPU
    assert EfficiencyConfig(batch_size=3, budget=_BUDGET).resolved() == (3, _BUDGET)


class _Width(nn.Module):
    """One class, many sizes: like resnet18...152 sharing ResNet.forward, each width fails the others' guards."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3)
        self.fc = nn.Linear(width, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).mean((2, 3)))


@pytest.fixture
def eager_compile(monkeypatch: pytest.MonkeyPatch):
    """torch.compile's real front end (dynamo: guards, caches, recompile limit) with the "eager" backend, which
    generates no code: inductor takes tens of seconds per model on these cores. Restores dynamo's state after."""
    import torch._dynamo

    monkeypatch.setattr(E, "COMPILE_BACKEND", "eager")
    yield torch._dynamo.config
    torch._dynamo.reset()


def test_every_model_of_one_class_is_really_compiled(eager_compile) -> None:
    """Compiled entries used to pile up on the class's forward: past dynamo's recompile limit (2 here, 8 by
    default: the 5th model of a family at two shapes each) the timing ran eagerly while the record said compile."""
    with eager_compile.patch(recompile_limit=2):
        records = [measure(_Width(4 + i), (3, 16, 16), EfficiencyConfig(compile=True, **_FAST)) for i in range(6)]
    for r in records:
        assert r["compile"] is True and r["compiled"] is True, r.get("compile_fallback")
        assert (r["compiled_throughput"], r["compiled_latency"], r["compile_graphs"]) == (True, True, 2)
        assert r["compile_dynamic"] is False and r["compile_fallback"] is None  # static graphs, batch 8 and batch 1


def test_record_says_eager_when_dynamo_falls_back(eager_compile) -> None:
    """With room for one graph only, the batch-1 shape hits the limit and runs eagerly: the record says so, and why."""
    with eager_compile.patch(recompile_limit=1):
        r = measure(_Width(4), (3, 16, 16), EfficiencyConfig(compile=True, **_FAST))
    assert r["compile"] is True and r["compiled"] is False
    assert (r["compiled_throughput"], r["compiled_latency"], r["compile_graphs"]) == (True, False, 1)
    assert "recompile limit" in r["compile_fallback"].lower()


def test_compile_time_is_its_own_figure_and_warmup_starts_after_it(eager_compile) -> None:
    """The first call compiles; it used to be the warm-up's first step (which then stopped at its minimum unsettled)."""
    runner, tracker = E.compile_static(_Width(4).eval())
    graphs_before_each_call: list[int] = []

    def timer(fn, n: int) -> float:  # a scripted clock: compile 5 s, every step 10 ms
        graphs_before_each_call.append(tracker.graphs)
        fn() if n == 1 else [fn() for _ in range(n)]
        return 5.0 if tracker.graphs > graphs_before_each_call[-1] else 0.01 * n

    with torch.inference_mode():
        thr = E._throughput(runner, (3, 16, 16), _FAST["budget"], False, torch.device("cpu"), 2, timer, E._NoProbe(), tracker)
    assert thr.compile_s == 5.0 and graphs_before_each_call[:2] == [0, 1]  # compiled in the first call, apart
    assert thr.warmup.times and set(thr.warmup.times) == {0.01}  # no compile inside the warm-up
    assert thr.compiled is True
    r = measure(_Width(4), (3, 16, 16), EfficiencyConfig(**_FAST))
    assert r["compile_s"] is None and r["compiled"] is False


class _ReadsTf32(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.flags: set[tuple[bool, bool]] = set()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.flags.add((torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32))
        return self.conv(x)


@pytest.mark.parametrize("tf32", [False, True])
def test_tf32_is_set_for_matmul_and_cudnn_alike_recorded_and_restored(tf32: bool) -> None:
    """torch's own defaults differ (cuDNN convolutions TF32, matmuls IEEE): "fp32" would mean two things at once."""
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    assert before == (False, True)  # torch's defaults: what an untouched run would mix
    model = _ReadsTf32()
    r = measure(model, (3, 16, 16), EfficiencyConfig(tf32=tf32, **_FAST))
    assert model.flags == {(tf32, tf32)}
    assert (r["allow_tf32_matmul"], r["allow_tf32_cudnn"]) == (tf32, tf32)
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before


@pytest.mark.parametrize(
    "bad",
    [
        dict(precision="fp8"),
        dict(batch_size=0),
        dict(budget=replace(_BUDGET, repeats=0)),
        dict(budget=replace(_BUDGET, min_iters=0)),
        dict(device="gpu"),
    ],
)
def test_invalid_settings_rejected(bad: dict) -> None:
    with pytest.raises(ConfigError):
        measure(_tiny(), (3, 8, 8), EfficiencyConfig(**bad))


# --- OOM back-off -----------------------------------------------------------------------


class _OOMAbove(nn.Module):
    """Pretends the device runs out of memory above `limit` images per batch."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.conv = nn.Conv2d(3, 4, 3)
        self.seen: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.shape[0])
        if len(self.seen) > 100:  # bounded: a back-off that never halves fails instead of hanging
            raise AssertionError(f"no progress: batches {self.seen[:12]}...")
        if x.shape[0] > self.limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return self.conv(x)


def test_measure_backs_off_on_oom(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_cuda() -> None:
        raise AssertionError("must not touch CUDA when measuring on CPU")

    monkeypatch.setattr(torch.cuda, "empty_cache", no_cuda)
    model = _OOMAbove(limit=8)
    r = measure(model, (3, 16, 16), EfficiencyConfig(**{**_FAST, "batch_size": 32}))
    assert (r["batch_size"], r["batch_size_requested"]) == (8, 32)
    assert r["throughput_img_s"] > 0
    assert [b for b in model.seen if b > 1][:3] == [32, 16, 8]


@pytest.mark.parametrize(
    "message",
    [
        "CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`",
        "cuDNN error: CUDNN_STATUS_ALLOC_FAILED",
    ],
)
def test_backoff_treats_cublas_and_cudnn_allocation_failures_as_oom(message: str) -> None:
    """Near the memory limit cuBLAS/cuDNN fail to allocate their handles or workspaces with a plain RuntimeError."""
    calls: list[int] = []

    def fits_at_16(batch: int) -> int:
        calls.append(batch)
        if batch > 16:
            raise RuntimeError(message)
        return batch

    assert run_with_oom_backoff(fits_at_16, 64) == (16, 16)
    assert calls == [64, 32, 16]


def test_backoff_gives_up_below_one() -> None:
    calls: list[int] = []
    cleanups: list[int] = []

    def always_oom(batch: int) -> None:
        calls.append(batch)
        raise torch.cuda.OutOfMemoryError("simulated")

    with pytest.raises(torch.cuda.OutOfMemoryError, match="batch size 1 .*requested 6"):
        run_with_oom_backoff(always_oom, 6, on_retry=cleanups.append)
    assert calls == [6, 3, 1]
    assert cleanups == [3, 1]  # told the next batch size


def test_backoff_does_not_swallow_other_errors() -> None:
    calls: list[int] = []

    def broken(batch: int) -> None:
        calls.append(batch)
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        run_with_oom_backoff(broken, 64)
    assert calls == [64]


def test_backoff_halves_until_it_fits() -> None:
    calls: list[int] = []

    def fits_at_8(batch: int) -> str:
        calls.append(batch)
        if len(calls) > 10:  # an endless retry (e.g. not halving) fails here instead of hanging
            raise AssertionError(f"still retrying after {calls}")
        if batch > 8:
            raise torch.cuda.OutOfMemoryError("simulated")
        return f"ran {batch}"

    cleanups: list[int] = []
    assert run_with_oom_backoff(fits_at_8, 64, on_retry=cleanups.append) == ("ran 8", 8)
    assert calls == [64, 32, 16, 8]
    assert cleanups == [32, 16, 8]


def test_backoff_frees_the_failed_batch_before_emptying_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Emptying the CUDA cache is useless while the failed attempt's tensors are alive: here they
    are held by the attempt's frame, which the traceback keeps, in a reference cycle (the frame
    also stores the exception) that only the garbage collector breaks."""
    log: list[str] = []
    ref: list[weakref.ref] = []

    def attempt(batch: int) -> int:
        if batch > 2:
            activations = torch.empty(1024)
            ref.append(weakref.ref(activations))
            try:
                raise torch.cuda.OutOfMemoryError("simulated")
            except torch.cuda.OutOfMemoryError as err:
                saved = err  # noqa: F841 - frame -> exception -> traceback -> frame
                raise
        return batch

    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: log.append(f"empty_cache, batch alive: {ref[-1]() is not None}"))
    assert run_with_oom_backoff(attempt, 4, on_retry=lambda b: log.append(f"retry {b}")) == (2, 2)
    assert log == ["empty_cache, batch alive: False", "retry 2"]


def test_backoff_touches_no_cuda_without_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)  # a CPU run
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: pytest.fail("emptied the CUDA cache without CUDA"))

    def fits_at_1(batch: int) -> int:
        if batch > 1:
            raise torch.cuda.OutOfMemoryError("simulated")
        return batch

    assert run_with_oom_backoff(fits_at_1, 2) == (1, 1)


def test_device_picks_timer_and_probe() -> None:
    # Constructing them touches no GPU; what they do is tested with fakes (test_timing, below).
    assert E._timer_for(torch.device("cuda:0")).__qualname__.startswith("cuda_event_timer")
    assert E._timer_for(torch.device("cpu")).__qualname__.startswith("wall_timer")
    assert isinstance(E._probe_for(torch.device("cuda:1")), E._CudaProbe)
    assert isinstance(E._probe_for(torch.device("cpu")), E._RssProbe)
    assert isinstance(E._probe_for(torch.device("mps")), E._NoProbe)


# --- the measurement sequence with fake timers and probes -----------------------------------


class _StepTimer:
    """Each step takes `step_s` seconds; records the n of each timing into the shared log."""

    def __init__(self, log: list[str], step_s: float) -> None:
        self.log, self.step_s = log, step_s

    def __call__(self, fn, n: int) -> float:
        for _ in range(n):
            fn()
        return n * self.step_s


class _RecordingProbe:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    def start(self) -> None:
        self.log.append("start")

    def after_warmup(self) -> None:
        self.log.append("after_warmup")

    def finish(self) -> E._Memory:
        self.log.append("finish")
        return E._Memory(cpu_rss_growth_mb=1.0)


_TIMED = Budget(
    warmup_min_iters=2,
    warmup_max_iters=100,
    warmup_max_s=100.0,
    settle_window=2,
    settle_tol=0.05,
    repeats=3,
    min_repeat_s=1.0,
    min_iters=1,
    latency_budget_s=1.0,
    latency_min_iters=4,
    latency_max_iters=100,
)


def _run_throughput(log: list[str], batch: int, step_s: float) -> E._Throughput:
    def forward(x: torch.Tensor) -> None:
        log.append(f"step {x.shape[0]}")

    return E._throughput(
        forward, (3, 4, 4), _TIMED, False, torch.device("cpu"), batch, _StepTimer(log, step_s), _RecordingProbe(log)
    )


def test_peak_is_reset_after_warmup() -> None:
    log: list[str] = []
    thr = _run_throughput(log, batch=8, step_s=0.5)
    # warm-up settles after 2k = 4 steady steps; then 3 repeats of ceil(1.0 / 0.5) = 2 steps
    assert log == ["start"] + ["step 8"] * 4 + ["after_warmup"] + ["step 8"] * 6 + ["finish"]
    assert (thr.warmup.iters, thr.repeats.iters) == (4, [2, 2, 2])
    assert thr.memory.cpu_rss_growth_mb == 1.0


def test_throughput_is_images_per_second() -> None:
    thr = _run_throughput([], batch=8, step_s=0.5)
    # 8 images x 2 steps in 1.0 s = 16 img/s (a missing batch factor would read 2)
    lat = E._latencies(lambda x: None, (3, 4, 4), _TIMED, False, torch.device("cpu"), _StepTimer([], 0.25))
    fields = E._timing_fields(thr, lat, _TIMED)
    assert fields["throughput_img_s"] == fields["throughput_img_s_min"] == fields["throughput_img_s_max"] == 16.0
    assert fields["repeat_iters"] == [2, 2, 2] and fields["repeat_s"] == [1.0, 1.0, 1.0]
    assert (fields["warmup_iters"], fields["warmup_s"], fields["warmup_settled"]) == (4, 2.0, True)
    assert fields["throughput_timing_s"] == 5.0  # 2 s warm-up + 3 s repeats
    # latency: 4 warm-up calls, then 1.0 s / 0.25 s = 4 samples of 250 ms
    assert (fields["latency_warmup_iters"], fields["latency_iters"]) == (4, 4)
    assert fields["latency_ms_p50"] == fields["latency_ms_p99"] == 250.0
    assert fields["latency_timing_s"] == 2.0


def test_throughput_median_and_spread() -> None:
    thr = E._Throughput(
        batch=4, warmup=E.Warmup([1.0]), repeats=E.Repeats(iters=[10, 10, 10], seconds=[2.0, 4.0, 1.0]), memory=E._Memory()
    )
    fields = E._timing_fields(thr, E._Latency(E.Warmup([0.1]), [0.001, 0.003, 0.002]), _TIMED)
    # 4 x 10 images in 2, 4, 1 s -> 20, 10, 40 img/s
    assert (fields["throughput_img_s"], fields["throughput_img_s_min"], fields["throughput_img_s_max"]) == (20.0, 10.0, 40.0)
    assert fields["latency_ms_p50"] == pytest.approx(2.0) and fields["latency_ms_p95"] == pytest.approx(2.9)


class _FakeCudaMemory:
    """torch.cuda's memory API: peaks rise with the work done and fall back on reset."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.allocated, self.reserved = 100 * 2**20, 100 * 2**20  # weights and input, held throughout
        self.peak_allocated, self.peak_reserved = self.allocated, self.reserved

    def work(self, allocated_mb: int, reserved_mb: int) -> None:
        self.peak_allocated = max(self.peak_allocated, allocated_mb * 2**20)
        self.peak_reserved = max(self.peak_reserved, reserved_mb * 2**20)

    def empty_cache(self) -> None:
        self.log.append("empty_cache")

    def reset_peak_memory_stats(self, device: object) -> None:
        self.log.append("reset")
        self.peak_allocated, self.peak_reserved = self.allocated, self.reserved

    def max_memory_allocated(self, device: object) -> int:
        self.log.append("read")
        return self.peak_allocated

    def max_memory_reserved(self, device: object) -> int:
        return self.peak_reserved

    def current_device(self) -> int:
        return 0

    def get_device_properties(self, index: int) -> SimpleNamespace:
        return SimpleNamespace(uuid="1234-abcd")


def test_cuda_probe_reports_warmup_and_steady_peaks_apart() -> None:
    log: list[str] = []
    cuda = _FakeCudaMemory(log)
    asked: list[tuple] = []

    def nvml(index: int, uuid: str | None) -> env.NvmlMemory:
        asked.append((index, uuid))
        return env.NvmlMemory(process_used_mb=900.0, device_used_mb=5000.0, total_mb=81559.0)

    probe = E._CudaProbe(torch.device("cuda"), cuda=cuda, nvml=nvml)
    probe.start()
    cuda.work(allocated_mb=3000, reserved_mb=4000)  # warm-up: cuDNN autotune workspaces
    probe.after_warmup()
    cuda.work(allocated_mb=700, reserved_mb=800)  # steady state
    mem = probe.finish()
    # No empty_cache between warm-up and the timed repeats: the first repeat would allocate its blocks again.
    assert log == ["empty_cache", "reset", "read", "reset", "read"]
    assert (mem.gpu_warmup_max_allocated_mb, mem.gpu_warmup_max_reserved_mb) == (3000, 4000)
    assert (mem.gpu_max_allocated_mb, mem.gpu_max_reserved_mb) == (700, 800)
    assert (mem.nvml_process_used_mb, mem.nvml_device_used_mb, mem.nvml_total_mb) == (900.0, 5000.0, 81559.0)
    assert asked == [(0, "GPU-1234-abcd")]


# --- NVML: this process's memory ---------------------------------------------------------------


def _fake_pynvml(processes) -> SimpleNamespace:
    """pynvml with one GPU (1000 MiB used of 80000) running `processes` [(pid, MiB or None)],
    or raising NVMLError from the process query when `processes` is an exception."""
    mib = 2**20

    class NVMLError(Exception):
        pass

    def running(handle):
        assert handle == "h0"
        if isinstance(processes, Exception):
            raise processes
        return [SimpleNamespace(pid=pid, usedGpuMemory=None if m is None else m * mib) for pid, m in processes]

    return SimpleNamespace(
        NVMLError=NVMLError, nvmlInit=lambda: None, nvmlShutdown=lambda: None,
        nvmlDeviceGetHandleByUUID=lambda uuid: "h0", nvmlDeviceGetHandleByIndex=lambda i: "h0",
        nvmlDeviceGetMemoryInfo=lambda h: SimpleNamespace(used=1000 * mib, total=80000 * mib),
        nvmlDeviceGetComputeRunningProcesses=running,
    )  # fmt: skip


@pytest.mark.parametrize(("processes", "expected"), [
    ([(1, 100), (os.getpid(), 700), (2, 200)], 700.0),  # ours among others
    ([(1, 100), (2, 200)], None),  # container: NVML lists host pids, ours is not among them
    ([(os.getpid(), None)], None),  # WDDM: no per-process figure
    (RuntimeError("NVML_ERROR_NOT_SUPPORTED"), None),  # process query unsupported
])  # fmt: skip
def test_nvml_process_memory(monkeypatch: pytest.MonkeyPatch, processes, expected) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", _fake_pynvml(processes))
    got = env.nvml_process_memory(0, "GPU-abc")
    # the device-wide figure is always there, and labelled as such; never passed off as ours
    assert got == env.NvmlMemory(process_used_mb=expected, device_used_mb=1000.0, total_mb=80000.0)


def test_nvml_process_memory_without_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)
    assert env.nvml_process_memory(0) == env.NvmlMemory(None, None, None)


def test_cuda_index_reads_the_number_or_asks_for_the_current_device():
    from bench.measure.device import cuda_index

    current = SimpleNamespace(current_device=lambda: 3)  # a stand-in for torch.cuda: no GPU needed
    assert cuda_index("cuda:1", current) == 1 and cuda_index(torch.device("cuda", 2), current) == 2
    assert cuda_index("cuda", current) == 3 and cuda_index(torch.device("cuda"), current) == 3 and cuda_index(None, current) == 3


def test_profile_vs_timm_compares_static_graphs_with_static_graphs(eager_compile, monkeypatch: pytest.MonkeyPatch) -> None:
    """After measure() compiled batch 8 and batch 1, a plain torch.compile of the same model got a dynamic-shape
    graph (automatic dynamic shapes): the ratio compared shape-generic kernels with specialised ones."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "profile_vs_timm.py"
    spec = importlib.util.spec_from_file_location("profile_vs_timm", path)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "profile_vs_timm", script)  # its dataclasses look their module up
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", torch.backends.cudnn.benchmark)  # the script sets it
    spec.loader.exec_module(script)
    args = script.parse_args(["--device", "cpu", "--compile", "--batch-size", "4", "--timm-warmup", "2", "--timm-iters", "3"])
    model = _Width(4)
    ours = measure(model, (3, 16, 16), EfficiencyConfig(compile=True, **_FAST))
    theirs = script.timm_style_throughput(model, (3, 16, 16), args)
    assert ours["compiled"] is True and ours["compile_dynamic"] is False
    assert theirs.compiled is True and theirs.dynamic is False
    assert "compiled (static graphs): measure True" in script.report(args, [(ours, theirs)])
