"""Transfer leaderboards: one page per dataset (each probe x shots beside the model's ImageNet top-1), an
index with the means across datasets (plain, VTAB; of logit(accuracy), Kornblith), and the Kornblith plot
(transfer accuracy vs ImageNet top-1, one panel per dataset). A pure function of the results store."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..store import transfer as store
from . import tables as F
from .tables import Rows

INDEX = "transfer.md"
PLOT = "transfer-kornblith.png"
INDEX_LINE = (INDEX, "Transfer to other datasets (k-NN and logistic-regression probes, full data and few-shot)")


def page_name(dataset: str) -> str:
    return f"transfer-{store._safe(dataset)}.md"


def headline(record: store.TransferRecord) -> float | None:
    return (record.summary.get(record.headline) or {}).get("mean")


def shown(records: Sequence[store.TransferRecord]) -> list[store.TransferRecord]:
    """One record per (dataset, model, weights, probe, shots): the most test images, then the most episodes,
    then the latest run (a --limit smoke test never hides a full run)."""
    best: dict[tuple, store.TransferRecord] = {}
    for r in records:
        k = (r.key.dataset, r.key.model, r.key.weights, r.key.probe, r.key.shots)
        rank = (r.n.get("test", 0), r.key.episodes, str(r.run.get("started", "")), r.key.hash)
        if k not in best or rank > (
            best[k].n.get("test", 0),
            best[k].key.episodes,
            str(best[k].run.get("started", "")),
            best[k].key.hash,
        ):
            best[k] = r
    return [best[k] for k in sorted(best)]


def imagenet_top1(results_dir: str | Path) -> dict[tuple[str, str], float]:
    """(model, weights) -> measured ImageNet-1k validation top-1 (restricted) of the largest stored run."""
    from ..store import results

    return imagenet_top1_of(results.read_all(results_dir))


def imagenet_top1_of(records: Sequence[Any]) -> dict[tuple[str, str], float]:
    """The same from `bench run` records already read (bench.store.schema.Record)."""
    out: dict[tuple[str, str], tuple[int, float]] = {}
    for r in records:
        acc = r.accuracy
        if r.key.dataset != "imagenet-1k" or acc is None or acc.restricted is None or acc.restricted.top1 is None:
            continue
        k = (r.key.model, r.key.weights)
        if k not in out or (acc.n or 0) > out[k][0]:
            out[k] = (acc.n or 0, acc.restricted.top1)
    return {k: v for k, (_, v) in out.items()}


def reported_top1(model_id: str) -> float | None:
    """What the model's authors report (bench list's figure), where the registry knows the model."""
    try:
        from .. import models

        ref = models.resolve(model_id).reference or {}
    except Exception:
        return None
    top1 = ref.get("top1")
    return float(top1) if top1 is not None else None


def _columns(records: Sequence[store.TransferRecord]) -> list[tuple[str, str]]:
    def order(ps):
        probe, shots = ps
        return (probe, 0 if shots == "full" else 1, int(shots) if shots.isdigit() else 0)

    return sorted({(r.key.probe, r.key.shots) for r in records}, key=order)


def _cell(r: store.TransferRecord | None) -> str:
    if r is None:
        return F.DASH
    s = r.summary.get(r.headline) or {}
    if s.get("mean") is None:
        return F.DASH
    return f"{s['mean']:.2f}" if r.key.shots == "full" else f"{s['mean']:.2f} ± {s['sd']:.2f}"


def _label(probe: str, shots: str) -> str:
    return f"{probe} {'full' if shots == 'full' else f'{shots}-shot'}"


DATASET_RIGHT = {"ImageNet top-1 (measured)", "ImageNet top-1 (reported)"}


def dataset_rows(records: Sequence[store.TransferRecord], imagenet: dict[tuple[str, str], float]) -> Rows:
    """One dataset page's table (the markdown page and the site print these cells), with raw sort values:
    one row per (model, weights), a column per probe x shots, ranked by logreg full (else k-NN full)."""
    cols = _columns(records)
    models = sorted({(r.key.model, r.key.weights) for r in records})
    by = {(r.key.model, r.key.weights, r.key.probe, r.key.shots): r for r in records}
    lines = []
    for m, w in models:
        found = [by.get((m, w, p, s)) for p, s in cols]
        measured, reported = imagenet.get((m, w)), reported_top1(m)
        cells = [m, w, F.num(measured, 2), F.num(reported, 2), *[_cell(r) for r in found]]
        values = [None, None, measured, reported, *[headline(r) if r is not None else None for r in found]]
        lines.append((cells, values, {"model": m, "weights": w}))
    main = next((c for c in (("logreg", "full"), ("knn", "full")) if c in cols), cols[0] if cols else None)
    if main is not None:
        col = 4 + cols.index(main)

        def rank(line: tuple[list[str], list[float | None], dict[str, str]]) -> tuple[float, str]:
            value = line[1][col]
            return (-(value if value is not None else -math.inf), line[0][0])

        lines.sort(key=rank)
    headers = ["model", "weights", "ImageNet top-1 (measured)", "ImageNet top-1 (reported)"] + [_label(p, s) for p, s in cols]
    return Rows(
        headers,
        DATASET_RIGHT | {_label(p, s) for p, s in cols},
        [c for c, _, _ in lines],
        [v for _, v, _ in lines],
        [r for _, _, r in lines],
    )


def dataset_note(dataset: str, records: Sequence[store.TransferRecord]) -> str:
    """The page's headline metric, part sizes and probe settings (markdown, shown above the table)."""
    metric = records[0].headline if records else "top1"
    any_r = records[0] if records else None
    n = any_r.n if any_r else {}
    return (
        f"Headline metric: **{metric.replace('_', ' ')}** (%), on the test part ({n.get('test', F.DASH)} images; train "
        f"{n.get('train', F.DASH)}, val {n.get('val', F.DASH)}; splits `{any_r.key.splits if any_r else F.DASH}`). "
        "k-NN: k = 20, T = 0.07, cosine on L2-normalised pre-logits; logreg: multinomial L2, λ chosen on val "
        "(45-value grid 1e-6…1e5), refit on train+val (few-shot: on the shots). Few-shot: mean ± sd over episodes."
    )


def command(dataset: str) -> str:
    return "Command: `bench transfer --models M[,M...] --dataset " + dataset + " --probes knn,logreg --shots full,1,5,10,25`."


def render_dataset_page(dataset: str, records: Sequence[store.TransferRecord], imagenet: dict[tuple[str, str], float]) -> str:
    from tabulate import tabulate

    rows = dataset_rows(records, imagenet)
    notes = [
        F.GENERATED,
        f"# Transfer: {dataset}",
        dataset_note(dataset, records),
        tabulate(rows.cells, headers=rows.headers, tablefmt="github", disable_numparse=True),
        command(dataset),
    ]
    return "\n\n".join(notes) + "\n"


def index_rows(records: Sequence[store.TransferRecord]) -> Rows:
    """transfer.md's table: per (model, weights, probe, shots) the means across datasets and each dataset's figure."""
    from ..measure.transfer import across_datasets as across

    datasets = sorted({r.key.dataset for r in records})
    cols = _columns(records)
    cells, values, recs = [], [], []
    for m, w in sorted({(r.key.model, r.key.weights) for r in records}):
        for p, s in cols:
            accs = {
                r.key.dataset: headline(r)
                for r in records
                if (r.key.model, r.key.weights, r.key.probe, r.key.shots) == (m, w, p, s)
            }
            if not accs:
                continue
            agg = across([a for a in accs.values() if a is not None])
            cells.append(
                [m, w, p, s, F.integer(agg["n"]), F.num(agg["mean"], 2), F.num(agg["mean_logit"], 2)]
                + [F.num(accs.get(d), 2) for d in datasets]
            )
            values.append([None, None, None, None, agg["n"], agg["mean"], agg["mean_logit"], *[accs.get(d) for d in datasets]])
            recs.append({"model": m, "weights": w, "probe": p, "shots": s})
    headers = ["model", "weights", "probe", "shots", "n", "mean", "mean logit", *datasets]
    return Rows(headers, {"n", "mean", "mean logit", *datasets}, cells, values, recs)


def render_index(records: Sequence[store.TransferRecord]) -> str:
    from tabulate import tabulate

    datasets = sorted({r.key.dataset for r in records})
    rows = index_rows(records)
    parts = [
        F.GENERATED,
        "# Transfer",
        "Means across the datasets a model has results on (n): the plain mean (VTAB) and the mean of logit(accuracy) "
        "mapped back to a percentage (Kornblith et al.). Per-dataset pages: "
        + ", ".join(f"[{d}]({page_name(d)})" for d in datasets)
        + f". Plot: [{PLOT}]({PLOT}).",
        tabulate(rows.cells, headers=rows.headers, tablefmt="github", disable_numparse=True),
    ]
    return "\n\n".join(parts) + "\n"


@dataclass(frozen=True)
class Point:
    """One point of the Kornblith plot: a model's transfer figure against its ImageNet top-1."""

    dataset: str
    probe: str
    shots: str
    model: str
    weights: str
    imagenet: float
    transfer: float
    measured: bool  # ImageNet top-1 measured by `bench run` (else the authors' figure)


def kornblith_points(records: Sequence[store.TransferRecord], imagenet: dict[tuple[str, str], float]) -> list[Point]:
    """Per dataset, the logreg full-data figures (else k-NN full) against ImageNet top-1: measured, or reported
    when the store holds no ImageNet run of pretrained weights. The PNG and the site's chart both draw these."""
    out = []
    for d in sorted({r.key.dataset for r in records}):
        chosen: list[store.TransferRecord] = []
        for probe in ("logreg", "knn"):
            chosen = [r for r in records if r.key.dataset == d and r.key.probe == probe and r.key.shots == "full"]
            if chosen:
                break
        for r in chosen:
            x = imagenet.get((r.key.model, r.key.weights))
            measured = x is not None
            if x is None and r.key.weights == "pretrained":
                x = reported_top1(r.key.model)
            y = headline(r)
            if x is not None and y is not None:
                out.append(Point(d, r.key.probe, r.key.shots, r.key.model, r.key.weights, float(x), float(y), measured))
    return out


def plot_kornblith(records: Sequence[store.TransferRecord], imagenet: dict[tuple[str, str], float], path: Path) -> Path | None:
    """Transfer accuracy (logreg full, else k-NN full) vs ImageNet top-1 (measured; reported when not measured:
    hollow), one panel per dataset."""
    from .plots import _defaults, _figure, _save

    panels: dict[str, list[tuple[float, float, str, bool]]] = {}
    for p in kornblith_points(records, imagenet):
        panels.setdefault(f"{p.dataset} ({p.probe})", []).append((p.imagenet, p.transfer, p.model.split(":")[-1], p.measured))
    if not panels:
        return None
    with _defaults():
        fig = _figure((4.2 * len(panels), 3.8))
        for i, (title, pts) in enumerate(panels.items()):
            ax = fig.add_subplot(1, len(panels), i + 1)
            for x, y, label, measured in pts:
                ax.scatter([x], [y], s=28, facecolors="C0" if measured else "none", edgecolors="C0", zorder=3)
                ax.annotate(label, (x, y), textcoords="offset points", xytext=(4, 3), fontsize=7)
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("ImageNet top-1 (%)")
            ax.set_ylabel("transfer accuracy (%)")
            ax.grid(True, alpha=0.3)
        fig.tight_layout()
        return _save(fig, path)


def regenerate(results_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """transfer.md, one page per dataset and the plot; nothing when the store holds no transfer results."""
    records = shown(store.read_all(results_dir))
    if not records:
        return []
    out = Path(out_dir)
    imagenet = imagenet_top1(results_dir)
    written = [F.write(out / INDEX, render_index(records))]
    for d in sorted({r.key.dataset for r in records}):
        written.append(F.write(out / page_name(d), render_dataset_page(d, [r for r in records if r.key.dataset == d], imagenet)))
    plot = plot_kornblith(records, imagenet, out / PLOT)
    if plot is not None:
        written.append(plot)
    return written
