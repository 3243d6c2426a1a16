"""Efficiency arithmetic against hand-computed figures, torchvision's meta, numpy and a scripted clock.

The clock is replaced by a script (no timed assertions): each timed block "takes" the next value,
so throughput and latency percentiles are exact numbers that can be worked out by hand.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from bench.errors import ConfigError
from bench.measure import efficiency as E

FAST = dict(batch_size=4, warmup=1, iters=2, repeats=3, latency_iters=10)


def _tiny() -> nn.Module:
    # conv 3->8 3x3: 8*3*9 + 8 = 224; batch norm 8: 8 + 8 = 16; linear 8->10: 80 + 10 = 90 => 330
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))


def _script(monkeypatch, values_ms):
    """Replace the clock: the n-th timed block (after running it) reads values_ms[n]."""
    values = list(values_ms)
    calls: list[float] = []

    def fake_time_ms(fn, device):
        fn()
        calls.append(values[len(calls)])
        return calls[-1]

    monkeypatch.setattr(E, "_time_ms", fake_time_ms)
    return calls


def test_params_are_counted_by_hand_and_macs_are_flops_over_two():
    model = _tiny()
    assert E.count_params(model) == (330, 330)
    # conv: 8 out * 4*4 positions * 3 in * 9 = 3456 MACs; linear: 80 MACs (pool and bn are not counted)
    assert E.count_gmacs(model, (3, 4, 4)) == pytest.approx((3456 + 80) / 1e9)


def test_measure_params_equal_torchvision_meta():
    weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    model = torchvision.models.resnet18()
    r = E.measure(model, (3, 32, 32), E.EfficiencyConfig(**{**FAST, "batch_size": 2, "latency_iters": 2}))
    assert r["params"] == weights.meta["num_params"] == 11_689_512
    assert r["params_trainable"] == r["params"]


def test_throughput_and_latency_percentiles_from_a_scripted_clock(monkeypatch):
    # three timed throughput repeats of iters=2 batches of 4 images: 8 images in 0.5 s, 0.25 s, 1 s;
    # then ten batch-1 latency calls of 1..10 ms
    _script(monkeypatch, [500.0, 250.0, 1000.0] + [float(v) for v in (7, 1, 10, 3, 5, 2, 9, 4, 8, 6)])
    r = E.measure(_tiny(), (3, 8, 8), E.EfficiencyConfig(**FAST))
    assert r["throughput_img_s"] == 16.0  # median of 16, 32, 8 img/s: the batch size counts
    assert (r["throughput_img_s_min"], r["throughput_img_s_max"]) == (8.0, 32.0)
    lat = list(range(1, 11))
    assert r["latency_ms_p50"] == pytest.approx(np.percentile(lat, 50)) == pytest.approx(5.5)
    assert r["latency_ms_p95"] == pytest.approx(np.percentile(lat, 95)) == pytest.approx(9.55)
    assert r["latency_ms_p99"] == pytest.approx(np.percentile(lat, 99)) == pytest.approx(9.91)
    assert (r["batch_size"], r["batch_size_requested"], r["iters"], r["repeats"], r["warmup"]) == (4, 4, 2, 3, 1)


@pytest.mark.parametrize("values", [[3.0], [2.0, 1.0], [5.0, 1.0, 4.0, 2.0, 3.0], list(np.linspace(0.1, 7.3, 37))])
@pytest.mark.parametrize("q", [0, 1, 25, 50, 95, 99, 100])
def test_percentile_is_numpys_linear_percentile(values, q):
    assert E._percentile(values, q) == pytest.approx(float(np.percentile(values, q)), rel=1e-12)


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

    result, batch = E.run_with_oom_backoff(fn, 64, on_oom=lambda *args: cleanups.append(args))
    assert (result, batch) == ("ran at 8", 8)
    assert calls == [64, 32, 16, 8]
    assert len(cleanups) == 3  # the device is cleaned up after each failure, before the retry


def test_oom_backoff_first_try_fits_and_gives_up_below_one():
    assert E.run_with_oom_backoff(lambda b: b * 2, 5) == (10, 5)
    calls: list[int] = []

    def always(batch):
        calls.append(batch)
        if len(calls) > 10:
            raise AssertionError("no progress")
        raise torch.cuda.OutOfMemoryError("simulated")

    with pytest.raises(torch.cuda.OutOfMemoryError, match="batch size 1 .*requested 5"):
        E.run_with_oom_backoff(always, 5, on_oom=lambda *args: None)
    assert calls == [5, 2, 1]


def test_measure_reports_the_batch_that_fit(monkeypatch):
    class OOMAbove2(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(8 * 8 * 3, 2)
            self.seen: list[int] = []

        def forward(self, x):
            self.seen.append(x.shape[0])
            if x.shape[0] > 2:
                raise torch.cuda.OutOfMemoryError("simulated")
            return self.lin(x.flatten(1))

    _script(monkeypatch, [100.0] * 3 + [1.0] * 10)
    model = OOMAbove2()
    r = E.measure(model, (3, 8, 8), E.EfficiencyConfig(**{**FAST, "batch_size": 8}))
    assert (r["batch_size"], r["batch_size_requested"]) == (2, 8)
    assert r["throughput_img_s"] == 40.0  # 2 images x 2 iters in 0.1 s
    assert r["params"] == 8 * 8 * 3 * 2 + 2


def test_settings_defaults_and_validation():
    cpu = E.EfficiencyConfig().settings()
    assert (cpu.batch_size, cpu.warmup, cpu.iters, cpu.repeats, cpu.latency_iters) == (32, 2, 2, 3, 20)
    gpu = E.EfficiencyConfig(device="cuda:0").settings()
    assert (gpu.batch_size, gpu.warmup, gpu.iters, gpu.latency_iters) == (256, 10, 50, 100)
    given = E.EfficiencyConfig(batch_size=7, warmup=0, iters=1, repeats=1, latency_iters=1).settings()
    assert (given.batch_size, given.warmup, given.iters, given.repeats, given.latency_iters) == (7, 0, 1, 1, 1)
    for bad in (dict(warmup=-1), dict(latency_iters=0), dict(precision="fp64"), dict(device="tpu")):
        with pytest.raises(ConfigError):
            E.EfficiencyConfig(**bad).settings()


def test_measure_restores_the_model_and_records_the_config():
    model = _tiny().train()
    r = E.measure(model, (3, 8, 8), E.EfficiencyConfig(channels_last=True, **FAST))
    assert model.training and model[0].weight.is_contiguous()
    assert r["input_size"] == [3, 8, 8] and r["device"] == "cpu" and r["channels_last"] is True
    assert r["gpu_max_allocated_mb"] is None and r["nvml_used_mb"] is None
    assert isinstance(r["cpu_rss_growth_mb"], float)
