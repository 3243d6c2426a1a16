"""Model registry: resolve names to self-describing specs, and build models with their weights.

`alexnet`, `tv:resnet50.IMAGENET1K_V2`, `timm:resnet50.a1_in1k`, `resnet*`. A bare name takes
torchvision when it has the architecture and weight (the classic `alexnet` demo), else timm
(`resnet50.a1_in1k`). `bench run` and `bench list` expand globs through the same `match`. This is the
only module that imports torchvision or timm model code.
"""

from __future__ import annotations

import difflib
import fnmatch
import math
import sys
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from ..errors import ConfigError, UnknownModelError
from .ids import ModelId

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
        return str(ModelId("tv" if self.source == TV else "timm", self.arch, self.tag or None))

    @property
    def input_size(self) -> tuple[int, int, int]:
        return tuple(self.pretrained_cfg.get("input_size", (3, 224, 224)))


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
        "top1": finite(metrics.get("acc@1")),  # NaN for feature-only weights (vgg16 IMAGENET1K_FEATURES)
        "top5": finite(metrics.get("acc@5")),
        "params": meta.get("num_params"),
        "gmacs": meta.get("_ops"),
        "file_size_mb": meta.get("_file_size"),
        "recipe": meta.get("recipe"),
        "source": f"torchvision {weights.__class__.__name__}.{weights.name} meta",
        # how the reported figure was measured: the weight's own transforms
        "protocol": {
            "input_size": list(cfg["input_size"]),
            "crop_pct": cfg["crop_pct"],
            "crop_mode": "center",
            "policy": "model",
        },
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
        raise UnknownModelError(
            f"timm:{arch}.{tag}",
            [f"timm:{arch}.{t}" for t in difflib.get_close_matches(tag, tags, 5, 0.3)] or [f"timm:{arch}.{t}" for t in tags[:5]],
        )
    pretrained = get_pretrained_cfg(f"{arch}.{tag}")
    assert pretrained is not None  # `tag` is one of timm's pretrained tags of `arch`
    cfg = pretrained.to_dict()
    from .reference import timm_reference

    return ModelSpec(TIMM, arch, tag, cfg, timm_reference(f"{arch}.{tag}", cfg), num_classes=int(cfg.get("num_classes") or 0))


def finite(value: Any) -> float | None:
    """A float, or None for missing/NaN (torchvision marks feature-only weights' accuracy with NaN)."""
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def torchvision_references() -> list[tuple[str, dict[str, Any]]]:
    """(model id, reference meta) for every torchvision classification weight, default weights first."""
    specs = (_tv_spec(arch, tag) for arch, tags in sorted(torchvision_models().items()) for tag in tags)
    return [(spec.id, spec.reference) for spec in specs]


def suggest(name: str, n: int = 5) -> list[str]:
    """Close names from both registries for did-you-mean, in the prefixed form that resolves (`tv:resnet50`,
    `timm:resnet50.a1_in1k`); a `tv:`/`timm:` prefix keeps to that registry."""
    given = ModelId.parse(name)
    source = _source(given)
    forms: dict[str, list[str]] = {}  # unprefixed candidate -> its prefixed forms
    for prefix, registry, weights in (("tv", TV, torchvision_models), ("timm", TIMM, timm_pretrained)):
        if source in (None, registry):
            for arch, tags in weights().items():
                for candidate in (ModelId(prefix, arch), *(ModelId(prefix, arch, tag) for tag in tags)):
                    forms.setdefault(candidate.name, []).append(str(candidate))
    close = difflib.get_close_matches(given.name, list(forms), n=n, cutoff=0.6)
    return [f for c in close for f in forms[c]][:n]


def _tag_suggestions(arch: str, tag: str, n: int = 5) -> list[str]:
    """Weights of `arch` in both registries, closest to `tag` first (a bare `arch.tag` that neither has)."""
    tv = {t: str(ModelId("tv", arch, t)) for t in torchvision_models().get(arch, [])}
    timm_ = {t: str(ModelId("timm", arch, t)) for t in timm_pretrained().get(arch, [])}
    both = {**tv, **timm_}
    close = difflib.get_close_matches(tag, list(both), n=n, cutoff=0.3)
    return [both[t] for t in close] or [*list(tv.values())[:2], *list(timm_.values())[:3]]


def resolve(name: str) -> ModelSpec:
    """One model name (no globs) -> ModelSpec, or UnknownModelError with suggestions.

    A bare name takes torchvision when it has the architecture and (if a tag is given) that weight
    enum (`resnet50.IMAGENET1K_V2`), else timm (`resnet50.a1_in1k`, `tf_efficientnet_lite0`).
    """
    name = name.strip()
    given = ModelId.parse(name)
    source = _source(given)
    if given.prefix is not None and source is None:
        raise ConfigError(f"unknown model source {given.prefix!r} in {name!r}: use tv:NAME or timm:NAME")
    arch, tag = given.arch, given.tag or None  # `resnet50.` is resnet50's default weight
    if source == TV:
        if arch not in torchvision_models():
            raise UnknownModelError(
                name, [f"tv:{s}" for s in difflib.get_close_matches(arch, list(torchvision_models()), 5, 0.6)]
            )
        return _tv_spec(arch, tag)
    if source == TIMM:
        return _timm_spec(arch, tag)
    in_tv, timm_tags = arch in torchvision_models(), timm_pretrained().get(arch)
    if in_tv and (tag is None or tag == "DEFAULT" or tag in torchvision_models()[arch]):
        return _tv_spec(arch, tag)
    if timm_tags and (tag is None or tag in timm_tags):
        return _timm_spec(arch, tag)
    if in_tv or timm_tags:
        raise UnknownModelError(name, _tag_suggestions(arch, tag or ""))
    import timm

    if timm.is_model(arch):
        return _timm_spec(arch, tag)
    raise UnknownModelError(name, suggest(name))


def _source(given: ModelId) -> str | None:
    """The registry a `tv:` / `torchvision:` / `timm:` prefix names; None for a bare name or an unknown prefix."""
    return None if given.prefix is None else _PREFIXES.get(given.prefix)


def is_glob(name: str) -> bool:
    return any(c in name for c in "*?[")


def expand(patterns: list[str]) -> list[ModelSpec]:
    """Names and globs -> specs, in the order given, without duplicates. Globs go through `match`,
    the same expansion `bench list` shows, and leave out tags that are not ImageNet classifiers."""
    specs: list[ModelSpec] = []
    seen: set[str] = set()
    for pattern in patterns:
        if is_glob(pattern):
            found, skipped = match(pattern)
            if skipped:
                print(
                    f"{pattern}: left out {len(skipped)} tag(s) that are not ImageNet classifiers "
                    f"(`bench list '{pattern}'` says why; name one to run it anyway)",
                    file=sys.stderr,
                )
            if not found:
                raise ConfigError(
                    f"{pattern!r} matches only tags that are not ImageNet classifiers "
                    f"({skipped[0][0]}: {skipped[0][1]}): name one exactly to run it anyway"
                )
        else:
            found = [resolve(pattern)]
        for spec in found:
            if spec.id not in seen:
                seen.add(spec.id)
                specs.append(spec)
    return specs


def match(pattern: str) -> tuple[list[ModelSpec], list[tuple[str, str]]]:
    """A glob -> (specs to run, [(id, why it is left out)]): the one expansion `run` and `list` share.

    Without a dot the glob matches architectures, each with its default weight (a bare glob gives
    an architecture both registries have to torchvision, as a bare name does); with a dot it
    matches every weight: `resnet50.*`, `timm:resnet5*.a1*`. Weights that are not ImageNet
    classifiers (feature-only, CLIP image towers, heads of an unknown label set) are left out.
    """
    given = ModelId.parse(pattern)
    source = _source(given)
    if given.prefix is not None and source is None:
        raise ConfigError(f"unknown model source {given.prefix!r} in {pattern!r}: use tv:PATTERN or timm:PATTERN")
    body = given.name
    names: list[tuple[str, str, str | None]] = []  # (source, arch, tag)
    if given.tag is not None:  # a dot: the glob matches weights
        if source in (None, TV):
            names += [(TV, a, t) for a, ts in torchvision_models().items() for t in ts if fnmatch.fnmatchcase(f"{a}.{t}", body)]
        if source in (None, TIMM):
            names += [(TIMM, a, t) for a, ts in timm_pretrained().items() for t in ts if fnmatch.fnmatchcase(f"{a}.{t}", body)]
    else:
        tv = torchvision_models()
        if source in (None, TV):
            names += [(TV, a, None) for a in tv if fnmatch.fnmatchcase(a, body)]
        if source in (None, TIMM):
            names += [
                (TIMM, a, None) for a in timm_pretrained() if fnmatch.fnmatchcase(a, body) and (source == TIMM or a not in tv)
            ]
    if not names:
        raise UnknownModelError(pattern, suggest(pattern.replace("*", "").replace("?", "")))
    specs, skipped = [], []
    for src, arch, tag in names:
        spec = _tv_spec(arch, tag) if src == TV else _timm_spec(arch, tag)
        why = not_a_classifier(spec)
        if why:
            skipped.append((spec.id, why))
        else:
            specs.append(spec)
    return sorted(specs, key=lambda s: s.id), sorted(skipped)


def not_a_classifier(spec: ModelSpec) -> str | None:
    """Why a weight is no ImageNet classifier we can score (None when it is one)."""
    if spec.source == TV:
        import torchvision.models as tvm

        categories = tvm.get_model_weights(spec.arch)[spec.tag].meta.get("categories")
        return None if categories else "feature-only weights: no classifier categories (torchvision meta)"
    n = spec.num_classes
    if not n:
        return "feature-only: no classifier head (num_classes 0)"
    if not _label_space_known(n):
        return (
            f"{n}-way head matches no ImageNet label space (a CLIP image tower or another label set): "
            "run it by name with --label-space FILE"
        )
    return None


@cache
def _label_space_known(num_classes: int) -> bool:
    from ..data import labels
    from ..errors import LabelSpaceError

    try:
        labels.for_head(num_classes)
    except LabelSpaceError:
        return False
    return True


def list_models(pattern: str | None = None) -> list[dict[str, Any]]:
    """Rows for `bench list`: what `run` would expand `pattern` to (default: every weight of both
    registries) with what is reported about each weight (top-1 and the input size / crop_pct it was
    measured at), params, paper, year and extra training data (bench.models.reference); then the
    weights a glob leaves out, each with `skipped` saying why."""
    from .reference import primary_figure, timm_figures, weight_info

    if pattern is None or is_glob(pattern):
        specs, skipped = match(pattern or "*.*")
    else:
        specs, skipped = [resolve(pattern)], []
    rows: list[dict[str, Any]] = []
    for spec in specs:
        if spec.source == TV:
            rows.append(
                _list_row(
                    spec.id,
                    TV,
                    spec.reference.get("top1"),
                    spec.input_size[-1],
                    spec.pretrained_cfg.get("crop_pct"),
                    spec.reference.get("params"),
                    weight_info(spec.id),
                )
            )
            continue
        full = f"{spec.arch}.{spec.tag}" if spec.tag else spec.arch
        fig = primary_figure(timm_figures(full), spec.pretrained_cfg) if spec.tag else None
        params = round(fig.params_m * 1e6) if fig and fig.params_m else None
        rows.append(
            _list_row(
                spec.id,
                TIMM,
                fig.top1 if fig else None,
                fig.img_size if fig else None,
                fig.crop_pct if fig else None,
                params,
                weight_info(spec.id),
            )
        )
    rows += [
        {
            "model": mid,
            "source": TV if ModelId.parse(mid).prefix == "tv" else TIMM,
            "top1": None,
            "input": None,
            "crop_pct": None,
            "params_m": None,
            "paper": None,
            "arxiv": None,
            "year": None,
            "extra_data": None,
            "skipped": why,
        }
        for mid, why in skipped
    ]
    return rows


def _list_row(model_id: str, source: str, top1, size, crop_pct, params, info) -> dict[str, Any]:
    return {
        "model": model_id,
        "source": source,
        "top1": top1,
        "input": size,
        "crop_pct": crop_pct,
        "params_m": _m(params),
        "paper": info.paper,
        "arxiv": info.arxiv,
        "year": info.year,
        "extra_data": info.extra_data,
        "skipped": None,
    }


def _m(params: int | None) -> float | None:
    return round(params / 1e6, 2) if params else None
