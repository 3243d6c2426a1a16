"""Plotly figure specs (plain dicts: data + layout) for the site's interactive plots.

The Python side only builds JSON; the vendored plotly.min.js draws it in the browser. Hover texts carry the
cells as the tables format them, so a figure never shows a number the table would print differently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .. import tables as F
from ..plots import pareto_front

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


@dataclass(frozen=True)
class Measured:
    """One leaderboard row on an accuracy/cost plane: `x` is img/s or GMACs, `group` the device it was timed on."""

    model: str
    weights: str
    run: str
    x: float
    top1: float
    group: str
    page: str  # the model page the point links to


def _layout(title: str, x: str, y: str, log_x: bool = False) -> dict[str, Any]:
    return {
        "title": {"text": title},
        "xaxis": {"title": {"text": x}, "type": "log" if log_x else "linear"},
        "yaxis": {"title": {"text": y}},
        "hovermode": "closest",
        "legend": {"orientation": "h", "y": -0.25},
        "margin": {"l": 60, "r": 20, "t": 50, "b": 40},
    }


def accuracy_vs(points: Sequence[Measured], title: str, x_label: str, maximise_x: bool) -> dict[str, Any]:
    """Top-1 against a cost (log x), one colour per device group, each group's Pareto front joined.

    Throughput is maximised, GMACs minimised: a point is on the front when no other of its group is at
    least as good on both axes and better on one (bench.report.plots.pareto_front)."""
    data: list[dict[str, Any]] = []
    for i, group in enumerate(sorted({p.group for p in points})):
        members = sorted((p for p in points if p.group == group), key=lambda p: (p.x, p.top1, p.model, p.run))
        color = PALETTE[i % len(PALETTE)]
        hover = "%{customdata[0]}<br>weights %{customdata[1]}, run %{customdata[2]}<br>" + x_label + " %{x}<br>top-1 %{y}"
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": group,
                "x": [p.x for p in members],
                "y": [p.top1 for p in members],
                "customdata": [[p.model, p.weights, p.run, p.page] for p in members],
                "hovertemplate": hover + "<extra>" + group + "</extra>",
                "marker": {"color": color, "size": 9},
            }
        )
        front = pareto_front([(p.x if maximise_x else -p.x, p.top1) for p in members])
        if front:
            on = sorted((members[k] for k in front), key=lambda p: p.x)
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines+markers",  # markers too: a front of one point is still seen
                    "name": f"Pareto front ({group})",
                    "x": [p.x for p in on],
                    "y": [p.top1 for p in on],
                    "hoverinfo": "skip",
                    "line": {"color": color, "dash": "dash"},
                    "marker": {"color": color, "size": 15, "symbol": "circle-open"},
                }
            )
    return {"data": data, "layout": _layout(title, x_label + " (log scale)", "top-1 (%)", log_x=True)}


def reliability(bins: Sequence[dict[str, Any]], title: str) -> dict[str, Any]:
    """Accuracy per confidence bin (bars) against the diagonal of perfect calibration; empty bins are left out."""
    full = [b for b in bins if b.get("count")]
    centres = [(b["lower"] + b["upper"]) / 2 for b in full]
    return {
        "data": [
            {
                "type": "bar",
                "name": "accuracy",
                "x": centres,
                "y": [b["accuracy"] for b in full],
                "width": [b["upper"] - b["lower"] for b in full],
                "customdata": [[b["count"], b["confidence"]] for b in full],
                "hovertemplate": "confidence %{customdata[1]:.3f}<br>accuracy %{y:.3f}<br>%{customdata[0]} image(s)<extra></extra>",
            },
            {
                "type": "scatter",
                "mode": "lines",
                "name": "perfect calibration",
                "x": [0, 1],
                "y": [0, 1],
                "hoverinfo": "skip",
                "line": {"dash": "dot", "color": "#555"},
            },
        ],
        "layout": {**_layout(title, "confidence", "accuracy"), "xaxis": {"range": [0, 1], "title": {"text": "confidence"}}},
    }


def robustness(entries: Sequence[tuple[str, float, float, str]], title: str) -> dict[str, Any]:
    """Clean top-1 against mCE, one point per (label, top-1, mCE, mCE cell) entry; lower mCE is more robust."""
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "markers",
                "name": "results",
                "x": [e[2] for e in entries],
                "y": [e[1] for e in entries],
                "customdata": [[e[0], e[3]] for e in entries],
                "hovertemplate": "%{customdata[0]}<br>mCE %{customdata[1]}<br>clean top-1 %{y}<extra></extra>",
                "marker": {"size": 9},
            }
        ],
        "layout": _layout(title, "mCE (AlexNet = 100, lower is more robust)", "clean top-1 (%)"),
    }


def sensitivity(reports: Sequence[dict[str, Any]], title: str) -> dict[str, Any]:
    """Δ top-1 of each preprocessing variant, one bar series per model."""
    data = []
    for r in reports:
        shown = [v for v in r.get("variants", []) if v.get("delta_top1") is not None]
        data.append(
            {
                "type": "bar",
                "orientation": "h",
                "name": str(r["model"]),
                "y": [f"{v['axis']}: {v['variant']}" for v in shown],
                "x": [v["delta_top1"] for v in shown],
                "customdata": [[F.signed(v["delta_top1"]), F.num(v.get("mcnemar_p"), 4)] for v in shown],
                "hovertemplate": "%{y}<br>Δ top-1 %{customdata[0]}<br>McNemar p %{customdata[1]}<extra>"
                + str(r["model"])
                + "</extra>",
            }
        )
    layout = _layout(title, "Δ top-1 (percentage points)", "")
    layout["yaxis"] = {"automargin": True}
    return {"data": data, "layout": layout}


@dataclass(frozen=True)
class Published:
    """One reported figure on the SOTA-over-time chart."""

    model: str
    year: int
    top1: float
    extra: bool
    extra_data: str


def sota(points: Sequence[Published], title: str) -> dict[str, Any]:
    """Reported top-1 by year, ImageNet-1k-only and extra-data figures apart, with the best-so-far step of each."""
    data: list[dict[str, Any]] = []
    for extra, name, symbol in ((False, "ImageNet-1k only", "circle"), (True, "extra training data", "diamond")):
        members = sorted((p for p in points if p.extra == extra), key=lambda p: (p.year, p.top1, p.model))
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": name,
                "x": [p.year for p in members],
                "y": [p.top1 for p in members],
                "customdata": [[p.model, p.extra_data] for p in members],
                "hovertemplate": "%{customdata[0]}<br>%{x}: top-1 %{y:.2f}<br>extra data: %{customdata[1]}<extra></extra>",
                "marker": {"symbol": symbol, "size": 6, "opacity": 0.6},
            }
        )
        best: list[tuple[int, float]] = []
        for year in sorted({p.year for p in members}):
            top = max(p.top1 for p in members if p.year == year)
            if not best or top > best[-1][1]:
                best.append((year, top))
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "line": {"shape": "hv"},
                "name": f"state of the art, {name}",
                "x": [b[0] for b in best],
                "y": [b[1] for b in best],
                "hoverinfo": "skip",
            }
        )
    return {"data": data, "layout": _layout(title, "year", "reported top-1 (%)")}


def kornblith(points: Sequence[Any], pages: dict[str, str], title: str) -> dict[str, Any]:
    """Transfer accuracy against ImageNet top-1 (bench.report.transfer.Point), one trace per dataset and probe;
    hollow markers where the ImageNet figure is the authors' (no `bench run` result stored). customdata[3] is the
    model page a click opens (site.js), "" for a model without one."""
    data: list[dict[str, Any]] = []
    for i, (dataset, probe) in enumerate(sorted({(p.dataset, p.probe) for p in points})):
        members = sorted((p for p in points if (p.dataset, p.probe) == (dataset, probe)), key=lambda p: (p.imagenet, p.model))
        color = PALETTE[i % len(PALETTE)]
        hover = (
            "%{customdata[0]}<br>weights %{customdata[1]}, %{customdata[2]} %{customdata[4]}<br>"
            "ImageNet top-1 %{x} (%{customdata[5]})<br>transfer %{y}"
        )
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": f"{dataset} ({probe})",
                "x": [p.imagenet for p in members],
                "y": [p.transfer for p in members],
                "customdata": [
                    [p.model, p.weights, p.probe, pages.get(p.model, ""), p.shots, "measured" if p.measured else "reported"]
                    for p in members
                ],
                "hovertemplate": hover + "<extra>" + dataset + "</extra>",
                "marker": {
                    "color": color,
                    "size": 10,
                    "symbol": ["circle" if p.measured else "circle-open" for p in members],
                },
            }
        )
    return {"data": data, "layout": _layout(title, "ImageNet-1k top-1 (%)", "transfer accuracy (%)")}
