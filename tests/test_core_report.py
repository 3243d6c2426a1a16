"""Regression verdicts and the leaderboard's Δ and ranking rules, on hand-made entries and rows.

Fast on purpose (no files, no models): these are what `make mutation` runs against
bench/report/{regress,leaderboard}.py. The end-to-end `bench check` tests are in test_regress.py.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from bench.report import leaderboard as LB
from bench.report import regress as G

KEY = {"dataset": "imagenet-1k", "split": "validation", "model": "timm:m.in1k", "weights": "pretrained", "transform": "model"}
PROTOCOL = {
    "dataset": "imagenet-1k",
    "split": "validation",
    "n": 10,
    "indices": "abc",
    "label_protocols": ["restricted", "full"],
    "dataset_space": "imagenet-1k",
    "model_space": "imagenet-1k",
}
TRANSFORM = {"input_size": [3, 224, 224], "crop_pct": 0.875, "interpolation": "bicubic"}


def entry(
    right,
    *,
    targets=None,
    n=None,
    top1=None,
    top5=80.0,
    nll=1.0,
    key=None,
    protocol=None,
    phash="h1",
    transform=None,
    sha="aa",
    versions=None,
    device="cpu",
    device_name="Xeon",
    precision="fp32",
    samples=True,
):
    """An Entry whose restricted top-1 is right exactly on the samples in `right`."""
    right = np.asarray(right, bool)
    size = len(right)
    target = np.arange(size, dtype=np.int64) % 7 if targets is None else np.asarray(targets, np.int64)
    top1_pred = np.where(right, target, (target + 1) % 7)
    t1 = round(100 * right.mean(), 4) if top1 is None else top1
    figures = G.Figures(size if n is None else n, t1, top5, nll, t1, top5, nll)
    return G.Entry(
        key=dict(key or KEY),
        figures=figures,
        protocol=dict(protocol or PROTOCOL),
        protocol_hash=phash,
        transform=dict(transform or TRANSFORM),
        weights_sha256=sha,
        versions=versions or {"torch": "2.4", "torchvision": "0.19", "timm": "1.0"},
        device=device,
        device_name=device_name,
        precision=precision,
        samples={"index": np.arange(size, dtype=np.int64), "target": target, "top1_restricted": top1_pred, "top1_full": top1_pred}
        if samples
        else None,
    )


def compare(base, cur, tolerance=0.1, nll_tolerance=0.01, alpha=0.05):
    return G._compare(base, cur, tolerance, nll_tolerance, alpha)


def ones(n, wrong=()):
    r = np.ones(n, bool)
    r[list(wrong)] = False
    return r


def test_identical_entries_are_same():
    row = compare(entry(ones(10, [0])), entry(ones(10, [0])))
    assert row.verdict == G.SAME and row.reasons == [] and row.changes == []
    assert (row.right_to_wrong, row.wrong_to_right, row.p_value) == (0, 0, 1.0)
    assert row.predictions_changed == {"restricted": 0, "full": 0}


def test_changed_targets_are_not_comparable():
    """Same sample indices, other labels: the dataset changed, so the figures measure something else."""
    base = entry(ones(10))
    cur = entry(ones(10), targets=(np.arange(10) % 7 + np.array([0, 0, 1, 0, 0, 0, 0, 0, 0, 1])) % 7)
    row = compare(base, cur)
    assert row.verdict == G.NOT_COMPARABLE and row.reasons == ["labels of 2 sample(s) differ: the dataset changed"]


@pytest.mark.parametrize(
    "change,reason",
    [
        (dict(key={**KEY, "split": "train"}), "split differs: validation → train"),
        (dict(key={**KEY, "dataset": "imagenet-v2"}), "dataset differs: imagenet-1k → imagenet-v2"),
        (dict(n=11), "n differs: 10 → 11"),
        (
            dict(protocol={**PROTOCOL, "model_space": "imagenet-1k+background"}),
            "label protocol differs: model_space imagenet-1k → imagenet-1k+background",
        ),
        (
            dict(protocol={**PROTOCOL, "dataset_space": "tiny-imagenet"}),
            "label protocol differs: dataset_space imagenet-1k → tiny-imagenet",
        ),
        (
            dict(protocol={**PROTOCOL, "label_protocols": ["full"]}),
            "label protocol differs: label_protocols [restricted, full] → [full]",
        ),
        (dict(protocol={**PROTOCOL, "indices": "xyz"}, samples=False), "sample indices differ (protocol indices hash)"),
        (dict(phash="h2"), "protocol differs: hash h1 → h2"),
    ],
)
def test_not_comparable_reasons(change, reason):
    row = compare(entry(ones(10)), entry(ones(10), **change))
    assert row.verdict == G.NOT_COMPARABLE and reason in row.reasons


def test_other_sample_indices_are_not_comparable():
    cur = entry(ones(10))
    cur.samples["index"] = cur.samples["index"] + 3
    row = compare(entry(ones(10)), cur)
    assert row.verdict == G.NOT_COMPARABLE and row.reasons == ["sample indices differ (6 not in both)"]


def test_missing_current_result():
    row = compare(entry(ones(10)), None)
    assert row.verdict == G.MISSING and row.now is None


@pytest.mark.parametrize("delta,verdict", [(-0.1, G.SAME), (-0.11, G.WORSE), (0.1, G.SAME), (0.11, G.IMPROVED), (0.0, G.SAME)])
def test_tolerance_boundary(delta, verdict):
    base = entry(ones(10), top1=50.0, samples=False)
    cur = entry(ones(10), top1=round(50.0 + delta, 4), samples=False)
    row = compare(base, cur)
    assert row.verdict == verdict and row.delta("top1") == pytest.approx(delta)


def test_top5_alone_decides_and_the_reason_names_it():
    row = compare(entry(ones(10), top5=80.0, samples=False), entry(ones(10), top5=79.0, samples=False))
    assert row.verdict == G.WORSE and row.reasons == ["top-5 -1.00 pp", "full top-5 -1.00 pp"]


@pytest.mark.parametrize(
    "nll,verdict,reason",
    [(1.011, G.WORSE, "NLL +1.1%"), (1.01, G.SAME, None), (0.989, G.IMPROVED, "NLL -1.1%"), (0.99, G.SAME, None)],
)
def test_nll_relative_tolerance(nll, verdict, reason):
    row = compare(entry(ones(10), samples=False), entry(ones(10), nll=nll, samples=False))
    assert row.verdict == verdict
    assert row.nll_rel() == pytest.approx(nll - 1.0)
    if reason:
        assert row.reasons == [reason]


def test_nll_of_zero_has_no_relative_change():
    row = compare(entry(ones(4), nll=0.0, samples=False), entry(ones(4), nll=0.5, samples=False))
    assert row.nll_rel() is None and row.verdict == G.SAME


def test_significant_one_way_flips_decide_within_the_tolerance():
    n = 20000
    base, cur = entry(ones(n, range(1000))), entry(ones(n, range(1008)))
    row = compare(base, cur, tolerance=0.1)
    assert (row.right_to_wrong, row.wrong_to_right) == (8, 0)
    assert row.p_value == pytest.approx(2 / 2**8)  # two-sided exact binomial: 2 * 0.5**8
    assert row.verdict == G.WORSE and row.reasons == ["flips 8/0 significant (McNemar p=0.00781)"]
    back = compare(cur, base, tolerance=0.1)
    assert back.verdict == G.IMPROVED and (back.right_to_wrong, back.wrong_to_right) == (0, 8)
    five = compare(entry(ones(n, range(1000))), entry(ones(n, range(1005))), tolerance=0.1)
    assert five.p_value == pytest.approx(0.0625) and five.verdict == G.SAME  # not significant at 0.05


def test_flips_count_only_real_targets_and_predictions_changed():
    base = entry(ones(6, [0, 1]))
    cur = entry(ones(6, [2, 3]))
    base.samples["target"][5] = cur.samples["target"][5] = -1  # unlabelled sample: never right
    row = compare(base, cur, tolerance=100)
    assert (row.right_to_wrong, row.wrong_to_right) == (2, 2)
    assert row.predictions_changed == {"restricted": 4, "full": 4}
    assert row.p_value == 1.0


def test_changes_are_notes_not_verdicts():
    cur = entry(
        ones(10),
        transform={**TRANSFORM, "crop_pct": 1.0},
        sha="bb" * 10,
        versions={"torch": "2.5", "torchvision": "0.19", "timm": "1.0"},
        device="cuda:0",
        device_name="H100",
        precision="bf16",
    )
    row = compare(entry(ones(10)), cur)
    assert row.verdict == G.SAME
    assert row.changes == [
        "transform changed: crop_pct 0.875 → 1",
        "weights sha256 aa → bbbbbbbbbbbb",
        "torch 2.4 → 2.5",
        "device cpu (Xeon) → cuda:0 (H100)",
        "precision fp32 → bf16",
    ]


def test_missing_samples_are_noted_and_skip_flips():
    row = compare(entry(ones(10), samples=False), entry(ones(10)))
    assert row.right_to_wrong is None and "per-sample predictions missing: flips not computed" in row.changes


def test_report_exit_code_and_counts():
    rows = [G.Row(G.SAME, KEY), G.Row(G.NEW, KEY), G.Row(G.IMPROVED, KEY)]
    report = G.Report("b.json", "results", 0.1, 0.01, rows)
    assert report.exit_code == 0 and report.counts() == {"improved": 1, "same": 1, "new": 1}
    for failing in (G.WORSE, G.MISSING, G.NOT_COMPARABLE):
        assert G.Report("b.json", "results", 0.1, 0.01, rows + [G.Row(failing, KEY)]).exit_code == 1


def test_pairing_falls_back_to_the_one_result_of_the_same_model():
    base = entry(ones(4))
    other_split = entry(ones(4), key={**KEY, "split": "train"})
    unrelated = entry(ones(4), key={**KEY, "model": "timm:other"})
    pairs, new = G._pair([base], [other_split, unrelated])
    assert pairs == [(base, other_split)] and new == [unrelated]
    pairs, new = G._pair([base], [other_split, entry(ones(4), key={**KEY, "split": "val2"})])
    assert pairs == [(base, None)] and len(new) == 2  # two candidates: no guessing


# ---------------------------------------------------------------------------------------------
# Leaderboard: Δ only where the reported figure applies; competition ranks per page


# torchvision's ResNet50 V1 eval transform and its published figure (weights.meta: acc@1 76.130 on the 50,000 val images)
TV_R50 = "tv:resnet50.IMAGENET1K_V1"
R50_TF = {
    "policy": "model",
    "library": "torchvision",
    "input_size": [3, 224, 224],
    "resize": [256],
    "crop_pct": 0.875,
    "crop_mode": "center",
    "interpolation": "bilinear",
    "mean": [0.485, 0.456, 0.406],
    "std": [0.229, 0.224, 0.225],
}


def _row(
    model,
    top1,
    top5=90.0,
    dataset="imagenet-1k",
    split="validation",
    weights="pretrained",
    params=None,
    n=50_000,
    size=50_000,
    tf=R50_TF,
    limit=None,
):
    return {
        "dataset": dataset,
        "split": split,
        "model": model,
        "weights": weights,
        "transform": tf["policy"],
        "top1": top1,
        "top5": top5,
        "top1_full": top1,
        "top1_ci_low": None,
        "top1_ci_high": None,
        "n": n,
        "params": params,
        "gmacs": None,
        "img_s": None,
        "img_s_device": None,
        "img_s_precision": None,
        "img_s_batch": None,
        "latency_p50_ms": None,
        "gpu_peak_mb": None,
        "real_top1": None,
        "real_n": None,
        "date": "2026-11-24",
        "protocol_hash": "h",
        "transform_spec": tf,
        "dataset_size": size,
        "dataset_limit": limit,
        "dataset_source": None,
        "nll": None,
        "path": None,
    }


def test_delta_only_on_imagenet_validation_with_pretrained_weights():
    rows = {
        "val": _row(TV_R50, 77.25),
        "train": _row(TV_R50, 60.0, split="train", size=1_281_167, n=1_281_167),
        # another split of the validation's size: only the split itself tells it apart (not the size rule)
        "train-50k": _row(TV_R50, 60.0, split="train", size=50_000, n=50_000),
        "random": _row(TV_R50, 0.1, weights="random"),
        "file": _row(TV_R50, 55.0, weights="file-mine"),
        "fixed": _row(TV_R50, 76.0, tf={**R50_TF, "policy": "fixed"}),
        "bicubic": _row(TV_R50, 76.0, tf={**R50_TF, "interpolation": "bicubic"}),
        "crop": _row(TV_R50, 76.0, tf={**R50_TF, "crop_pct": 0.95}),
        "limit": _row(TV_R50, 76.0, n=1000, limit=1000),
        "partial": _row(TV_R50, 76.0, n=49_999),
        "size": _row(TV_R50, 76.0, n=10_000, size=10_000),
    }
    t = LB.measured_table(pd.DataFrame(list(rows.values())))
    by_case = {}
    for case, row in rows.items():
        one = LB.measured_table(pd.DataFrame([row])).iloc[0]
        by_case[case] = (one["ref_top1"], one["delta_top1"], one["delta_note"])
    assert by_case["val"][0] == 76.13 and by_case["val"][1] == pytest.approx(77.25 - 76.13) and by_case["val"][2] is None
    for case in rows.keys() - {"val"}:
        ref, delta, note = by_case[case]
        assert math.isnan(delta) and note, case  # no Δ, and the reason is named
    assert by_case["random"][2] == "random weights" and by_case["fixed"][2] == "fixed transform"
    assert by_case["bicubic"][2] == "bicubic ≠ bilinear" and by_case["limit"][2] == "--limit 1000"
    assert by_case["partial"][2] == "n 49999 of 50000" and by_case["size"][2] == "split has 10000 of 50000 images"
    assert by_case["train-50k"][2] == "reported on imagenet-1k"  # the figure's split is validation
    assert set(t["model_id"]) == {TV_R50}


def test_numbers_become_floats_and_labels_name_the_protocol():
    fixed = {**_row("f", 50.0, params=25_557_032, tf={**R50_TF, "policy": "fixed"}), "gpu_peak_mb": "n/a"}
    t = LB.measured_table(pd.DataFrame([fixed, _row("g", 40.0)]))
    assert t.loc[0, "params_m"] == pytest.approx(25.557032, abs=1e-9)
    assert t.loc[0, "model"] == "f (fixed transform)" and t.loc[0, "model_id"] == "f"
    assert math.isnan(t.loc[0, "gpu_peak_mb"])  # not a number: missing, not an error
    for col in ("top1", "top5", "n", "params_m", "img_s", "ref_top1"):
        assert t[col].dtype == "float64", col


def test_ranking_without_groups_is_competition_ranking():
    df = pd.DataFrame(
        {"model": ["b", "a", "c", "d", "e"], "top1": [80.0, 80.0, 90.0, None, 80.0], "top5": [95.0, 95.0, 99.0, 99.0, 95.0]}
    )
    out = LB._ranked(df, "top1", "top5", "model")
    assert list(out["model"]) == ["c", "a", "b", "e", "d"] and list(out["rank"]) == [1, 2, 2, 2, None]  # not 3 (average)
    assert list(out.index) == [0, 1, 2, 3, 4] and "index" not in out.columns


def test_competition_ranks_per_page_ties_by_top5_then_name():
    t = LB.measured_table(
        pd.DataFrame(
            [
                _row("c", 80.0, 91.0),
                _row("a", 80.0, 91.0),
                _row("d", 80.0, 95.0),
                _row("e", 70.0),
                _row("none", None),
                _row("x", 10.0, split="train"),
                _row("y", 90.0, split="train"),
            ]
        )
    )
    assert list(zip(t["split"], t["model"], t["rank"])) == [
        ("train", "y", 1),
        ("train", "x", 2),
        ("validation", "d", 1),
        ("validation", "a", 1),
        ("validation", "c", 1),
        ("validation", "e", 4),
        ("validation", "none", None),
    ]


def test_empty_table_has_the_columns():
    t = LB.measured_table(pd.DataFrame())
    assert list(t.columns) == LB.MEASURED_COLUMNS and t.empty


def test_missing_row_keeps_the_baseline_figures():
    base = entry(ones(10))
    row = compare(base, None)
    assert (row.verdict, row.key, row.base, row.now, row.reasons) == (
        G.MISSING,
        KEY,
        base.figures,
        None,
        ["in the baseline but not in the results"],
    )


def test_every_transform_difference_is_named_including_new_fields():
    cur = entry(ones(10), transform={**TRANSFORM, "crop_pct": 1.0, "interpolation": "bilinear", "antialias": True})
    row = compare(entry(ones(10)), cur)
    assert row.changes == ["transform changed: antialias None → True, crop_pct 0.875 → 1, interpolation bicubic → bilinear"]


def test_reasons_name_each_figure_that_moved():
    row = compare(entry(ones(10), top1=50.0, top5=80.0, samples=False), entry(ones(10), top1=48.0, top5=83.0, samples=False))
    assert row.verdict == G.WORSE and row.reasons == ["top-1 -2.00 pp", "full top-1 -2.00 pp"]
    up = compare(entry(ones(10), top1=50.0, samples=False), entry(ones(10), top1=50.5, nll=0.8, samples=False))
    assert up.verdict == G.IMPROVED and up.reasons == ["top-1 +0.50 pp", "full top-1 +0.50 pp", "NLL -20.0%"]


def test_a_missing_figure_does_not_stop_the_others_from_counting():
    base, cur = entry(ones(10), top5=90.0, samples=False), entry(ones(10), top5=85.0, samples=False)
    base.figures = G.Figures(10, None, 90.0, None, None, 90.0, None)
    cur.figures = G.Figures(10, None, 85.0, None, None, 85.0, None)
    row = compare(base, cur)
    assert row.delta("top1") is None and row.nll_rel() is None
    assert row.verdict == G.WORSE and row.reasons == ["top-5 -5.00 pp", "full top-5 -5.00 pp"]


def test_flips_exactly_at_alpha_are_not_significant_and_better_flips_are_named():
    n = 1000
    row = compare(entry(ones(n, range(100))), entry(ones(n, range(105))), alpha=0.0625)  # p = 2 / 2**5 = 0.0625
    assert row.p_value == 0.0625 and row.verdict == G.WORSE and row.reasons == ["top-1 -0.50 pp", "full top-1 -0.50 pp"]
    row = compare(entry(ones(n, range(100))), entry(ones(n, range(95))), tolerance=10)
    assert row.verdict == G.SAME  # 5/0 better flips, p = 0.0625: not significant at 0.05
    row = compare(entry(ones(n, range(100))), entry(ones(n, range(92))), tolerance=10)
    assert row.verdict == G.IMPROVED and row.reasons == ["flips 0/8 significant (McNemar p=0.00781)"]


def test_deltas_round_to_four_decimals_and_nll_is_relative_to_the_baseline():
    row = G.Row(
        G.SAME,
        KEY,
        base=G.Figures(10, 80.0, None, 2.0, None, None, None),
        now=G.Figures(10, 80.12345, 90.0, 2.2, None, None, None),
    )
    assert row.delta("top1") == 0.1235 and row.delta("top5") is None and row.delta("top1_full") is None
    assert row.nll_rel() == pytest.approx(0.1)  # (2.2 - 2.0) / 2.0
    assert G.Row(G.NEW, KEY, now=row.now).delta("top1") is None and G.Row(G.NEW, KEY, now=row.now).nll_rel() is None


def test_figures_from_an_accuracy_section():
    acc = {"n": "7", "restricted": {"top1": 1.0, "top5": 2.0, "nll": 3.0}, "full": {"top1": 4.0, "top5": 5.0, "nll": 6.0}}
    assert G.Figures.from_accuracy(acc) == G.Figures(7, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0)
    assert G.Figures.from_accuracy({"n": 3}) == G.Figures(3, None, None, None, None, None, None)


def test_pairing_prefers_the_exact_key_and_leaves_other_models_alone():
    base = entry(ones(4))
    same_key = entry(ones(4))
    other_split = entry(ones(4), key={**KEY, "split": "train"})
    pairs, new = G._pair([base], [other_split, same_key])
    assert pairs == [(base, same_key)] and new == [other_split]
    gone = entry(ones(4), key={**KEY, "model": "timm:gone"})  # missing altogether: must not block the fallback
    pairs, new = G._pair([base, gone], [other_split])
    assert pairs == [(base, other_split), (gone, None)] and new == []
