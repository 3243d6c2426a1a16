"""Devices and precisions: the one owner of the precision names, autocast and default batch sizes.

torch is imported inside the functions, so the config (and `bench --help`) can read the names.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

PRECISIONS = ("fp32", "fp16", "bf16")  # fp16/bf16 are autocast: the weights stay fp32, as timm's validate.py --amp
_AUTOCAST_DTYPES = {"fp16": "float16", "bf16": "bfloat16"}

# Batch sizes when --batch-size is not given, per device kind and purpose. Evaluation streams the
# data set, so larger is faster until memory runs out (the OOM back-off halves it). Timing repeats
# one batch until the budget is spent: on 2 CPU cores a step of vgg16 or vit_b_16 at batch 32 takes
# ~4 s, and batch 8 is what lets `bench profile` of six classic models finish in its 150 s budget.
# MPS shares memory with the host, so it gets the GPU sizes only where they fit on small Macs.
_DEFAULT_BATCH = {
    "eval": {"cuda": 256, "mps": 64, "cpu": 32},
    "timing": {"cuda": 256, "mps": 64, "cpu": 8},
}


def kind(device: Any) -> str:
    """'cuda:1' / torch.device('cuda', 1) -> 'cuda'."""
    return str(getattr(device, "type", device)).split(":")[0]


def cuda_index(device: Any, cuda: Any = None) -> int:
    """The CUDA device number of 'cuda:1' / torch.device('cuda', 1); without one ('cuda', None) the current CUDA
    device, which is what torch means by a bare 'cuda'. `cuda`: the torch.cuda module, or a stand-in in tests."""
    if isinstance(device, str):
        index = int(device.split(":", 1)[1]) if device.startswith("cuda:") else None
    else:
        index = getattr(device, "index", None)
    if index is not None:
        return index
    if cuda is None:
        import torch

        cuda = torch.cuda
    return cuda.current_device()


def default_batch_size(device: Any, purpose: str = "eval") -> int:
    """The batch size used when none is given: `purpose` is "eval" (accuracy) or "timing" (efficiency)."""
    return _DEFAULT_BATCH[purpose].get(kind(device), _DEFAULT_BATCH[purpose]["cpu"])


def autocast(device: Any, precision: str) -> contextlib.AbstractContextManager[Any]:
    """The autocast context for a precision name (fp32: none)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp32":
        return contextlib.nullcontext()
    import torch

    return torch.autocast(device_type=kind(device), dtype=getattr(torch, _AUTOCAST_DTYPES[precision]))


# TF32 (CUDA, Ampere and newer): off by default, so that "fp32" means IEEE fp32 for convolutions and matmuls
# alike. torch's own defaults disagree with each other (cuDNN convolutions allow TF32, matmuls do not), so an
# untouched fp32 run would time a ResNet in TF32 and a ViT's linear layers in fp32, and neither figure would be
# "fp32" as other tools report it. `--tf32` turns both on (the speed users of A100/H100 often choose); fp16/bf16
# autocast runs its convolutions and matmuls in 16 bits either way. The flags in force are recorded in every
# result and are part of the key on CUDA.
DEFAULT_TF32 = False


@contextlib.contextmanager
def tf32(enabled: bool) -> Iterator[None]:
    """Set TF32 for cuBLAS matmuls and cuDNN convolutions alike, restoring the previous flags afterwards."""
    import torch

    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn


def tf32_flags() -> dict[str, bool]:
    """The TF32 switches in force, as recorded with a measurement."""
    import torch

    return {
        "allow_tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32),
        "allow_tf32_cudnn": bool(torch.backends.cudnn.allow_tf32),
    }
