"""Calibration from the per-sample record: ECE (Guo et al. 2017), equal-mass ECE, Brier score, reliability bins.

Everything is computed from three per-sample arrays stored beside every result (restricted protocol):
`conf_restricted` (top-1 softmax probability), `ptrue_restricted` (probability of the true class,
0 when the head cannot predict it) and `sumsq_restricted` (sum of squared probabilities, for Brier).
Stored runs are rescored with `summarize(samples)`; nothing here needs the model again.
"""

from __future__ import annotations

from typing import Any

N_BINS = 15  # Guo et al. 2017, "On Calibration of Modern Neural Networks", Sec. 2: M = 15 bins
KEYS = ("conf_restricted", "ptrue_restricted", "sumsq_restricted")
PROTOCOL = "restricted"


def per_sample(logp, target):
    """Per-sample calibration record from log-probabilities (rows) and target columns (-1: not predictable).

    Returns tensors keyed like KEYS: top-1 confidence, true-class probability, sum of squared probabilities.
    """
    import torch

    p = logp.exp()
    p_true = torch.where(target >= 0, p.gather(1, target.clamp(min=0)[:, None])[:, 0], torch.zeros(()))
    return {"conf_restricted": p.max(dim=1).values, "ptrue_restricted": p_true, "sumsq_restricted": (p * p).sum(dim=1)}


def _bins_equal_width(confidence, n_bins: int):
    """Bin m holds confidences in ((m-1)/M, m/M] (Guo et al.'s I_m); 0 goes to the first bin."""
    import numpy as np

    idx = np.ceil(np.asarray(confidence, dtype=np.float64) * n_bins).astype(np.int64) - 1
    return np.clip(idx, 0, n_bins - 1)


def _ece(groups, confidence, correct) -> float:
    """sum_m |B_m|/n * |acc(B_m) - conf(B_m)| over index groups."""
    import numpy as np

    n = len(confidence)
    total = 0.0
    for g in groups:
        if len(g):
            total += len(g) / n * abs(float(np.mean(correct[g])) - float(np.mean(confidence[g])))
    return total


def ece(confidence, correct, n_bins: int = N_BINS) -> float | None:
    """Expected calibration error with `n_bins` equal-width bins over top-1 confidence (a fraction)."""
    import numpy as np

    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    if not len(confidence):
        return None
    idx = _bins_equal_width(confidence, n_bins)
    return _ece([np.flatnonzero(idx == m) for m in range(n_bins)], confidence, correct)


def adaptive_ece(confidence, correct, n_bins: int = N_BINS) -> float | None:
    """ECE over equal-mass bins: samples sorted by confidence and cut into `n_bins` groups of (nearly) equal size.

    Equal-width bins leave most bins empty for a confident model; equal mass gives each bin the same
    weight of evidence (Nguyen & O'Connor 2015; Nixon et al. 2019). Ties are ordered by sample position.
    """
    import numpy as np

    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    if not len(confidence):
        return None
    order = np.argsort(confidence, kind="stable")
    return _ece([g for g in np.array_split(order, min(n_bins, len(order)))], confidence, correct)


def brier(sumsq, p_true) -> float | None:
    """Multi-class Brier score, mean over samples of sum_k (p_k - y_k)^2 = sum_k p_k^2 - 2 p_true + 1 (range 0..2)."""
    import numpy as np

    sumsq = np.asarray(sumsq, dtype=np.float64)
    if not len(sumsq):
        return None
    return float(np.mean(sumsq - 2.0 * np.asarray(p_true, dtype=np.float64) + 1.0))


def reliability(confidence, correct, n_bins: int = N_BINS) -> list[dict[str, Any]]:
    """The reliability diagram's data: per equal-width bin its edges, count, accuracy and mean confidence."""
    import numpy as np

    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    idx = _bins_equal_width(confidence, n_bins) if len(confidence) else np.zeros(0, dtype=np.int64)
    out = []
    for m in range(n_bins):
        sel = idx == m
        count = int(sel.sum())
        out.append(
            {
                "lower": round(m / n_bins, 6),
                "upper": round((m + 1) / n_bins, 6),
                "count": count,
                "accuracy": round(float(correct[sel].mean()), 6) if count else None,
                "confidence": round(float(confidence[sel].mean()), 6) if count else None,
            }
        )
    return out


def correct_top1(samples: dict[str, Any]):
    """Restricted top-1 right or wrong per sample (a target the head cannot predict counts as wrong)."""
    target = samples["target"]
    return (samples["restricted_top5"][:, 0] == target) & (target >= 0)


def has_record(samples: dict[str, Any] | None) -> bool:
    return samples is not None and all(k in samples for k in KEYS)


def summarize(samples: dict[str, Any]) -> dict[str, Any] | None:
    """ECE (percent), adaptive ECE (percent), Brier and the reliability bins from stored arrays; None for
    records written before they were stored (rerun with --force to get them)."""
    if not has_record(samples) or not len(samples["target"]):
        return None
    conf, ok = samples["conf_restricted"], correct_top1(samples)
    equal_width, equal_mass = ece(conf, ok), adaptive_ece(conf, ok)
    brier_score = brier(samples["sumsq_restricted"], samples["ptrue_restricted"])
    assert equal_width is not None and equal_mass is not None and brier_score is not None  # samples are not empty
    return {
        "protocol": PROTOCOL,
        "n_bins": N_BINS,
        "ece": round(100.0 * equal_width, 4),
        "ece_adaptive": round(100.0 * equal_mass, 4),
        "brier": round(brier_score, 6),
        "mean_confidence": round(100.0 * float(conf.astype("float64").mean()), 4),
        "reliability": reliability(conf, ok),
    }
