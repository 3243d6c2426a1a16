"""Leaderboards: golden pages from fixture results, ranking, missing values, Δ, Pareto front, plots.

The golden files under tests/golden/expected/ are committed; after an intended change of the
page format, regenerate them with `UPDATE_GOLDEN=1 pytest tests/test_leaderboard.py` and review
the diff. published.md is not golden (it follows the installed torchvision): known rows are
checked instead.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import shutil
from pathlib import Path

import pytest

from bench.models import reference
from bench.report import leaderboard as LB
from bench.report import published
from bench.report import tables as F
from bench.report.plots import Point, YearPoint, pareto_front, plot_pareto, plot_years
from bench.store import results as R

GOLDEN = Path(__file__).parent / "golden"
RESULTS, EXPECTED = GOLDEN / "results", GOLDEN / "expected"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _table(md: str, first_header: str) -> list[dict[str, str]]:
    """The rows of the first markdown table whose first header is `first_header`, as dicts."""
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|") and _cells(line)[0] == first_header)
    headers = _cells(lines[start])
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(headers, _cells(line))))
    return rows


def _cells(line: str) -> list[str]:
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip()[1:-1])]


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[list[Path], list[Path]]:
    """regenerate() run twice on the fixture results, into two directories."""
    a = LB.regenerate(RESULTS, tmp_path_factory.mktemp("lb-a"))
    b = LB.regenerate(RESULTS, tmp_path_factory.mktemp("lb-b"))
    return a, b


@pytest.fixture(scope="module")
def df():
    return R.load(RESULTS)


def _page(generated, name: str) -> str:
    return next(p for p in generated[0] if p.name == name).read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# Golden pages


def test_golden_pages_match_committed_files(generated):
    got = {p.name: p.read_bytes() for p in generated[0] if p.suffix == ".md" and p.name != LB.PUBLISHED}
    if os.environ.get("UPDATE_GOLDEN") == "1":
        shutil.rmtree(EXPECTED, ignore_errors=True)
        EXPECTED.mkdir(parents=True)
        for name, data in got.items():
            (EXPECTED / name).write_bytes(data)
    expected = {p.name: p.read_bytes() for p in EXPECTED.glob("*.md")}
    assert sorted(got) == sorted(expected)
    for name in sorted(got):
        if got[name] != expected[name]:
            diff = "\n".join(
                difflib.unified_diff(
                    expected[name].decode().splitlines(),
                    got[name].decode().splitlines(),
                    f"expected/{name}",
                    f"generated/{name}",
                    lineterm="",
                )
            )
            pytest.fail(f"{name} differs from the golden file (UPDATE_GOLDEN=1 regenerates it if intended):\n{diff}")


def test_regenerate_twice_gives_identical_bytes_in_a_stable_order(generated):
    a, b = generated
    assert (
        [p.name for p in a]
        == [p.name for p in b]
        == [
            "README.md",
            "robustness.md",
            "robustness.png",
            "imagenet-1k.md",
            "imagenet-1k-pareto.png",
            "tiny-imagenet.md",
            "tiny-imagenet-pareto.png",
            "tiny-imagenet-train.md",
            "published.md",
            "published-years.png",
        ]
    )
    for pa, pb in zip(a, b):
        assert pa.read_bytes() == pb.read_bytes(), pa.name


def test_pages_only_for_datasets_with_results(tmp_path):
    written = LB.regenerate(tmp_path / "no-results", tmp_path / "out")
    assert [p.name for p in written] == ["README.md", "published.md", "published-years.png"]
    assert "No results yet" in written[0].read_text(encoding="utf-8")
    (tmp_path / "out" / "samples.md").write_text("an older page")
    LB.regenerate(tmp_path / "no-results", tmp_path / "out")
    assert (tmp_path / "out" / "samples.md").read_text() == "an older page"  # not ours to delete


def test_index_links_every_page_and_the_published_one(generated):
    index = _page(generated, "README.md")
    rows = _table(index, "page")
    assert [r["page"] for r in rows] == [
        "[imagenet-1k](imagenet-1k.md)",
        "[tiny-imagenet](tiny-imagenet.md)",
        "[tiny-imagenet-train](tiny-imagenet-train.md)",
    ]
    assert rows[0]["best model"] == "timm:resnet50.a1_in1k" and rows[0]["best top-1"] == "81.70"
    assert "[published.md](published.md)" in index


def test_pages_link_their_plots(generated):
    assert "](imagenet-1k-pareto.png)" in _page(generated, "imagenet-1k.md")
    assert "-pareto.png" not in _page(generated, "tiny-imagenet-train.md")  # no throughput there
    assert f"]({LB.YEARS_PLOT})" in _page(generated, LB.PUBLISHED)


def test_page_names():
    assert LB.page_name("tiny-imagenet", "valid") == "tiny-imagenet"
    assert LB.page_name("imagenet-1k", "validation") == "imagenet-1k"
    assert LB.page_name("samples", "val") == "samples"
    assert LB.page_name("imagenet-1k", "train") == "imagenet-1k-train"


# ---------------------------------------------------------------------------------------------
# Ranking, missing values, Δ


def test_ties_share_a_rank_and_are_ordered_by_top5_then_name(df):
    t = LB.measured_table(df)
    t = t[t["dataset"] == "imagenet-1k"]
    assert list(t["rank"]) == [1, 2, 2, 4, 5]
    assert list(t["model"]) == [
        "timm:resnet50.a1_in1k",
        "timm:resnet50.tv2_in1k",
        "tv:resnet50.IMAGENET1K_V2 (--limit 1000)",
        "tv:alexnet.IMAGENET1K_V1",
        "tv:resnet18.IMAGENET1K_V1 (random)",
    ]


def _flat(model: str, top1: float | None, top5: float | None, dataset: str = "imagenet-1k", split: str = "validation") -> dict:
    acc = None if top1 is None else {"n": 100, "restricted": {"top1": top1, "top5": top5}}
    return R.flatten(
        {
            "key": {"dataset": dataset, "split": split, "model": model, "weights": "pretrained", "transform": "model"},
            "accuracy": acc,
            "model": {"reference": {"top1": 50.0}},
        }
    )


def test_competition_ranking_is_independent_of_input_order():
    import pandas as pd

    rows = [
        _flat("c", 70.0, 90.0),
        _flat("no-accuracy", None, None),
        _flat("b", 80.0, 91.0),
        _flat("a", 80.0, 91.0),
        _flat("d", 80.0, 95.0),
        _flat("e", 60.0, None),
        _flat("f", 60.0, 99.0),
    ]
    for order in (rows, rows[::-1]):
        t = LB.measured_table(pd.DataFrame(order))
        assert list(zip(t["model"], t["rank"])) == [
            ("d", 1),
            ("a", 1),
            ("b", 1),
            ("c", 4),
            ("f", 5),
            ("e", 5),
            ("no-accuracy", None),
        ]


def test_ranks_are_per_dataset_and_split():
    import pandas as pd

    t = LB.measured_table(pd.DataFrame([_flat("a", 50.0, 60.0), _flat("b", 40.0, 60.0, "tiny-imagenet", "valid")]))
    assert list(t["rank"]) == [1, 1]


def test_missing_values_read_as_a_dash_never_zero(generated, df):
    rows = {r["model"]: r for r in _table(_page(generated, "imagenet-1k.md"), "rank")}
    alexnet = rows["tv:alexnet.IMAGENET1K_V1"]  # its result has no efficiency section
    for col in ("params (M)", "GMACs", "img/s", "latency p50 (ms)", "peak GPU mem (MB)"):
        assert alexnet[col] == LB.DASH, col
    t = LB.measured_table(df).set_index("model")
    assert math.isnan(t.loc["tv:alexnet.IMAGENET1K_V1", "params_m"]) and math.isnan(t.loc["tv:alexnet.IMAGENET1K_V1", "img_s"])
    cpu = {r["model"]: r for r in _table(_page(generated, "tiny-imagenet.md"), "rank")}["timm:tf_efficientnet_lite0.in1k"]
    assert cpu["peak GPU mem (MB)"] == LB.DASH  # timed on CPU: no GPU memory, not 0 MB
    assert cpu["img/s"] == "412.3 (Intel Xeon Platinum 8480+, fp32, b32)"


def test_delta_only_under_the_reported_figures_protocol(generated):
    rows = {r["model"]: r for r in _table(_page(generated, "imagenet-1k.md"), "rank")}
    a1 = rows["timm:resnet50.a1_in1k"]  # the whole split at timm's 288px test size, crop_pct 1.0
    assert (a1["reported top-1"], a1["Δ top-1"]) == ("81.24", "+0.46")  # 81.70 - 81.240 (results-imagenet.csv, 288 row)
    assert a1["reported by (protocol)"] == "timm, single-crop 288px, crop_pct 1.0"
    v2 = rows["tv:resnet50.IMAGENET1K_V2 (--limit 1000)"]  # labelled: a --limit run
    assert (v2["reported top-1"], v2["Δ top-1"]) == ("80.86", "— (--limit 1000)")
    assert v2["reported by (protocol)"] == "torchvision, single-crop 224px, crop_pct 0.9655"
    assert rows["tv:alexnet.IMAGENET1K_V1"]["Δ top-1"] == "— (split has 1000 of 50000 images)"
    assert rows["timm:resnet50.tv2_in1k"]["Δ top-1"] == "— (transform not recorded)"  # an older record
    random = rows["tv:resnet18.IMAGENET1K_V1 (random)"]
    assert (random["reported top-1"], random["Δ top-1"]) == ("69.76", "— (random weights)")
    for r in _table(_page(generated, "tiny-imagenet.md"), "rank"):  # nobody reports tiny-imagenet: the ImageNet-1k figure, no Δ
        assert r["Δ top-1"] == LB.DASH and r["reported top-1"] != LB.DASH and ", imagenet-1k, " in r["reported by (protocol)"]


def test_real_section_compares_with_timms_real_table(generated):
    (row,) = _table(_page(generated, "imagenet-1k.md"), "model")[:1]
    assert row == {
        "model": "timm:resnet50.a1_in1k",
        "ReaL top-1": "86.75",
        "n": "46837",
        "reported ReaL top-1": "86.58",
        "Δ ReaL top-1": "+0.17",
    }  # 86.75 - 86.579 (results-imagenet-real.csv, 288 row)
    assert "## ImageNet-ReaL" not in _page(generated, "tiny-imagenet.md")


def _full_run(dataset: str, split: str, top1: float, size: int, n: int | None = None, img: int = 288, crop: float = 1.0) -> dict:
    """A flattened resnet50.a1_in1k result with the transform and dataset facts the Δ rule reads."""
    record = {
        "key": {
            "dataset": dataset,
            "split": split,
            "model": "timm:resnet50.a1_in1k",
            "weights": "pretrained",
            "transform": "model",
        },
        "accuracy": {"n": size if n is None else n, "restricted": {"top1": top1, "top5": 50.0}},
        "transform": {
            "policy": "model",
            "input_size": [3, img, img],
            "crop_pct": crop,
            "interpolation": "bicubic",
            "mean": [0.485, 0.456, 0.406],
            "std": [0.229, 0.224, 0.225],
        },
        "dataset": {"size": size, "limit": None, "source": "/data"},
    }
    return R.flatten(record)


@pytest.mark.parametrize(
    "dataset, split, size, top1, reported, delta",
    [
        ("imagenet-a", "val", 7500, 16.0, 15.840, 0.16),  # results-imagenet-a.csv, 288 row
        ("imagenet-r", "val", 30000, 39.0, 38.993, 0.007),  # results-imagenet-r.csv, 288 row
        ("imagenet-sketch", "val", 50889, 28.0, 28.189, -0.189),  # results-sketch.csv, 288 row
        ("imagenet-v2", "val", 10000, 69.0, 69.690, -0.69),  # results-imagenetv2-matched-frequency.csv, 288 row
        ("imagenet-1k@imagenet-a", "validation", 10000, 95.0, 94.770, 0.23),  # results-imagenet-a-clean.csv, 288 row
    ],
)
def test_delta_on_the_other_datasets_timm_reports(dataset, split, size, top1, reported, delta):
    import pandas as pd

    t = LB.measured_table(pd.DataFrame([_full_run(dataset, split, top1, size)]))
    assert t.loc[0, "ref_top1"] == reported and t.loc[0, "delta_top1"] == pytest.approx(delta)
    at_224 = LB.measured_table(pd.DataFrame([_full_run(dataset, split, top1, size, img=224, crop=0.95)]))
    assert at_224.loc[0, "ref_top1"] != reported and not math.isnan(at_224.loc[0, "delta_top1"])  # timm's 224 row
    partial = LB.measured_table(pd.DataFrame([_full_run(dataset, split, top1, size, n=size - 1)]))
    assert math.isnan(partial.loc[0, "delta_top1"]) and partial.loc[0, "delta_note"] == f"n {size - 1} of {size}"


def test_number_formats():
    assert F.signed(0.123) == "+0.12" and F.signed(-1.034) == "−1.03"
    assert F.signed(-0.001) == "0.00" and F.signed(None) == LB.DASH and F.signed(float("nan")) == LB.DASH
    assert F.num(0.0, 2) == "0.00" and F.num(None, 2) == LB.DASH  # a measured 0 stays 0
    assert F.text("a|b") == "a\\|b"
    assert F.integer(2.0) == "2" and F.integer(float("nan")) == LB.DASH and F.link("code", None) == LB.DASH
    # terminal cells (bench check, bench run, bench profile): format as asked, a dash for None only
    assert F.formatted(-0.001, "+.2f") == "-0.00" and F.formatted(None, ".2f") == LB.DASH and F.formatted(7) == "7"


def test_model_label_names_non_default_weights_and_transform(generated):
    assert LB.model_label("tv:alexnet.IMAGENET1K_V1", "pretrained", "model") == "tv:alexnet.IMAGENET1K_V1"
    assert LB.model_label("tv:alexnet.IMAGENET1K_V1", "random", "model") == "tv:alexnet.IMAGENET1K_V1 (random)"
    assert LB.model_label("timm:resnet50.a1_in1k", "file-mine", "fixed") == "timm:resnet50.a1_in1k (file-mine, fixed transform)"
    page = _page(generated, "tiny-imagenet.md")
    assert "tv:alexnet.IMAGENET1K_V1 (fixed transform)" in page
    assert "2 protocols" in page  # the fixed transform is another protocol, and the page says so


# ---------------------------------------------------------------------------------------------
# Published results


@pytest.fixture(scope="module")
def published_page() -> str:
    return LB.render_published()


def test_published_has_torchvision_rows_from_the_installed_meta(published_page):
    alexnet = [r for r in published.torchvision_reported() if r.model == "tv:alexnet.IMAGENET1K_V1"]
    assert len(alexnet) == 1 and alexnet[0].top1 == 56.522 and alexnet[0].top5 == 79.066
    assert alexnet[0].gmacs == 0.714 and round(alexnet[0].params_m, 2) == 61.10
    rows = {r["model"]: r for r in _table(published_page, "rank")}
    row = rows["tv:alexnet.IMAGENET1K_V1"]
    assert (row["top-1"], row["top-5"], row["params (M)"], row["GMACs"], row["extra data"]) == (
        "56.52",
        "79.07",
        "61.10",
        "0.714",
        "none",
    )
    assert "AlexNet_Weights.IMAGENET1K_V1" in row["source"] and row["code"].startswith("[code](https://github.com/pytorch/vision")
    assert "tv:vgg16.IMAGENET1K_FEATURES" not in rows  # no classifier, no accuracy
    assert rows["tv:vit_h_14.IMAGENET1K_SWAG_E2E_V1"]["extra data"].startswith("IG-3.6B")
    import torchvision

    assert f"torchvision {torchvision.__version__.split('+')[0]}" in published_page.split("|", 1)[0]


def test_published_has_paper_and_timm_rows(published_page):
    rows = {r["model"]: r for r in _table(published_page, "rank")}
    resnet = rows["ResNet-50"]
    assert (resnet["top-1"], resnet["top-5"], resnet["params (M)"], resnet["year"]) == ("77.15", "93.29", "25.60", "2015")
    assert (
        resnet["paper"] == "Deep Residual Learning for Image Recognition"
        and "He et al., arXiv:1512.03385v1, Table 3" in resnet["source"]
    )
    assert resnet["protocol"] == "10-crop · val"  # the protocol travels with the figure
    for alexnet in ("AlexNet (1 CNN)", "AlexNet (7 CNNs*)"):
        assert rows[alexnet]["protocol"].startswith("10-crop") and rows[alexnet]["protocol"].endswith("· val")
    assert "image encoder" in rows["CoCa (finetuned)"]["source"] and rows["CoCa (finetuned)"]["params (M)"] == "1000.00"
    lite0 = rows["timm:tf_efficientnet_lite0.in1k"]
    assert (lite0["top-1"], lite0["GMACs"], lite0["protocol"]) == ("74.85", LB.DASH, "single-crop 224px, crop_pct 0.875 · val")
    assert lite0["source"] == f"timm @ {reference.timm_pin()['commit'][:8]}"
    assert rows["timm:convnext_base.fb_in22k_ft_in1k"]["extra data"] == "ImageNet-22k"
    clip = rows["timm:vit_base_patch16_clip_224.laion2b_ft_in12k_in1k"]
    assert (clip["top-1"], clip["extra data"]) == ("86.20", "LAION-2B → ImageNet-12k")
    # every tag of timm's results-imagenet.csv, counted with the csv module
    import csv

    path = Path(reference.__file__).parents[1] / "resources" / "timm_results" / "results-imagenet.csv"
    with path.open(encoding="utf-8") as f:
        tags = {r["model"] for r in csv.DictReader(f)}
    assert {m.removeprefix("timm:") for m in rows if m.startswith("timm:")} == tags
    assert reference.timm_pin()["commit"] in published_page.split("|", 1)[0]
    ranks = [int(r["rank"]) for r in _table(published_page, "rank")]
    assert ranks[0] == 1 and ranks == sorted(ranks)
    winners = _table(published_page, "year")
    assert [w["year"] for w in winners][:3] == ["2010", "2011", "2012"]
    assert (winners[2]["model"], winners[2]["top-5 error (test, %)"], winners[2]["extra data"]) == (
        "AlexNet (5 CNNs)",
        "16.4",
        "none",
    )
    assert winners[2]["entry with outside data"].startswith("15.3")


# The rules of pretraining_data.csv that could not be checked against a paper, model card or README (issue 26):
# written down here, so a new rule without a source fails until someone checks it or marks it on purpose.
UNVERIFIED_RULES = {"ssld", "gemma3n", "qwen", "deepseek", "timm:aimv2_*.apple_pt*"}


def test_every_published_row_and_extra_data_label_has_a_source_or_an_unverified_mark(published_page):
    rows = published.published()
    assert len(rows) > 1000 and [r.model for r in rows if not r.source] == []
    assert [r.model for r in rows if r.extra_data and not r.extra_data_source] == []
    # the page marks exactly the rows whose label has an unchecked link, and no other
    cells = {r["model"]: r["extra data"] for r in _table(published_page, "rank")}
    marked = {m for m, cell in cells.items() if cell.endswith("(unverified)")}
    assert marked == {r.model for r in rows if r.extra_data_unverified}
    assert "timm:hgnet_tiny.ssld_in1k" in marked and "timm:convnext_base.clip_laiona_augreg_ft_in1k_384" not in marked
    # every rule is listed with its source; the unverified ones say so, and only those in UNVERIFIED_RULES
    listed = _table(published_page, "extra data")
    rules = reference.data_rules()
    assert [(r["extra data"], r["named by"]) for r in listed][: len(rules)] == [
        (rule["data"], f"tag token `{rule['match']}`" if rule["mode"] == "token" else f"`{rule['match']}` ({rule['mode']} rule)")
        for rule in rules
    ]
    assert all(r["source"] not in ("", LB.DASH) for r in listed)
    assert {rule["match"] for rule in rules if reference.is_unverified(reference.data_source(rule))} == UNVERIFIED_RULES
    # what the checks of issue 26 found, as the page states it
    sources = {r["extra data"]: r["source"] for r in listed}
    assert sources["Merged-2B"].startswith("confirmed") and "COYO-700M" in sources["Merged-2B"]
    assert sources["Merged-30M → LAION-400M"].startswith("confirmed LAION-400M")
    assert sources["LAION-Aesthetic"].startswith("confirmed") and sources["DataCompDR-1B"].startswith("confirmed")
    assert sources["ImageNet-1K-6M (SSLD)"].startswith("corrected")
    assert sources["DFN-2B + COYO-700M + HQITP"].startswith("unverified")
    # ILSVRC rows: a source each; the three read only through a secondary copy say unverified
    winners = {w["year"]: w for w in _table(published_page, "year")}
    assert all(w["source"] not in ("", LB.DASH) for w in winners.values())
    assert {y for y, w in winners.items() if "unverified" in w["source"]} == {"2010", "2011", "2016"}
    assert "image-net.org/challenges/LSVRC/2010/results.php" in winners["2010"]["source"]
    assert (winners["2010"]["top-5 error (test, %)"], winners["2011"]["top-5 error (test, %)"]) == ("28.19", "25.77")


def test_model_paper_lookup():
    swag = reference.model_paper("tv:vit_b_16.IMAGENET1K_SWAG_E2E_V1")
    assert swag["year"] == 2022 and swag["extra_data"].startswith("IG-3.6B")
    vit = reference.model_paper("tv:vit_b_16.IMAGENET1K_V1")
    assert vit["year"] == 2020 and vit["extra_data"] == "none"
    assert reference.model_paper("timm:vit_base_patch16_224.augreg_in21k_ft_in1k")["extra_data"] == "ImageNet-21k"
    assert reference.model_paper("somebody:else") == {"paper": None, "year": None, "extra_data": None}


# ---------------------------------------------------------------------------------------------
# Pareto front and plots


def test_pareto_front_of_hand_made_points():
    points = [(1, 5), (2, 4), (3, 3), (2, 2), (1, 5), (0, 6), (3, 1)]
    # (2,2) loses to (2,4), (3,1) to (3,3); equal points (1,5) both stay.
    assert pareto_front(points) == [0, 1, 2, 4, 5]
    assert pareto_front([]) == [] and pareto_front([(1.0, 1.0)]) == [0]
    assert pareto_front([(1, 1), (2, 2), (3, 3)]) == [2]


def test_plots_are_non_empty_and_byte_stable(tmp_path):
    points = [
        Point("a", 100.0, 70.0, "gpu, fp32, b8"),
        Point("b", 300.0, 60.0, "gpu, fp32, b8"),
        Point("c", 50.0, 65.0, "gpu, fp32, b8"),
        Point("d", 20.0, 71.0, "cpu, fp32, b1"),
    ]
    years = [YearPoint(2012, 59.3, "paper"), YearPoint(2015, 77.15, "paper"), YearPoint(2015, 80.9, "torchvision")]
    winners = [(2010, 28.2), (2012, 15.3)]
    outputs = []
    for run in ("1", "2"):
        a = plot_pareto(points, tmp_path / run / "p.png", "pareto")
        b = plot_years(years, winners, tmp_path / run / "y.png", "years")
        outputs.append((a.read_bytes(), b.read_bytes()))
    for data in outputs[0]:
        assert data.startswith(PNG_MAGIC) and len(data) > 5000
        assert b"Software" not in data and b"matplotlib" not in data.lower()  # no version in the bytes
    assert outputs[0] == outputs[1]


def test_generated_plots_are_pngs(generated):
    for p in generated[0]:
        if p.suffix == ".png":
            assert p.read_bytes().startswith(PNG_MAGIC) and p.stat().st_size > 5000, p.name


def test_module_import_stays_light():
    import subprocess
    import sys

    code = "import sys, bench.report.leaderboard; print(sorted(m for m in ('pandas', 'matplotlib', 'torch', 'tabulate') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_a_limit_run_is_labelled_and_never_shadows_the_full_run(tmp_path):
    from bench.store import schema as S

    def record(samples: str, top1: float, limit: int | None, started: str) -> S.Record:
        key = S.Identity(
            model="tv:alexnet.IMAGENET1K_V1",
            weights="pretrained",
            weights_digest="file:ab",
            dataset="samples",
            split="val",
            samples=samples,
            transform={"policy": "model"},
            precision="fp32",
        )
        return S.Record(
            key=key,
            accuracy=S.Accuracy(n=5 if limit is None else limit, restricted=S.Figures(top1=top1, top5=90.0)),
            dataset=S.DatasetRecord(name="samples", split="val", size=5, limit=limit),
            run=S.RunRecord(started=started),
        )

    R.write(record("a" * 64, 0.0, 3, "2026-12-01T00:00:00+00:00"), None, tmp_path)
    t = LB.measured_table(R.load(tmp_path))
    assert list(t["model"]) == ["tv:alexnet.IMAGENET1K_V1 (--limit 3)"]  # alone, it shows, and says it is a subset
    R.write(record("b" * 64, 40.0, None, "2026-01-01T00:00:00+00:00"), None, tmp_path)  # older, but the whole split
    t = LB.measured_table(R.load(tmp_path))
    assert list(t["model"]) == ["tv:alexnet.IMAGENET1K_V1"] and list(t["top1"]) == [40.0] and list(t["n"]) == [5.0]
    page = LB.render_dataset_page(R.load(tmp_path), "samples", "val")
    assert "not shown: run " in page and "n=3 (--limit 3)" in page


# ---------------------------------------------------------------------------------------------
# One row per model and weights: a --corruptions run joins the clean run of its experiment


def _run(
    corruptions: str | None = None,
    top1: float = 60.0,
    params: int | None = None,
    mce: float | None = None,
    over: int = 15,
    started: str = "2026-11-20T00:00:00+00:00",
    **key,
):
    """A hand-made record of tv:alexnet on samples/val: clean (with efficiency when `params`) or with corruptions."""
    from bench.store import schema as S

    identity = S.Identity(
        **{
            "model": "tv:alexnet.IMAGENET1K_V1",
            "weights": "pretrained",
            "weights_digest": "file:" + "ab" * 32,
            "dataset": "samples",
            "split": "val",
            "samples": "a" * 64,
            "transform": {"policy": "model"},
            "precision": "fp32",
            "data_path": "cpu",
            "device": "cpu:X",
            "corruptions": corruptions,
            **key,
        }
    )
    summary = None
    if corruptions:
        summary = {"requested": corruptions, "mce": mce, "relative_mce": None if mce is None else mce - 30.0}
        summary |= {"mce_corruptions": over, "mce_complete": over == 15}
    return S.Record(
        key=identity,
        accuracy=S.Accuracy(n=5, restricted=S.Figures(top1=top1, top5=80.0), corruptions=summary),
        efficiency=None if params is None else S.Efficiency(params=params, gmacs=0.714, throughput_img_s=10.0),
        dataset=S.DatasetRecord(name="samples", split="val", size=5),
        run=S.RunRecord(started=started),
    )


def _rows(results_dir) -> list[dict[str, str]]:
    return _table(LB.render_dataset_page(R.load(results_dir), "samples", "val"), "rank")


def test_a_corruption_run_joins_the_clean_row_of_its_experiment(tmp_path):
    """The clean run (with efficiency) and a later --corruptions run of the same experiment, at another batch
    size (an execution knob, not the experiment): one row, with the clean run's figures and the mCE."""
    clean = _run(params=61_100_840)
    corrupted = _run("all", top1=60.0, mce=98.2, batch_size=16, started="2026-11-21T00:00:00+00:00")
    for r in (clean, corrupted):
        R.write(r, None, tmp_path)
    (row,) = _rows(tmp_path)
    assert row["model"] == "tv:alexnet.IMAGENET1K_V1" and row["top-1"] == "60.00" and row["params (M)"] == "61.10"
    assert row["mCE"] == "98.20" and row["relative mCE"] == "68.20" and row["date"] == "2026-11-20"
    (shown,) = LB.measured_table(R.load(tmp_path)).to_dict("records")
    assert shown["run"] == clean.key.hash and shown["corruptions_run"] == corrupted.key.hash
    assert shown["shown_instead_of"] == []  # the joined run is on the row, not "not shown"


def test_a_corruption_run_of_another_experiment_does_not_join(tmp_path):
    """Another device, or other images, is another experiment: its clean accuracy is not the clean row's, so
    its mCE is never set beside that row. One row per model and weights still: the clean run, the other listed."""
    R.write(_run(params=61_100_840), None, tmp_path)
    R.write(_run("all", top1=40.0, mce=90.0, device="cpu:Y", started="2026-11-22T00:00:00+00:00"), None, tmp_path)
    R.write(_run("all", top1=20.0, mce=80.0, samples="b" * 64, started="2026-11-23T00:00:00+00:00"), None, tmp_path)
    (row,) = _rows(tmp_path)
    assert row["top-1"] == "60.00" and "mCE" not in row  # no row of the page has a corruption run joined
    (shown,) = LB.measured_table(R.load(tmp_path)).to_dict("records")
    assert len(shown["shown_instead_of"]) == 2 and all("corruptions all" in d for d in shown["shown_instead_of"])


def test_a_corruption_run_alone_is_the_row_and_the_complete_mce_wins(tmp_path):
    """Without a clean run, the --corruptions run is the row (its own clean top-1 and mCE); of two corruption
    runs joining one clean run, the one over all 15 corruptions is shown, and a partial mCE says over how many."""
    R.write(_run("gaussian_noise", top1=40.0, mce=95.0, over=1), None, tmp_path)
    (row,) = _rows(tmp_path)
    assert row["top-1"] == "40.00" and row["mCE"] == "95.00 (1 of 15)" and row["params (M)"] == "—"
    R.write(_run("noise:3", top1=40.0, mce=None, over=0, started="2026-11-24T00:00:00+00:00"), None, tmp_path)
    (row,) = _rows(tmp_path)
    assert row["mCE"] == "— (noise:3)"  # the newest is shown; it ran no corruption at all five severities
    R.write(_run(top1=40.0), None, tmp_path)
    (row,) = _rows(tmp_path)
    assert row["mCE"] == "95.00 (1 of 15)"  # both join the clean run: the one with an mCE
    R.write(_run("all", top1=40.0, mce=99.0), None, tmp_path)
    (row,) = _rows(tmp_path)
    assert row["mCE"] == "99.00" and row["top-1"] == "40.00"
