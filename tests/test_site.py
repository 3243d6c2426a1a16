"""`bench site`: the static website, checked without a browser (HTML parse) and in headless Chromium.

Oracles are the stored JSON records read with `json` (not through the code under test) and the markdown
pages (the site must print every cell exactly as they do). The browser tests need Debian's `chromium`
(`apt-get install -y chromium`); they are skipped with that reason where /usr/bin/chromium is absent.
"""

from __future__ import annotations

import filecmp
import json
import math
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from cdp import CHROMIUM

from bench.cli import main
from bench.report import leaderboard as LB
from bench.report.site import pages as P

GOLDEN = Path(__file__).parent / "golden" / "results"
COMMITTED = Path(__file__).parent.parent / "results"
SCREENSHOTS = os.environ.get("BENCH_SITE_SCREENSHOTS")  # where the browser tests leave a PNG of each page type
HAS_CHROMIUM = Path(CHROMIUM).is_file()
NO_CHROMIUM = f"needs a headless Chromium at {CHROMIUM}: apt-get install -y chromium (or set BENCH_CHROMIUM)"
# CI installs the browser (`make browser` in .ci/run): there a missing one fails these tests instead of skipping them.
needs_chromium = pytest.mark.skipif(not HAS_CHROMIUM and not os.environ.get("CI"), reason=NO_CHROMIUM)

SENSITIVITY = [
    {
        "dataset": "tiny-imagenet",
        "split": "valid",
        "model": "timm:tf_efficientnet_lite0.in1k",
        "n": 10000,
        "top1": 80.32,
        "device": "cpu",
        "date": "2026-11-25",
        "protocol": {"policy": "model", "input_size": [3, 224, 224], "interpolation": "bicubic", "crop_pct": 0.875},
        "variants": [
            {"axis": "interpolation", "variant": "bilinear", "top1": 80.1, "delta_top1": -0.22, "mcnemar_p": 0.03, "note": None},
            {"axis": "crop_pct", "variant": "1.0", "top1": 80.52, "delta_top1": 0.2, "mcnemar_p": 0.2, "note": None},
        ],
    }
]


# ---------------------------------------------------------------------------------------------
# Oracles and the HTML reader


def _records(root: Path) -> list[dict]:
    """The `bench run` records (sensitivity reports and transfer records live in their own folders)."""
    return [
        json.loads(p.read_text(encoding="utf-8"))
        for p in sorted(root.rglob("*.json"))
        if "sensitivity" not in p.parts and "transfer" not in p.parts
    ]


def _transfer_records(root: Path) -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted((root / "transfer").rglob("*.json"))]


# Transfer records added to the committed ones (lite0 on digits): a model with a stored ImageNet run (resnet50.a1,
# 81.7 on imagenet-1k in the golden results), a second dataset and a few-shot result: (model, dataset, probe, shots,
# top-1 mean, sd).
TRANSFER = [
    ("timm:resnet50.a1_in1k", "digits", "logreg", "full", 91.25, 0.0),
    ("timm:resnet50.a1_in1k", "pets", "logreg", "full", 88.5, 0.0),
    ("timm:resnet50.a1_in1k", "pets", "knn", "5", 60.125, 2.5),
]


def _store_transfer(root: Path) -> None:
    """Copies of the committed lite0 logreg record, each with another model, dataset, probe, shots and figure."""
    shutil.copytree(COMMITTED / "transfer", root / "transfer")
    base = json.loads(next((COMMITTED / "transfer" / "digits").glob("*__logreg__full__*.json")).read_text(encoding="utf-8"))
    for i, (model, dataset, probe, shots, mean, sd) in enumerate(TRANSFER):
        d = json.loads(json.dumps(base))
        d.pop("key_hash", None)
        d["key"].update(model=model, dataset=dataset, probe=probe, shots=shots)
        d["headline"] = "top1"
        d["summary"] = {"top1": {"mean": mean, "sd": sd, "min": mean - sd, "median": mean, "max": mean + sd}}
        path = root / "transfer" / dataset / f"{model.replace(':', '-')}__pretrained__{probe}__{shots}__test{i}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(d), encoding="utf-8")


class Page(HTMLParser):
    """What the tests read from a page: its tables (cells with text and attributes), links, sources, ids."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[dict]] = {}
        self.headers: dict[str, list[dict]] = {}
        self.refs: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.ids: set[str] = set()
        self.scripts: dict[str, str] = {}
        self._table: str | None = None
        self._row: dict | None = None
        self._cell: dict | None = None
        self._script: str | None = None
        self._in_head = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        for name in ("href", "src"):
            if name in a:
                self.refs.append((tag, name, a[name] or ""))
        if tag == "table":
            self._table = a.get("id") or f"table{len(self.tables)}"
            self.tables[self._table], self.headers[self._table] = [], []
        elif tag == "thead":
            self._in_head = True
        elif tag == "tbody":
            self._in_head = False
        elif tag == "tr" and self._table:
            self._row = {"attrs": a, "cells": []}
        elif tag in ("td", "th") and self._row is not None:
            self._cell = {"tag": tag, "attrs": a, "text": "", "href": None}
        elif tag == "a" and self._cell is not None:
            self._cell["href"] = a.get("href")
        elif tag == "script" and a.get("type") == "application/json":
            self._script = a["id"]
            self.scripts[self._script] = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row["cells"].append(self._cell)
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table:
            (self.headers if self._in_head else self.tables)[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None
        elif tag == "script":
            self._script = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data
        if self._script is not None:
            self.scripts[self._script] += data

    def column(self, table: str, header: str) -> list[dict]:
        labels = [c["text"].strip() for c in self.headers[table][0]["cells"]]
        i = labels.index(header)
        return [r["cells"][i] for r in self.tables[table]]


def _read(site: Path, name: str) -> Page:
    return Page((site / name).read_text(encoding="utf-8"))


def _md_table(md: str, first_header: str) -> list[list[str]]:
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|") and _md_cells(line)[0] == first_header)
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(_md_cells(line))
    return rows


def _md_cells(line: str) -> list[str]:
    cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip()[1:-1])]
    return [re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", c) for c in cells]


# ---------------------------------------------------------------------------------------------
# Builds


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """The golden results plus a stored sensitivity report."""
    from bench.report import sensitivity

    root = tmp_path_factory.mktemp("site-results") / "results"
    shutil.copytree(GOLDEN, root)
    for report in SENSITIVITY:  # reports are stored under results/ (issue 27)
        sensitivity.save(root, report)
    _store_transfer(root)
    return root


@pytest.fixture(scope="module")
def sites(results, tmp_path_factory) -> tuple[Path, Path]:
    """`bench site` twice from the same results, into two folders."""
    a, b = tmp_path_factory.mktemp("site-a") / "site", tmp_path_factory.mktemp("site-b") / "site"
    assert main(["site", "--results-dir", str(results), "--out", str(a)]) == 0
    assert main(["site", "--results-dir", str(results), "--out", str(b)]) == 0
    return a, b


@pytest.fixture(scope="module")
def site(sites) -> Path:
    return sites[0]


@pytest.fixture(scope="module")
def committed_site(tmp_path_factory) -> Path:
    """The site of the committed results/ (calibration records and corruption figures)."""
    out = tmp_path_factory.mktemp("site-committed") / "site"
    assert main(["site", "--out", str(out), "--results-dir", str(COMMITTED)]) == 0
    return out


# ---------------------------------------------------------------------------------------------
# Without a browser


def test_two_builds_are_byte_identical(sites):
    a, b = sites
    names = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file())
    assert {"index.html", "published.html", "models.html", "imagenet-1k.html", "assets/plotly.min.js"} <= set(names)
    assert {"transfer.html", "transfer-digits.html", "transfer-pets.html"} <= set(names)
    _, mismatch, errors = filecmp.cmpfiles(a, b, names, shallow=False)
    assert mismatch == [] and errors == []


def _by_header(page: Page, table: str) -> list[dict[str, dict]]:
    labels = [c["text"].strip() for c in page.headers[table][0]["cells"]]
    return [dict(zip(labels, r["cells"])) for r in page.tables[table]]


def test_every_stored_result_is_a_row_with_its_stored_values(site, results):
    counts: dict[tuple[str, str], int] = {}
    for rec in _records(results):
        key, acc = rec["key"], rec["accuracy"]
        if key.get("corruptions"):  # a --corruptions run of a stored clean experiment joins that row (its mCE columns)
            continue
        counts[(key["dataset"], key["split"])] = counts.get((key["dataset"], key["split"]), 0) + 1
        rows = _by_header(_read(site, P.dataset_page(key["dataset"], key["split"])), "leaderboard")
        want = acc["restricted"]["top1"]
        match = [
            r
            for r in rows
            if r["model"]["text"].startswith(key["model"])
            and r["top-1"]["text"] == f"{want:.2f}"
            and float(r["top-1"]["attrs"]["data-sort"]) == want
        ]
        assert match, (key["model"], want)
        assert match[0]["n"]["text"] == str(acc["n"])
        assert match[0]["model"]["href"] == P.model_page(key["model"])
        eff = rec.get("efficiency") or {}
        if eff.get("throughput_img_s") is not None:
            assert float(match[0]["img/s"]["attrs"]["data-sort"]) == eff["throughput_img_s"]
    for (dataset, split), n in counts.items():
        assert len(_read(site, P.dataset_page(dataset, split)).tables["leaderboard"]) == n


def test_cells_are_the_markdown_pages_cells(site, results):
    from bench.store import results as R

    df = R.load(results)
    for dataset, split in [("imagenet-1k", "validation"), ("tiny-imagenet", "valid"), ("tiny-imagenet", "train")]:
        md = _md_table(LB.render_dataset_page(df, dataset, split), "rank")
        page = _read(site, P.dataset_page(dataset, split))
        assert [c["text"].strip() for c in page.headers["leaderboard"][0]["cells"]] == LB.measured_headers(
            dataset == "tiny-imagenet" and split == "valid"
        )
        assert [[c["text"] for c in r["cells"]] for r in page.tables["leaderboard"]] == md
        models = _md_table(LB.render_dataset_page(df, dataset, split).split("## Models", 1)[1], "model")
        assert [[c["text"] for c in r["cells"]] for r in page.tables["models"]] == models


def test_transfer_cells_are_the_markdown_transfer_pages_cells(site, results, tmp_path):
    assert main(["leaderboard", "--results-dir", str(results), "--out", str(tmp_path)]) == 0
    for name, md in [
        ("transfer.html", "transfer.md"),
        ("transfer-digits.html", "transfer-digits.md"),
        ("transfer-pets.html", "transfer-pets.md"),
    ]:
        want = _md_table((tmp_path / md).read_text(encoding="utf-8"), "model")
        page = _read(site, name)
        assert [[c["text"] for c in r["cells"]] for r in page.tables["transfer"]] == want, name
        header = next(line for line in (tmp_path / md).read_text(encoding="utf-8").splitlines() if line.startswith("| model"))
        assert [c["text"].strip() for c in page.headers["transfer"][0]["cells"]] == _md_cells(header)
    assert "[transfer.md](transfer.md)" in (tmp_path / "README.md").read_text(encoding="utf-8")


def test_every_transfer_record_appears_with_its_headline_top1(site, results):
    stored = _transfer_records(results)
    assert len(stored) == 2 + len(TRANSFER)
    for rec in stored:
        key, s = rec["key"], rec["summary"]["top1"]
        label = f"{key['probe']} {'full' if key['shots'] == 'full' else key['shots'] + '-shot'}"
        want = f"{s['mean']:.2f}" if key["shots"] == "full" else f"{s['mean']:.2f} ± {s['sd']:.2f}"
        rows = _by_header(_read(site, f"transfer-{key['dataset']}.html"), "transfer")
        row = next(r for r in rows if r["model"]["text"] == key["model"])
        assert row[label]["text"] == want and float(row[label]["attrs"]["data-sort"]) == s["mean"]
        overview = _by_header(_read(site, "transfer.html"), "transfer")
        line = next(
            r
            for r in overview
            if (r["model"]["text"], r["probe"]["text"], r["shots"]["text"]) == (key["model"], key["probe"], key["shots"])
        )
        assert float(line[key["dataset"]]["attrs"]["data-sort"]) == s["mean"]
        model = _read(site, P.model_page(key["model"])) if (site / P.model_page(key["model"])).is_file() else None
        if model is not None:  # the model page lists its transfer results
            mine = _by_header(model, "transfer")
            assert any(r["dataset"]["text"] == key["dataset"] and r["accuracy (%)"]["text"] == want for r in mine)
            assert all(r["dataset"]["href"] == f"transfer-{r['dataset']['text']}.html" for r in mine)
    # the digits page ranks by logreg full: resnet50 (91.25) below lite0 (94.43)
    assert [r["model"]["text"] for r in _by_header(_read(site, "transfer-digits.html"), "transfer")] == [
        "timm:tf_efficientnet_lite0.in1k",
        "timm:resnet50.a1_in1k",
    ]


def test_kornblith_points_are_the_stored_imagenet_and_transfer_pairs(site, results):
    imagenet = {}
    for rec in _records(results):
        if rec["key"]["dataset"] == "imagenet-1k" and rec["accuracy"]["restricted"]["top1"] is not None:
            imagenet[(rec["key"]["model"], rec["key"]["weights"])] = rec["accuracy"]["restricted"]["top1"]
    want = set()
    for rec in _transfer_records(results):
        k = rec["key"]
        if k["shots"] != "full" or k["probe"] != "logreg":  # every dataset here has logreg full: the plot's choice
            continue
        x = imagenet.get((k["model"], k["weights"]))
        source = "measured"
        if x is None:  # lite0: no ImageNet run stored, the authors' figure (bench list's reference top-1)
            from bench.models import resolve

            x, source = float(resolve(k["model"]).reference["top1"]), "reported"
        want.add((k["dataset"], k["model"], x, rec["summary"]["top1"]["mean"], source))
    spec = json.loads(_read(site, "transfer.html").scripts["fig-kornblith-data"])
    got = {(t["name"].split(" ")[0], c[0], x, y, c[5]) for t in spec["data"] for x, y, c in zip(t["x"], t["y"], t["customdata"])}
    assert got == want and ("digits", "timm:resnet50.a1_in1k", 81.7, 91.25, "measured") in got
    assert all(
        t["marker"]["symbol"] == ["circle" if c[5] == "measured" else "circle-open" for c in t["customdata"]]
        for t in spec["data"]
    )
    pets = json.loads(_read(site, "transfer-pets.html").scripts["fig-kornblith-data"])
    assert [(t["x"], t["y"]) for t in pets["data"]] == [([81.7], [88.5])]


def test_home_links_transfer_only_when_transfer_results_exist(site, tmp_path):
    from bench.report.site import render

    assert "transfer.html" in {r[2] for r in _read(site, "index.html").refs}
    store = tmp_path / "results"
    shutil.copytree(GOLDEN, store)
    pages = P.all_pages(P.Sources.read(store))
    assert not any(p.path.startswith("transfer") for p in pages)
    home = next(p for p in pages if p.path == P.HOME)
    assert all(not href.startswith("transfer") for href, _ in home.context["links"])
    render.write([home], tmp_path / "site")
    assert "transfer" not in (tmp_path / "site" / "index.html").read_text(encoding="utf-8")


def test_home_page_counts_best_top1_and_newest_date(site, results):
    page = _read(site, "index.html")
    rows = {r["cells"][0]["text"]: [c["text"] for c in r["cells"]] for r in page.tables["table0"]}
    recs = [r for r in _records(results) if (r["key"]["dataset"], r["key"]["split"]) == ("imagenet-1k", "validation")]
    row = rows["imagenet-1k (validation)"]
    assert row[3] == str(len({r["key"]["model"] for r in recs}))
    assert row[6] == f"{max(r['accuracy']['restricted']['top1'] for r in recs):.2f}"
    assert row[7] == max(r["run"]["started"][:10] for r in recs)


def test_links_resolve_to_files_and_anchors_in_the_site(site):
    pages = {p.name: _read(site, p.name) for p in site.glob("*.html")}
    assert len(pages) >= 10
    for name, page in pages.items():
        for tag, attr, ref in page.refs:
            parts = urlsplit(ref)
            if parts.scheme in ("http", "https") and tag == "a":
                continue  # a citation a reader may follow: a link, never a resource the page loads
            assert not parts.scheme and not parts.netloc, (name, tag, attr, ref)
            target = unquote(parts.path) or name
            assert (site / target).is_file(), (name, ref)
            assert not (site / target).resolve().relative_to(site.resolve()).as_posix().startswith(".."), ref
            if parts.fragment and target.endswith(".html") and not parts.fragment.startswith("sort="):
                assert parts.fragment in pages[target].ids, (name, ref)


def test_no_page_loads_anything_from_outside_the_site(site):
    for p in site.glob("*.html"):
        text = p.read_text(encoding="utf-8")
        for tag, attr, ref in Page(text).refs:
            if attr == "src" or tag == "link":
                assert not urlsplit(ref).scheme and not ref.startswith("//"), (p.name, ref)
        assert "@import" not in text and "url(http" not in text
    assert "http" not in (site / "assets" / "site.css").read_text(encoding="utf-8")
    assert (site / "assets" / "plotly.LICENSE.txt").read_text(encoding="utf-8").count("MIT") >= 1


def test_tables_are_semantic_and_sortable_without_changing_the_markup(site):
    text = (site / "imagenet-1k.html").read_text(encoding="utf-8")
    page = Page(text)
    heads = page.headers["leaderboard"][0]["cells"]
    assert all(c["tag"] == "th" and c["attrs"].get("scope") == "col" for c in heads)
    assert len({c["attrs"]["data-key"] for c in heads}) == len(heads)  # a linked sort names one column
    assert all(r["cells"][1]["tag"] == "th" and r["cells"][1]["attrs"]["scope"] == "row" for r in page.tables["leaderboard"])
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in text
    numeric = {c["text"].strip() for c in heads if "num" in c["attrs"].get("class", "")}
    assert numeric == LB.MEASURED_RIGHT


def test_filters_offer_the_rows_values(site, results):
    page = _read(site, "imagenet-1k.html")
    libs = sorted({r["attrs"]["data-library"] for r in page.tables["leaderboard"]})
    assert libs == ["timm", "torchvision"]
    for r in page.tables["leaderboard"]:
        model = r["cells"][1]["text"]
        assert r["attrs"]["data-library"] == ("timm" if model.startswith("timm:") else "torchvision")


def test_model_page_lists_every_run_with_provenance(committed_site):
    model = "timm:tf_efficientnet_lite0.in1k"
    recs = [r for r in _records(COMMITTED) if r["key"]["model"] == model]
    assert len(recs) >= 2  # the committed store holds a plain and a --corruptions run of lite0
    page = _read(committed_site, P.model_page(model))
    top1 = {c["text"] for c in page.column("results", "top-1")}
    assert top1 == {f"{r['accuracy']['restricted']['top1']:.2f}" for r in recs}
    text = (committed_site / P.model_page(model)).read_text(encoding="utf-8")
    for r in recs:
        assert r["env"]["git_sha"] in text and f"torch {r['env']['torch']}" in text and f"timm {r['env']['timm']}" in text
        assert r["model"]["weights"]["sha256"] in text and r["run"]["started"] in text
    assert len([i for i in page.ids if i.startswith("run-")]) == len(recs)  # every run's provenance
    published = [[c["text"] for c in row["cells"]] for row in page.tables["published-figures"]]
    # timm's own table, read as a CSV: the figure and its source are on the page
    csv = (Path(__file__).parent.parent / "bench" / "resources" / "timm_results" / "results-imagenet.csv").read_text()
    line = next(x.split(",") for x in csv.splitlines() if x.startswith("tf_efficientnet_lite0.in1k,"))
    assert ["imagenet-1k/validation", f"{float(line[2]):.2f}", f"{float(line[4]):.2f}"] in [row[:3] for row in published]
    assert all(row[4].startswith("timm") for row in published)


def test_published_page_has_every_reported_figure_and_the_sota_chart(site):
    from bench.report import published as pub

    rows = pub.published()
    page = _read(site, "published.html")
    assert len(page.tables["published"]) == len(rows)
    spec = json.loads(page.scripts["fig-sota-data"])
    points = sum(len(t["x"]) for t in spec["data"] if t["mode"] == "markers")
    assert points == sum(1 for r in rows if r.year is not None and r.top1 is not None)
    extra = next(t for t in spec["data"] if t["name"] == "extra training data")
    assert extra["customdata"] and all(c[1] != "none" for c in extra["customdata"])


def test_sensitivity_report_in_results_gets_a_figure(site):
    page = _read(site, "tiny-imagenet.html")
    spec = json.loads(page.scripts["fig-sensitivity-data"])
    assert spec["data"][0]["x"] == [-0.22, 0.2]


def test_committed_results_give_reliability_and_robustness_figures(committed_site):
    recs = _records(COMMITTED)
    page = _read(committed_site, "samples.html")
    figures = [json.loads(v) for k, v in sorted(page.scripts.items()) if k.startswith("fig-reliability-")]
    models = {r["key"]["model"] for r in recs if (r["accuracy"] or {}).get("calibration")}
    assert len(figures) >= len(models) > 0
    for fig in figures:
        title = fig["layout"]["title"]["text"]
        bars = fig["data"][0]["y"]
        stored = [
            [b["accuracy"] for b in r["accuracy"]["calibration"]["reliability"] if b["count"]]
            for r in recs
            if title.startswith(r["key"]["model"]) and (r["accuracy"] or {}).get("calibration")
        ]
        assert bars in stored, title  # the bars are a stored record's non-empty bins
    spec = json.loads(page.scripts["fig-robustness-data"])
    mce = sorted(
        r["accuracy"]["corruptions"]["mce"] for r in recs if (r["accuracy"].get("corruptions") or {}).get("mce") is not None
    )
    assert sorted(spec["data"][0]["x"]) == mce


@pytest.mark.slow
def test_a_rebuild_removes_the_pages_of_removed_results_and_nothing_else(results, tmp_path):
    store, out = tmp_path / "results", tmp_path / "site"
    shutil.copytree(results, store)
    (out).mkdir()
    (out / "CNAME").write_text("bench.example.org\n")  # a file of the user's, not of bench site
    assert main(["site", "--results-dir", str(store), "--out", str(out)]) == 0
    gone = P.model_page("timm:resnet50.tv2_in1k")
    assert (out / gone).is_file()
    for f in store.rglob("timm-resnet50.tv2_in1k__*.json"):
        f.unlink()
    assert main(["site", "--results-dir", str(store), "--out", str(out)]) == 0
    assert not (out / gone).exists() and (out / P.model_page("timm:resnet50.a1_in1k")).is_file()
    assert (out / "CNAME").read_text() == "bench.example.org\n"


def test_a_column_without_raw_values_sorts_by_its_numbers():
    rows = LB.Rows(
        ["model", "ECE", "note"],
        {"ECE"},
        [["a", "10.50", "x"], ["b", "—", "y"], ["c", "9.25", "1 image"], ["d", "−1.00", "z"]],
        [[None, None, None]] * 4,
        [{}] * 4,
    )
    t = P.table("t", rows, "caption")
    assert [c["type"] for c in t["columns"]] == ["text", "number", "text"]
    assert [r["cells"][1]["sort"] for r in t["rows"]] == ["10.5", "", "9.25", "-1.0"]
    assert [r["cells"][2]["sort"] for r in t["rows"]] == [None] * 4


def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys, results):
    assert main(["site", "--results-dir", str(tmp_path / "nope"), "--out", str(tmp_path / "s")]) == 2
    (tmp_path / "file").write_text("x")
    assert main(["site", "--results-dir", str(results), "--out", str(tmp_path / "file")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("bench: error:") for line in err)


# ---------------------------------------------------------------------------------------------
# In headless Chromium


@pytest.fixture(scope="module")
def browser():
    if not HAS_CHROMIUM:
        pytest.skip(NO_CHROMIUM)
    from cdp import Browser

    b = Browser()
    yield b
    b.close()


def _open(browser, site: Path, name: str, fragment: str = "") -> None:
    browser.navigate((site / name).as_uri() + (f"#{fragment}" if fragment else ""))


def _leaving(browser, site: Path) -> list[str]:
    inside = site.resolve().as_uri() + "/"
    return [u for u in browser.requests() if not u.startswith((inside, "data:", "blob:", "about:"))]


@needs_chromium
@pytest.mark.slow
def test_every_page_type_loads_without_errors_or_outside_requests(browser, site, tmp_path):
    shots = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path
    kinds = {
        "home": "index.html",
        "dataset": "imagenet-1k.html",
        "model": P.model_page("timm:resnet50.a1_in1k"),
        "models": "models.html",
        "published": "published.html",
        "transfer": "transfer.html",
    }
    for kind, name in kinds.items():
        _open(browser, site, name)
        if kind in ("dataset", "published", "transfer"):
            assert browser.evaluate("document.querySelectorAll('.plot .main-svg').length") > 0, name  # Plotly drew
        browser.drain(0.2)
        assert browser.errors() == [], name
        assert _leaving(browser, site) == [], name
        assert any(u.endswith("/assets/site.js") for u in browser.requests()), name
        png = browser.screenshot(shots / f"site-{kind}.png")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    browser.resize(390, 844, mobile=True)  # a phone: the page must not be wider than the screen (tables scroll inside)
    try:
        _open(browser, site, "imagenet-1k.html")
        assert browser.evaluate("document.documentElement.scrollWidth") <= 390 + 1
        browser.screenshot(shots / "site-dataset-phone.png")
    finally:
        browser.resize(1280, 900)


def _rows(browser) -> list[dict]:
    return browser.evaluate(
        """Array.from(document.querySelectorAll('#leaderboard tbody tr')).filter(r => !r.hidden).map(r => ({
            model: r.cells[1].textContent.trim(), top1: r.cells[2].getAttribute('data-sort'),
            library: r.getAttribute('data-library')}))"""
    )


@needs_chromium
@pytest.mark.slow
def test_sorting_by_top1_orders_rows_by_the_stored_values_and_the_address_keeps_it(browser, site, results):
    recs = [r for r in _records(results) if (r["key"]["dataset"], r["key"]["split"]) == ("imagenet-1k", "validation")]
    stored = sorted(r["accuracy"]["restricted"]["top1"] for r in recs)
    _open(browser, site, "imagenet-1k.html")
    browser.evaluate("document.querySelector('th[data-key=\"top-1\"] button').click()")  # numbers: highest first
    assert [float(r["top1"]) for r in _rows(browser)] == stored[::-1]
    assert "sort=top-1" in browser.evaluate("location.hash") and "dir=desc" in browser.evaluate("location.hash")
    browser.evaluate("document.querySelector('th[data-key=\"top-1\"] button').click()")
    assert [float(r["top1"]) for r in _rows(browser)] == stored
    assert browser.evaluate("document.querySelector('th[data-key=\"top-1\"]').getAttribute('aria-sort')") == "ascending"
    _open(browser, site, "imagenet-1k.html", "sort=top-1&dir=desc")  # a linked view opens as it was
    assert [float(r["top1"]) for r in _rows(browser)] == stored[::-1]
    # keyboard: the sort control is a button reached by Tab and pressed with Enter
    assert browser.evaluate("document.querySelector('th[data-key=\"n\"] button').tagName") == "BUTTON"


@needs_chromium
@pytest.mark.slow
def test_a_filter_leaves_exactly_the_matching_rows_and_survives_a_reload(browser, site, results):
    recs = [r for r in _records(results) if (r["key"]["dataset"], r["key"]["split"]) == ("imagenet-1k", "validation")]
    _open(browser, site, "imagenet-1k.html")
    browser.evaluate(
        "(() => { const q = document.querySelector('input[name=q]'); q.value = 'resnet50';"
        " q.dispatchEvent(new Event('input', {bubbles: true})); })()"
    )
    want = sorted(r["key"]["model"] for r in recs if "resnet50" in r["key"]["model"])
    assert sorted(r["model"].split(" ")[0] for r in _rows(browser)) == want
    browser.evaluate(
        "(() => { const s = document.querySelector('select[name=library]'); s.value = 'torchvision';"
        " s.dispatchEvent(new Event('change', {bubbles: true})); })()"
    )
    want = sorted(m for m in want if m.startswith("tv:"))
    assert sorted(r["model"].split(" ")[0] for r in _rows(browser)) == want
    fragment = browser.evaluate("location.hash").lstrip("#")
    assert "q=resnet50" in fragment and "library=torchvision" in fragment
    _open(browser, site, "imagenet-1k.html", fragment)
    assert sorted(r["model"].split(" ")[0] for r in _rows(browser)) == want
    assert browser.evaluate("document.querySelector('select[name=library]').value") == "torchvision"
    assert browser.evaluate("document.querySelector('form.filters output').textContent") == f"{len(want)} of {len(recs)} rows"


@needs_chromium
@pytest.mark.slow
def test_model_page_figures_equal_the_json_records(browser, site, results):
    model = "timm:resnet50.a1_in1k"
    recs = [r for r in _records(results) if r["key"]["model"] == model]
    _open(browser, site, P.model_page(model))
    got = browser.evaluate(
        """(() => { const t = document.getElementById('results');
        const h = Array.from(t.tHead.rows[0].cells).map(c => c.textContent.trim());
        return Array.from(t.tBodies[0].rows).map(r => Object.fromEntries(h.map((k, i) => [k, r.cells[i].textContent.trim()]))); })()"""
    )
    assert len(got) == len(recs)
    for rec, row in zip(sorted(recs, key=lambda r: -r["accuracy"]["restricted"]["top1"]), got):
        acc, eff = rec["accuracy"], rec["efficiency"]
        assert row["top-1"] == f"{acc['restricted']['top1']:.2f}"
        assert row["top-5"] == f"{acc['restricted']['top5']:.2f}"
        assert row["n"] == str(acc["n"])
        assert row["GMACs"] == f"{eff['gmacs']:.3f}"
        assert row["img/s"].startswith(f"{eff['throughput_img_s']:.1f} (")
        assert row["dataset/split"] == f"{rec['key']['dataset']}/{rec['key']['split']}"
    text = browser.evaluate("document.body.textContent")
    assert all(r["run"]["started"] in text for r in recs)


def _front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Brute force: points that no other point beats on both img/s and top-1."""
    return sorted(p for p in points if not any(q[0] >= p[0] and q[1] >= p[1] and q != p for q in points))


@needs_chromium
@pytest.mark.slow
def test_pareto_points_equal_the_stored_throughput_and_top1_pairs(browser, site, results):
    recs = [
        r
        for r in _records(results)
        if (r["key"]["dataset"], r["key"]["split"]) == ("imagenet-1k", "validation")
        and r["key"]["weights"] != "random"
        and (r.get("efficiency") or {}).get("throughput_img_s") is not None
    ]
    stored = sorted((r["efficiency"]["throughput_img_s"], r["accuracy"]["restricted"]["top1"]) for r in recs)
    _open(browser, site, "imagenet-1k.html")
    traces = browser.evaluate(
        "document.getElementById('fig-throughput').data.map(t => ({name: t.name, mode: t.mode, x: Array.from(t.x),"
        " y: Array.from(t.y), custom: t.customdata || null}))"
    )
    shown = sorted((x, y) for t in traces if t["mode"] == "markers" for x, y in zip(t["x"], t["y"]))
    assert shown == stored
    front = sorted((x, y) for t in traces if t["name"].startswith("Pareto front") for x, y in zip(t["x"], t["y"]))
    assert front == _front(stored)  # one device group here
    hover = [c for t in traces if t["mode"] == "markers" for c in t["custom"]]
    assert sorted(c[0].split(" ")[0] for c in hover) == sorted(r["key"]["model"] for r in recs)  # hover: model, weights, run
    assert all(c[1] == "pretrained" and re.fullmatch(r"[0-9a-f]{12}", c[2]) for c in hover)
    assert not any(math.isnan(x) for x, _ in shown)
