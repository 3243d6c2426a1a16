"""What a library reports for a model id on a dataset: the registry (which weights exist, their
pretrained config) joined with the reference tables (what was reported, under which protocol)."""

from __future__ import annotations

from .reference import IMAGENET, Figure, split_id, timm_figures, torchvision_figure
from .registry import _tv_spec


def tv_figure(model_id: str) -> Figure | None:
    """A torchvision weight's own meta accuracy, with its transforms' protocol."""
    _, arch, tag = split_id(model_id)
    spec = _tv_spec(arch, tag)
    return torchvision_figure(spec.id, spec.reference, spec.pretrained_cfg)


def figures_for(model_id: str, dataset: str, split: str) -> list[Figure]:
    """Every figure the library reports for a `tv:`/`timm:` model on (dataset, split); [] when none."""
    prefix, arch, tag = split_id(model_id)
    if prefix == "timm" and tag:
        return timm_figures(f"{arch}.{tag}", dataset, split)
    if prefix == "tv" and (dataset, split) == IMAGENET:
        fig = tv_figure(model_id)
        return [fig] if fig else []
    return []
