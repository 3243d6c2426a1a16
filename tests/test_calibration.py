"""Calibration: ECE, equal-mass ECE and Brier against hand-computed numbers and a plain-Python second implementation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bench.data import labels as L
from bench.measure import calibration as C
from bench.measure.evaluate import evaluate
from bench.store import results as R


def test_ece_hand_computed():
    # bins of width 1/15: 0.91 -> (0.8667, 0.9333] (two samples, accuracy 0.5); 0.62 -> (0.6, 0.6667]; 0.31 -> (0.2667, 0.3333]
    # ECE = 2/4 * |0.5 - 0.91| + 1/4 * |1 - 0.62| + 1/4 * |0 - 0.31| = 0.205 + 0.095 + 0.0775
    conf, correct = [0.91, 0.91, 0.62, 0.31], [1, 0, 1, 0]
    assert C.ece(conf, correct) == pytest.approx(0.3775, abs=1e-12)
    assert C.ece([1.0, 1.0], [1, 1]) == 0.0  # confidence 1 belongs to the last bin (14/15, 1]
    assert C.ece([], []) is None


def test_adaptive_ece_hand_computed():
    # 4 samples, 2 equal-mass bins: {0.2, 0.4} (accuracy 0.5, confidence 0.3), {0.7, 0.9} (accuracy 1, confidence 0.8)
    conf, correct = [0.9, 0.2, 0.7, 0.4], [1, 0, 1, 1]
    assert C.adaptive_ece(conf, correct, n_bins=2) == pytest.approx(0.5 * 0.2 + 0.5 * 0.2)
    # with more bins than samples every sample is its own bin: mean |correct - confidence|
    assert C.adaptive_ece(conf, correct) == pytest.approx((0.1 + 0.2 + 0.3 + 0.6) / 4)


def test_brier_hand_computed():
    # p = (0.7, 0.2, 0.1), true class 0: 0.09 + 0.04 + 0.01 = 0.14; true class 2: 0.49 + 0.04 + 0.81 = 1.34
    sumsq = 0.49 + 0.04 + 0.01
    assert C.brier([sumsq, sumsq], [0.7, 0.1]) == pytest.approx((0.14 + 1.34) / 2)


def _softmax(row):
    m = max(row)
    e = [math.exp(v - m) for v in row]
    s = sum(e)
    return [v / s for v in e]


def _plain_python(logits, targets, n_bins=15):
    """A second implementation: lists and loops only."""
    probs = [_softmax(r) for r in logits]
    conf = [max(p) for p in probs]
    pred = [p.index(max(p)) for p in probs]
    correct = [int(a == t) for a, t in zip(pred, targets)]
    n, ece = len(probs), 0.0
    for m in range(1, n_bins + 1):
        members = [i for i in range(n) if (m - 1) / n_bins < conf[i] <= m / n_bins]
        if members:
            acc = sum(correct[i] for i in members) / len(members)
            avg = sum(conf[i] for i in members) / len(members)
            ece += len(members) / n * abs(acc - avg)
    brier = sum(sum((p[k] - (1.0 if k == t else 0.0)) ** 2 for k in range(len(p))) for p, t in zip(probs, targets)) / n
    order = sorted(range(n), key=lambda i: conf[i])
    size, extra = divmod(n, n_bins)
    groups, start = [], 0
    for b in range(n_bins):
        end = start + size + (1 if b < extra else 0)
        groups.append(order[start:end])
        start = end
    aece = sum(len(g) / n * abs(sum(correct[i] for i in g) / len(g) - sum(conf[i] for i in g) / len(g)) for g in groups if g)
    return ece, aece, brier


@pytest.fixture(scope="module")
def fixed():
    """Fixed logits over the 1000 ImageNet classes: 64 samples, confidence spread over the bins."""
    rng = np.random.default_rng(7)
    logits = rng.normal(size=(64, 1000)).astype(np.float32)
    targets = rng.integers(0, 1000, size=64)
    for i in range(64):  # make about half right, with peaks of varied height
        cls = int(targets[i]) if i % 2 == 0 else int((targets[i] + 1) % 1000)
        logits[i, cls] += float(i % 12)
    return logits, targets


def _evaluate(logits, targets):
    space = L.imagenet_1k()
    x = torch.from_numpy(logits)
    batches = [
        (x[:40], torch.from_numpy(targets[:40]), torch.arange(40), [""] * 40),
        (x[40:], torch.from_numpy(targets[40:]), torch.arange(40, 64), [""] * 24),
    ]
    return evaluate(torch.nn.Identity(), batches, L.project(space, space), progress=False)


def test_evaluate_summary_matches_plain_python(fixed):
    logits, targets = fixed
    ev = _evaluate(logits, targets)
    ece, aece, brier = _plain_python(logits.astype(np.float64).tolist(), targets.tolist())
    cal = ev.summary["calibration"]
    assert 0.05 < ece < 0.5  # the fixture exercises several bins, not a degenerate case
    assert cal["ece"] == pytest.approx(100 * ece, abs=1e-3)
    assert cal["ece_adaptive"] == pytest.approx(100 * aece, abs=1e-3)
    assert cal["brier"] == pytest.approx(brier, abs=1e-5)
    assert sum(b["count"] for b in cal["reliability"]) == 64 and len(cal["reliability"]) == 15


def test_stored_runs_are_rescored_from_the_npz(fixed, tmp_path):
    logits, targets = fixed
    ev = _evaluate(logits, targets)
    result = {
        "schema_version": 1,
        "key": {"dataset": "samples", "split": "val", "model": "m", "weights": "pretrained", "transform": "model"},
        "accuracy": ev.summary,
    }
    path = R.write(result, ev.samples, tmp_path)
    samples = R.read_samples(R.read(path))
    assert set(C.KEYS) <= set(samples)
    assert C.summarize(samples) == ev.summary["calibration"]
    old = {k: v for k, v in samples.items() if k not in C.KEYS}  # a record written before calibration was stored
    assert C.summarize(old) is None


def test_unpredictable_target_has_zero_true_probability():
    logp = torch.log_softmax(torch.tensor([[2.0, 1.0, 0.0], [0.0, 0.0, 0.0]]), dim=1)
    rec = C.per_sample(logp, torch.tensor([0, -1]))
    assert rec["ptrue_restricted"][1] == 0.0 and rec["conf_restricted"][1] == pytest.approx(1 / 3)
    assert rec["sumsq_restricted"][1] == pytest.approx(1 / 3)
