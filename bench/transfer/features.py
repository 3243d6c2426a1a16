"""Pre-logit features: what the model's classifier sees, in eval mode, through the model's own eval transform.

timm: `forward_head(forward_features(x), pre_logits=True)` (the pooled, normed, pre-classifier vector the
library itself calls pre-logits). torchvision: the input of the final classifier (the last `nn.Linear`
that produces the model's output), caught by a forward hook; a network whose output is not made by a
Linear on a pooled vector (SqueezeNet's conv head) has no pooled features and is refused (exit 2).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

SPEC_VERSION = 1  # bump when what a feature is changes: it is part of every cache key


class NoPooledFeatures(ConfigError):
    """The model has no pooled pre-logit vector to probe (exit 2)."""


@dataclass(frozen=True)
class FeatureSpec:
    """How a feature vector is taken from a model: part of the cache key and of every result's key."""

    kind: str  # timm-pre-logits | torchvision-classifier-input
    module: str | None = None  # torchvision: the classifier module whose input is the feature
    version: int = SPEC_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "module": self.module, "version": self.version}


class Extractor:
    """model + FeatureSpec -> a callable from a normalised batch to (batch, dim) float features."""

    def __init__(self, model, source: str, model_id: str = "model"):
        import torch

        self.model = model.eval()
        self.hooked: list[Any] = []
        if source == "timm" or (hasattr(model, "forward_head") and hasattr(model, "forward_features")):
            if not (hasattr(model, "forward_head") and hasattr(model, "forward_features")):
                raise NoPooledFeatures(f"{model_id} has no forward_head/forward_features: it has no pooled features to probe")
            self.spec = FeatureSpec("timm-pre-logits")
            self._fn: Callable = lambda x: model.forward_head(model.forward_features(x), pre_logits=True)
            return
        linears = [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
        if not linears:
            raise NoPooledFeatures(
                f"{model_id} has no Linear classifier (its head is {type(_last_child(model)).__name__}): "
                f"it has no pooled features to probe; pick a model with a pooled head"
            )
        name, head = linears[-1]
        self.spec = FeatureSpec("torchvision-classifier-input", name)
        self._head = head
        self._fn = self._hooked

    def _hooked(self, x):
        box: dict[str, Any] = {}

        def grab(module, args, output):
            box["x"], box["y"] = args[0], output

        handle = self._head.register_forward_hook(grab)
        try:
            out = self.model(x)
        finally:
            handle.remove()
        if "x" not in box or box["y"] is not out and not _same(box["y"], out):
            raise NoPooledFeatures(
                f"the model's output is not made by its last Linear ({self.spec.module}): it has no pooled features to probe"
            )
        return box["x"]

    def __call__(self, x):
        feats = self._fn(x)
        if feats.ndim != 2:
            raise NoPooledFeatures(
                f"the model's pre-logits have shape {tuple(feats.shape)}, not (batch, dim): it has no pooled features to probe"
            )
        return feats


def _same(a, b) -> bool:
    import torch

    return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape and bool(torch.equal(a, b))


def _last_child(model):
    children = list(model.children())
    return children[-1] if children else model


@dataclass
class Extracted:
    """Features (n, dim) float32 and labels (n,) of one part, in its index order; `failed` lists unreadable images."""

    features: Any  # numpy array
    labels: Any
    indices: Any
    failed: list[dict[str, Any]]


def extract(
    extractor: Extractor,
    images,
    indices: Sequence[int],
    ts,
    device: str,
    batch_size: int,
    precision: str = "fp32",
    workers: int | None = None,
    progress: bool = False,
    data_path: str = "auto",
) -> Extracted:
    """Features of `images[indices]` through the model's eval transform (the `bench run` loaders)."""
    import numpy as np
    import torch
    from tqdm import tqdm

    from ..data import loaders
    from ..measure.device import autocast

    feats, labs, idxs, failed = [], [], [], []
    if len(indices) == 0:
        return Extracted(np.zeros((0, 0), np.float32), np.zeros(0, np.int64), np.zeros(0, np.int64), [])
    pipe = loaders.build(images, list(indices), ts, device, batch_size, workers, data_path)
    model = extractor.model.to(device)
    bar = tqdm(total=len(indices), unit="img", disable=not progress, leave=False)
    with torch.inference_mode():
        for x, y, idx, errs in pipe.batches:
            bar.update(len(y))
            ok = torch.tensor([not e for e in errs], dtype=torch.bool)
            failed += [{"index": int(i), "error": e} for i, e in zip(idx.tolist(), errs) if e]
            if not ok.any():
                continue
            x = x.to(device)
            if not ok.all():
                x, y, idx = x[ok.to(x.device)], y[ok], idx[ok]
            x = pipe.finish(x)
            with autocast(device, precision):
                f = extractor(x)
            feats.append(f.float().cpu().numpy())
            labs.append(y.numpy())
            idxs.append(idx.numpy())
    bar.close()
    del model
    if not feats:
        return Extracted(np.zeros((0, 0), np.float32), np.zeros(0, np.int64), np.zeros(0, np.int64), failed)
    return Extracted(
        np.concatenate(feats).astype(np.float32),
        np.concatenate(labs).astype(np.int64),
        np.concatenate(idxs).astype(np.int64),
        failed,
    )
