"""Efficiency measurement: static costs against torchvision's published figures, and the
timing/back-off machinery on CPU (offline, random weights)."""

from __future__ import annotations

import json

import pytest
import torch
import torchvision
from torch import nn

from bench.measure.efficiency import (
    EfficiencyConfig,
    count_gmacs,
    count_params,
    measure,
    run_with_oom_backoff,
)
from bench.errors import ConfigError

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
    "params", "params_trainable", "gmacs", "input_size", "device", "device_name", "precision",
    "channels_last", "compile", "batch_size", "batch_size_requested", "warmup", "iters", "repeats",
    "throughput_img_s", "throughput_img_s_min", "throughput_img_s_max",
    "latency_ms_p50", "latency_ms_p95", "latency_ms_p99",
    "gpu_max_allocated_mb", "gpu_max_reserved_mb", "nvml_used_mb", "nvml_total_mb", "cpu_rss_growth_mb",
}  # fmt: skip

GPU_KEYS = ["gpu_max_allocated_mb", "gpu_max_reserved_mb", "nvml_used_mb", "nvml_total_mb"]


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


_FAST = dict(batch_size=4, warmup=1, iters=2, repeats=3, latency_iters=10)


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
    assert (r["warmup"], r["iters"], r["repeats"]) == (1, 2, 3)
    assert (r["precision"], r["channels_last"], r["compile"]) == ("fp32", False, False)
    assert all(r[k] is None for k in GPU_KEYS)
    assert isinstance(r["cpu_rss_growth_mb"], float)  # measured on CPU (clamped at 0, so only its presence can be checked)
    assert model.training  # measure's eval() is undone


def test_measure_records_bf16_channels_last_and_restores_layout() -> None:
    model = _tiny()
    r = measure(model, (3, 32, 32), EfficiencyConfig(precision="bf16", channels_last=True, **_FAST))
    assert (r["precision"], r["channels_last"]) == ("bf16", True)
    assert r["throughput_img_s"] > 0
    conv = model[0].weight
    assert conv.dtype == torch.float32 and conv.is_contiguous()  # weights untouched


def test_cpu_defaults_are_small() -> None:
    s = EfficiencyConfig().settings()
    assert s.batch_size == 32 and s.warmup * 5 <= 10 and s.iters <= 5
    g = EfficiencyConfig(device="cuda:1").settings()  # resolving needs no GPU
    assert (g.batch_size, g.warmup) == (256, 10)


def test_compile_flag_wraps_model(monkeypatch: pytest.MonkeyPatch) -> None:
    # Real inductor compilation takes tens of seconds on CPU; only the plumbing is tested.
    compiled: list[dict] = []

    def fake_compile(model: nn.Module, **kwargs: object) -> nn.Module:
        compiled.append(kwargs)
        return model

    monkeypatch.setattr(torch, "compile", fake_compile)
    r = measure(_tiny(), (3, 16, 16), EfficiencyConfig(compile=True, **_FAST))
    assert r["compile"] is True and compiled == [{"dynamic": False}]


@pytest.mark.parametrize(
    "bad", [dict(precision="fp8"), dict(batch_size=0), dict(repeats=0), dict(iters=0), dict(device="gpu")]
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


def test_backoff_gives_up_below_one() -> None:
    calls: list[int] = []
    cleanups: list[int] = []

    def always_oom(batch: int) -> None:
        calls.append(batch)
        raise torch.cuda.OutOfMemoryError("simulated")

    with pytest.raises(torch.cuda.OutOfMemoryError, match="batch size 1 .*requested 6"):
        run_with_oom_backoff(always_oom, 6, on_oom=lambda: cleanups.append(1))
    assert calls == [6, 3, 1]
    assert len(cleanups) == 2


def test_backoff_does_not_swallow_other_errors() -> None:
    calls: list[int] = []

    def broken(batch: int) -> None:
        calls.append(batch)
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        run_with_oom_backoff(broken, 64)
    assert calls == [64]
