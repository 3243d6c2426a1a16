"""Reported (published) figures shipped as package data: what a model's authors or library claim."""

from __future__ import annotations

import csv
import io
from functools import cache
from importlib import resources
from typing import Any


def _rows(name: str) -> list[dict[str, str]]:
    path = resources.files("bench").joinpath("data", name)
    if not path.is_file():
        return []
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def _num(value: str | None) -> float | None:
    return float(value) if value not in (None, "") else None


@cache
def _timm_table() -> dict[str, dict[str, Any]]:
    out = {}
    for row in _rows("timm_reference.csv"):
        out[row["model"]] = {
            "top1": _num(row.get("top1")),
            "top5": _num(row.get("top5")),
            "params": int(float(row["param_count_m"]) * 1e6) if row.get("param_count_m") else None,
            "img_size": _num(row.get("img_size")),
            "source": row.get("source") or "timm results-imagenet.csv",
        }
    return out


def timm_reference(name: str) -> dict[str, Any]:
    """Reported ImageNet-1k figures for a timm `arch.tag`, or {} when we ship none."""
    return dict(_timm_table().get(name, {}))


def papers() -> list[dict[str, str]]:
    """Published results (paper, year, extra data) from imagenet_reported.csv."""
    return _rows("imagenet_reported.csv")


def ilsvrc_winners() -> list[dict[str, str]]:
    return _rows("ilsvrc_winners.csv")
