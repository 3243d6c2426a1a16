"""What evaluating a model costs, roughly: for balancing a sweep's shards, not for reporting.

The estimate is GMACs per image at the model's eval input size. Where the weight's authors report
GMACs (torchvision's meta `_ops`, measured at the weight's own eval size) that figure is used as is:
the input size is already in it. Elsewhere the proxy is params x (H*W)/224² x 0.16, where 0.16 is
resnet50's GMACs per million parameters at 224x224 (4.09 / 25.56), and the parameter count is the
reported one or, failing that, counted on an architecture built on the `meta` device (no memory,
no weights, ~0.1 s; the same on every machine with the same timm/torchvision).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cache

from .registry import TV, ModelSpec

GMACS_PER_MPARAM_224 = 0.16  # resnet50: 4.09 GMACs / 25.56 M params at 224x224
DEFAULT_GMACS_224 = 4.09  # resnet50 at 224x224, for an architecture that cannot be built on `meta`


@dataclass(frozen=True)
class Cost:
    gmacs: float  # estimated GMACs per image at the eval input size
    how: str  # "reported" | "params" | "meta-params" | "default"


def eval_size(spec: ModelSpec) -> tuple[int, int]:
    """(H, W) the harness evaluates at: timm's test_input_size when the weight has one (as validate.py), else input_size."""
    size = spec.pretrained_cfg.get("test_input_size") or spec.input_size
    return int(size[-2]), int(size[-1])


def estimate(spec: ModelSpec) -> Cost:
    reported = spec.reference.get("gmacs")
    if reported:
        return Cost(round(float(reported), 6), "reported")
    h, w = eval_size(spec)
    scale = h * w / 224**2
    params, how = spec.reference.get("params"), "params"
    if not params:
        params, how = meta_param_count(spec.source, spec.arch, spec.num_classes or 1000), "meta-params"
    if not params:
        return Cost(round(DEFAULT_GMACS_224 * scale, 6), "default")
    return Cost(round(params / 1e6 * GMACS_PER_MPARAM_224 * scale, 6), how)


@cache
def meta_param_count(source: str, arch: str, num_classes: int) -> int | None:
    """Parameters of the architecture, built on the `meta` device (no memory, no weights); None when it cannot be."""
    import torch

    try:
        with warnings.catch_warnings(), torch.device("meta"):
            warnings.simplefilter("ignore")
            if source == TV:
                import torchvision.models as tvm

                model = tvm.get_model(arch, weights=None, num_classes=num_classes)
            else:
                import timm

                model = timm.create_model(arch, pretrained=False, num_classes=num_classes)
    except Exception:
        return None
    return sum(p.numel() for p in model.parameters())
