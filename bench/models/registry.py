"""Model registry: resolve names to self-describing specs, and build models with their weights.

`alexnet`, `tv:resnet50.IMAGENET1K_V2`, `timm:resnet50.a1_in1k`, `resnet*`. A bare name takes
torchvision when it has the architecture (the classic `alexnet` demo), else timm. This is the
only module that imports torchvision or timm model code.
"""

from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from ..errors import ConfigError, UnknownModelError

TV, TIMM = "torchvision", "timm"
_PREFIXES = {"tv": TV, "torchvision": TV, "timm": TIMM}

@dataclass
class ModelSpec:
    """A resolved model: which code, which weights, and what its authors reported about it."""

    source: str  # "torchvision" | "timm"
    arch: str
    tag: str | None  # torchvision weights enum name, or timm pretrained tag
    pretrained_cfg: dict[str, Any] = field(default_factory=dict)  # input_size, mean, std, crop_pct, ...
    reference: dict[str, Any] = field(default_factory=dict)  # reported top1/top5/params/gmacs + source
    num_classes: int = 1000

    @property
    def id(self) -> str:
        prefix = "tv" if self.source == TV else "timm"
        return f"{prefix}:{self.arch}.{self.tag}" if self.tag else f"{prefix}:{self.arch}"

    @property
    def input_size(self) -> tuple[int, int, int]:
        return tuple(self.pretrained_cfg.get("input_size", (3, 224, 224)))  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# Registry


@cache
def torchvision_models() -> dict[str, list[str]]:
    """torchvision classification architectures -> their ImageNet weight enum names (default first)."""
    import torchvision.models as tvm

    out: dict[str, list[str]] = {}
    for name in tvm.list_models(module=tvm):
        enum = tvm.get_model_weights(name)
        default = enum.DEFAULT.name
        out[name] = [default, *[w.name for w in enum if w.name != default]]
    return out


@cache
def timm_pretrained() -> dict[str, list[str]]:
    """timm architectures -> pretrained tags, default (timm's first) tag first."""
    import timm

    out: dict[str, list[str]] = {}
    for full in timm.list_pretrained():
        arch, _, tag = full.partition(".")
        out.setdefault(arch, []).append(tag)
    return out


def _tv_spec(arch: str, tag: str | None) -> ModelSpec:
    import torchvision.models as tvm

    enum = tvm.get_model_weights(arch)
    try:
        weights = enum[tag] if tag else enum.DEFAULT
    except KeyError:
        raise UnknownModelError(f"tv:{arch}.{tag}", [f"tv:{arch}.{w.name}" for w in enum]) from None
    meta = weights.meta
    tf = weights.transforms()  # ImageClassification: what the weight's authors evaluated with
    crop, resize = [int(x) for x in tf.crop_size], [int(x) for x in tf.resize_size]
    metrics = meta.get("_metrics", {}).get("ImageNet-1K", {})
    cfg = {
        "input_size": (3, crop[0], crop[-1]),
        "crop_size": crop,
        "resize_size": resize,
        "crop_pct": round(crop[0] / resize[0], 4),
        "crop_mode": "center",
        "interpolation": tf.interpolation.value,
        "antialias": bool(tf.antialias),
        "mean": tuple(tf.mean),
        "std": tuple(tf.std),
        "url": weights.url,
    }
    reference = {
        "top1": _finite(metrics.get("acc@1")),  # NaN for feature-only weights (vgg16 IMAGENET1K_FEATURES)
        "top5": _finite(metrics.get("acc@5")),
        "params": meta.get("num_params"),
        "gmacs": meta.get("_ops"),
        "file_size_mb": meta.get("_file_size"),
        "recipe": meta.get("recipe"),
        "source": f"torchvision {weights.__class__.__name__}.{weights.name} meta",
        # how the reported figure was measured: the weight's own transforms
        "protocol": {"input_size": list(cfg["input_size"]), "crop_pct": cfg["crop_pct"], "crop_mode": "center", "policy": "model"},
    }
    return ModelSpec(TV, arch, weights.name, cfg, reference, num_classes=len(meta.get("categories") or []) or 1000)


def _timm_spec(arch: str, tag: str | None) -> ModelSpec:
    from timm.models import get_pretrained_cfg

    tags = timm_pretrained().get(arch)
    if tags is None:
        import timm

        if not timm.is_model(arch):
            raise UnknownModelError(f"timm:{arch}", suggest(arch))
        # An architecture with no pretrained tags: usable with --weights random|PATH.
        return ModelSpec(TIMM, arch, None, {"input_size": (3, 224, 224)}, {}, 1000)
    if tag is None:
        tag = tags[0]
    elif tag not in tags:
        raise UnknownModelError(f"timm:{arch}.{tag}", [f"timm:{arch}.{t}" for t in difflib.get_close_matches(tag, tags, 5, 0.3)] or [f"timm:{arch}.{t}" for t in tags[:5]])
    cfg = get_pretrained_cfg(f"{arch}.{tag}").to_dict()
    from .reference import timm_reference

    reference = timm_reference(f"{arch}.{tag}")
    if reference.get("img_size") and reference.get("crop_pct"):
        # timm's results-imagenet.csv records the size and crop it was measured with (validate.py: the test size
        # and the pretrained config's crop mode)
        size = int(reference["img_size"])
        reference["protocol"] = {"input_size": [3, size, size], "crop_pct": reference["crop_pct"],
                                 "crop_mode": cfg.get("crop_mode") or "center", "policy": "model"}
    return ModelSpec(TIMM, arch, tag, cfg, reference, num_classes=int(cfg.get("num_classes") or 0))


def _finite(value) -> float | None:
    if value is None or value != value:  # NaN
        return None
    return float(value)


def torchvision_references() -> list[tuple[str, dict[str, Any]]]:
    """(model id, reference meta) for every torchvision classification weight, default weights first."""
    return [(f"tv:{arch}.{tag}", _tv_spec(arch, tag).reference) for arch, tags in sorted(torchvision_models().items()) for tag in tags]


def suggest(name: str, n: int = 5) -> list[str]:
    """Close names from both registries, for did-you-mean."""
    base = name.split(":", 1)[-1]
    candidates = dict.fromkeys([*torchvision_models(), *timm_pretrained(), *(f"{a}.{t}" for a, ts in timm_pretrained().items() for t in ts)])
    return difflib.get_close_matches(base, list(candidates), n=n, cutoff=0.6)


def resolve(name: str) -> ModelSpec:
    """One model name (no globs) -> ModelSpec, or UnknownModelError with suggestions."""
    name = name.strip()
    prefix, sep, rest = name.partition(":")
    source = _PREFIXES.get(prefix) if sep else None
    if sep and source is None:
        raise ConfigError(f"unknown model source {prefix!r} in {name!r}: use tv:NAME or timm:NAME")
    body = rest if sep else name
    arch, _, tag = body.partition(".")
    tag = tag or None
    if source == TV or (source is None and arch in torchvision_models()):
        if arch not in torchvision_models():
            raise UnknownModelError(name, [f"tv:{s}" for s in difflib.get_close_matches(arch, list(torchvision_models()), 5, 0.6)])
        return _tv_spec(arch, tag)
    if source == TIMM or arch in timm_pretrained():
        return _timm_spec(arch, tag)
    import timm

    if timm.is_model(arch):
        return _timm_spec(arch, tag)
    raise UnknownModelError(name, suggest(name))


def expand(patterns: list[str]) -> list[ModelSpec]:
    """Names and globs -> specs, in the order given, without duplicates."""
    specs: list[ModelSpec] = []
    seen: set[str] = set()
    for pattern in patterns:
        for name in _glob(pattern) if any(c in pattern for c in "*?[") else [pattern]:
            spec = resolve(name)
            if spec.id not in seen:
                seen.add(spec.id)
                specs.append(spec)
    return specs


def _glob(pattern: str) -> list[str]:
    prefix, sep, body = pattern.partition(":")
    source = _PREFIXES.get(prefix) if sep else None
    body = body if sep else pattern
    names: list[str] = []
    if source in (None, TV):
        names += [f"tv:{a}" for a in torchvision_models() if fnmatch.fnmatchcase(a, body)]
    if source in (None, TIMM):
        tv = set(torchvision_models()) if source is None else set()
        names += [f"timm:{a}" for a in timm_pretrained() if fnmatch.fnmatchcase(a, body) and a not in tv]
        if "." in body:
            names += [f"timm:{a}.{t}" for a, ts in timm_pretrained().items() for t in ts if fnmatch.fnmatchcase(f"{a}.{t}", body)]
    if not names:
        raise UnknownModelError(pattern, suggest(pattern.replace("*", "")))
    return sorted(names)


def list_models(pattern: str | None = None) -> list[dict[str, Any]]:
    """Rows for `bench list`: every torchvision weight and every timm pretrained tag."""
    from .reference import timm_reference

    rows: list[dict[str, Any]] = []
    for arch, tags in torchvision_models().items():
        for tag in tags:
            if pattern and not (fnmatch.fnmatchcase(arch, pattern) or fnmatch.fnmatchcase(f"{arch}.{tag}", pattern)):
                continue
            spec = _tv_spec(arch, tag)
            rows.append({"model": spec.id, "source": TV, "top1": spec.reference.get("top1"), "params_m": _m(spec.reference.get("params")), "input": spec.input_size[-1]})
    for arch, tags in timm_pretrained().items():
        for tag in tags:
            full = f"{arch}.{tag}"
            if pattern and not (fnmatch.fnmatchcase(arch, pattern) or fnmatch.fnmatchcase(full, pattern)):
                continue
            ref = timm_reference(full)
            rows.append({"model": f"timm:{full}", "source": TIMM, "top1": ref.get("top1"), "params_m": _m(ref.get("params")), "input": None})
    return rows


def _m(params: int | None) -> float | None:
    return round(params / 1e6, 2) if params else None
