"""`bench profile`: efficiency without data or pretrained weights (random init)."""

from __future__ import annotations

from typing import Any

from . import models as M
from .errors import BenchError


def profile(names: list[str], device: str = "auto", batch_size: int | None = None, precision: str = "fp32",
            channels_last: bool | None = None, compile: bool = False, use_train_size: bool = False) -> list[dict[str, Any]]:
    """One row per model: the efficiency figures of `efficiency.measure` at the eval input size, or an error."""
    from .config import RunConfig
    from .data import transforms as T
    from .measure.efficiency import EfficiencyConfig, measure

    dev = RunConfig(models=names, device=device, accuracy=False).resolved_device()
    rows = []
    for spec in M.expand(names):
        try:
            model, _ = M.build(spec, "random")
            nhwc = M.prefers_channels_last(model) if channels_last is None else channels_last
            cfg = EfficiencyConfig(device=dev, batch_size=batch_size, precision=precision, channels_last=nhwc, compile=compile)
            rows.append({"model": spec.id, **measure(model, T.resolve(spec, model, use_train_size=use_train_size).input_size, cfg)})
        except BenchError as e:
            rows.append({"model": spec.id, "error": str(e)})
        except Exception as e:  # noqa: BLE001 - e.g. out of memory even at batch 1: one row, not the table
            rows.append({"model": spec.id, "error": f"{type(e).__name__}: {e}"})
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    from tabulate import tabulate

    def f(v, fmt):
        return "—" if v is None else format(v, fmt)

    table = [[r["model"], f(r.get("params"), ","), f(r.get("gmacs"), ".3f"), f(r.get("throughput_img_s"), ".1f"),
              r.get("batch_size", "—"), f(r.get("latency_ms_p50"), ".2f"), f(r.get("latency_ms_p95"), ".2f"),
              f(r.get("gpu_max_allocated_mb"), ".0f"), r.get("error", "")] for r in rows]
    return tabulate(table, headers=["model", "params", "GMACs", "img/s", "batch", "p50 ms", "p95 ms", "GPU MB", "error"],
                    tablefmt="simple", disable_numparse=True)
