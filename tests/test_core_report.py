"""Regression verdicts and the leaderboard's Δ and ranking rules, on hand-made entries and rows.

Fast on purpose (no files, no models): these are what `make mutation` runs against
bench/report/{regress,leaderboard}.py. The end-to-end `bench check` tests are in test_regress.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.models import reference as REF
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


def _frame(*args, **kwargs):
    """A DataFrame, importing pandas only in the tests that use it: `pytest -m gpu` collects this module on a
    GPU machine without pandas (docs/gpu.md)."""
    return pytest.importorskip("pandas").DataFrame(*args, **kwargs)


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
    t = LB.measured_table(_frame(list(rows.values())))
    by_case = {}
    for case, row in rows.items():
        one = LB.measured_table(_frame([row])).iloc[0]
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
    t = LB.measured_table(_frame([fixed, _row("g", 40.0)]))
    assert t.loc[0, "params_m"] == pytest.approx(25.557032, abs=1e-9)
    assert t.loc[0, "model"] == "f (fixed transform)" and t.loc[0, "model_id"] == "f"
    assert math.isnan(t.loc[0, "gpu_peak_mb"])  # not a number: missing, not an error
    for col in ("top1", "top5", "n", "params_m", "img_s", "ref_top1"):
        assert t[col].dtype == "float64", col


def test_ranking_without_groups_is_competition_ranking():
    df = _frame(
        {"model": ["b", "a", "c", "d", "e"], "top1": [80.0, 80.0, 90.0, None, 80.0], "top5": [95.0, 95.0, 99.0, 99.0, 95.0]}
    )
    out = LB._ranked(df, "top1", "top5", "model")
    assert list(out["model"]) == ["c", "a", "b", "e", "d"] and list(out["rank"]) == [1, 2, 2, 2, None]  # not 3 (average)
    assert list(out.index) == [0, 1, 2, 3, 4] and "index" not in out.columns


def test_competition_ranks_per_page_ties_by_top5_then_name():
    t = LB.measured_table(
        _frame(
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
    t = LB.measured_table(_frame())
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
    acc = {"n": 7, "restricted": {"top1": 1.0, "top5": 2.0, "nll": 3.0}, "full": {"top1": 4.0, "top5": 5.0, "nll": 6}}
    assert G.Figures.from_accuracy(acc) == G.Figures(7, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0)
    assert G.Figures.from_accuracy({"n": 3}) == G.Figures(3, None, None, None, None, None, None)
    assert G.Figures.from_accuracy({"n": 0}).n == 0
    # what a hand-edited or corrupt baseline holds is refused on load (issue 27), not an OverflowError later
    for n in ("7", True, -1, 7.0, float("inf")):
        with pytest.raises(ValueError, match="accuracy.n must be a whole number of at least 0"):
            G.Figures.from_accuracy({"n": n})
    for part in ({"top1": float("inf")}, {"top5": "40"}, {"nll": True}):
        with pytest.raises(ValueError, match="must be a finite number or null"):
            G.Figures.from_accuracy({"n": 1, "full": part})
    with pytest.raises(ValueError, match="accuracy.restricted must be an object"):
        G.Figures.from_accuracy({"n": 1, "restricted": [1]})


def test_pairing_prefers_the_exact_key_and_leaves_other_models_alone():
    base = entry(ones(4))
    same_key = entry(ones(4))
    other_split = entry(ones(4), key={**KEY, "split": "train"})
    pairs, new = G._pair([base], [other_split, same_key])
    assert pairs == [(base, same_key)] and new == [other_split]
    gone = entry(ones(4), key={**KEY, "model": "timm:gone"})  # missing altogether: must not block the fallback
    pairs, new = G._pair([base, gone], [other_split])
    assert pairs == [(base, other_split), (gone, None)] and new == []


# ---------------------------------------------------------------------------------------------
# The reported columns beside each result, on a hand-made table of library figures
#
# bench.models.reported.figures_for is replaced by a lookup in TOY_FIGURES, so every reported figure
# below is one written here, and every Δ is computed by hand from it (values on a 1/4 grid, exact in
# binary, so the differences compare with ==).

TOY = "timm:toy.a1_in1k"
IMN = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)}
TIMM_SRC = "timm results-imagenet.csv @ 0123abcd"
REAL_SRC = "timm results-imagenet-real.csv @ 0123abcd"
V2_SRC = "timm results-imagenetv2-matched-frequency.csv @ 0123abcd"


def _toy_fig(dataset, split, top1, top5, size, crop, source):
    return REF.Figure(
        model="toy.a1_in1k",
        dataset=dataset,
        split=split,
        top1=top1,
        top5=top5,
        img_size=size,
        crop_pct=crop,
        interpolation="bicubic",
        source=source,
        **IMN,
    )


TOY_FIGURES = {
    # timm lists its test size first: the 288 row is the first figure, 224 the second
    (TOY, "imagenet-1k", "validation"): [
        _toy_fig("imagenet-1k", "validation", 81.75, 95.5, 288, 1.0, TIMM_SRC),
        _toy_fig("imagenet-1k", "validation", 80.5, 95.25, 224, 0.875, TIMM_SRC),
    ],
    (TOY, "imagenet-real", "validation"): [
        _toy_fig("imagenet-real", "validation", 87.25, 97.5, 288, 1.0, REAL_SRC),
        _toy_fig("imagenet-real", "validation", 86.0, 97.0, 224, 0.875, REAL_SRC),
    ],
    (TOY, "imagenet-v2", "val"): [_toy_fig("imagenet-v2", "val", 69.5, 88.75, 224, 0.875, V2_SRC)],
    # nothing on imagenet-sketch: that page falls back to the ImageNet-1k figure
}
TOY_TF = {
    "policy": "model",
    "library": "timm",
    "input_size": [3, 224, 224],
    "crop_pct": 0.875,
    "crop_mode": "center",
    "interpolation": "bicubic",
    "mean": list(IMN["mean"]),
    "std": list(IMN["std"]),
}
TOY_TF_288 = {**TOY_TF, "input_size": [3, 288, 288], "crop_pct": 1.0}


@pytest.fixture
def toy_figures(monkeypatch):
    """figures_for answers from TOY_FIGURES alone; records every (model, dataset, split) it was asked."""
    asked = []

    def figures_for(model_id, dataset, split):
        asked.append((model_id, dataset, split))
        return list(TOY_FIGURES.get((model_id, dataset, split), []))

    monkeypatch.setattr(LB.reported, "figures_for", figures_for)
    return asked


def _toy_row(top1=81.0, dataset="imagenet-1k", split="validation", size=50_000, tf=TOY_TF, **kw):
    row = _row(TOY, top1, top5=95.0, dataset=dataset, split=split, params=25_000_000, n=size, size=size, tf=tf)
    return {**row, **kw}


def _missing(v):
    return v is None or (isinstance(v, float) and math.isnan(v))


def _same(got, want):
    return (_missing(got) and _missing(want)) or (not _missing(got) and not _missing(want) and got == want)


def _assert_row(actual, expected):
    """Every column of a measured_table row; None and NaN both read as missing (pandas' choice per dtype)."""
    assert set(expected) == set(LB.MEASURED_COLUMNS)
    got = dict(actual)
    assert {col: (got[col], want) for col, want in expected.items() if not _same(got[col], want)} == {}


def _expected(**kw):
    """The measured_table row of _toy_row() with no reported figure, updated by kw."""
    base = {
        "dataset": "imagenet-1k",
        "split": "validation",
        "rank": 1,
        "model": TOY,
        "model_id": TOY,
        "weights": "pretrained",
        "transform": "model",
        "top1": 81.0,
        "top5": 95.0,
        "top1_full": 81.0,
        "top1_ci_low": None,
        "top1_ci_high": None,
        "n": 50_000.0,
        "params_m": 25.0,  # 25,000,000 parameters
        "gmacs": None,
        "img_s": None,
        "img_s_device": None,
        "img_s_precision": None,
        "img_s_batch": None,
        "latency_p50_ms": None,
        "gpu_peak_mb": None,
        "ref_top1": None,
        "ref_top5": None,
        "ref_source": None,
        "ref_protocol": None,
        "delta_top1": None,
        "delta_note": None,
        "real_top1": None,
        "real_n": None,
        "ref_real_top1": None,
        "delta_real": None,
        "delta_real_note": None,
        "date": "2026-11-24",
        "protocol_hash": "h",
        "run": None,
        "limit": None,
        "shown_instead_of": [],
        "nll": None,
        "path": None,
        "corruptions": None,
        "corruptions_run": None,
        "mce": None,
        "relative_mce": None,
        "mce_corruptions": None,
    }
    assert set(kw) <= set(base)
    return {**base, **kw}


def _one(row):
    t = LB.measured_table(_frame([row]))
    assert len(t) == 1
    return t.iloc[0]


def test_imagenet_row_has_the_reported_figure_at_its_size_and_the_real_figure_beside_it(toy_figures):
    """224px run with a ReaL top-1: the 224 figures of both tables (not timm's first, 288 row), Δ by hand."""
    got = _one(_toy_row(real_top1=87.5, real_n=50_000))
    _assert_row(
        got,
        _expected(
            ref_top1=80.5,
            ref_top5=95.25,
            ref_source=TIMM_SRC,
            ref_protocol="timm, single-crop 224px, crop_pct 0.875",
            delta_top1=0.5,  # 81.0 - 80.5
            real_top1=87.5,
            real_n=50_000.0,
            ref_real_top1=86.0,
            delta_real=1.5,  # 87.5 - 86.0
        ),
    )
    assert sorted(set(toy_figures)) == [(TOY, "imagenet-1k", "validation"), (TOY, "imagenet-real", "validation")]


def test_real_figure_follows_the_runs_size_and_names_why_there_is_no_delta(toy_figures):
    at_288 = _one(_toy_row(top1=82.0, tf=TOY_TF_288, real_top1=88.0, real_n=50_000))
    _assert_row(
        at_288,
        _expected(
            top1=82.0,
            top1_full=82.0,
            ref_top1=81.75,
            ref_top5=95.5,
            ref_source=TIMM_SRC,
            ref_protocol="timm, single-crop 288px, crop_pct 1.0",
            delta_top1=0.25,  # 82.0 - 81.75
            real_top1=88.0,
            real_n=50_000.0,
            ref_real_top1=87.25,
            delta_real=0.75,  # 88.0 - 87.25
        ),
    )
    # the fixed policy: both figures are shown, neither Δ, and both say why
    fixed = _one(_toy_row(tf={**TOY_TF, "policy": "fixed"}, transform="fixed", real_top1=87.5, real_n=50_000))
    _assert_row(
        fixed,
        _expected(
            model=f"{TOY} (fixed transform)",
            transform="fixed",
            ref_top1=80.5,
            ref_top5=95.25,
            ref_source=TIMM_SRC,
            ref_protocol="timm, single-crop 224px, crop_pct 0.875",
            delta_note="fixed transform",
            real_top1=87.5,
            real_n=50_000.0,
            ref_real_top1=86.0,
            delta_real_note="fixed transform",
        ),
    )
    # no ReaL top-1 measured: the ReaL table is not even consulted
    toy_figures.clear()
    _one(_toy_row())
    assert toy_figures == [(TOY, "imagenet-1k", "validation")]


def test_other_datasets_use_their_own_figure_and_fall_back_to_imagenet_without_delta(toy_figures):
    v2 = _one(_toy_row(top1=70.0, dataset="imagenet-v2", split="val", size=10_000))
    _assert_row(
        v2,
        _expected(
            dataset="imagenet-v2",
            split="val",
            top1=70.0,
            top1_full=70.0,
            n=10_000.0,
            ref_top1=69.5,
            ref_top5=88.75,
            ref_source=V2_SRC,
            ref_protocol="timm, single-crop 224px, crop_pct 0.875",
            delta_top1=0.5,  # 70.0 - 69.5
        ),
    )
    sketch = _one(_toy_row(top1=30.0, dataset="imagenet-sketch", split="val", size=50_889))
    _assert_row(
        sketch,
        _expected(
            dataset="imagenet-sketch",
            split="val",
            top1=30.0,
            top1_full=30.0,
            n=50_889.0,
            ref_top1=80.5,
            ref_top5=95.25,
            ref_source=TIMM_SRC,
            ref_protocol="timm, imagenet-1k, single-crop 224px, crop_pct 0.875",  # the label names the other dataset
            delta_note="reported on imagenet-1k",
        ),
    )
    assert toy_figures[-2:] == [(TOY, "imagenet-sketch", "val"), (TOY, "imagenet-1k", "validation")]


@pytest.mark.parametrize(
    "change, note",
    [
        # ImageNetV2's other sampling variants, whatever the case of the folder name
        ({"dataset_source": "/data/ImageNetV2-Threshold0.7-format-val"}, "ImageNetV2 variant ≠ matched-frequency"),
        ({"dataset_source": "/data/imagenetv2-TopImages-format-val"}, "ImageNetV2 variant ≠ matched-frequency"),
        ({"transform_spec": {**TOY_TF, "policy": None}, "transform": None}, "unknown transform"),
        ({"transform_spec": {**TOY_TF, "overrides": ["interpolation", "crop_pct"]}}, "overridden crop_pct, interpolation"),
    ],
)
def test_v2_notes_name_the_variant_unknown_policy_and_every_override(toy_figures, change, note):
    got = _one(_toy_row(top1=70.0, dataset="imagenet-v2", split="val", size=10_000, **change))
    assert (got["ref_top1"], got["delta_note"]) == (69.5, note) and math.isnan(got["delta_top1"])
    ok = _one(
        _toy_row(top1=70.0, dataset="imagenet-v2", split="val", size=10_000, dataset_source="/data/imagenetv2-matched-frequency")
    )
    assert (ok["delta_top1"], ok["delta_note"]) == (0.5, None)


def test_policy_from_the_key_when_the_transform_record_has_none(toy_figures):
    """Records whose transform section lacks `policy` read it from the key; a row without any transform
    record (NaN in a frame where other rows have one) has no Δ, and no error."""
    old_tf = {k: v for k, v in TOY_TF.items() if k != "policy"}
    bare = {k: v for k, v in _toy_row(top1=79.0).items() if k != "transform_spec"}
    t = LB.measured_table(_frame([_toy_row(tf=TOY_TF) | {"transform_spec": old_tf}, bare]))
    assert list(zip(t["top1"], t["delta_top1"].fillna(-1.0), t["delta_note"].fillna(""))) == [
        (81.0, 0.5, ""),  # 81.0 - 80.5
        (79.0, -1.0, "transform not recorded"),
    ]
    run = LB._run_protocol({**bare, "transform_spec": float("nan")})
    assert (run.policy, run.input_size, run.dataset, run.split, run.n, run.size) == (
        "model",
        None,
        "imagenet-1k",
        "validation",
        50_000,
        50_000,
    )


def test_measured_table_shows_one_run_per_model_with_its_limit_weights_and_corruptions(toy_figures):
    rows = [
        # a --limit that stopped short of the split: labelled, and the limit kept
        _toy_row(
            top1=60.0,
            n=1000,
            dataset_limit=1000,
            shown=True,
            complete=False,
            limit=1000,
            run="r1",
            shown_instead_of=["r9 (older)"],
            corruptions=None,
        ),
        # not shown: results.choose picked another run of the same model
        _toy_row(
            top1=99.0, weights="file-x", shown=False, complete=True, limit=None, run="r2", shown_instead_of=[], corruptions=None
        ),
        # a --limit at least the split's size covered it: no limit
        _toy_row(
            top1=50.0, weights="random", shown=True, complete=True, limit=50_000, run="r3", shown_instead_of=[], corruptions=None
        ),
        _toy_row(
            top1=40.0, weights="w2", shown=True, complete=True, limit=None, run="r4", shown_instead_of=[], corruptions="blur:1-5"
        ),
    ]
    t = LB.measured_table(_frame(rows))
    assert list(t.columns) == LB.MEASURED_COLUMNS
    got = [
        (r["model"], r["rank"], r["run"], None if _missing(r["limit"]) else r["limit"], r["shown_instead_of"])
        for r in t.to_dict("records")
    ]
    assert got == [
        (f"{TOY} (--limit 1000)", 1, "r1", 1000, ["r9 (older)"]),
        (f"{TOY} (random)", 2, "r3", None, []),
        (f"{TOY} (w2)", 3, "r4", None, []),
    ]
    # the weights' notes: random and other weights are never set beside the pretrained figure
    assert list(t["delta_note"]) == ["--limit 1000", "random weights", "w2 weights"]


def test_crop_pct_exactly_the_tolerance_apart_is_another_crop():
    """|0.001 - 0.0005| is exactly the double 5e-4 (0.001 = 2 x 0.0005, and doubling is exact): the rule is
    'closer than 5e-4', so such a figure is neither the closest one nor comparable. (Fractions from 1/256 up
    can never be exactly 5e-4 apart in binary; hence the tiny crops.)"""
    assert abs(0.001 - 0.0005) == 5e-4
    run = REF.RunProtocol(
        "imagenet-1k",
        "validation",
        policy="model",
        input_size=(224, 224),
        crop_pct=0.001,
        interpolation="bicubic",
        n=50_000,
        size=50_000,
    )
    off = _toy_fig("imagenet-1k", "validation", 1.0, None, 224, 0.0005, TIMM_SRC)
    same = _toy_fig("imagenet-1k", "validation", 2.0, None, 224, 0.001, TIMM_SRC)
    assert REF.closest_figure(run, [off, same]) is same
    assert REF.comparable(run, off) == (False, "crop_pct 0.001 ≠ 0.0005")
    assert REF.comparable(run, same) == (True, "same protocol")


def test_closest_figure_prefers_size_and_crop_then_size_then_the_first():
    run = REF.RunProtocol("imagenet-1k", "validation", input_size=(224, 224), crop_pct=0.875)
    f288 = _toy_fig("imagenet-1k", "validation", 1.0, None, 288, 0.875, TIMM_SRC)  # same crop, other size
    f224_95 = _toy_fig("imagenet-1k", "validation", 2.0, None, 224, 0.95, TIMM_SRC)  # same size, other crop
    f224_no_crop = _toy_fig("imagenet-1k", "validation", 3.0, None, 224, None, TIMM_SRC)
    f224 = _toy_fig("imagenet-1k", "validation", 4.0, None, 224, 0.875, TIMM_SRC)  # both
    f256 = _toy_fig("imagenet-1k", "validation", 5.0, None, 256, 0.875, TIMM_SRC)
    assert REF.closest_figure(run, [f288, f224_95, f224_no_crop, f224]) is f224
    assert REF.closest_figure(run, [f288, f224_no_crop, f224_95]) is f224_no_crop  # no crop match: the first of the size
    assert REF.closest_figure(run, [f288, f256]) is f288  # no size match: the first
    no_crop = REF.RunProtocol("imagenet-1k", "validation", input_size=(224, 224), crop_pct=None)
    assert REF.closest_figure(no_crop, [f288, f224_95, f224]) is f224_95  # an unknown crop matches no crop
