"""What each page of the site shows: one function per page type, from the results store and the reference tables.

A page type is a function `Sources -> list[Page]` listed in PAGE_TYPES; the renderer knows nothing about
what a page holds. To add a page type (transfer results, say), write its function and template, append it
to PAGE_TYPES and, for a link from the home page, return a NavLink from it.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...models import ModelId, reference, reported
from .. import leaderboard as LB
from .. import published as pub
from .. import tables as F
from . import charts

HOME = "index.html"
PUBLISHED = "published.html"
MODELS = "models.html"
TRANSFER = "transfer.html"
LIBRARIES = {"timm": "timm", "tv": "torchvision"}


@dataclass(frozen=True)
class Page:
    path: str  # relative to the site's root; every page sits at the root so links need no prefix
    template: str
    title: str
    context: dict[str, Any]
    nav: str | None = None  # the label of the home page's link to it, None when it is linked from another page


@dataclass
class Sources:
    """Everything a page may show, read once: the results store (frame + records) and the stored reports."""

    results_dir: Path
    df: Any  # bench.store.results.load()
    records: list[Any]  # bench.store.schema.Record, every stored result
    sensitivity: list[dict[str, Any]] = field(default_factory=list)
    transfer: list[Any] = field(default_factory=list)  # bench.store.transfer.TransferRecord, the shown ones

    @classmethod
    def read(cls, results_dir: str | Path) -> Sources:
        from ...store import results
        from ...store import transfer as transfer_store
        from .. import sensitivity
        from .. import transfer as T

        return cls(
            Path(results_dir),
            results.load(results_dir),
            results.read_all(results_dir),
            sensitivity.load(results_dir),
            T.shown(transfer_store.read_all(results_dir)),
        )

    @functools.cached_property
    def imagenet(self) -> dict[tuple[str, str], float]:
        """(model, weights) -> measured ImageNet-1k top-1, the x of the transfer pages (bench.report.transfer)."""
        from .. import transfer as T

        return T.imagenet_top1_of(self.records)

    @functools.cached_property
    def with_pages(self) -> set[str]:
        """The model ids that have a model page (those with `bench run` results)."""
        return set() if self.df.empty else {str(m) for m in self.df["model"]}

    @functools.cached_property
    def measured(self):
        """The leaderboard rows (bench.report.leaderboard.measured_table) of every shown result."""
        return LB.measured_table(self.df)

    @functools.cached_property
    def every_run(self):
        """The same rows for every stored result, shown on a leaderboard or not (the model pages list them all)."""
        return LB.measured_table(self.df.assign(shown=True))


# ---------------------------------------------------------------------------------------------
# Names and cells


def dataset_page(dataset: str, split: str) -> str:
    return f"{LB.page_name(dataset, split)}.html"


def model_page(model_id: str) -> str:
    """`timm:resnet50.a1_in1k` -> `model-timm-resnet50.a1_in1k.html` (one page per weights tag)."""
    return "model-" + re.sub(r"[^A-Za-z0-9_.+-]", "-", str(model_id).replace(":", "-")) + ".html"


def transfer_page(dataset: str) -> str:
    """The site's page of bench.report.transfer's `transfer-<dataset>.md` (same name, .html)."""
    from .. import transfer as T

    return T.page_name(dataset)[: -len(".md")] + ".html"


def library(model_id: str) -> str:
    prefix = ModelId.parse(str(model_id)).prefix or "other"
    return LIBRARIES.get(prefix, prefix)


def extra_data(model_id: str) -> str:
    value = reference.model_paper(str(model_id))["extra_data"]
    return "none" if F.missing(value) or not value else str(value)


def _sort_type(values: Sequence[Any]) -> str:
    present = [v for v in values if v is not None]
    return "number" if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present) else "text"


def table(
    table_id: str,
    rows: LB.Rows,
    caption: str,
    links: Mapping[str, Sequence[str | None]] | None = None,
    attrs: Sequence[dict[str, str]] = (),
    filters: Sequence[dict[str, Any]] = (),
    static: bool = False,
) -> dict[str, Any]:
    """A sortable table's context: `links` maps a header to one href per row; `attrs` gives each row the values
    the filters match (data-* attributes); `filters` are the select boxes [{name, label, options}]."""
    links = links or {}
    rows = _numbers_from_text(rows)
    columns: list[dict[str, Any]] = []
    for i, h in enumerate(rows.headers):
        sortable = h in _sort_headers(rows)
        key = re.sub(r"[^a-z0-9]+", "-", h.lower().replace("δ", "delta ")).strip("-") or f"c{i}"
        columns.append(
            {
                "label": h,
                "key": key if key not in {c["key"] for c in columns} else f"{key}-{i}",
                "right": h in rows.right,
                "type": _sort_type([v[i] for v in rows.sort_values]) if sortable else "text",
                "raw": sortable,
            }
        )
    body = []
    for r, (cells, values) in enumerate(zip(rows.cells, rows.sort_values)):
        body.append(
            {
                "cells": [
                    {
                        "text": c,
                        "sort": None if not columns[i]["raw"] else ("" if v is None else _sort_text(v)),
                        "href": links[h][r] if h in links else None,
                        "th": columns[i]["key"] == "model",  # the row's header cell
                        "right": columns[i]["right"],
                    }
                    for i, (h, c, v) in enumerate(zip(rows.headers, cells, values))
                ],
                "attrs": dict(sorted(attrs[r].items())) if attrs else {},
            }
        )
    return {"id": table_id, "caption": caption, "columns": columns, "rows": body, "filters": list(filters), "static": static}


_NUMBER = re.compile(r"[+−-]?\d+(\.\d+)?")


def _numbers_from_text(rows: LB.Rows) -> LB.Rows:
    """A column without raw values whose cells are all plain numbers (or a dash) sorts by those numbers, so a
    column added to the markdown table sorts right before anyone lists its raw value."""
    values = [list(v) for v in rows.sort_values]
    for i in range(len(rows.headers)):
        if any(v[i] is not None for v in values):
            continue
        cells = [c[i] for c in rows.cells]
        present = [c for c in cells if c != F.DASH]
        if present and all(_NUMBER.fullmatch(c) for c in present):
            for v, c in zip(values, cells):
                v[i] = None if c == F.DASH else float(c.replace("−", "-"))
    return LB.Rows(rows.headers, rows.right, rows.cells, values, rows.records)


def _sort_headers(rows: LB.Rows) -> set[str]:
    return {h for i, h in enumerate(rows.headers) if any(v[i] is not None for v in rows.sort_values)}


def _sort_text(value: Any) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


def _options(values: Sequence[str]) -> list[str]:
    return sorted(set(values))


def figure(fig_id: str, spec: dict[str, Any], caption: str) -> dict[str, Any]:
    """A chart's context: its Plotly spec as JSON with sorted keys (the bytes must not depend on dict order)."""
    text = json.dumps(spec, sort_keys=True, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return {"id": fig_id, "json": text.replace("</", "<\\/"), "caption": caption}


# ---------------------------------------------------------------------------------------------
# Page types


def _pages(df) -> list[tuple[str, str]]:
    return LB._pages(df)


def dataset_pages(src: Sources) -> list[Page]:
    """One page per dataset/split: the leaderboard table, its filters and the plots of what it holds."""
    from .. import calibration, robustness

    table_all = src.measured
    out = []
    for dataset, split in _pages(src.df):
        t = table_all[(table_all["dataset"] == dataset) & (table_all["split"] == split)]
        rows = LB.measured_rows(t)
        recs = rows.records
        devices = [LB._device(r["img_s_device"]) or F.DASH for r in recs]
        attrs = [
            {"extra": extra_data(r["model_id"]), "device": d, "library": library(r["model_id"])} for r, d in zip(recs, devices)
        ]
        filters = [
            {"name": "extra", "label": "extra training data", "options": _options([a["extra"] for a in attrs])},
            {"name": "device", "label": "device", "options": _options(devices)},
            {"name": "library", "label": "source library", "options": _options([a["library"] for a in attrs])},
        ]
        links = {"model": [model_page(r["model_id"]) for r in recs]}
        figures = []
        timed = [r for r in recs if not F.missing(r["img_s"]) and not F.missing(r["top1"]) and r["weights"] != "random"]
        if timed:
            pts = [_measured(r, r["img_s"]) for r in timed]
            figures.append(
                figure(
                    "fig-throughput",
                    charts.accuracy_vs(pts, f"{dataset} ({split}): top-1 vs throughput", "img/s", maximise_x=True),
                    "Top-1 against forward throughput (log x), one colour per device, precision and batch; the dashed "
                    "line joins each group's Pareto front. Random weights are left out.",
                )
            )
        costed = [r for r in recs if not F.missing(r["gmacs"]) and not F.missing(r["top1"]) and r["weights"] != "random"]
        if costed:
            pts = [_measured(r, r["gmacs"], group="GMACs at batch 1") for r in costed]
            figures.append(
                figure(
                    "fig-gmacs",
                    charts.accuracy_vs(pts, f"{dataset} ({split}): top-1 vs GMACs", "GMACs", maximise_x=False),
                    "Top-1 against multiply-accumulates per image (log x); the dashed line is the Pareto front "
                    "(fewer GMACs, higher top-1).",
                )
            )
        reliability = [
            figure(
                f"fig-reliability-{i}",
                charts.reliability(c.summary["reliability"], f"{c.label}: ECE {F.num(c.summary['ece'], 2)} %, n = {c.n}"),
                f"Reliability of {c.label} (restricted top-1, 15 equal-width bins).",
            )
            for i, c in enumerate(calibration.rows(t))
        ]
        found = [
            e
            for e in robustness.entries([r.to_json() for r in src.records])
            if (e.dataset, e.split) == (dataset, split) and e.top1 is not None and e.record.get("mce") is not None
        ]
        if found:
            figures.append(
                figure(
                    "fig-robustness",
                    charts.robustness(
                        [(e.label, float(e.top1), float(e.record["mce"]), F.num(e.record["mce"], 2)) for e in found],  # type: ignore[arg-type]
                        f"{dataset} ({split}): clean top-1 vs mCE",
                    ),
                    "ImageNet-C: clean top-1 against mCE (100 = AlexNet; lower is more robust).",
                )
            )
        reports = [r for r in src.sensitivity if (str(r.get("dataset")), str(r.get("split"))) == (dataset, split)]
        if reports:
            figures.append(
                figure(
                    "fig-sensitivity",
                    charts.sensitivity(reports, f"{dataset} ({split}): preprocessing sensitivity"),
                    "Δ top-1 of each preprocessing variant against the model's own protocol (same images).",
                )
            )
        hidden = [(r["model"], r["run"], others) for r in recs if isinstance(others := r["shown_instead_of"], list) and others]
        protocols = sorted({p for p in t["protocol_hash"] if not F.missing(p)})
        name = LB.page_name(dataset, split)
        out.append(
            Page(
                dataset_page(dataset, split),
                "dataset.html",
                f"Leaderboard: {dataset} ({split})",
                {
                    "dataset": dataset,
                    "split": split,
                    "count": len(recs),
                    "mixed_protocols": len(protocols),
                    "table": table(
                        "leaderboard",
                        rows,
                        f"{len(recs)} result(s) on {dataset}/{split}, ranked by restricted top-1",
                        links,
                        attrs,
                        filters,
                    ),
                    "hidden": hidden,
                    "figures": figures,
                    "charts": bool(figures or reliability),
                    "reliability": reliability,
                    "models": _models_table(t),
                    "notes": LB.COLUMN_NOTES,
                    "markdown": f"{name}.md",
                },
                nav=None,
            )
        )
    return out


MODELS_HEADERS = ["model", "paper", "year", "extra training data", "code"]


def _models_table(t) -> dict[str, Any]:
    """The markdown page's `## Models` table (paper, year, extra data, code of each model id), same cells."""
    cells = LB._models_rows(t)
    rows = LB.Rows(MODELS_HEADERS, {"year"}, cells, [[None] * len(MODELS_HEADERS) for _ in cells], [{} for _ in cells])
    return table(
        "models",
        rows,
        "Paper, year, extra training data and code of each model",
        {"model": [model_page(c[0]) for c in cells]},
        static=True,
    )


def _measured(r: dict[str, Any], x: float, group: str | None = None) -> charts.Measured:
    return charts.Measured(
        str(r["model"]),
        str(r["weights"]),
        str(r["run"]),
        float(x),
        float(r["top1"]),
        group or LB._timed_on(r) or "unknown device",
        model_page(r["model_id"]),
    )


def home_page(src: Sources, links: Sequence[tuple[str, str]]) -> Page:
    """Every dataset/split: models, best measured top-1, the newest result; links to the other page types."""
    t_all = src.measured
    rows = []
    for dataset, split in _pages(src.df):
        t = t_all[(t_all["dataset"] == dataset) & (t_all["split"] == split)]
        best = t.iloc[0] if len(t) and not F.missing(t.iloc[0]["rank"]) else None
        dates = sorted(str(d) for d in t["date"] if not F.missing(d))
        rows.append(
            {
                "href": dataset_page(dataset, split),
                "dataset": dataset,
                "split": split,
                "models": str(t["model_id"].nunique()),
                "results": str(len(t)),
                "best_model": F.text(best["model"]) if best is not None else F.DASH,
                "best_href": model_page(best["model_id"]) if best is not None else None,
                "best_top1": F.num(best["top1"] if best is not None else None, 2),
                "newest": dates[-1] if dates else F.DASH,
            }
        )
    return Page(HOME, "home.html", "ImageNet leaderboards", {"datasets": rows, "links": list(links)})


def model_pages(src: Sources) -> list[Page]:
    """One page per model id (weights tag): every stored result, its provenance, the published figures."""
    out: list[Page] = []
    df = src.df
    if df.empty:
        return out
    by_path = {str(r.path): r for r in src.records}
    for model_id in sorted({str(m) for m in df["model"]}):
        mine = df[df["model"] == model_id]
        t = src.every_run[src.every_run["model_id"] == model_id]
        t = t.sort_values(["dataset", "split", "top1", "run"], ascending=[True, True, False, True], kind="mergesort")
        rows = LB.measured_rows(t.reset_index(drop=True))
        keep = [i for i, h in enumerate(rows.headers) if h != "rank"]
        shown = dict(zip(mine["path"], mine["shown"]))
        datasets = [f"{r['dataset']}/{r['split']}" for r in rows.records]
        merged = LB.Rows(
            ["dataset/split", *[rows.headers[i] for i in keep], "on the leaderboard"],
            rows.right,
            [
                [d, *[c[i] for i in keep], "shown" if shown.get(r["path"]) else "another run is shown"]
                for d, c, r in zip(datasets, rows.cells, rows.records)
            ],
            [[d, *[v[i] for i in keep], None] for d, v in zip(datasets, rows.sort_values)],
            rows.records,
        )
        links = {
            "dataset/split": [dataset_page(r["dataset"], r["split"]) for r in rows.records],
            "model": [f"#run-{r['run']}" for r in rows.records],
        }
        provenance = [_provenance(by_path[str(r["path"])]) for r in rows.records if str(r["path"]) in by_path]
        info = reference.model_paper(model_id)
        pairs = sorted({reference.IMAGENET, *[(str(d), str(s)) for d, s in zip(mine["dataset"], mine["split"])]})
        published = []
        for dataset, split in pairs:
            for fig in _figures(model_id, dataset, split):
                published.append(
                    {
                        "dataset": f"{fig.dataset}/{fig.split}",
                        "top1": F.num(fig.top1, 2),
                        "top5": F.num(fig.top5, 2),
                        "protocol": fig.protocol,
                        "source": fig.source or F.DASH,
                    }
                )
        out.append(
            Page(
                model_page(model_id),
                "model.html",
                model_id,
                {
                    "model_id": model_id,
                    "library": library(model_id),
                    "paper": F.text(info["paper"]),
                    "year": F.integer(info["year"]),
                    "extra_data": extra_data(model_id),
                    "code": reference.code_url(model_id),
                    "table": table("results", merged, f"Every stored result of {model_id}", links),
                    "provenance": provenance,
                    "published": published,
                    "transfer": _model_transfer(src, model_id),
                },
            )
        )
    return out


TRANSFER_HEADERS = ["dataset", "weights", "probe", "shots", "metric", "accuracy (%)", "test images"]


def _model_transfer(src: Sources, model_id: str) -> dict[str, Any] | None:
    """The model's shown transfer results (`bench transfer`), each cell as the transfer pages print it."""
    from .. import transfer as T

    mine = [r for r in src.transfer if r.key.model == model_id]
    if not mine:
        return None
    cells = [
        [r.key.dataset, r.key.weights, r.key.probe, r.key.shots, r.headline, T._cell(r), F.integer(r.n.get("test"))] for r in mine
    ]
    values = [[None, None, None, None, None, T.headline(r), r.n.get("test")] for r in mine]
    rows = LB.Rows(TRANSFER_HEADERS, {"accuracy (%)", "test images"}, cells, values, [{} for _ in mine])
    links = {"dataset": [transfer_page(r.key.dataset) for r in mine]}
    return table("transfer", rows, f"Transfer results of {model_id} (bench transfer)", links)


def _figures(model_id: str, dataset: str, split: str) -> list[reference.Figure]:
    from ...errors import BenchError

    try:
        return reported.figures_for(model_id, dataset, split)
    except (BenchError, KeyError, ValueError):  # a model id the installed libraries no longer know has no figure
        return []


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, indent=1, ensure_ascii=False, default=str)


def _provenance(record: Any) -> dict[str, Any]:
    """How one result was produced: what a reader needs to trust or reproduce its numbers."""
    data = record.to_json()
    env = data.get("env") or {}
    run = data.get("run") or {}
    model = data.get("model") or {}
    return {
        "run": record.key.hash,
        "dataset": f"{data['key']['dataset']}/{data['key']['split']}",
        "file": Path(str(record.path)).name if record.path else F.DASH,
        "started": run.get("started") or F.DASH,
        "device": run.get("device") or F.DASH,
        "cpu": env.get("cpu") or F.DASH,
        "gpu": env.get("gpu_name") or F.DASH,
        "git_sha": env.get("git_sha") or F.DASH,
        "versions": [(k, str(env[k])) for k in sorted(env) if k not in ("cpu", "gpu_name", "git_sha", "platform")],
        "weights": _json(model.get("weights")),
        "transform": _json(data.get("transform")),
        "key": _json(data.get("key")),
    }


def published_page(src: Sources) -> list[Page]:
    """Papers, ILSVRC winners and every reported figure of the timm and torchvision zoo, with the SOTA chart."""
    rows = pub.published()
    table_rows = LB.published_rows(rows)
    attrs = [{"extra": "extra data" if r["extra_data"] not in (None, "none") else "ImageNet-1k only"} for r in table_rows.records]
    filters = [{"name": "extra", "label": "training data", "options": _options([a["extra"] for a in attrs])}]
    points = [
        charts.Published(r.model, int(r.year), float(r.top1), r.extra_data not in (None, "none"), str(r.extra_data or "none"))
        for r in rows
        if r.year is not None and r.top1 is not None
    ]
    pin = reference.timm_pin()
    winners = [
        [F.text(w.get(k)) for k in ("year", "team", "model", "top5_error_test", "extra_data", "outside_data_entry", "source")]
        for w in sorted(reference.ilsvrc_winners(), key=lambda w: w.get("year") or "")
    ]
    return [
        Page(
            PUBLISHED,
            "published.html",
            "Published ImageNet-1k results",
            {
                "torchvision": pub.torchvision_version(),
                "pin": pin,
                "table": table(
                    "published", table_rows, f"{len(rows)} published figures, ranked by reported top-1", None, attrs, filters
                ),
                "sota": figure(
                    "fig-sota",
                    charts.sota(points, "ImageNet-1k: reported top-1 by year"),
                    "Every reported top-1 with a year; diamonds used extra training data. The steps are the best figure so "
                    "far of each kind.",
                ),
                "winners": winners,
                "charts": True,
                "ilsvrc_rule": reference.ILSVRC_RULE,
            },
            nav="Published results (papers, ILSVRC winners, the timm and torchvision zoo)",
        )
    ]


def models_index(src: Sources) -> list[Page]:
    """Every model with a page, with the datasets it has results on."""
    if src.df.empty:
        return []
    models = []
    for model_id in sorted({str(m) for m in src.df["model"]}):
        mine = src.df[src.df["model"] == model_id]
        pairs = sorted({(str(d), str(s)) for d, s in zip(mine["dataset"], mine["split"])})
        models.append(
            {
                "href": model_page(model_id),
                "model_id": model_id,
                "library": library(model_id),
                "datasets": [(f"{d}/{s}", dataset_page(d, s)) for d, s in pairs],
            }
        )
    return [Page(MODELS, "models.html", "Models", {"models": models}, nav="Every model (one page per weights tag)")]


def transfer_pages(src: Sources) -> list[Page]:
    """`bench transfer` results: an overview (means across datasets, the Kornblith plot) and one page per
    dataset, with bench.report.transfer's rows (the markdown pages' cells); nothing without transfer results."""
    from .. import transfer as T

    records = src.transfer
    if not records:
        return []
    model_links = {m: model_page(m) for m in sorted(src.with_pages)}

    def link(model_id: str) -> str | None:
        return model_links.get(model_id)

    def kornblith(points: list[T.Point], fig_id: str, title: str) -> list[dict[str, Any]]:
        if not points:
            return []
        return [
            figure(
                fig_id,
                charts.kornblith(points, model_links, title),
                "Transfer accuracy (logistic regression on full data, else k-NN) against ImageNet-1k top-1: measured by "
                "`bench run`, hollow where only the authors' figure is known (Kornblith et al., 2019).",
            )
        ]

    datasets = sorted({r.key.dataset for r in records})
    rows = T.index_rows(records)
    attrs = [{"probe": r["probe"], "shots": r["shots"], "library": library(r["model"])} for r in rows.records]
    filters = [
        {"name": "probe", "label": "probe", "options": _options([a["probe"] for a in attrs])},
        {"name": "shots", "label": "shots", "options": _options([a["shots"] for a in attrs])},
        {"name": "library", "label": "source library", "options": _options([a["library"] for a in attrs])},
    ]
    points = T.kornblith_points(records, src.imagenet)
    overview = Page(
        TRANSFER,
        "transfer.html",
        "Transfer",
        {
            "datasets": [(d, transfer_page(d), sum(r.key.dataset == d for r in records)) for d in datasets],
            "table": table(
                "transfer",
                rows,
                f"{len(rows.cells)} model × probe × shots row(s) over {len(datasets)} dataset(s)",
                {"model": [link(r["model"]) for r in rows.records]},
                attrs,
                filters,
            ),
            "figures": kornblith(points, "fig-kornblith", "Transfer accuracy vs ImageNet top-1"),
            "charts": bool(points),
            "markdown": T.INDEX,
        },
        nav="Transfer to other datasets (k-NN and logistic-regression probes)",
    )
    out = [overview]
    for d in datasets:
        mine = [r for r in records if r.key.dataset == d]
        rows = T.dataset_rows(mine, src.imagenet)
        attrs = [{"extra": extra_data(r["model"]), "library": library(r["model"])} for r in rows.records]
        filters = [
            {"name": "extra", "label": "extra training data", "options": _options([a["extra"] for a in attrs])},
            {"name": "library", "label": "source library", "options": _options([a["library"] for a in attrs])},
        ]
        mine_points = [p for p in points if p.dataset == d]
        out.append(
            Page(
                transfer_page(d),
                "transfer_dataset.html",
                f"Transfer: {d}",
                {
                    "dataset": d,
                    "note": T.dataset_note(d, mine),
                    "command": T.command(d),
                    "table": table(
                        "transfer",
                        rows,
                        f"{len(rows.cells)} model(s) on {d}",
                        {"model": [link(r["model"]) for r in rows.records]},
                        attrs,
                        filters,
                    ),
                    "figures": kornblith(mine_points, "fig-kornblith", f"{d}: transfer accuracy vs ImageNet top-1"),
                    "charts": bool(mine_points),
                    "markdown": T.page_name(d),
                },
            )
        )
    return out


# Every page type but the home page, in the order of the home page's links.
PAGE_TYPES: list[Callable[[Sources], list[Page]]] = [dataset_pages, model_pages, models_index, published_page, transfer_pages]


def all_pages(src: Sources) -> list[Page]:
    pages = [p for build in PAGE_TYPES for p in build(src)]
    links = [(p.path, p.nav) for p in pages if p.nav]
    return [home_page(src, links), *pages]
