"""Accuracy scoring against hand-computed figures and a second, plain implementation.

A fake "model" that returns the logits it is given makes every number below computable by hand:
both label protocols, NLL, ReaL, the merge of shards, and the Wilson / McNemar statistics (checked
against scipy). These are the fast tests `make mutation` runs against bench/measure/{evaluate,stats}.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bench.data import labels as L
from bench.measure.evaluate import Evaluation, evaluate, merge, real_accuracy, summarize, top_k
from bench.measure.stats import mcnemar_exact, wilson

# A 4-output head and a 3-class dataset: dataset class 0 is head output 2, class 1 is missing from
# the head (unmapped), class 2 is head output 0. So the restricted columns are head outputs [2, 0]
# and restricted column r is dataset class [0, 2][r]: a dataset class is NOT its restricted column.
HEAD = L.LabelSpace("head4", ("n00000000", "n00000001", "n00000002", "n00000003"), ("m0", "m1", "m2", "m3"))
DATA = L.LabelSpace("data3", ("n00000002", "n09999999", "n00000000"), ("d0", "d1", "d2"))
PROJ = L.project(DATA, HEAD)

# Per sample: (target dataset class, logits over the 4 head outputs, error)
ROWS = [
    (0, [1.0, 0.0, 3.0, 2.0], ""),  # full: m2 first (right); restricted [3, 1]: class 0 first (right)
    (1, [0.5, 1.0, 2.0, 5.0], ""),  # target unmapped: wrong under both protocols, NLL undefined
    (2, [2.0, 4.0, 1.0, 0.0], ""),  # full: m1 first (wrong), m0 second; restricted [1, 2]: class 2 first (right)
    (0, [9.0, 9.0, 9.0, 9.0], "OSError: image file is truncated"),  # failed to decode: not scored
]


def binomtest(*args, **kwargs):
    """scipy's exact binomial test, the oracle; imported here so that `pytest -m gpu` collects this module on a
    GPU machine without scipy (docs/gpu.md)."""
    return pytest.importorskip("scipy.stats").binomtest(*args, **kwargs)


def _lse(xs):
    return math.log(sum(math.exp(x) for x in xs))


# Hand-computed from ROWS.
NLL_FULL = ((_lse([1, 0, 3, 2]) - 3) + (_lse([2, 4, 1, 0]) - 2)) / 2
NLL_RESTRICTED = (math.log(1 + math.exp(-2)) + math.log(1 + math.exp(-1))) / 2


def _batches(rows, indices, batch_size=2):
    """(images, labels, indices, errors) as the loaders yield them; an "image" is its logits as a 4-d tensor."""
    for s in range(0, len(rows), batch_size):
        part = rows[s : s + batch_size]
        yield (
            torch.tensor([r[1] for r in part])[:, :, None, None],
            torch.tensor([r[0] for r in part]),
            torch.tensor(indices[s : s + batch_size]),
            [r[2] for r in part],
        )


def _evaluate(rows=ROWS, indices=None, proj=PROJ, batch_size=2, **kw):
    indices = list(range(len(rows))) if indices is None else indices
    return evaluate(torch.nn.Flatten(), _batches(rows, indices, batch_size), proj, progress=False, **kw)


def _clock(monkeypatch, *times):
    """evaluate() reads the clock twice (start, end): script those two readings."""
    import time

    script = iter(times)
    monkeypatch.setattr(time, "perf_counter", lambda: next(script))


def _reference(rows, proj):
    """A second, deliberately plain implementation of the per-sample records."""
    head_of = list(proj.model_index)
    cols = [m for m in head_of if m is not None]
    col_class = [d for d, m in enumerate(head_of) if m is not None]
    out = {
        k: []
        for k in (
            "full_top5",
            "restricted_top5",
            "nll_full",
            "nll_restricted",
            "conf_restricted",
            "ptrue_restricted",
            "sumsq_restricted",
        )
    }
    for y, logits, err in rows:
        if err:
            continue
        order = sorted(range(len(logits)), key=lambda k: -logits[k])[:5]
        out["full_top5"].append(order + [-1] * (5 - len(order)))
        r = [logits[c] for c in cols]
        r_order = sorted(range(len(r)), key=lambda k: -r[k])[:5]
        out["restricted_top5"].append([col_class[k] for k in r_order] + [-1] * (5 - len(r_order)))
        m = head_of[y]
        out["nll_full"].append(math.nan if m is None else _lse(logits) - logits[m])
        out["nll_restricted"].append(math.nan if m is None else _lse(r) - r[col_class.index(y)])
        # calibration: softmax over the restricted columns; the true class has probability 0 when unmapped
        p = [math.exp(v - _lse(r)) for v in r]
        out["conf_restricted"].append(max(p))
        out["ptrue_restricted"].append(0.0 if m is None else p[col_class.index(y)])
        out["sumsq_restricted"].append(sum(v * v for v in p))
    return out


def test_projection_of_the_fixture_head():
    assert PROJ.model_index == (2, None, 0)
    assert PROJ.mapped == [0, 2] and PROJ.restricted_model_indices == [2, 0] and PROJ.unmapped_wnids == ["n09999999"]


def test_per_sample_records_match_a_plain_implementation():
    ev = _evaluate()
    ref = _reference(ROWS, PROJ)
    assert {k: str(v.dtype) for k, v in ev.samples.items()} == {
        "index": "int64",
        "target": "int32",
        "full_top5": "int32",
        "restricted_top5": "int32",
        "nll_full": "float32",
        "nll_restricted": "float32",
        "conf_restricted": "float32",
        "ptrue_restricted": "float32",
        "sumsq_restricted": "float32",
    }
    np.testing.assert_array_equal(ev.samples["index"], [0, 1, 2])
    np.testing.assert_array_equal(ev.samples["target"], [0, 1, 2])
    np.testing.assert_array_equal(ev.samples["full_top5"], ref["full_top5"])
    np.testing.assert_array_equal(ev.samples["restricted_top5"], ref["restricted_top5"])
    np.testing.assert_allclose(ev.samples["nll_full"], ref["nll_full"], rtol=1e-6)
    np.testing.assert_allclose(ev.samples["nll_restricted"], ref["nll_restricted"], rtol=1e-6)
    for k in ("conf_restricted", "ptrue_restricted", "sumsq_restricted"):
        np.testing.assert_allclose(ev.samples[k], ref[k], rtol=1e-6)
    # by hand: row 0's restricted logits [3, 1] give p = [1/(1+e^-2), e^-2/(1+e^-2)] and the true class first
    assert ev.samples["ptrue_restricted"][0] == pytest.approx(1 / (1 + math.exp(-2)), rel=1e-6)
    assert ev.samples["ptrue_restricted"][1] == 0.0  # unmapped target
    assert ev.samples["full_top5"].tolist()[0] == [2, 3, 0, 1, -1]  # by hand
    assert ev.samples["restricted_top5"].tolist()[2] == [2, 0, -1, -1, -1]


def test_summary_figures_by_hand():
    s = _evaluate().summary
    assert s["n"] == 3 and s["n_failed"] == 1
    assert s["failed"] == [{"index": 3, "error": "OSError: image file is truncated"}]
    r, f = s["restricted"], s["full"]
    assert (r["correct1"], r["correct5"], r["top1"], r["top5"]) == (2, 2, 66.6667, 66.6667)
    # full top-5: the head has 4 outputs, so each top-5 row is padded with -1; the unmapped target
    # must not match the padding (that would read 100.0)
    assert (f["correct1"], f["correct5"], f["top1"], f["top5"]) == (1, 2, 33.3333, 66.6667)
    # the unmapped target's row has no finite NLL under either protocol: the mean is undefined (None), not
    # the mean of the other rows
    assert (r["nll"], r["nll_nonfinite"], f["nll"], f["nll_nonfinite"]) == (None, 1, None, 1)
    mapped = _evaluate(rows=[ROWS[0], ROWS[2]]).summary  # only rows whose target the head can predict
    assert mapped["restricted"]["nll"] == round(NLL_RESTRICTED, 6)  # restricted column, not dataset class
    assert mapped["full"]["nll"] == round(NLL_FULL, 6)
    assert mapped["restricted"]["nll_nonfinite"] == mapped["full"]["nll_nonfinite"] == 0
    assert r["top1_ci95"] == list(wilson(2, 3)) and f["top1_ci95"] == list(wilson(1, 3))
    assert f["top5_ci95"] == list(wilson(2, 3))


def test_restricted_nll_uses_the_restricted_column():
    """Dataset class 2 is restricted column 1: indexing the restricted logits by class is wrong."""
    # With a fourth, mapped class, class 2 is also a valid column (2 of 3): the wrong column gives a wrong number, not an error.
    # Restricted columns are head outputs [2, 0, 3] (classes [0, 2, 3]): logits [2, 4, 1, 0] -> [1, 2, 0], class 2 is the 2.
    data4 = L.LabelSpace("data4", ("n00000002", "n09999999", "n00000000", "n00000003"), ("d0", "d1", "d2", "d3"))
    ev = _evaluate(rows=[ROWS[2]], proj=L.project(data4, HEAD))
    assert float(ev.samples["nll_restricted"][0]) == pytest.approx(_lse([1, 2, 0]) - 2, rel=1e-6)
    ev = _evaluate(rows=[ROWS[2]])
    assert float(ev.samples["nll_restricted"][0]) == pytest.approx(math.log(1 + math.exp(-1)), rel=1e-6)
    assert float(ev.samples["nll_full"][0]) == pytest.approx(_lse([2, 4, 1, 0]) - 2, rel=1e-6)


def test_batch_boundaries_do_not_change_the_result():
    a, b = _evaluate(batch_size=1), _evaluate(batch_size=4)
    for k in a.samples:
        np.testing.assert_array_equal(a.samples[k], b.samples[k])
    assert a.summary["restricted"] == b.summary["restricted"] and a.summary["full"] == b.summary["full"]


def _plain_top_k(row, k):
    """A second implementation: NaN counts as -inf, larger first, the lower class index first among equals."""
    key = [(-math.inf if math.isnan(v) else v) for v in row]
    return sorted(range(len(row)), key=lambda i: (-key[i], i))[:k]


def test_top_k_ties_go_to_the_lowest_index_even_on_a_wide_head():
    # 1000 classes with values in {0, 1, 2}: hundreds of ties per row (an unstable sort reorders them here)
    g = torch.Generator().manual_seed(0)
    logits = torch.randint(0, 3, (16, 1000), generator=g).float()
    expected = [_plain_top_k(r, 5) for r in logits.tolist()]
    assert top_k(logits, 5).tolist() == expected
    assert top_k(logits, 1).tolist() == [e[:1] for e in expected]
    assert top_k(logits, 1000).tolist() == [_plain_top_k(r, 1000) for r in logits.tolist()]


def test_top_k_ranks_nan_with_minus_infinity_and_infinity_above_every_finite_logit():
    big = torch.finfo(torch.float32).max
    nan, inf = float("nan"), float("inf")
    logits = torch.tensor([[-1.0, nan, -2.0], [nan, -inf, 0.0], [big, inf, 0.0]])
    assert top_k(logits, 3).tolist() == [[0, 2, 1], [2, 0, 1], [1, 0, 2]]
    assert top_k(logits, 3).tolist() == [_plain_top_k(r, 3) for r in logits.tolist()]
    assert top_k(logits, 5).shape == (3, 3)  # never more columns than classes


def test_all_failed_batch_is_skipped_and_empty_run_has_no_figures():
    ev = _evaluate(rows=[ROWS[3], ROWS[3]])
    assert ev.summary["n"] == 0 and ev.summary["n_failed"] == 2
    for protocol in ("restricted", "full"):
        p = ev.summary[protocol]
        assert (p["top1"], p["top5"], p["top1_ci95"], p["top5_ci95"], p["nll"], p["correct1"]) == (
            None,
            None,
            None,
            None,
            None,
            0,
        )
        assert p["nll_nonfinite"] == 0  # no rows, so none is non-finite
    assert ev.samples["full_top5"].shape == (0, 5) and ev.samples["nll_full"].shape == (0,)


def test_failures_in_every_batch_are_all_reported_and_scoring_goes_on():
    bad = (1, [0.0, 0.0, 1.0, 0.0], "ValueError: label 7 outside the 3 classes")
    rows = [ROWS[3], ROWS[3], ROWS[0], bad, ROWS[2], ROWS[3]]
    ev = _evaluate(rows=rows, batch_size=2)  # the first batch fails whole
    assert [f["index"] for f in ev.summary["failed"]] == [0, 1, 3, 5]
    assert ev.summary["n"] == 2 and ev.summary["n_failed"] == 4
    np.testing.assert_array_equal(ev.samples["index"], [2, 4])
    assert ev.summary["restricted"]["correct1"] == 2 and ev.summary["full"]["correct1"] == 1


def test_throughput_counts_every_image_read(monkeypatch):
    _clock(monkeypatch, 0.0, 0.70007)
    s = _evaluate().summary
    assert s["eval_wall_s"] == 0.7 and s["eval_img_s"] == 5.71  # 4 images read (3 scored, 1 failed) in 0.70007 s
    _clock(monkeypatch, 5.0, 5.0)
    s = _evaluate().summary
    assert s["eval_wall_s"] == 0.0 and s["eval_img_s"] is None


def test_channels_last_finish_and_autocast_paths_score_the_same():
    ref = _evaluate(rows=ROWS[:3])
    for kw in (dict(channels_last=True), dict(precision="bf16")):
        ev = _evaluate(rows=ROWS[:3], **kw)
        for k in ("full_top5", "restricted_top5"):
            np.testing.assert_array_equal(ev.samples[k], ref.samples[k])
    calls = []

    def finish(x):
        calls.append(tuple(x.shape))
        return x * 2.0  # the batched normalisation step: NLL is then taken on the doubled logits

    ev = _evaluate(rows=ROWS[:3], finish=finish)
    assert calls == [(2, 4, 1, 1), (1, 4, 1, 1)]
    doubled = [(y, [2 * v for v in logits], e) for y, logits, e in ROWS[:3]]
    np.testing.assert_allclose(ev.samples["nll_full"], _reference(doubled, PROJ)["nll_full"], rtol=1e-6)


def test_head_size_mismatch_is_a_label_space_error():
    from bench.errors import LabelSpaceError

    with pytest.raises(LabelSpaceError, match="--label-space"):
        _evaluate(rows=[(0, [1.0, 2.0, 3.0], "")])


def test_summarize_full_protocol_ignores_unmapped_targets_in_padding():
    """Hand-made records: a 3-output head pads every top-5 row with -1, the unmapped target is -1."""
    space = L.LabelSpace("two", ("n00000001", "n09999999"), ("a", "b"))
    head = L.LabelSpace("three", ("n00000001", "n00000002", "n00000003"), ("a", "x", "y"))
    samples = {
        "target": np.array([0, 1, 1], np.int32),
        "full_top5": np.array([[1, 0, 2, -1, -1]] * 3, np.int32),
        "restricted_top5": np.array([[0, -1, -1, -1, -1]] * 3, np.int32),
        "nll_full": np.array([0.5, np.nan, np.nan], np.float32),
        "nll_restricted": np.array([0.0, np.nan, np.inf], np.float32),
    }
    s = summarize(samples, L.project(space, head))
    assert s["n"] == 3
    assert s["full"]["top1"] == 0.0 and s["full"]["top5"] == 33.3333
    assert s["restricted"]["top1"] == 33.3333 and s["restricted"]["top5"] == 33.3333
    # a non-finite row (NaN: unmapped target; inf: probability 0) leaves the mean undefined, and is counted
    assert (s["full"]["nll"], s["full"]["nll_nonfinite"]) == (None, 2)
    assert (s["restricted"]["nll"], s["restricted"]["nll_nonfinite"]) == (None, 2)
    finite = {
        **samples,
        "nll_full": np.array([0.5, 1.0, 2.0], np.float32),
        "nll_restricted": np.array([0.0, 0.25, 0.5], np.float32),
    }
    s = summarize(finite, L.project(space, head))
    assert (s["full"]["nll"], s["restricted"]["nll"]) == (round(3.5 / 3, 6), 0.25)  # mean over all n rows


def _ids():
    return [f"ILSVRC2012_val_{k:08d}.JPEG" for k in range(1, 5)] + ["not_an_official_name.jpg", "ILSVRC2012_val_00060000.JPEG"]


def _top1(*preds):
    """full_top5 rows whose top-1 is `pred` and whose other four columns are a class no ReaL set here holds."""
    return np.array([[p, 999, 999, 999, 999] for p in preds])


def test_real_accuracy_counts_only_predictions_in_the_label_set():
    """ReaL sets of val images 1-4 (timm's imagenet_real_labels.json): [], [970, 795], [230, 231], [809]."""
    assert L.real_labels()[:4] == [[], [970, 795], [230, 231], [809]]
    inet = L.imagenet_1k()
    samples = {"index": np.arange(6), "full_top5": _top1(5, 795, 229, 809, 1, 1)}
    r = real_accuracy(samples, _ids(), L.project(inet, inet))
    # image 1: empty set, left out; 2: 795 in {970, 795}; 3: 229 not in {230, 231}; 4: 809; the last two have no ReaL entry
    assert r == {"top1": 66.6667, "n": 3, "correct1": 2, "top1_ci95": list(wilson(2, 3))}


def test_real_accuracy_edges_of_the_label_file():
    """Class 0 is a class; the last val image (50000, set [355]) counts; names that do not parse are skipped, not fatal."""
    real = L.real_labels()
    assert len(real) == 50000 and real[292] == [0] and real[49999] == [355]
    inet = L.imagenet_1k()
    ids = ["cover.jpg", "ILSVRC2012_val_00000293.JPEG", "ILSVRC2012_val_00050000.JPEG", "ILSVRC2012_val_00000003.JPEG"]
    r = real_accuracy({"index": np.arange(4), "full_top5": _top1(0, 0, 355, 230)}, ids, L.project(inet, inet))
    assert (r["n"], r["correct1"]) == (3, 3)


def test_real_accuracy_maps_a_background_head_by_wnid():
    inet, bg = L.imagenet_1k(), L.imagenet_1k_with_background()
    samples = {"index": np.arange(4), "full_top5": np.array([[0] * 5, [796] * 5, [0] * 5, [810] * 5])}
    r = real_accuracy(samples, _ids(), L.project(inet, bg))
    assert (r["n"], r["correct1"]) == (3, 2)  # output 796 is ImageNet class 795; output 0 is background: a miss
    # val image 262's ReaL set is [1]: the background output must not read as ImageNet class 1
    assert L.real_labels()[261] == [1]
    one = real_accuracy(
        {"index": np.arange(1), "full_top5": np.zeros((1, 5), int)}, ["ILSVRC2012_val_00000262.JPEG"], L.project(inet, bg)
    )
    assert (one["n"], one["correct1"]) == (1, 0)
    assert real_accuracy({"index": np.arange(1), "full_top5": np.zeros((1, 5), int)}, ["x.jpg"], L.project(inet, inet)) is None


def test_merge_of_shards_equals_one_process():
    whole = _evaluate()
    a = _evaluate(rows=[ROWS[2], ROWS[0]], indices=[2, 0])
    b = _evaluate(rows=[ROWS[3], ROWS[1]], indices=[3, 1])
    a.summary["eval_wall_s"], b.summary["eval_wall_s"] = 0.25, 0.75
    m = merge([a, b], PROJ)
    for k in whole.samples:
        np.testing.assert_array_equal(m.samples[k], whole.samples[k])
    assert m.summary["restricted"] == whole.summary["restricted"] and m.summary["full"] == whole.summary["full"]
    assert m.summary["failed"] == whole.summary["failed"] and m.summary["n_failed"] == 1
    assert m.summary["eval_wall_s"] == 0.75 and m.summary["eval_img_s"] == 5.33  # (3 scored + 1 failed) / slowest shard
    assert merge([a], PROJ) is a


def test_merge_sorts_failures_by_index():
    parts = []
    for idx, err in ((5, "b"), (1, "a")):
        parts.append(
            Evaluation(
                {"failed": [{"index": idx, "error": err}], "eval_wall_s": 0.0},
                {
                    k: np.zeros((0, 5) if "top5" in k else 0)
                    for k in ("index", "target", "full_top5", "restricted_top5", "nll_full", "nll_restricted")
                },
            )
        )
    m = merge(parts, PROJ)
    assert [f["index"] for f in m.summary["failed"]] == [1, 5] and m.summary["eval_img_s"] is None


@pytest.mark.parametrize("correct,n", [(0, 1), (1, 1), (2, 5), (0, 10), (50, 100), (7, 9), (999, 1000)])
def test_wilson_matches_scipy(correct, n):
    ci = binomtest(correct, n).proportion_ci(confidence_level=0.95, method="wilson")
    low, high = wilson(correct, n)
    assert low == pytest.approx(100 * ci.low, abs=6e-5) and high == pytest.approx(100 * ci.high, abs=6e-5)


def test_wilson_exact_values():
    assert wilson(2, 5) == (11.7621, 76.9276) and wilson(0, 10) == (0.0, 27.7533)
    for n in range(1, 25):
        for c in range(n + 1):
            ci = binomtest(c, n).proportion_ci(method="wilson")
            assert wilson(c, n) == (round(100 * ci.low, 4), round(100 * ci.high, 4)), (c, n)


def test_wilson_without_samples_is_nan():
    assert all(math.isnan(v) for v in wilson(0, 0))


@pytest.mark.parametrize("b,c", [(0, 1), (1, 0), (0, 6), (2, 8), (8, 2), (3, 4), (5, 5), (0, 20), (12, 30)])
def test_mcnemar_matches_scipy_binomial_test(b, c):
    assert mcnemar_exact(b, c) == pytest.approx(binomtest(min(b, c), b + c, 0.5).pvalue, rel=1e-12)


def test_mcnemar_without_discordant_pairs_is_one():
    assert mcnemar_exact(0, 0) == 1.0


def test_progress_bar_is_on_by_default(capsys):
    evaluate(torch.nn.Flatten(), _batches(ROWS, [0, 1, 2, 3]), PROJ, total=4)
    assert "img" in capsys.readouterr().err  # tqdm's bar, counted in images
    _evaluate()
    assert capsys.readouterr().err == ""
