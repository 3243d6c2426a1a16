"""`bench profile`: efficiency without data or pretrained weights (random init)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import models
from .errors import BenchError
from .report import tables as F


def profile(
    names: list[str],
    device: str = "auto",
    batch_size: int | None = None,
    precision: str = "fp32",
    channels_last: bool | None = None,
    compile: bool = False,
    use_train_size: bool = False,
    timing: bool = True,
    budget: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """One row per model: the efficiency figures of `efficiency.measure` at the eval input size, or an error.

    timing=False gives params and GMACs only, without a device or memory (see `static_cost`).
    `budget` overrides fields of the device's default `timing.Budget` (e.g. {"repeats": 9}).
    """
    if not timing:
        return [_row(spec, lambda s: static_cost(s, use_train_size)) for spec in models.expand(names)]

    from dataclasses import replace

    from .config import RunConfig
    from .measure.efficiency import EfficiencyConfig, measure
    from .measure.timing import default_budget

    dev = RunConfig(models=names, device=device, accuracy=False).resolved_device()
    base = EfficiencyConfig(device=dev, batch_size=batch_size, precision=precision, compile=compile)
    base.budget = replace(default_budget(base.device_type()), **(budget or {})).validate()
    base.resolved()  # bad settings: one error for the command, not one per model

    def one(spec: models.ModelSpec) -> dict[str, Any]:
        model, _ = models.build(spec, "random")
        nhwc = models.prefers_channels_last(model) if channels_last is None else channels_last
        return measure(model, eval_size(spec, model, use_train_size), replace(base, channels_last=nhwc))

    return [_row(spec, one) for spec in models.expand(names)]


def eval_size(spec: models.ModelSpec, model: Any = None, use_train_size: bool = False) -> tuple[int, int, int]:
    """The input size accuracy is evaluated at (timm's test size unless --use-train-size): costs are quoted there."""
    from .data import transforms

    return transforms.resolve(spec, model, use_train_size=use_train_size).input_size


def _row(spec: models.ModelSpec, fn: Callable[[models.ModelSpec], dict[str, Any]]) -> dict[str, Any]:
    try:
        return {"model": spec.id, **fn(spec)}
    except BenchError as e:
        return {"model": spec.id, "error": str(e)}
    except Exception as e:
        return {"model": spec.id, "error": f"{type(e).__name__}: {e}"}


def static_cost(spec: models.ModelSpec, use_train_size: bool = False) -> dict[str, Any]:
    """Params and GMACs of a random-init model built on the meta device (bench.models.weights.empty_weights).

    Architectures that need real parameter values to build or to run the FLOP count are built on
    the CPU instead; `built_on` says which.
    """
    from .measure.efficiency import cost

    size = eval_size(spec, None, use_train_size)
    try:
        model, _ = models.build(spec, "random", meta=True)
        static, built_on = cost(model, size), "meta"
    except Exception:
        model, _ = models.build(spec, "random")
        static, built_on = cost(model, size), "cpu"
    return {**static, "built_on": built_on}


def format_table(rows: list[dict[str, Any]]) -> str:
    def spread(r):  # (max - min) / median over the timed repeats, percent
        lo, mid, hi = r.get("throughput_img_s_min"), r.get("throughput_img_s"), r.get("throughput_img_s_max")
        return None if None in (lo, mid, hi) else (hi - lo) / mid * 100

    table = [
        [
            r["model"],
            F.formatted(r.get("params"), ","),
            F.formatted(r.get("gmacs"), ".3f"),
            F.formatted(r.get("throughput_img_s"), ".1f"),
            F.formatted(spread(r), ".1f"),
            r.get("batch_size", F.DASH),
            F.formatted(r.get("latency_ms_p50"), ".2f"),
            F.formatted(r.get("latency_ms_p95"), ".2f"),
            F.formatted(r.get("gpu_max_allocated_mb"), ".0f"),
            F.formatted(r.get("measure_s"), ".1f"),
            r.get("error", ""),
        ]
        for r in rows
    ]
    headers = ["model", "params", "GMACs", "img/s", "± %", "batch", "p50 ms", "p95 ms", "GPU MB", "s", "error"]
    return F.terminal_table(headers, [[str(c) for c in row] for row in table])
