"""The published-results page (leaderboards/published.md): papers, ILSVRC winners, torchvision
weights' meta and timm's reported tags, read through `bench.models`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..models.reference import _num, code_url, model_paper, papers, read_table

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
    from ..models import torchvision_references

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
    for row in read_table("timm_reference.csv"):
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
