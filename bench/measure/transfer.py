"""Scores of one probe's predictions, their spread over few-shot episodes, and means across datasets.

top-1 and top-5 (top-5 only with at least 5 classes) in percent; mean per-class accuracy (the mean of
each test class's top-1, the headline for Flowers and Pets). Across datasets: the plain mean (VTAB) and
the mean of logit(accuracy) (Kornblith et al.), reported back as a percentage through the sigmoid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def scores(ranked, target, n_classes: int) -> dict[str, Any]:
    """ranked: (n, >=1) class indices, best first; target: (n,)."""
    import numpy as np

    ranked = np.asarray(ranked)
    target = np.asarray(target)
    n = len(target)
    if n == 0:
        return {"n": 0, "top1": None, "top5": None, "mean_per_class": None}
    hit1 = ranked[:, 0] == target
    out: dict[str, Any] = {"n": int(n), "top1": round(100.0 * float(hit1.mean()), 4)}
    if n_classes >= 5 and ranked.shape[1] >= 5:
        out["top5"] = round(100.0 * float((ranked[:, :5] == target[:, None]).any(axis=1).mean()), 4)
    else:
        out["top5"] = None
    per_class = [float(hit1[target == c].mean()) for c in np.unique(target)]
    out["mean_per_class"] = round(100.0 * float(np.mean(per_class)), 4)
    return out


def spread(values: Sequence[float]) -> dict[str, float | None]:
    """mean ± sd (sample sd, n-1; 0 for one episode) and min / median / max over episodes."""
    import statistics

    vals = [float(v) for v in values if v is not None]
    if not vals:
        return {"mean": None, "sd": None, "min": None, "median": None, "max": None}
    return {
        "mean": round(statistics.fmean(vals), 4),
        "sd": round(statistics.stdev(vals), 4) if len(vals) > 1 else 0.0,
        "min": round(min(vals), 4),
        "median": round(statistics.median(vals), 4),
        "max": round(max(vals), 4),
    }


def logit(p: float, eps: float = 1e-6) -> float:
    p = min(max(p, eps), 1 - eps)
    return math.log(p / (1 - p))


def across_datasets(accuracies: Sequence[float]) -> dict[str, float | None]:
    """Plain mean (VTAB) and mean logit (Kornblith), both in percent; inputs in percent."""
    vals = [float(a) for a in accuracies if a is not None]
    if not vals:
        return {"mean": None, "mean_logit": None, "n": 0}
    z = sum(logit(a / 100.0) for a in vals) / len(vals)
    return {"mean": round(sum(vals) / len(vals), 4), "mean_logit": round(100.0 / (1.0 + math.exp(-z)), 4), "n": len(vals)}
