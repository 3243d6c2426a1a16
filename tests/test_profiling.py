"""`bench profile`: static costs on the meta device (--no-timing), and the budget plumbing."""

from __future__ import annotations

import contextlib
import json

import pytest
import torch
import torchvision
from torch import nn

from bench import cli, profiling
from bench.measure.efficiency import count_params


def _tv_meta(arch: str) -> dict:
    return torchvision.models.get_model_weights(arch).DEFAULT.meta


@pytest.mark.parametrize("arch", ["resnet18", "regnet_x_400mf", "vit_b_32"])
def test_no_timing_matches_torchvision_meta(arch: str) -> None:
    # regnet computes its widths with torch ops at construction: a `torch.device("meta")` build
    # fails there, parameters-only on meta does not.
    (row,) = profiling.profile([f"tv:{arch}"], timing=False)
    meta = _tv_meta(arch)
    assert row["params"] == row["params_trainable"] == meta["num_params"]
    assert row["gmacs"] == pytest.approx(meta["_ops"], rel=0.02)
    assert row["built_on"] == "meta" and row["input_size"] == [3, 224, 224]
    assert "throughput_img_s" not in row and "error" not in row


class _Tied(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encode = nn.Linear(4, 4, bias=False)
        self.decode = nn.Linear(4, 4, bias=False)
        self.decode.weight = self.encode.weight
        self.head = nn.Linear(4, 2)


def test_empty_weights_keeps_ties_and_restores_torch() -> None:
    from bench.models.weights import empty_weights

    register = nn.Module.register_parameter
    with empty_weights():
        model = _Tied()
        bn = nn.BatchNorm2d(3)
    assert nn.Module.register_parameter is register
    assert all(p.device.type == "meta" for p in [*model.parameters(), *bn.parameters()])
    assert bn.running_mean.device.type == "meta"  # buffers too: a ViT-H's are not small
    assert model.decode.weight is model.encode.weight
    assert count_params(model) == (16 + 8 + 2, 16 + 8 + 2)
    assert nn.Linear(2, 2).weight.device.type == "cpu"  # outside the block: untouched


class _NeedsRealValues(nn.Module):
    """A forward that reads a value (.item()): neither meta FLOP counting nor a forward on meta
    parameters can run it, so the static cost needs a real build."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) if self.conv.weight.abs().sum().item() >= 0 else x


def test_static_cost_falls_back_to_a_real_build(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench import models as M

    def build(spec, weights, meta=False):
        with torch.device("meta") if meta else contextlib.nullcontext():
            return _NeedsRealValues(), None  # on meta its forward cannot read a value: the count must rebuild on the CPU

    monkeypatch.setattr(profiling.models, "build", build)
    monkeypatch.setattr(profiling, "eval_size", lambda spec, model=None, use_train_size=False: (3, 8, 8))
    spec = M.ModelSpec(source="torchvision", arch="fake", tag=None, pretrained_cfg={"input_size": (3, 8, 8)})
    row = profiling.static_cost(spec)
    assert row["built_on"] == "cpu"
    assert row["params"] == 8 * 3 * 9 + 8
    assert row["gmacs"] * 1e9 == pytest.approx(8 * 6 * 6 * 3 * 9)  # out ch x positions x in ch x kernel


def test_cli_no_timing(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["profile", "--models", "tv:alexnet,tv:squeezenet1_1", "--no-timing", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["model"], r["params"]) for r in rows] == [
        ("tv:alexnet.IMAGENET1K_V1", 61_100_840), ("tv:squeezenet1_1.IMAGENET1K_V1", 1_235_496)]  # fmt: skip
    assert rows[0]["gmacs"] == pytest.approx(0.714, rel=0.01)


def test_cli_budget_flags_reach_profile(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    seen: dict = {}

    def fake_profile(names, **kwargs):
        seen.update(kwargs, names=names)
        return [{"model": "tv:x"}]

    monkeypatch.setattr(profiling, "profile", fake_profile)
    argv = [
        "profile",
        "--models",
        "a,b",
        "--repeats",
        "9",
        "--min-repeat-s",
        "0.5",
        "--warmup-max-s",
        "3",
        "--latency-budget-s",
        "1.5",
    ]
    assert cli.main(argv) == 0
    assert seen["names"] == ["a", "b"] and seen["timing"] is True
    assert seen["budget"] == {"repeats": 9, "min_repeat_s": 0.5, "warmup_max_s": 3.0, "latency_budget_s": 1.5}
    cli.main(["profile", "--models", "a"])
    assert seen["budget"] == {}  # the device's defaults


def test_profile_times_with_the_given_budget() -> None:
    budget = {
        "repeats": 2,
        "min_repeat_s": 0.0,
        "warmup_max_s": 0.0,
        "latency_budget_s": 0.0,
        "latency_min_iters": 3,
        "min_iters": 1,
    }
    (row,) = profiling.profile(["tv:squeezenet1_1"], device="cpu", batch_size=2, budget=budget)
    assert "error" not in row, row.get("error")
    assert (row["batch_size"], row["repeats"], row["repeat_iters"], row["latency_iters"]) == (2, 2, [1, 1], 3)
    assert row["budget"]["repeats"] == 2 and row["budget"]["settle_window"] == 3  # overrides on the CPU default
    assert row["channels_last"] is True  # a convolutional network
    assert row["throughput_img_s"] > 0 and row["latency_ms_p50"] > 0


def test_profile_rejects_a_bad_budget_once() -> None:
    from bench.errors import ConfigError

    with pytest.raises(ConfigError, match="invalid timing budget"):
        profiling.profile(["tv:alexnet"], device="cpu", budget={"repeats": 0})


def test_format_table_shows_spread_and_time() -> None:
    rows = [
        {
            "model": "m",
            "params": 10,
            "gmacs": 1.0,
            "throughput_img_s": 100.0,
            "throughput_img_s_min": 95.0,
            "throughput_img_s_max": 105.0,
            "batch_size": 8,
            "measure_s": 12.34,
        },
        {"model": "s", "params": 5, "gmacs": 0.5},
        {"model": "e", "error": "boom"},
    ]
    lines = profiling.format_table(rows).splitlines()
    assert lines[0].split()[:6] == ["model", "params", "GMACs", "img/s", "±", "%"]
    assert lines[2].split() == ["m", "10", "1.000", "100.0", "10.0", "8", "—", "—", "—", "12.3"]
    assert lines[3].split()[:4] == ["s", "5", "0.500", "—"]
    assert lines[4].split()[-1] == "boom"
