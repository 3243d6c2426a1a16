"""`bench profile`: efficiency without data or pretrained weights (random init)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from . import models as M
from .errors import BenchError


def profile(names: list[str], device: str = "auto", batch_size: int | None = None, precision: str = "fp32",
            channels_last: bool | None = None, compile: bool = False, timing: bool = True,
            budget: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """One row per model: the efficiency figures of `efficiency.measure`, or an error.

    timing=False gives params and GMACs only, without a device or memory (see `static_cost`).
    `budget` overrides fields of the device's default `timing.Budget` (e.g. {"repeats": 9}).
    """
    if not timing:
        return [_row(spec, static_cost) for spec in M.expand(names)]

    from dataclasses import replace

    from .config import RunConfig
    from .measure.efficiency import EfficiencyConfig, measure
    from .measure.timing import default_budget

    dev = RunConfig(models=names, device=device, accuracy=False).resolved_device()
    base = EfficiencyConfig(device=dev, batch_size=batch_size, precision=precision, compile=compile)
    base.budget = replace(default_budget(base.device_type()), **(budget or {})).validate()
    base.resolved()  # bad settings: one error for the command, not one per model

    def one(spec: M.ModelSpec) -> dict[str, Any]:
        model, _ = M.build(spec, "random")
        nhwc = M.prefers_channels_last(model) if channels_last is None else channels_last
        return measure(model, spec.input_size, replace(base, channels_last=nhwc))

    return [_row(spec, one) for spec in M.expand(names)]


def _row(spec: M.ModelSpec, fn: Callable[[M.ModelSpec], dict[str, Any]]) -> dict[str, Any]:
    try:
        return {"model": spec.id, **fn(spec)}
    except BenchError as e:
        return {"model": spec.id, "error": str(e)}
    except Exception as e:  # noqa: BLE001 - e.g. out of memory even at batch 1: one row, not the table
        return {"model": spec.id, "error": f"{type(e).__name__}: {e}"}


@contextlib.contextmanager
def params_on_meta() -> Iterator[None]:
    """Modules built inside get their parameters on the meta device: no memory and no init cost.

    Unlike `with torch.device("meta")`, only parameters move: the plain tensors an architecture
    computes its shape from (torchvision's RegNet widths) stay real. Buffers stay real too (small).
    """
    from torch import nn

    register = nn.Module.register_parameter

    def register_on_meta(module: nn.Module, name: str, param: nn.Parameter | None) -> None:
        register(module, name, param)
        p = module._parameters[name]
        if p is not None and p.device.type != "meta":  # already meta: a tied parameter, keep the one object
            module._parameters[name] = type(p)(p.to("meta"), requires_grad=p.requires_grad)

    nn.Module.register_parameter = register_on_meta  # type: ignore[method-assign]
    try:
        yield
    finally:
        nn.Module.register_parameter = register  # type: ignore[method-assign]


def static_cost(spec: M.ModelSpec) -> dict[str, Any]:
    """Params and GMACs of a random-init model built with its parameters on the meta device.

    Architectures that need real parameter values to build or to run the FLOP count are built on
    the CPU instead; `built_on` says which.
    """
    from .measure.efficiency import count_gmacs, count_params

    try:
        with params_on_meta():
            model, _ = M.build(spec, "random")
        gmacs, built_on = count_gmacs(model, spec.input_size), "meta"
    except Exception:  # noqa: BLE001 - meta support is best-effort across arbitrary architectures
        model, _ = M.build(spec, "random")
        gmacs, built_on = count_gmacs(model, spec.input_size), "cpu"
    params, trainable = count_params(model)
    return {"params": params, "params_trainable": trainable, "gmacs": gmacs, "input_size": list(spec.input_size),
            "built_on": built_on}


def format_table(rows: list[dict[str, Any]]) -> str:
    from tabulate import tabulate

    def f(v, fmt):
        return "—" if v is None else format(v, fmt)

    def spread(r):  # (max - min) / median over the timed repeats, percent
        lo, mid, hi = r.get("throughput_img_s_min"), r.get("throughput_img_s"), r.get("throughput_img_s_max")
        return None if None in (lo, mid, hi) else (hi - lo) / mid * 100

    table = [[r["model"], f(r.get("params"), ","), f(r.get("gmacs"), ".3f"), f(r.get("throughput_img_s"), ".1f"),
              f(spread(r), ".1f"), r.get("batch_size", "—"), f(r.get("latency_ms_p50"), ".2f"), f(r.get("latency_ms_p95"), ".2f"),
              f(r.get("gpu_max_allocated_mb"), ".0f"), f(r.get("measure_s"), ".1f"), r.get("error", "")] for r in rows]
    return tabulate(table, headers=["model", "params", "GMACs", "img/s", "± %", "batch", "p50 ms", "p95 ms", "GPU MB", "s", "error"],
                    tablefmt="simple", disable_numparse=True)
