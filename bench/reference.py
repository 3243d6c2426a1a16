"""Reported (published) figures shipped as package data: what a model's authors or library claim."""

from __future__ import annotations

import csv
import fnmatch
import io
import math
from dataclasses import dataclass
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


# ---------------------------------------------------------------------------------------------
# The published-results table (leaderboards/published.md): papers, torchvision weights, timm tags.


@dataclass(frozen=True)
class Reported:
    """One published ImageNet-1k figure and where it comes from (a row of the published page)."""

    model: str
    top1: float | None
    top5: float | None
    params_m: float | None
    gmacs: float | None
    extra_data: str | None
    paper: str | None
    year: int | None
    source: str
    code: str | None = None  # URL of the code/recipe that produced the weights


@cache
def _paper_patterns() -> tuple[dict[str, str], ...]:
    return tuple(_rows("model_papers.csv"))


def model_paper(model_id: str) -> dict[str, Any]:
    """Paper, year and extra training data of a `tv:`/`timm:` model id, from model_papers.csv.

    Each field comes from the first pattern that matches *and* fills it, so a specific row
    (SWAG weights, a distilled tag) can override the paper while a catch-all row supplies
    the extra data: data, not code, so adding a family is a CSV line.
    """
    out: dict[str, Any] = {"paper": None, "year": None, "extra_data": None}
    for row in _paper_patterns():
        if not fnmatch.fnmatchcase(model_id, row["pattern"]):
            continue
        if out["paper"] is None and row.get("paper"):
            out["paper"], out["year"] = row["paper"], int(row["year"]) if row.get("year") else None
        if out["extra_data"] is None and row.get("extra_data"):
            out["extra_data"] = row["extra_data"]
    return out


def split_id(model_id: str) -> tuple[str, str, str | None]:
    """`tv:resnet50.IMAGENET1K_V2` -> ("tv", "resnet50", "IMAGENET1K_V2"); no prefix reads as timm."""
    prefix, sep, rest = model_id.partition(":")
    if not sep:
        prefix, rest = "timm", model_id
    arch, _, tag = rest.partition(".")
    return prefix, arch, tag or None


def code_url(model_id: str) -> str | None:
    """Where a model's code and weights card live, derived from its id alone (no hub access)."""
    prefix, arch, tag = split_id(model_id)
    if prefix == "tv":
        return f"https://pytorch.org/vision/stable/models/generated/torchvision.models.{arch}.html"
    if prefix == "timm" and tag:
        return f"https://huggingface.co/timm/{arch}.{tag}"
    return None


def torchvision_version() -> str:
    """The installed torchvision's release, without the local build tag: a CPU wheel and a +cu130
    wheel of one release ship the same weights meta, so the page must not differ between them."""
    import torchvision

    return torchvision.__version__.split("+", 1)[0]


def _finite(value: Any) -> float | None:
    """A float, or None for missing/NaN (torchvision marks feature-only weights with NaN)."""
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def torchvision_reported() -> list[Reported]:
    """Every torchvision classification weight's own meta, read from the installed torchvision.

    Read at render time rather than shipped, so the page always matches the torchvision that
    runs the models; weights without an ImageNet-1k accuracy (vgg16 IMAGENET1K_FEATURES) are left out.
    """
    from .models import torchvision_references

    out = []
    for model_id, ref in torchvision_references():
        if ref.get("top1") is None:
            continue
        info = model_paper(model_id)
        out.append(Reported(
            model=model_id, top1=ref["top1"], top5=ref.get("top5"),
            params_m=ref["params"] / 1e6 if ref.get("params") else None, gmacs=_finite(ref.get("gmacs")),
            extra_data=info["extra_data"], paper=info["paper"], year=info["year"],
            source=ref["source"],  # the version is in the page header
            code=ref.get("recipe") or code_url(model_id),
        ))
    return out


def timm_reported() -> list[Reported]:
    """The timm tags of timm_reference.csv (timm's own results-imagenet.csv, at a pinned commit)."""
    out = []
    for row in _rows("timm_reference.csv"):
        model_id = f"timm:{row['model']}"
        info = model_paper(model_id)
        out.append(Reported(
            model=model_id, top1=_num(row.get("top1")), top5=_num(row.get("top5")),
            params_m=_num(row.get("param_count_m")), gmacs=None,
            extra_data=info["extra_data"], paper=info["paper"], year=info["year"],
            source=row.get("source") or "timm results-imagenet.csv", code=code_url(model_id),
        ))
    return out


def paper_reported() -> list[Reported]:
    """Figures from the papers themselves (imagenet_reported.csv); the protocol goes with the source
    because 10-crop and multi-crop numbers are not single-crop ones."""
    out = []
    for row in papers():
        source = row.get("source") or ""
        if row.get("protocol"):
            source = f"{source}; {row['protocol']}" if source else row["protocol"]
        out.append(Reported(
            model=row["model"], top1=_num(row.get("top1")), top5=_num(row.get("top5")),
            params_m=_num(row.get("params_m")), gmacs=_num(row.get("gmacs")),
            extra_data=row.get("extra_data") or None, paper=row.get("paper") or None,
            year=int(row["year"]) if row.get("year") else None, source=source,
        ))
    return out


def published() -> list[Reported]:
    """The whole published-results table: papers, then torchvision weights, then timm tags."""
    return [*paper_reported(), *torchvision_reported(), *timm_reported()]
