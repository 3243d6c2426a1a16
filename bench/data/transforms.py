"""Eval transforms: the model's own preprocessing (its pretrained config), or the classic fixed one.

Never hard-code 256/224 for a model that says otherwise: timm models carry `pretrained_cfg`
(input size, crop_pct, interpolation, mean/std) and torchvision weights carry `transforms()`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
POLICIES = ("model", "fixed")


@dataclass(frozen=True)
class TransformSpec:
    """The resolved preprocessing, recorded in every result (a change here shows up in `bench check`)."""

    policy: str  # "model" | "fixed"
    input_size: tuple[int, int, int]
    resize: int  # shorter side before the crop
    crop_pct: float
    interpolation: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    library: str  # which library built the transform

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["input_size"] = list(self.input_size)
        d["mean"] = [round(x, 6) for x in self.mean]
        d["std"] = [round(x, 6) for x in self.std]
        return d


def resolve(spec, model=None, policy: str = "model", overrides: dict[str, Any] | None = None) -> TransformSpec:
    """The TransformSpec for a ModelSpec under a policy; `overrides` (mean, std, crop_pct, ...) win."""
    if policy not in POLICIES:
        from ..errors import ConfigError

        raise ConfigError(f"unknown transform protocol {policy!r}: use one of {', '.join(POLICIES)}")
    if policy == "fixed":
        ts = dict(policy="fixed", input_size=(3, 224, 224), resize=256, crop_pct=0.875, interpolation="bilinear",
                  mean=IMAGENET_MEAN, std=IMAGENET_STD, library="torchvision")
    elif spec.source == "torchvision":
        cfg = spec.pretrained_cfg
        ts = dict(policy="model", input_size=tuple(cfg["input_size"]), resize=int(cfg["resize_size"]),
                  crop_pct=float(cfg["crop_pct"]), interpolation=str(cfg["interpolation"]),
                  mean=tuple(cfg["mean"]), std=tuple(cfg["std"]), library="torchvision")
    else:
        from timm.data import resolve_data_config

        cfg = resolve_data_config({}, model=model, pretrained_cfg=spec.pretrained_cfg if model is None else None)
        size = tuple(cfg["input_size"])
        crop_pct = float(cfg["crop_pct"])
        ts = dict(policy="model", input_size=size, resize=int(size[-1] / crop_pct), crop_pct=crop_pct,
                  interpolation=str(cfg["interpolation"]), mean=tuple(cfg["mean"]), std=tuple(cfg["std"]),
                  library="timm")
    if overrides:
        ts.update({k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()})
        if "crop_pct" in overrides and "resize" not in overrides:
            ts["resize"] = int(ts["input_size"][-1] / float(ts["crop_pct"]))
    return TransformSpec(**ts)


def build(ts: TransformSpec, normalize: bool = True) -> Callable:
    """A PIL -> tensor callable for a TransformSpec.

    timm's `create_transform` when timm resolved the config (it knows crop modes); otherwise
    torchvision's Resize/CenterCrop/Normalize, which is what `weights.transforms()` does. With
    `normalize=False` the output stays uint8 (timm's prefetcher idea): a quarter of the bytes
    through the loader and pinned memory, normalised in one batched op on the device.
    """
    import torch

    if ts.library == "timm" and ts.policy == "model":
        from timm.data import create_transform

        return create_transform(input_size=ts.input_size, interpolation=ts.interpolation, mean=ts.mean,
                                std=ts.std, crop_pct=ts.crop_pct, crop_mode="center", is_training=False,
                                normalize=normalize)
    from torchvision import transforms as tvt

    mode = tvt.InterpolationMode(ts.interpolation)
    steps = [tvt.Resize(ts.resize, interpolation=mode, antialias=True), tvt.CenterCrop(ts.input_size[-1]), tvt.PILToTensor()]
    if normalize:
        steps += [tvt.ConvertImageDtype(torch.float32), tvt.Normalize(ts.mean, ts.std)]
    return tvt.Compose(steps)


class BatchNormalizer:
    """uint8 NCHW batch on any device -> float, scaled to [0, 1] and normalised with the spec's mean/std."""

    def __init__(self, ts: TransformSpec):
        self.mean = ts.mean
        self.std = ts.std
        self._cache: dict = {}

    def __call__(self, x):
        import torch

        if x.dtype != torch.uint8:
            return x  # already normalised (the GPU path does it itself)
        key = (x.device, x.dtype)
        if key not in self._cache:
            mean = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1) * 255
            std = torch.tensor(self.std, device=x.device).view(1, -1, 1, 1) * 255
            self._cache[key] = (mean, std)
        mean, std = self._cache[key]
        return (x.float() - mean) / std
