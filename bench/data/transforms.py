"""Eval transforms: exactly the library's own preprocessing for a weight, or the classic fixed one.

timm: `create_transform(**resolve_data_config(...))` in eval mode, at the test size as timm's
validate.py uses by default (`--use-train-size` opts out), with the pretrained config's crop mode
(center / squash / border). torchvision: `weights.transforms()` (ImageClassification: Resize of the
shorter side, CenterCrop, antialias). Both data paths (PIL in loader workers, tensors on the GPU)
apply the same transform object built from one TransformSpec.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from ..errors import ConfigError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
POLICIES = ("model", "fixed")
CROP_MODES = ("center", "squash", "border")
# How a file becomes an RGB image: what timm's and torchvision's dataset loaders do.
DECODE = "pil-convert-rgb"


@dataclass(frozen=True)
class TransformSpec:
    """Everything that decides the pixels a model sees; recorded in every result (`bench check` sees a change).

    `resize` is the argument of the library's resize step: torchvision's `resize_size` (one value:
    the shorter side), timm's per-axis scale size floor(H / crop_pct), floor(W / crop_pct) (shorter
    side for a square centre crop, each axis for squash, the longest side for border).
    """

    policy: str  # "model" | "fixed"
    library: str  # "timm" | "torchvision": whose transform this is
    input_size: tuple[int, int, int]  # C, H, W after the crop
    resize: tuple[int, ...]
    crop_pct: float
    crop_mode: str  # "center" | "squash" | "border"
    interpolation: str
    antialias: bool
    mean: tuple[float, ...]
    std: tuple[float, ...]
    test_size: bool = False  # timm: the pretrained config's test_input_size / test_crop_pct were used
    decode: str = DECODE

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe and deterministic (lists, rounded floats): hashed into the result identity."""
        d = asdict(self)
        d["input_size"] = [int(x) for x in self.input_size]
        d["resize"] = [int(x) for x in self.resize]
        d["crop_pct"] = round(float(self.crop_pct), 6)
        d["mean"] = [round(float(x), 6) for x in self.mean]
        d["std"] = [round(float(x), 6) for x in self.std]
        return d


def resolve(
    spec, model=None, policy: str = "model", overrides: dict[str, Any] | None = None, use_train_size: bool = False
) -> TransformSpec:
    """The TransformSpec for a ModelSpec under a policy; `overrides` (mean, std, crop_pct, interpolation) win."""
    if policy not in POLICIES:
        raise ConfigError(f"unknown transform protocol {policy!r}: use one of {', '.join(POLICIES)}")
    overrides = dict(overrides or {})
    if policy == "fixed":
        # torchvision's ImageClassification defaults: Resize 256, CenterCrop 224, bilinear, ImageNet mean/std
        return _torchvision(
            "fixed",
            {
                "crop_size": [224],
                "resize_size": [256],
                "interpolation": "bilinear",
                "antialias": True,
                "mean": IMAGENET_MEAN,
                "std": IMAGENET_STD,
            },
            overrides,
        )
    if spec.source == "torchvision":
        return _torchvision("model", spec.pretrained_cfg, overrides)
    return _timm(spec, model, overrides, use_train_size)


def _torchvision(policy: str, cfg: dict[str, Any], overrides: dict[str, Any]) -> TransformSpec:
    crop = [int(x) for x in cfg["crop_size"]]
    if len(crop) != 1:  # ImageClassification(crop_size: int): build() could not give the non-square crop on both data paths
        raise ConfigError(f"a torchvision eval crop is square (ImageClassification takes one crop_size), got crop_size {crop}")
    h = w = crop[0]
    resize = tuple(int(x) for x in cfg["resize_size"])  # ImageClassification: one value, the shorter side
    crop_pct = h / resize[0]
    if overrides.get("crop_pct"):
        crop_pct = float(overrides["crop_pct"])
        resize = (math.floor(h / crop_pct),)
    return TransformSpec(
        policy=policy,
        library="torchvision",
        input_size=(3, h, w),
        resize=resize,
        crop_pct=crop_pct,
        crop_mode="center",
        interpolation=str(overrides.get("interpolation") or cfg["interpolation"]),
        antialias=bool(cfg.get("antialias", True)),
        mean=tuple(overrides.get("mean") or cfg["mean"]),
        std=tuple(overrides.get("std") or cfg["std"]),
    )


def _timm(spec, model, overrides: dict[str, Any], use_train_size: bool) -> TransformSpec:
    from timm.data import resolve_data_config

    own = getattr(model, "pretrained_cfg", None) if model is not None else None
    pretrained_cfg = dict(own or spec.pretrained_cfg)
    cfg = resolve_data_config(
        {k: v for k, v in overrides.items() if v is not None}, pretrained_cfg=pretrained_cfg, use_test_size=not use_train_size
    )
    c, h, w = (int(x) for x in cfg["input_size"])
    crop_pct = float(cfg["crop_pct"])
    crop_mode = str(cfg["crop_mode"] or "center")
    test_size = not use_train_size and bool(pretrained_cfg.get("test_input_size") or pretrained_cfg.get("test_crop_pct"))
    ts = TransformSpec(
        policy="model",
        library="timm",
        input_size=(c, h, w),
        resize=(math.floor(h / crop_pct), math.floor(w / crop_pct)),
        crop_pct=crop_pct,
        crop_mode=crop_mode,
        interpolation=str(cfg["interpolation"]),
        antialias=True,
        mean=tuple(cfg["mean"]),
        std=tuple(cfg["std"]),
        test_size=test_size,
    )
    return replace(ts, interpolation=_resize_interpolation(ts))


def _resize_interpolation(ts: TransformSpec) -> str:
    """The interpolation timm's own eval transform really resizes with, which is what the spec records: timm
    1.0.29 builds the non-square centre crop's ResizeKeepRatio without the configured interpolation (bilinear
    whatever the config says; later releases pass it), and the pixels follow the step, not the config."""
    for step in getattr(build(ts, normalize=False), "transforms", ()):  # a torchvision Compose
        if type(step).__name__ in ("Resize", "ResizeKeepRatio"):
            mode = step.interpolation
            return str(getattr(mode, "value", mode))
    return ts.interpolation


def build(ts: TransformSpec, normalize: bool = True) -> Callable:
    """The library's own eval transform for `ts`: PIL image (or CHW uint8 tensor) -> tensor.

    With `normalize=False` the output stays uint8 (timm's prefetcher idea): a quarter of the bytes
    through the loader and pinned memory, normalised in one batched op on the device
    (BatchNormalizer). Tensor input goes through the same resize/crop steps (the GPU data path).
    """
    if ts.library == "timm":
        from timm.data import create_transform

        return create_transform(
            input_size=ts.input_size,
            is_training=False,
            interpolation=ts.interpolation,
            mean=ts.mean,
            std=ts.std,
            crop_pct=ts.crop_pct,
            crop_mode=ts.crop_mode,
            normalize=normalize,
        )
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import transforms as tvt
    from torchvision.transforms._presets import ImageClassification

    mode = InterpolationMode(ts.interpolation)
    if normalize:  # weights.transforms() itself
        return ImageClassification(
            crop_size=ts.input_size[-1],
            resize_size=ts.resize[0],
            mean=ts.mean,
            std=ts.std,
            interpolation=mode,
            antialias=ts.antialias,
        )
    # ImageClassification.forward up to (not including) convert_image_dtype + normalize
    return tvt.Compose(
        [
            tvt.Resize(list(ts.resize), interpolation=mode, antialias=ts.antialias),
            tvt.CenterCrop(list(ts.input_size[1:])),
            MaybePILToTensor(),
        ]
    )


def build_for_tensors(ts: TransformSpec, float_resize: bool = False) -> Callable:
    """The spatial steps of `build(ts, normalize=False)` for CHW uint8 tensors (the GPU decode path).

    Every step and its geometry come from the library's own transform; only the resampling kernel
    changes: torchvision.transforms.v2 resizes uint8 tensors with PIL's antialiased filters (v1 on
    tensors is off by one level on ~18% of pixels), and pads with a per-channel fill, which timm's
    CenterCropOrPad cannot do on tensors. An unknown step is refused rather than approximated.

    That uint8 kernel is CPU-only (torchvision 0.26-0.29): on CUDA torchvision resizes uint8 in float32 and
    rounds. `float_resize=True` runs that kernel on any device, so a CPU can certify what a GPU runs.
    """
    from torchvision.transforms import Compose

    steps: list[Callable[..., Any]] = []
    composed = build(ts, normalize=False)
    assert isinstance(composed, Compose)  # both libraries' eval transforms are a torchvision Compose without normalize
    for step in composed.transforms:
        kind = type(step).__name__
        if kind == "Resize" and getattr(step, "max_size", None) is None:
            steps.append(_V2Resize(step.size, step.interpolation, step.antialias, float_resize))
        elif kind == "ResizeKeepRatio":  # timm: size from its own get_params (shorter side, or longest for border)
            steps.append(_KeepRatio(step, float_resize))
        elif kind == "CenterCrop":
            steps.append(step)  # exact on tensors
        elif kind == "CenterCropOrPad":
            steps.append(_CropOrPad(step.size, step.fill))
        elif kind == "MaybePILToTensor":
            continue
        else:
            raise ValueError(f"the tensor data path has no equivalent of {step!r}: use --data-path cpu")
    return Compose(steps)


def _resize(img, size, interpolation, antialias: bool, float_resize: bool):
    """torchvision v2's resize; with `float_resize` a uint8 image goes through float32 and back, rounded and clamped,
    exactly as torchvision does on CUDA (and on CPUs without the native uint8 kernel), nearest modes excepted."""
    import torch
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.v2 import functional as F

    nearest = InterpolationMode(interpolation) in (InterpolationMode.NEAREST, InterpolationMode.NEAREST_EXACT)
    if not float_resize or nearest or img.dtype != torch.uint8:
        return F.resize(img, size, interpolation=interpolation, antialias=antialias)
    out = F.resize(img.float(), size, interpolation=interpolation, antialias=antialias)
    return out.clamp_(0, 255).round_().to(torch.uint8)


class _V2Resize:
    def __init__(self, size, interpolation, antialias, float_resize: bool = False):
        self.size, self.interpolation, self.antialias = size, interpolation, True if antialias is None else antialias
        self.float_resize = float_resize

    def __call__(self, img):
        size = [self.size] if isinstance(self.size, int) else list(self.size)
        return _resize(img, size, self.interpolation, self.antialias, self.float_resize)


class _KeepRatio:
    def __init__(self, step, float_resize: bool = False):
        self.step, self.float_resize = step, float_resize

    def __call__(self, img):
        s = self.step
        size = s.get_params(img, s.size, s.longest)  # no random scale/aspect in eval
        return _resize(img, size, s.interpolation, True, self.float_resize)


class _CropOrPad:
    """timm.data.transforms.center_crop_or_pad with a per-channel fill that works on tensors."""

    def __init__(self, size, fill):
        self.size, self.fill = tuple(size), fill

    def __call__(self, img):
        from torchvision.transforms.v2 import functional as F

        crop_h, crop_w = self.size
        h, w = img.shape[-2:]
        if crop_w > w or crop_h > h:
            pad_w, pad_h = max(crop_w - w, 0), max(crop_h - h, 0)
            img = F.pad(img, [pad_w // 2, pad_h // 2, (pad_w + 1) // 2, (pad_h + 1) // 2], fill=list(self.fill))
            h, w = img.shape[-2:]
        top, left = round((h - crop_h) / 2.0), round((w - crop_w) / 2.0)
        return img[..., top : top + crop_h, left : left + crop_w]


class MaybePILToTensor:
    """PIL -> uint8 CHW tensor; a tensor passes through (the GPU path decodes to tensors itself)."""

    def __call__(self, img):
        import torch
        from torchvision.transforms.functional import pil_to_tensor

        return img if isinstance(img, torch.Tensor) else pil_to_tensor(img)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class BatchNormalizer:
    """uint8 NCHW batch on any device -> float, scaled to [0, 1] and normalised with the spec's mean/std."""

    def __init__(self, ts: TransformSpec):
        self.mean = ts.mean
        self.std = ts.std
        self._cache: dict = {}

    def __call__(self, x):
        import torch

        if x.dtype != torch.uint8:
            return x  # already normalised
        key = (x.device, x.dtype)
        if key not in self._cache:
            mean = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1) * 255
            std = torch.tensor(self.std, device=x.device).view(1, -1, 1, 1) * 255
            self._cache[key] = (mean, std)
        mean, std = self._cache[key]
        return (x.float() - mean) / std
