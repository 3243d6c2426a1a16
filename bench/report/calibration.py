"""The calibration section of a dataset page and its reliability diagrams (one PNG per result).

Figures are rescored from each result's per-sample record (`bench.measure.calibration`), so a page
never shows a number its .samples.npz would not give again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..measure import calibration as C
from . import tables as F

HEADERS = ["model", "n", "ECE (%)", "adaptive ECE (%)", "Brier", "NLL", "mean confidence (%)", "top-1 (%)", "reliability diagram"]
RIGHT = {"n", "ECE (%)", "adaptive ECE (%)", "Brier", "NLL", "mean confidence (%)", "top-1 (%)"}
NOTES = """\
Restricted protocol (the page's primary figures). **ECE**: expected calibration error over 15 equal-width
bins of top-1 confidence, Σ |B|/n · |accuracy(B) − confidence(B)| (Guo et al. 2017). **Adaptive ECE**: the
same over 15 equal-mass bins (samples sorted by confidence, cut into equal counts), which does not leave a
confident model's mass in one bin. **Brier**: mean over samples of Σₖ (pₖ − yₖ)², from 0 (perfect) to 2.
**NLL**: mean negative log-likelihood of the true class. All are recomputed from the stored per-sample
record (`.samples.npz`), so stored runs can be rescored."""


@dataclass(frozen=True)
class Row:
    label: str
    n: int
    top1: float | None
    nll: float | None
    result_path: str
    summary: dict[str, Any]  # bench.measure.calibration.summarize() of the stored samples


def diagram_name(page: str, result_path: str) -> str:
    """One PNG per result file: its stem is unique (model, weights, transform, corruption set)."""
    return f"{page}-reliability-{Path(result_path).stem}.png"


def rows(table) -> list[Row]:
    """Rows of a dataset page's table whose stored samples carry the calibration record."""
    from ..store import results as R

    out = []
    for r in table.to_dict("records"):
        if F.missing(r.get("path")):
            continue
        result = R.read(r["path"])
        summary = C.summarize(R.read_samples(result) or {})
        if summary is None:
            continue
        out.append(Row(str(r["model"]), int(r["n"]), r.get("top1"), r.get("nll"), str(r["path"]), summary))
    return out


def section(table, page: str) -> str | None:
    """The `## Calibration` section, or None when no result of the page has the record."""
    found = rows(table)
    if not found:
        return None
    body = [
        [
            F.text(r.label),
            str(r.n),
            F.num(r.summary["ece"], 2),
            F.num(r.summary["ece_adaptive"], 2),
            F.num(r.summary["brier"], 4),
            F.num(r.nll, 4),
            F.num(r.summary["mean_confidence"], 2),
            F.num(r.top1, 2),
            f"[diagram]({diagram_name(page, r.result_path)})",
        ]
        for r in found
    ]
    return "\n\n".join(["## Calibration", F.table(HEADERS, body, RIGHT), NOTES])


def write_diagrams(table, out_dir: str | Path, page: str, dataset: str, split: str) -> list[Path]:
    from .plots import plot_reliability

    written = []
    for r in rows(table):
        title = f"{r.label}\n{dataset}/{split}: reliability (restricted top-1)"
        written.append(
            plot_reliability(
                r.summary["reliability"], Path(out_dir) / diagram_name(page, r.result_path), title, r.summary["ece"], r.n
            )
        )
    return written
