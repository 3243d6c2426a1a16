"""Published transfer figures (bench/resources/transfer_reported.csv): what the anchors report, with source.

Each row says where it was re-read (`source`) and whether that re-reading confirmed it (`verified`);
an unconfirmed figure keeps `verified=False` and a note of what was found instead, so a page can mark it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from ..errors import ResultsError
from ..models.reference import read_table

TABLE = "transfer_reported.csv"
COLUMNS = (
    "model",
    "model_id",
    "dataset",
    "probe",
    "shots",
    "metric",
    "value",
    "low",
    "high",
    "protocol",
    "source",
    "verified",
    "note",
)


@dataclass(frozen=True)
class ReportedTransfer:
    """One published figure: a model on a dataset under one probe, in percent."""

    model: str  # as the source names it
    model_id: str | None  # the library weight that is the same network and weights, where there is one
    dataset: str
    probe: str  # finetune | knn | linear | logreg
    shots: str  # "full", a number of images per class, or "vtab1k"
    metric: str  # top1 | mean_per_class | top1_mean_19_tasks
    value: float
    low: float | None  # the source's min over runs, where given
    high: float | None  # the source's max over runs, where given
    protocol: str
    source: str
    verified: bool
    note: str


def _float(text: str, row: dict[str, str], column: str, table: str) -> float | None:
    if text == "":
        return None
    try:
        return float(text)
    except ValueError:
        raise ResultsError(
            f"{table}: {column} {text!r} of {row.get('model')} / {row.get('dataset')} is not a number; fix the row"
        ) from None


def _rows(path: Path | None) -> list[dict[str, str]]:
    if path is None:
        return read_table(TABLE)
    with path.open(encoding="utf-8", newline="") as f:
        return [r for r in csv.DictReader(f) if not (r.get(COLUMNS[0]) or "").startswith("#")]


def load_reported(path: Path | None = None) -> list[ReportedTransfer]:
    """Every figure of the table (the packaged one by default); a malformed row is an error that names it."""
    table = path.name if path else TABLE
    figures = []
    for row in _rows(path):
        missing = [c for c in COLUMNS if c not in row or row[c] is None]
        if missing:
            raise ResultsError(f"{table}: row {row.get('model')!r} lacks {', '.join(missing)}; fix the row")
        if row["verified"] not in ("yes", "no") or not row["source"].strip():
            raise ResultsError(f"{table}: row {row['model']!r} / {row['dataset']} needs a source and verified=yes|no")
        value = _float(row["value"], row, "value", table)
        if value is None:
            raise ResultsError(f"{table}: row {row['model']!r} / {row['dataset']} has no value")
        figures.append(
            ReportedTransfer(
                model=row["model"],
                model_id=row["model_id"] or None,
                dataset=row["dataset"],
                probe=row["probe"],
                shots=row["shots"],
                metric=row["metric"],
                value=value,
                low=_float(row["low"], row, "low", table),
                high=_float(row["high"], row, "high", table),
                protocol=row["protocol"],
                source=row["source"],
                verified=row["verified"] == "yes",
                note=row["note"],
            )
        )
    return figures


def reported_for(dataset: str, model_id: str | None = None) -> list[ReportedTransfer]:
    """The figures on one dataset, optionally for one library weight."""
    return [f for f in load_reported() if f.dataset == dataset and (model_id is None or f.model_id == model_id)]
