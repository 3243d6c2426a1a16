"""Reported (published) figures shipped as package data: what a model's authors or library claim."""

from __future__ import annotations

import csv
import fnmatch
import io
from functools import cache
from importlib import resources
from typing import Any


def read_table(name: str) -> list[dict[str, str]]:
    path = resources.files("bench").joinpath("resources", name)
    if not path.is_file():
        return []
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def _num(value: str | None) -> float | None:
    return float(value) if value not in (None, "") else None


@cache
def _timm_table() -> dict[str, dict[str, Any]]:
    out = {}
    for row in read_table("timm_reference.csv"):
        out[row["model"]] = {
            "top1": _num(row.get("top1")),
            "top5": _num(row.get("top5")),
            "params": int(float(row["param_count_m"]) * 1e6) if row.get("param_count_m") else None,
            "img_size": _num(row.get("img_size")),
            "crop_pct": _num(row.get("crop_pct")),
            "source": row.get("source") or "timm results-imagenet.csv",
        }
    return out


def timm_reference(name: str) -> dict[str, Any]:
    """Reported ImageNet-1k figures for a timm `arch.tag`, or {} when we ship none."""
    return dict(_timm_table().get(name, {}))


def same_protocol(transform: dict[str, Any], protocol: dict[str, Any] | None) -> bool:
    """True when a result's recorded transform is the one a reported figure was measured with: same input
    size, crop fraction, crop mode and policy (a Δ between different protocols compares unlike numbers)."""
    if not protocol or not transform:
        return False
    return (list(transform.get("input_size") or []) == list(protocol["input_size"])
            and abs(float(transform.get("crop_pct") or 0) - float(protocol["crop_pct"])) < 5e-4
            and transform.get("crop_mode", "center") == protocol["crop_mode"] and transform.get("policy") == protocol["policy"])


def comparable_to_reference(result: dict[str, Any]) -> bool:
    """A result whose top-1 may be set against the reported figure: ImageNet-1k validation, the full split
    (no --limit, no --classes), pretrained weights, and the reported figure's transform protocol."""
    dataset, model = result.get("dataset") or {}, result.get("model") or {}
    reference = model.get("reference") or {}
    return (dataset.get("name") == "imagenet-1k" and dataset.get("split") == "validation" and dataset.get("limit") is None
            and not dataset.get("classes") and (model.get("weights") or {}).get("kind") == "pretrained"
            and same_protocol(result.get("transform") or {}, reference.get("protocol")))


def papers() -> list[dict[str, str]]:
    """Published results (paper, year, extra data) from imagenet_reported.csv."""
    return read_table("imagenet_reported.csv")


def ilsvrc_winners() -> list[dict[str, str]]:
    return read_table("ilsvrc_winners.csv")


@cache
def _paper_patterns() -> tuple[dict[str, str], ...]:
    return tuple(read_table("model_papers.csv"))


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
