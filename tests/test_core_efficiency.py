"""Efficiency arithmetic against hand-computed figures, torchvision's meta, numpy and a scripted clock.

The clock is replaced by a script (no timed assertions): each timed block "takes" the next value,
so throughput and latency percentiles are exact numbers that can be worked out by hand.
"""

from __future__ import annotations

from dataclasses import replace

import fixtures as F
import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from bench.errors import ConfigError
from bench.measure import efficiency as E
from bench.measure import timing as T

# A budget with fixed counts (no time thresholds): one warm-up call, 3 repeats of 2 steps, 10 latency samples.
FAST_BUDGET = F.fixed_budget(warmup=1, repeats=3, iters=2, latency=10)
FAST = dict(batch_size=4, budget=FAST_BUDGET)
CPU_TIMING_BATCH, GPU_TIMING_BATCH = 8, 256  # README: timing batch defaults


def _tiny() -> nn.Module:
    # conv 3->8 3x3: 8*3*9 + 8 = 224; batch norm 8: 8 + 8 = 16; linear 8->10: 80 + 10 = 90 => 330
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10)
    )


def _script(monkeypatch, values_ms):
    """Replace the clock: the n-th timed block (after running its n steps) reads values_ms[n] milliseconds."""
    values = list(values_ms)
    calls: list[float] = []

    def fake_timer(fn, n):
        for _ in range(n):
            fn()
        calls.append(values[len(calls)])
        return calls[-1] / 1e3

    monkeypatch.setattr(E, "_timer_for", lambda device: fake_timer)
    return calls


MEASURE_KEYS = {
    "params",
    "params_trainable",
    "gmacs",
    "macs_counter",
    "input_size",
    "device",
    "device_name",
    "precision",
    "channels_last",
    "compile",
    "compiled",
    "compile_s",
    "latency_compile_s",
    "allow_tf32_matmul",
    "allow_tf32_cudnn",
    "batch_size",
    "batch_size_requested",
    "budget",
    "first_call_s",
    "warmup_iters",
    "warmup_s",
    "warmup_settled",
    "repeats",
    "repeat_iters",
    "repeat_s",
    "throughput_img_s",
    "throughput_img_s_min",
    "throughput_img_s_max",
    "throughput_timing_s",
    "latency_ms_p50",
    "latency_ms_p95",
    "latency_ms_p99",
    "latency_iters",
    "latency_warmup_iters",
    "latency_timing_s",
    "gpu_max_allocated_mb",
    "gpu_max_reserved_mb",
    "gpu_warmup_max_allocated_mb",
    "gpu_warmup_max_reserved_mb",
    "nvml_device_used_mb",
    "nvml_process_used_mb",
    "nvml_total_mb",
    "cpu_rss_growth_mb",
    "cpu_warmup_rss_growth_mb",
    "measure_s",
}


class _Devices(nn.Module):
    """Records the device of every forward's input: the MAC count must not run the caller's model for real."""

    def __init__(self, data_dependent: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.data_dependent = data_dependent
        self.devices: list[str] = []

    def forward(self, x):
        self.devices.append(x.device.type)
        if self.data_dependent and x.abs().sum().item() < 0:  # .item() cannot run on meta tensors
            return x
        return self.conv(x)


def test_params_are_counted_by_hand_and_macs_are_flops_over_two():
    model = _tiny()
    assert E.count_params(model) == (330, 330)
    # conv: 8 out * 4*4 positions * 3 in * 9 = 3456 MACs; linear: 80 MACs (pool and bn are not counted)
    assert E.count_gmacs(model, (3, 4, 4)) == pytest.approx(3536e-9, rel=1e-12, abs=0)


def test_macs_on_meta_tensors_and_the_real_fallback():
    # 8 out channels * 6*6 positions * 3 in channels * 3*3 kernel = 7776 MACs
    meta = _Devices()
    assert E.count_gmacs(meta, (3, 8, 8)) == pytest.approx(7776e-9, rel=1e-12, abs=0) and meta.devices == ["meta"]
    real = _Devices(data_dependent=True)
    assert E.count_gmacs(real, (3, 8, 8)) == pytest.approx(7776e-9, rel=1e-12, abs=0) and real.devices == ["meta", "cpu"]
    assert real.training  # the eval() for counting is undone


def test_params_count_each_storage_once_and_frozen_ones_apart():
    tied = nn.Sequential(nn.Linear(4, 4, bias=False), nn.Linear(4, 4, bias=False), nn.Linear(4, 2))
    tied[1].weight = tied[0].weight  # one Parameter used twice
    assert E.count_params(tied) == (16 + 10, 16 + 10)
    views = nn.Sequential(nn.Linear(4, 4, bias=False), nn.Linear(4, 4, bias=False))
    views[1].weight = nn.Parameter(views[0].weight.data)  # two Parameters over one storage
    assert E.count_params(views) == (16, 16)
    one = nn.Module()
    one.a = nn.Parameter(torch.ones(1))
    one.b = nn.Parameter(one.a.data)  # single-value storage shared too
    one.c = nn.Parameter(torch.ones(1))
    assert E.count_params(one) == (2, 2)
    frozen = _tiny()
    frozen[5].requires_grad_(False)
    assert E.count_params(frozen) == (330, 240)
    with torch.device("meta"):
        on_meta = _tiny()  # no storage: every tensor counts by identity
    assert E.count_params(on_meta) == (330, 330)


def test_measure_params_equal_torchvision_meta():
    weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    model = torchvision.models.resnet18()
    r = E.measure(model, (3, 32, 32), E.EfficiencyConfig(**FAST))
    assert r["params"] == weights.meta["num_params"] == 11_689_512
    assert r["params_trainable"] == r["params"]


class _Recording(nn.Module):
    """Records the batch size and memory layout of every forward."""

    def __init__(self):
        super().__init__()
        self.net = _tiny()
        self.seen: list[tuple[int, bool]] = []

    def forward(self, x):
        self.seen.append((x.shape[0], x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()))
        return self.net(x)


def test_throughput_and_latency_percentiles_from_a_scripted_clock(monkeypatch):
    # one warm-up call, three timed throughput repeats of 2 batches of 4 images: 8 images in 0.5 s, 0.25 s, 1 s;
    # then one batch-1 warm-up call and ten batch-1 latency calls of 1..10 ms
    _script(monkeypatch, [300.0, 500.0, 250.0, 1000.0, 50.0] + [float(v) for v in (7, 1, 10, 3, 5, 2, 9, 4, 8, 6)])
    model = _Recording()
    r = E.measure(model, (3, 8, 8), E.EfficiencyConfig(**FAST))
    # the MAC count's batch-1 forward (meta tensors), warm-up 1 + 3 repeats x 2 iters at batch 4,
    # then warm-up 1 + 10 timed calls at batch 1
    assert model.seen == [(1, False)] + [(4, False)] * 7 + [(1, False)] * 11
    assert r["throughput_img_s"] == 16.0  # median of 16, 32, 8 img/s: the batch size counts
    assert (r["throughput_img_s_min"], r["throughput_img_s_max"]) == (8.0, 32.0)
    lat = list(range(1, 11))
    assert r["latency_ms_p50"] == pytest.approx(np.percentile(lat, 50)) == pytest.approx(5.5)
    assert r["latency_ms_p95"] == pytest.approx(np.percentile(lat, 95)) == pytest.approx(9.55)
    assert r["latency_ms_p99"] == pytest.approx(np.percentile(lat, 99)) == pytest.approx(9.91)
    assert (r["batch_size"], r["batch_size_requested"], r["repeat_iters"], r["repeats"], r["warmup_iters"]) == (
        4,
        4,
        [2, 2, 2],
        3,
        1,
    )
    assert (r["latency_iters"], r["latency_warmup_iters"]) == (10, 1)
    assert r["repeat_s"] == [0.5, 0.25, 1.0] and r["warmup_s"] == pytest.approx(0.3)
    assert r["throughput_timing_s"] == pytest.approx(0.3 + 0.5 + 0.25 + 1.0)
    assert r["latency_timing_s"] == pytest.approx(0.05 + 0.055)


def test_short_repeats_are_redone_and_their_time_is_counted(monkeypatch):
    # min_repeat_s 0.4 s: warm-up 300 ms -> 2 steps per repeat. Repeat 1: 500 ms, kept. Then 250 ms (short: redo with
    # ceil(1.05 x 2 x 0.4 / 0.25) = 4 steps), 100 ms (short: ceil(1.05 x 4 x 0.4 / 0.1) = 17 steps), 1700 ms and
    # 850 ms, kept. Then one latency warm-up call and ten timed calls.
    budget = replace(FAST_BUDGET, min_repeat_s=0.4)
    _script(monkeypatch, [300.0, 500.0, 250.0, 100.0, 1700.0, 850.0] + [5.0] * 11)
    r = E.measure(_tiny(), (3, 8, 8), E.EfficiencyConfig(batch_size=4, budget=budget))
    assert r["repeat_iters"] == [2, 17, 17] and r["repeat_s"] == [0.5, 1.7, 0.85]
    # 8 images in 0.5 s, 68 in 1.7 s, 68 in 0.85 s: 16, 40, 80 img/s
    assert (r["throughput_img_s"], r["throughput_img_s_min"], r["throughput_img_s_max"]) == pytest.approx((40.0, 16.0, 80.0))
    # warm-up 0.3 + kept 3.05 + discarded 0.25 + 0.1
    assert r["throughput_timing_s"] == pytest.approx(3.7)


def test_measure_time_is_the_wall_time_of_the_call(monkeypatch):
    import types

    clock = iter([1000.0, 1002.5])
    monkeypatch.setattr(E, "time", types.SimpleNamespace(perf_counter=lambda: next(clock)))
    _script(monkeypatch, [300.0, 500.0, 250.0, 1000.0] + [5.0] * 11)
    r = E.measure(_tiny(), (3, 8, 8), E.EfficiencyConfig(**FAST))
    assert r["measure_s"] == 2.5


def test_batch_size_one_is_valid():
    assert E.EfficiencyConfig(batch_size=1, budget=FAST_BUDGET).resolved() == (1, FAST_BUDGET)


def test_macs_counter_names_the_path_that_ran():
    assert E.count_macs(_Devices(), (3, 8, 8)).counter == "meta"
    assert E.count_macs(_Devices(data_dependent=True), (3, 8, 8)).counter == "forward"


@pytest.mark.parametrize("values", [[3.0], [2.0, 1.0], [5.0, 1.0, 4.0, 2.0, 3.0], list(np.linspace(0.1, 7.3, 37))])
@pytest.mark.parametrize("q", [0, 1, 25, 50, 95, 99, 100])
def test_percentile_is_numpys_linear_percentile(values, q):
    assert T.percentiles(values, [q]) == [pytest.approx(float(np.percentile(values, q)), rel=1e-12)]
    assert T.percentiles(values, [q, 100]) == pytest.approx([float(np.percentile(values, q)), max(values)], rel=1e-12)


def test_oom_backoff_halves_until_it_fits():
    """A fake device that runs out of memory above batch 8; bounded, so a back-off that never halves fails."""
    calls: list[int] = []
    cleanups: list[object] = []

    def fn(batch: int) -> str:
        calls.append(batch)
        if len(calls) > 10:
            raise AssertionError(f"no progress after {calls}")
        if batch > 8:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return f"ran at {batch}"

    result, batch = E.run_with_oom_backoff(fn, 64, on_retry=cleanups.append)
    assert (result, batch) == ("ran at 8", 8)
    assert calls == [64, 32, 16, 8]
    assert cleanups == [32, 16, 8]  # told the next batch after each failure, before the retry


def test_oom_backoff_first_try_fits_and_gives_up_below_one():
    assert E.run_with_oom_backoff(lambda b: b * 2, 5) == (10, 5)
    calls: list[int] = []

    def always(batch):
        calls.append(batch)
        if len(calls) > 10:
            raise AssertionError("no progress")
        raise torch.cuda.OutOfMemoryError("simulated")

    with pytest.raises(torch.cuda.OutOfMemoryError, match="batch size 1 .*requested 5"):
        E.run_with_oom_backoff(always, 5, on_retry=lambda b: None)
    assert calls == [5, 2, 1]


def test_measure_reports_the_batch_that_fit(monkeypatch):
    def no_cuda() -> None:
        raise AssertionError("the OOM clean-up must not touch CUDA when measuring on the CPU")

    monkeypatch.setattr(torch.cuda, "empty_cache", no_cuda)

    class OOMAbove2(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(8 * 8 * 3, 2)
            self.seen: list[int] = []

        def forward(self, x):
            self.seen.append(x.shape[0])
            if len(self.seen) > 100:
                raise AssertionError(f"no progress: batches {self.seen[:12]}...")  # bounded: a back-off that never halves fails
            if x.shape[0] > 2:
                raise torch.cuda.OutOfMemoryError("simulated")
            return self.lin(x.flatten(1))

    _script(monkeypatch, [100.0] * 4 + [1.0] * 11)
    model = OOMAbove2()
    r = E.measure(model, (3, 8, 8), E.EfficiencyConfig(**{**FAST, "batch_size": 8}))
    assert (r["batch_size"], r["batch_size_requested"]) == (2, 8)
    assert r["throughput_img_s"] == 40.0  # 2 images x 2 iters in 0.1 s
    assert r["params"] == 8 * 8 * 3 * 2 + 2


def test_settings_defaults_and_validation():
    assert E.EfficiencyConfig().resolved() == (CPU_TIMING_BATCH, T.CPU_BUDGET)
    assert E.EfficiencyConfig(device="cuda:0").resolved() == (GPU_TIMING_BATCH, T.GPU_BUDGET)
    assert E.EfficiencyConfig(batch_size=7, budget=FAST_BUDGET).resolved() == (7, FAST_BUDGET)
    from dataclasses import replace

    bad_budgets = [replace(FAST_BUDGET, **{k: 0}) for k in ("warmup_min_iters", "settle_window", "repeats", "min_iters")]
    bad_budgets += [
        replace(FAST_BUDGET, min_repeat_s=-1.0),
        replace(FAST_BUDGET, settle_tol=0.0),
        replace(FAST_BUDGET, latency_max_iters=9),
    ]
    for bad in [dict(batch_size=0), dict(precision="fp64"), dict(device="tpu")] + [dict(budget=b) for b in bad_budgets]:
        with pytest.raises(ConfigError):
            E.EfficiencyConfig(**bad).resolved()


def test_fp16_on_cpu_is_measured_with_a_warning(caplog):
    with caplog.at_level("WARNING", logger="bench.measure.efficiency"):
        E.measure(_tiny(), (3, 8, 8), E.EfficiencyConfig(**FAST))
        assert caplog.records == []
        r = E.measure(_tiny(), (3, 8, 8), E.EfficiencyConfig(precision="fp16", **FAST))
    assert r["precision"] == "fp16"
    assert [rec.getMessage() for rec in caplog.records] == [
        "fp16 autocast on CPU usually has no fast kernels: expect it to be far slower than fp32"
    ]


class _Settings(nn.Module):
    """Records, at each timed forward, the weight layout, cuDNN autotuning and whether autograd is off."""

    def __init__(self):
        super().__init__()
        self.net = _tiny()
        self.state: set[tuple[bool, bool, bool]] = set()

    def forward(self, x):
        if x.device.type != "meta":
            w = self.net[0].weight
            self.state.add(
                (
                    w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous(),
                    torch.backends.cudnn.benchmark,
                    torch.is_inference_mode_enabled(),
                )
            )
        return self.net(x)


def test_measure_result_keys_and_static_figures():
    r = E.measure(_tiny(), (3, 8, 8), E.EfficiencyConfig(**FAST))
    assert set(r) == MEASURE_KEYS
    # conv 3->8 3x3 pad 1 on 8x8: 8 * 64 * 27 = 13824 MACs; linear 8->10: 80
    assert r["gmacs"] == pytest.approx(13904e-9, rel=1e-12, abs=0)
    assert (r["precision"], r["compile"], r["device_name"]) == ("fp32", False, E.device_name(torch.device("cpu")))
    assert r["gpu_max_reserved_mb"] is None and r["nvml_total_mb"] is None


def test_measure_runs_the_model_as_configured_and_restores_it():
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = False
    try:
        model = _Settings()
        E.measure(model, (3, 8, 8), E.EfficiencyConfig(channels_last=True, precision="bf16", **FAST))
        assert model.state == {(True, True, True)}  # NHWC weights, cuDNN autotuning on, inference mode
        assert torch.backends.cudnn.benchmark is False and model.net[0].weight.is_contiguous()
    finally:
        torch.backends.cudnn.benchmark = before


def test_compile_wraps_the_model_once_per_shape_specialisation(monkeypatch):
    compiled: list[tuple[object, dict]] = []

    def fake_compile(model, **kwargs):
        compiled.append((model, kwargs))
        return model

    monkeypatch.setattr(torch, "compile", fake_compile)
    model = _tiny()
    E.measure(model, (3, 8, 8), E.EfficiencyConfig(**FAST))
    assert compiled == []
    r = E.measure(model, (3, 8, 8), E.EfficiencyConfig(compile=True, **FAST))
    ((wrapped, kwargs),) = compiled
    assert wrapped is model and kwargs["dynamic"] is False and isinstance(kwargs["backend"], E.CompileTracker)
    # this stand-in compiles nothing: the record says the steps ran eagerly, whatever was asked
    assert r["compile"] is True and r["compiled"] is False and r["compile_graphs"] == 0


def test_measure_restores_the_model_and_records_the_config():
    rec = _Recording().train()
    E.measure(rec, (3, 8, 8), E.EfficiencyConfig(channels_last=True, **FAST))
    assert set(rec.seen[1:]) == {(4, True), (1, True)}  # the synthetic inputs are channels_last too
    model = _tiny().train()
    r = E.measure(model, (3, 8, 8), E.EfficiencyConfig(channels_last=True, **FAST))
    assert model.training and model[0].weight.is_contiguous()
    assert r["input_size"] == [3, 8, 8] and r["device"] == "cpu" and r["channels_last"] is True
    assert r["gpu_max_allocated_mb"] is None and r["nvml_process_used_mb"] is None
    assert isinstance(r["cpu_rss_growth_mb"], float)
