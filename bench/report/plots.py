"""Leaderboard plots: accuracy vs throughput with its Pareto front, and ImageNet progress by year.

PNGs are committed beside the generated pages, so they must be byte-stable: matplotlib's own
defaults (not the user's matplotlibrc), a fixed size and dpi, the Agg canvas, no Software/date
metadata. matplotlib is imported inside the functions so `bench --help` stays instant.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

DPI = 100
PARETO_SIZE = (9.0, 6.0)
YEARS_SIZE = (12.0, 5.0)


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point dominates when maximising both coordinates, in input order.

    A point is dominated when another is at least as good in both and better in one, so equal
    points are all kept (neither beats the other). Coordinates must be finite numbers.
    """
    front = []
    for i, (x, y) in enumerate(points):
        dominated = any(qx >= x and qy >= y and (qx > x or qy > y) for j, (qx, qy) in enumerate(points) if j != i)
        if not dominated:
            front.append(i)
    return front


@dataclass(frozen=True)
class Point:
    """One measured model on the accuracy/throughput plane; `group` is the device/precision/batch
    it was timed with (throughputs from different devices are not comparable, so each group
    gets its own front)."""

    label: str
    img_s: float
    top1: float
    group: str


@contextlib.contextmanager
def _defaults() -> Iterator[None]:
    """matplotlib's built-in defaults, whatever the user's matplotlibrc says, for stable bytes."""
    import matplotlib.style

    # style "default" = rcParamsDefault minus the keys a style may not set (backend, interactive).
    with matplotlib.style.context("default"):
        yield


def _figure(size: tuple[float, float]):
    # A bare Figure on the Agg canvas: no pyplot, so no global figure state and no GUI backend.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | Path) -> Path:
    """Render into memory, then the one atomic writer: a full disk never leaves a truncated PNG."""
    import io

    from ..store.atomic import write_file

    buf = io.BytesIO()
    # Software=None drops "matplotlib version X" from the PNG; Agg writes no date by itself.
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return write_file(Path(path), buf.getvalue())


def plot_pareto(points: Sequence[Point], path: str | Path, title: str) -> Path:
    """Top-1 vs img/s (log x), every model a dot, the non-dominated ones joined and labelled."""
    groups = sorted({p.group for p in points})
    with _defaults():
        fig = _figure(PARETO_SIZE)
        ax = fig.add_subplot(1, 1, 1)
        colors = [c["color"] for c in _cycle()]
        for k, group in enumerate(groups):
            members = [p for p in points if p.group == group]
            color = colors[k % len(colors)]
            ax.scatter([p.img_s for p in members], [p.top1 for p in members], color=color, s=28, label=group, zorder=3)
            front = [members[i] for i in pareto_front([(p.img_s, p.top1) for p in members])]
            front.sort(key=lambda p: (p.img_s, p.top1, p.label))
            ax.plot([p.img_s for p in front], [p.top1 for p in front], color=color, linestyle="--", linewidth=1.2, zorder=2)
            on_front = {id(p) for p in front}
            for p in members:  # every point named; the dominated ones in grey
                ax.annotate(
                    p.label,
                    (p.img_s, p.top1),
                    textcoords="offset points",
                    xytext=(5, 4),
                    fontsize=7,
                    color=color if id(p) in on_front else "0.45",
                )
        from matplotlib.ticker import LogFormatter

        ax.set_xscale("log")
        xs = [p.img_s for p in points]
        ys = [p.top1 for p in points]
        if xs:  # room for the labels right of the last point and for the legend below the lowest
            ax.set_xlim(min(xs) / 1.25, max(xs) * 1.6)
            span = max(5.0, max(ys) - min(ys))
            ax.set_ylim(min(ys) - 0.25 * span, max(ys) + 0.1 * span)
        # plain numbers (20, 30, 50) on a log axis, also between the decades a narrow range shows
        ax.xaxis.set_major_formatter(LogFormatter(labelOnlyBase=False))
        ax.xaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
        ax.set_xlabel("throughput (img/s, log scale)")
        ax.set_ylabel("top-1 (%, restricted)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(title="timed on (dashed: Pareto front)", fontsize=8, title_fontsize=8, loc="lower right")
        fig.tight_layout()
        return _save(fig, path)


def _cycle() -> list[dict[str, str]]:
    import matplotlib

    return list(matplotlib.rcParams["axes.prop_cycle"])


@dataclass(frozen=True)
class YearPoint:
    """A published top-1 with its paper's year; `kind` (paper, torchvision, timm) picks the marker."""

    year: int
    top1: float
    kind: str


def plot_years(published: Sequence[YearPoint], winners: Sequence[tuple[int, float]], path: str | Path, title: str) -> Path:
    """Left: published ImageNet-1k top-1 by year with the best-so-far line. Right: ILSVRC winners' top-5 error."""
    with _defaults():
        fig = _figure(YEARS_SIZE)
        left, right = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
        _plot_top1_by_year(left, published)
        _plot_winners(right, winners)
        fig.suptitle(title)
        fig.tight_layout()
        return _save(fig, path)


def _plot_top1_by_year(ax, published: Sequence[YearPoint]) -> None:
    markers = {"paper": "o", "torchvision": "s", "timm": "^"}
    for kind in sorted({p.kind for p in published}):
        pts = [p for p in published if p.kind == kind]
        ax.scatter([p.year for p in pts], [p.top1 for p in pts], marker=markers.get(kind, "x"), s=18, alpha=0.7, label=kind)
    # The step line uses the papers' own results only: library weights sit at their architecture's
    # paper year, and a 2022 recipe on a 2015 ResNet would make 2015 look better than it was.
    best: dict[int, float] = {}
    for p in published:
        if p.kind == "paper":
            best[p.year] = max(best.get(p.year, p.top1), p.top1)
    years, running, top = sorted(best), [], float("-inf")
    for y in years:
        top = max(top, best[y])
        running.append(top)
    if years:
        ax.step(years, running, where="post", color="black", linewidth=1.2, label="best so far (papers)")
    ax.set_xlabel("year of the paper (library weights: of their architecture's paper)")
    ax.set_ylabel("ImageNet-1k top-1 (%)")
    ax.set_title("Published ImageNet-1k top-1")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")


def _plot_winners(ax, winners: Sequence[tuple[int, float]]) -> None:
    winners = sorted(winners)
    ax.bar([str(y) for y, _ in winners], [e for _, e in winners], color="#4c72b0")
    for i, (_, e) in enumerate(winners):
        ax.annotate(f"{e:g}", (i, e), textcoords="offset points", xytext=(0, 3), ha="center", fontsize=8)
    ax.set_xlabel("ILSVRC year")
    ax.set_ylabel("top-5 error on the test set (%)")
    ax.set_title("ILSVRC classification winners")
    ax.grid(True, axis="y", alpha=0.3)


# ---------------------------------------------------------------------------------------------
# Beyond top-1: reliability diagrams, robustness (clean top-1 vs mCE), preprocessing sensitivity

RELIABILITY_SIZE = (5.0, 6.0)
ROBUSTNESS_SIZE = (9.0, 6.0)


def plot_reliability(bins: Sequence[dict], path: str | Path, title: str, ece: float | None, n: int) -> Path:
    """Guo et al.'s reliability diagram: accuracy per equal-width confidence bin against the diagonal, with the
    gap to each bin's mean confidence shaded, and the number of samples per bin below."""
    with _defaults():
        fig = _figure(RELIABILITY_SIZE)
        top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
        width = bins[0]["upper"] - bins[0]["lower"] if bins else 1.0
        centres = [(b["lower"] + b["upper"]) / 2 for b in bins]
        filled = [(c, b) for c, b in zip(centres, bins) if b["count"]]
        top.bar(
            [c for c, _ in filled],
            [b["accuracy"] for _, b in filled],
            width=width,
            color="#4c72b0",
            edgecolor="black",
            linewidth=0.6,
            label="accuracy",
        )
        top.bar(
            [c for c, _ in filled],
            [b["confidence"] - b["accuracy"] for _, b in filled],
            bottom=[b["accuracy"] for _, b in filled],
            width=width,
            color="#dd8452",
            alpha=0.45,
            edgecolor="#dd8452",
            hatch="//",
            label="gap to mean confidence",
        )
        top.plot([0, 1], [0, 1], linestyle="--", color="0.3", linewidth=1, label="perfect calibration")
        top.set_xlim(0, 1)
        top.set_ylim(0, 1)
        top.set_ylabel("accuracy (restricted top-1)")
        top.set_title(title, fontsize=9)
        ece_text = "—" if ece is None else f"{ece:.2f}%"
        top.legend(fontsize=7, loc="upper left", title=f"ECE {ece_text}, n={n}", title_fontsize=8)
        top.grid(True, alpha=0.3)
        bottom.bar(centres, [b["count"] for b in bins], width=width, color="0.6", edgecolor="black", linewidth=0.6)
        bottom.set_xlabel("top-1 confidence (15 equal-width bins)")
        bottom.set_ylabel("samples")
        bottom.grid(True, axis="y", alpha=0.3)
        fig.tight_layout()
        return _save(fig, path)


@dataclass(frozen=True)
class RobustPoint:
    """One result with corruptions: clean top-1 and mCE (or the partial mCE over the corruptions it ran)."""

    label: str
    top1: float
    mce: float
    complete: bool


def plot_robustness(points: Sequence[RobustPoint], path: str | Path, title: str) -> Path:
    """Clean top-1 (x) against mCE (y, lower is more robust); hollow markers: mCE over fewer than 15 corruptions."""
    with _defaults():
        fig = _figure(ROBUSTNESS_SIZE)
        ax = fig.add_subplot(1, 1, 1)
        for complete, marker_face, label in (
            (True, "#4c72b0", "mCE over all 15 corruptions"),
            (False, "none", "partial mCE (fewer corruptions)"),
        ):
            pts = [p for p in points if p.complete == complete]
            if pts:
                ax.scatter(
                    [p.top1 for p in pts],
                    [p.mce for p in pts],
                    s=36,
                    facecolors=marker_face,
                    edgecolors="#4c72b0",
                    label=label,
                    zorder=3,
                )
        for p in points:
            ax.annotate(p.label, (p.top1, p.mce), textcoords="offset points", xytext=(5, 4), fontsize=7)
        ax.axhline(100.0, color="0.4", linestyle=":", linewidth=1, label="AlexNet (mCE 100)")
        if points:
            xs, ys = [p.top1 for p in points], [p.mce for p in points] + [100.0]
            xspan, yspan = max(5.0, max(xs) - min(xs)), max(10.0, max(ys) - min(ys))
            ax.set_xlim(min(xs) - 0.15 * xspan, max(xs) + 0.45 * xspan)
            ax.set_ylim(min(ys) - 0.15 * yspan, max(ys) + 0.15 * yspan)
        ax.set_xlabel("clean top-1 (%, restricted)")
        ax.set_ylabel("mCE (%, normalised by AlexNet; lower is more robust)")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="upper right")
        fig.tight_layout()
        return _save(fig, path)


def plot_sensitivity(rows: Sequence[tuple[str, str, float]], path: str | Path, title: str) -> Path:
    """Δtop-1 of each preprocessing variant against the model's own protocol: one bar per (model, variant)."""
    models = list(dict.fromkeys(m for m, _, _ in rows))
    variants = list(dict.fromkeys(v for _, v, _ in rows))
    with _defaults():
        fig = _figure((9.0, max(3.0, 0.35 * len(rows) + 1.5)))
        ax = fig.add_subplot(1, 1, 1)
        colors = [c["color"] for c in _cycle()]
        height = 0.8 / max(1, len(models))
        for k, model in enumerate(models):
            ys, xs = [], []
            for j, variant in enumerate(variants):
                for m, v, d in rows:
                    if m == model and v == variant:
                        ys.append(j + (k - (len(models) - 1) / 2) * height)
                        xs.append(d)
            ax.barh(ys, xs, height=height, color=colors[k % len(colors)], label=model)
            for y, x in zip(ys, xs):
                ax.annotate(
                    f"{x:+.2f}",
                    (x, y),
                    textcoords="offset points",
                    xytext=(4 if x >= 0 else -4, 0),
                    fontsize=7,
                    ha="left" if x >= 0 else "right",
                    va="center",
                )
        ax.axvline(0.0, color="black", linewidth=0.8)
        span = max([abs(d) for _, _, d in rows] + [1.0])
        ax.set_xlim(-1.3 * span, 1.3 * span)
        ax.set_yticks(range(len(variants)))
        ax.set_yticklabels(variants, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("Δ top-1 vs the model's own preprocessing (percentage points)")
        ax.set_title(title)
        ax.grid(True, axis="x", alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
        fig.tight_layout()
        return _save(fig, path)
