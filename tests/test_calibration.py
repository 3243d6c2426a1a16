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


def _plain_adaptive(conf, correct, n_bins):
    """Equal-mass ECE in plain Python: Python's sort is stable, so ties keep their sample order."""
    n = len(conf)
    order = sorted(range(n), key=lambda i: conf[i])
    size, extra = divmod(n, n_bins)
    total, start = 0.0, 0
    for b in range(n_bins):
        g = order[start : start + size + (1 if b < extra else 0)]
        start += len(g)
        if g:  # fewer samples than bins leaves the last bins empty
            total += len(g) / n * abs(sum(correct[i] for i in g) / len(g) - sum(conf[i] for i in g) / len(g))
    return total


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
    return ece, _plain_adaptive(conf, correct, n_bins), brier


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


def _bin(lower, upper, count, accuracy, confidence):
    return {"lower": lower, "upper": upper, "count": count, "accuracy": accuracy, "confidence": confidence}


def test_reliability_bins_hand_computed():
    # width 0.2: 0 and 0.05 -> first bin; 0.2 is the upper edge of the first bin (Guo et al.'s (a, b]);
    # 0.2000001 and 0.31 -> second bin; 1.0 -> the last bin
    conf = [0.0, 0.05, 0.2, 0.2000001, 0.31, 1.0]
    correct = [0, 1, 1, 1, 0, 1]
    assert C.reliability(conf, correct, n_bins=5) == [
        _bin(0.0, 0.2, 3, 0.666667, 0.083333),
        _bin(0.2, 0.4, 2, 0.5, 0.255),
        _bin(0.4, 0.6, 0, None, None),
        _bin(0.6, 0.8, 0, None, None),
        _bin(0.8, 1.0, 1, 1.0, 1.0),
    ]


def test_reliability_default_is_fifteen_bins_rounded_to_six_places():
    out = C.reliability([0.1234567891, 0.999], [True, False])
    edges = [
        0.0,
        0.066667,
        0.133333,
        0.2,
        0.266667,
        0.333333,
        0.4,
        0.466667,
        0.533333,
        0.6,
        0.666667,
        0.733333,
        0.8,
        0.866667,
        0.933333,
        1.0,
    ]
    assert [(b["lower"], b["upper"]) for b in out] == list(zip(edges[:-1], edges[1:]))
    assert out[1] == _bin(0.066667, 0.133333, 1, 1.0, 0.123457)
    assert out[14] == _bin(0.933333, 1.0, 1, 0.0, 0.999)
    assert [b["count"] for b in out] == [0, 1] + [0] * 12 + [1]


def test_reliability_of_nothing_is_fifteen_empty_bins():
    out = C.reliability([], [])
    assert len(out) == 15 and all(b["count"] == 0 and b["accuracy"] is None and b["confidence"] is None for b in out)
    assert out[0]["lower"] == 0.0 and out[-1]["upper"] == 1.0


def test_ece_counts_bins_by_their_share_of_all_samples():
    # 5 bins: {0.1, 0.15} accuracy 0.5 confidence 0.125; {0.9} accuracy 0; equal-width ECE = 2/3*0.375 + 1/3*0.9
    assert C.ece([0.1, 0.9, 0.15], [1, 0, 0], n_bins=5) == pytest.approx(0.25 + 0.3, abs=1e-12)
    # a confidence on a bin edge belongs to the bin below: 0.2 with 0.1 (not with 0.3) at width 0.2
    assert C.ece([0.1, 0.2, 0.3], [0, 1, 1], n_bins=5) == pytest.approx(2 / 3 * abs(0.5 - 0.15) + 1 / 3 * 0.7, abs=1e-12)


def test_adaptive_ece_keeps_tied_confidences_in_sample_order():
    # four ties at 0.5 cut into two bins by position: {right, right} and {wrong, wrong}: ECE = 0.5
    assert C.adaptive_ece([0.5, 0.5, 0.5, 0.5], [1, 1, 0, 0], n_bins=2) == pytest.approx(0.5)
    # 5 samples in 2 bins: sizes 3 and 2 (numpy.array_split), sorted by confidence
    conf, correct = [0.9, 0.1, 0.8, 0.2, 0.3], [1, 0, 0, 1, 1]
    low, high = abs(2 / 3 - 0.2), abs(0.5 - 0.85)
    assert C.adaptive_ece(conf, correct, n_bins=2) == pytest.approx(3 / 5 * low + 2 / 5 * high, abs=1e-12)
    assert C.adaptive_ece([], []) is None


def test_brier_of_nothing_is_none_and_of_a_perfect_prediction_zero():
    assert C.brier([], []) is None
    assert C.brier([1.0], [1.0]) == 0.0
    assert C.brier([1.0], [0.0]) == 2.0  # all mass on a wrong class: the maximum


def test_correct_top1_needs_a_predictable_target():
    samples = {"target": np.array([3, -1, 2, -1, 0]), "restricted_top5": np.array([[3, 0], [-1, 0], [1, 2], [0, 1], [0, 4]])}
    assert C.correct_top1(samples).tolist() == [True, False, False, False, True]  # class 0 is a class


def _record(conf, top1, target, sumsq, ptrue):
    top5 = np.stack([np.asarray(top1), np.full(len(top1), 999)], axis=1)
    return {
        "target": np.asarray(target),
        "restricted_top5": top5,
        "conf_restricted": np.asarray(conf, dtype=np.float64),
        "ptrue_restricted": np.asarray(ptrue, dtype=np.float64),
        "sumsq_restricted": np.asarray(sumsq, dtype=np.float64),
    }


def test_summarize_hand_computed():
    # right, wrong, right, wrong; equal-width bins (of 15): {0.912345678 x2} acc 0.5, {0.62} acc 1, {0.3123456789} acc 0
    rec = _record(
        conf=[0.912345678, 0.912345678, 0.62, 0.3123456789],
        top1=[5, 6, 7, 1],
        target=[5, 5, 7, 2],
        sumsq=[0.8312345678, 0.83, 0.4, 0.2],
        ptrue=[0.91, 0.05, 0.62, 0.1],
    )
    out = C.summarize(rec)
    bins = out.pop("reliability")
    assert out == {
        "protocol": "restricted",
        "n_bins": 15,
        # 2/4 * 0.412345678 + 1/4 * 0.38 + 1/4 * 0.3123456789 = 0.379259258725
        "ece": 37.9259,
        # one sample per bin: (0.087654322 + 0.912345678 + 0.38 + 0.3123456789) / 4 = 0.423086419725
        "ece_adaptive": 42.3086,
        # mean of sumsq - 2 ptrue + 1: (0.0112345678 + 1.73 + 0.16 + 1.0) / 4 = 0.72530864195
        "brier": 0.725309,
        # (2 * 0.912345678 + 0.62 + 0.3123456789) / 4 = 0.689259258725
        "mean_confidence": 68.9259,
    }
    assert [i for i, b in enumerate(bins) if b["count"]] == [4, 9, 13]
    assert bins[4] == _bin(0.266667, 0.333333, 1, 0.0, 0.312346)
    assert bins[9] == _bin(0.6, 0.666667, 1, 1.0, 0.62)
    assert bins[13] == _bin(0.866667, 0.933333, 2, 0.5, 0.912346)


def test_summarize_needs_every_array_and_a_sample():
    rec = _record([0.5], [1], [1], [0.5], [0.5])
    assert C.summarize(rec) is not None
    for key in C.KEYS:
        assert C.summarize({k: v for k, v in rec.items() if k != key}) is None
    assert C.summarize(_record([], [], [], [], [])) is None
    assert not C.has_record(None)


def test_float32_confidences_are_averaged_in_float64():
    # stored confidences are float32. 1 and 1 - 2**-24 sum to exactly 2 in float32 (a tie, rounded to even),
    # so a float32 mean reads 1.0 and hides the gap: the float64 mean is 1 - 2**-25
    conf = np.array([1.0, 1.0 - 2**-24], dtype=np.float32)
    assert C.ece(conf, [1, 1]) == 2**-25
    assert C.adaptive_ece(conf, [1, 1], n_bins=1) == 2**-25
    # three float32 confidences whose float32 mean (0.51022249) and float64 mean (0.51022253) round apart at the
    # sixth decimal (found by a search): the reliability table shows the float64 one
    conf = np.array([0.5089913606643677, 0.5089956521987915, 0.5126805901527405], dtype=np.float32)
    exact = sum(float(c) for c in conf) / 3
    assert round(exact, 6) == 0.510223
    assert C.reliability(conf, [1, 0, 1])[7] == _bin(0.466667, 0.533333, 3, 0.666667, 0.510223)


def test_a_confidence_just_above_one_is_in_the_last_bin():
    # exp(log_softmax) in float32 can exceed 1 by an ulp: it still belongs to the top bin
    out = C.reliability(np.array([1.0000001, 0.5]), [1, 0])
    assert [b["count"] for b in out][-1] == 1 and sum(b["count"] for b in out) == 2
    assert C.ece([1.0000001], [1]) == pytest.approx(1e-7, abs=1e-12)


def test_equal_mass_bins_keep_tied_confidences_in_sample_order():
    # 60 confidences of three values (an unstable sort reorders ties in arrays this long), right or wrong at random
    rng = np.random.default_rng(3)
    conf = (rng.integers(1, 4, 60) / 4).tolist()
    correct = rng.integers(0, 2, 60).tolist()
    for n_bins in (4, 7):
        assert C.adaptive_ece(conf, correct, n_bins=n_bins) == pytest.approx(_plain_adaptive(conf, correct, n_bins), abs=1e-12)
