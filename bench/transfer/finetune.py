"""BiT fine-tune probe: the whole network trained on a new task with the BiT-HyperRule (hyperrule.py).

What BiT's `bit_pytorch/train.py` does, made reproducible: a zero-initialised head, SGD momentum 0.9
without weight decay, the rule's warm-up and staircase schedule, resize-then-random-crop and flip at the
rule's resolution, mixup by the rule, micro-batches accumulated to the logical batch, and logits on the
test images resized to the crop size. Every random choice comes from generators seeded by `seed` (the
caller's global RNG is left as it was), so two runs on CPU give bit-identical logits.

Where we differ from the source, on purpose: BiT's loader keeps a short last batch per epoch and draws
unseeded; here every logical batch has exactly `batch_size` images (the next ones of an endless stream of
seeded permutations, or draws with replacement when the set is smaller than the batch, as BiT's few-shot
sampler does), and crops, flips and mixup partners are drawn per logical batch, so that splitting it into
micro-batches changes nothing but the floating-point order (and BatchNorm statistics, which BiT's
GroupNorm models do not have).
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import BenchError, ConfigError
from . import hyperrule

if TYPE_CHECKING:
    import torch
    from PIL import Image

# Resized training images are kept in memory when they fit this budget (resizing a 500x500 photo to
# 512x512 costs more than the forward pass at batch 512 on a GPU); otherwise they are resized per use.
RESIZE_CACHE_BYTES = 4 << 30
# torchvision's Resize default on PIL images, as BiT's `tv.transforms.Resize((precrop, precrop))` uses.
INTERPOLATION = "bilinear"


@dataclass(frozen=True)
class FinetuneConfig:
    """The knobs; None means "what the HyperRule says for this training set"."""

    batch_size: int = 512  # BiT's; lr scales with it
    base_lr: float = 0.003
    momentum: float = 0.9
    steps: int | None = None  # None: the HyperRule's schedule for the train size; an int caps it (CPU smoke runs)
    mixup_alpha: float | None = None  # None: the HyperRule's rule
    resolution: tuple[int, int] | None = None  # None: the HyperRule's bucket from the images' size
    micro_batch_size: int | None = None  # None: the whole batch at once, halved on CUDA out-of-memory


@dataclass
class FinetuneOutcome:
    logits: np.ndarray  # (n_test, num_classes) float32, on the test images, eval transform at the rule's test resolution
    settings: dict  # everything that decided the numbers: resolution, schedule, warmup, mixup alpha, lr, batch, steps run, seed
    train_loss: list[float]  # per step
    lr: list[float] = field(default_factory=list)  # per step, as set before the update


# ---------------------------------------------------------------------------------------------------
# the head


def _zero_linear(old: torch.nn.Module, num_classes: int) -> torch.nn.Module:
    """A zero-initialised replacement of a Linear (or a 1x1 Conv2d head) with `num_classes` outputs."""
    import torch

    weight = next(old.parameters())
    new: torch.nn.Module
    if isinstance(old, torch.nn.Linear):
        new = torch.nn.Linear(old.in_features, num_classes, device=weight.device, dtype=weight.dtype)
    else:
        assert isinstance(old, torch.nn.Conv2d)
        new = torch.nn.Conv2d(old.in_channels, num_classes, 1, device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        for p in new.parameters():
            p.zero_()
    return new


# torchvision families: where the final layer lives. resnet/resnext/wide_resnet/regnet/googlenet/
# inception/shufflenet: fc; vit: heads.head; swin: head; densenet: classifier (a Linear); vgg/alexnet/
# efficientnet/mobilenet/mnasnet/convnext/maxvit: the last Linear of the classifier Sequential.
_TV_HEADS = ("fc", "heads.head", "head", "classifier")
_ACTIVATIONS = ("ReLU", "ReLU6", "GELU", "SiLU", "Hardswish", "Sigmoid", "Softmax")


def _tv_head_path(model: torch.nn.Module) -> str:
    import torch

    for path in _TV_HEADS:
        try:
            module = model.get_submodule(path)
        except AttributeError:
            continue
        if isinstance(module, torch.nn.Linear):
            return path
        if isinstance(module, torch.nn.Sequential):
            children = list(module.named_children())
            last = [i for i, (_, m) in enumerate(children) if isinstance(m, torch.nn.Linear | torch.nn.Conv2d)]
            if not last:
                continue
            after = [type(m).__name__ for _, m in children[last[-1] + 1 :]]
            if any(a in _ACTIVATIONS for a in after):
                # squeezenet: a zero head followed by ReLU outputs 0 with zero gradient and never learns
                raise ConfigError(
                    f"{type(model).__name__}'s classifier ends in {', '.join(after)} after its last layer: a "
                    "zero-initialised head would never learn; fine-tune a model whose head is a plain Linear"
                )
            return f"{path}.{children[last[-1]][0]}"
    raise ConfigError(
        f"cannot find the classifier of {type(model).__name__} (looked for {', '.join(_TV_HEADS)}): "
        "fine-tune a timm model or a torchvision classification model"
    )


def reset_head(model: torch.nn.Module, num_classes: int) -> torch.nn.Module:
    """Replace the classifier by a zero-initialised one of `num_classes` outputs (BiT's zero_head), in place.

    timm: `reset_classifier(num_classes)` then zero its weights and bias (distilled models' two heads
    both). torchvision: the final Linear found where each family keeps it (`_TV_HEADS`).
    """
    import torch

    if num_classes < 1:
        raise ConfigError(f"num_classes must be at least 1, got {num_classes}")
    if hasattr(model, "reset_classifier") and hasattr(model, "get_classifier"):
        timm_model: Any = model  # timm's classifier API, not typed on nn.Module
        timm_model.reset_classifier(num_classes)
        heads = timm_model.get_classifier()
        heads = heads if isinstance(heads, tuple) else (heads,)
        params = [p for h in heads for p in h.parameters()]
        if not params:
            raise ConfigError(f"{type(model).__name__} has no classifier after reset_classifier({num_classes})")
        with torch.no_grad():
            for p in params:
                p.zero_()
        return model
    path = _tv_head_path(model)
    parent_path, _, name = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    setattr(parent, name, _zero_linear(parent.get_submodule(name), num_classes))
    return model


def _logits_of(output: Any) -> torch.Tensor:
    """The main logits of a forward: inception/googlenet return (logits, aux...) in train mode."""
    if hasattr(output, "logits"):
        return output.logits
    if isinstance(output, tuple | list):
        return output[0]
    return output


# ---------------------------------------------------------------------------------------------------
# data


def _rgb(image: Image.Image) -> Image.Image:
    return image if image.mode == "RGB" else image.convert("RGB")


class _Resized:
    """Training images resized to (precrop, precrop) as uint8 CHW tensors, cached when they fit."""

    def __init__(self, images: Sequence[Image.Image], size: int, pool: ThreadPoolExecutor):
        self.images, self.size, self.pool = images, size, pool
        self.cache: dict[int, torch.Tensor] | None = {} if len(images) * 3 * size * size <= RESIZE_CACHE_BYTES else None

    def _one(self, index: int) -> torch.Tensor:
        from torchvision.transforms import InterpolationMode
        from torchvision.transforms import functional as TF

        if self.cache is not None and index in self.cache:
            return self.cache[index]
        out = TF.pil_to_tensor(TF.resize(_rgb(self.images[index]), [self.size, self.size], InterpolationMode.BILINEAR))
        if self.cache is not None:
            self.cache[index] = out
        return out

    def get(self, indices: Sequence[int]) -> list[torch.Tensor]:
        return list(self.pool.map(self._one, indices))


def _normalise(batch: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 NCHW -> float, as ToTensor() then Normalize(mean, std)."""
    return (batch.float().div_(255.0) - mean) / std


@dataclass
class _Batch:
    """The random choices of one logical batch, drawn before it is split into micro-batches."""

    indices: torch.Tensor  # (batch,) training-image indices
    offsets: torch.Tensor  # (batch, 2) crop top, left
    flips: torch.Tensor  # (batch,) bool
    lam: float  # mixup weight of the image itself (1: no mixup)
    partner: torch.Tensor | None  # (batch,) position of each image's mixup partner in the batch


class _Sampler:
    """Logical batches from one seeded generator: permutation epochs, or with replacement below one batch."""

    def __init__(self, n: int, batch: int, crop_range: int, mixup: float, seed: int):
        import torch

        self.n, self.batch, self.crop_range, self.mixup = n, batch, crop_range, mixup
        self.gen = torch.Generator().manual_seed(seed)
        self.rng = np.random.default_rng(seed)  # mixup's Beta draws (BiT: np.random.beta)
        self.stream = torch.empty(0, dtype=torch.long)

    def next(self) -> _Batch:
        import torch

        if self.n < self.batch:  # bit_pytorch/train.py lines 97-103: RandomSampler(replacement=True)
            indices = torch.randint(self.n, (self.batch,), generator=self.gen)
        else:
            while len(self.stream) < self.batch:
                self.stream = torch.cat([self.stream, torch.randperm(self.n, generator=self.gen)])
            indices, self.stream = self.stream[: self.batch], self.stream[self.batch :]
        offsets = torch.randint(self.crop_range + 1, (self.batch, 2), generator=self.gen)
        flips = torch.rand(self.batch, generator=self.gen) < 0.5
        if self.mixup > 0:
            lam = float(self.rng.beta(self.mixup, self.mixup))
            partner = torch.randperm(self.batch, generator=self.gen)
            return _Batch(indices, offsets, flips, lam, partner)
        return _Batch(indices, offsets, flips, 1.0, None)


def _train_images(resized: _Resized, b: _Batch, positions: torch.Tensor, crop: int) -> torch.Tensor:
    """uint8 (len(positions), 3, crop, crop): resize, random crop, flip (BiT's train_tx before ToTensor)."""
    import torch

    out = []
    for pos, image in zip(positions.tolist(), resized.get(b.indices[positions].tolist())):
        top, left = b.offsets[pos].tolist()
        patch = image[:, top : top + crop, left : left + crop]
        out.append(patch.flip(-1) if b.flips[pos] else patch)
    return torch.stack(out)


def _eval_images(images: Sequence[Image.Image], crop: int, pool: ThreadPoolExecutor) -> list[torch.Tensor]:
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as TF

    def one(image: Image.Image) -> torch.Tensor:
        return TF.pil_to_tensor(TF.resize(_rgb(image), [crop, crop], InterpolationMode.BILINEAR))

    return list(pool.map(one, images))


# ---------------------------------------------------------------------------------------------------
# training


def _check(train_images: Sequence, train_labels: np.ndarray, num_classes: int, config: FinetuneConfig) -> None:
    if len(train_images) == 0:
        raise ConfigError("fine-tuning needs at least one training image")
    if len(train_labels) != len(train_images):
        raise ConfigError(f"{len(train_labels)} labels for {len(train_images)} training images")
    labels = np.asarray(train_labels)
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ConfigError(f"training labels must lie in [0, {num_classes}); found {labels.min()}..{labels.max()}")
    for name in ("batch_size", "steps", "micro_batch_size"):
        value = getattr(config, name)
        if value is not None and value < 1:
            raise ConfigError(f"fine-tune {name} must be at least 1, got {value}")
    if config.resolution is not None and not 1 <= config.resolution[1] <= config.resolution[0]:
        raise ConfigError(f"fine-tune resolution (precrop, crop) needs 1 <= crop <= precrop, got {config.resolution}")
    if config.mixup_alpha is not None and config.mixup_alpha < 0:
        raise ConfigError(f"mixup alpha must be >= 0, got {config.mixup_alpha}")


def _step(
    model: torch.nn.Module,
    optimiser: torch.optim.Optimizer,
    resized: _Resized,
    b: _Batch,
    labels: torch.Tensor,
    crop: int,
    micro: int,
    mean: torch.Tensor,
    std: torch.Tensor,
    device: torch.device,
) -> float:
    """One optimiser step over the logical batch, accumulated over micro-batches; the batch's mean loss."""
    import torch

    batch = len(b.indices)
    criterion = torch.nn.CrossEntropyLoss()
    total = 0.0
    for start in range(0, batch, micro):
        positions = torch.arange(start, min(start + micro, batch))
        x = _normalise(_train_images(resized, b, positions, crop).to(device), mean, std)
        y = labels[b.indices[positions]].to(device)
        if b.partner is None:
            loss = criterion(_logits_of(model(x)), y)
        else:  # bit_pytorch/train.py lines 145-155: mix the inputs, mix the two losses
            other = b.partner[positions]
            x_b = _normalise(_train_images(resized, b, other, crop).to(device), mean, std)
            y_b = labels[b.indices[other]].to(device)
            logits = _logits_of(model(b.lam * x + (1 - b.lam) * x_b))
            loss = b.lam * criterion(logits, y) + (1 - b.lam) * criterion(logits, y_b)
        share = len(positions) / batch  # BiT divides by batch_split; equal to this for equal micro-batches
        (loss * share).backward()
        total += float(loss.detach()) * share
    optimiser.step()
    optimiser.zero_grad(set_to_none=True)
    return total


def finetune(
    model: torch.nn.Module,
    train_images: Sequence[Image.Image],
    train_labels: np.ndarray,
    test_images: Sequence[Image.Image],
    *,
    num_classes: int,
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
    seed: int,
    device: torch.device,
    config: FinetuneConfig = FinetuneConfig(),
) -> FinetuneOutcome:
    """Fine-tune a copy of `model` (the caller's is left untouched) and return its logits on `test_images`."""
    import torch

    _check(train_images, train_labels, num_classes, config)
    n = len(train_images)
    sizes = [(im.height, im.width) for im in train_images]
    rule = hyperrule.rule_for(sizes, n, config.batch_size, config.base_lr)
    precrop, crop = config.resolution or rule.resolution
    alpha = rule.mixup_alpha if config.mixup_alpha is None else config.mixup_alpha
    steps = rule.total_steps if config.steps is None else min(config.steps, rule.total_steps)
    micro = min(config.micro_batch_size or config.batch_size, config.batch_size)
    device = torch.device(device)

    model = reset_head(copy.deepcopy(model), num_classes).to(device)
    model.train()
    # bit_pytorch/train.py line 183: "Note: no weight-decay!"; the lr is set per step below
    optimiser = torch.optim.SGD(model.parameters(), lr=0.0, momentum=config.momentum)
    mean_t = torch.tensor(mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    labels = torch.as_tensor(np.asarray(train_labels), dtype=torch.long)
    sampler = _Sampler(n, config.batch_size, precrop - crop, alpha, seed)
    losses: list[float] = []
    lrs: list[float] = []
    backoffs = 0
    cuda = [device] if device.type == "cuda" else []
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool, torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)  # dropout and drop-path draw from the global generator
        resized = _Resized(train_images, precrop, pool)
        for step in range(steps):
            lr = hyperrule.lr_at(step, rule.supports, rule.peak_lr)
            assert lr is not None  # steps <= supports[-1]
            for group in optimiser.param_groups:
                group["lr"] = lr
            b = sampler.next()
            while True:
                try:
                    loss = _step(model, optimiser, resized, b, labels, crop, micro, mean_t, std_t, device)
                    break
                except torch.cuda.OutOfMemoryError:
                    if micro == 1:
                        raise
                    optimiser.zero_grad(set_to_none=True)
                    torch.cuda.empty_cache()
                    micro, backoffs = max(1, micro // 2), backoffs + 1
            if not math.isfinite(loss):
                raise BenchError(
                    f"fine-tuning diverged at step {step} (loss {loss}); its settings: lr {rule.peak_lr}, batch {config.batch_size}"
                )
            losses.append(loss)
            lrs.append(lr)

        model.eval()
        outputs = []
        with torch.inference_mode():
            for start in range(0, len(test_images), micro):
                chunk = [test_images[i] for i in range(start, min(start + micro, len(test_images)))]
                x = torch.stack(_eval_images(chunk, crop, pool))
                outputs.append(_logits_of(model(_normalise(x.to(device), mean_t, std_t))).float().cpu())
    logits = torch.cat(outputs).numpy() if outputs else np.zeros((0, num_classes), np.float32)

    settings = {
        "protocol": "bit-hyperrule",
        "source": hyperrule.SOURCE,
        "resolution": [precrop, crop],
        "resolution_from": "config" if config.resolution else "hyperrule (median image area vs 96x96)",
        "schedule": list(rule.supports),
        "warmup_steps": rule.warmup_steps,
        "decay_factor": hyperrule.DECAY_FACTOR,
        "total_steps": rule.total_steps,
        "steps_cap": config.steps,
        "steps_run": steps,
        "mixup_alpha": alpha,
        "base_lr": config.base_lr,
        "base_batch": hyperrule.BASE_BATCH,
        "lr": rule.peak_lr,
        "momentum": config.momentum,
        "weight_decay": 0.0,
        "batch_size": config.batch_size,
        "micro_batch_size": micro,
        "oom_backoffs": backoffs,
        "train_size": n,
        "num_classes": num_classes,
        "mean": list(mean),
        "std": list(std),
        "interpolation": INTERPOLATION,
        "train_transform": f"resize {precrop}x{precrop}, random crop {crop}, horizontal flip p=0.5",
        "eval_transform": f"resize {crop}x{crop}",
        "head": "zero-initialised",
        "precision": "fp32",
        "seed": seed,
        "device": device.type,
    }
    if device.type == "cuda":  # TF32 changes fp32 numbers on Ampere and later
        settings["tf32"] = {"matmul": torch.backends.cuda.matmul.allow_tf32, "cudnn": torch.backends.cudnn.allow_tf32}
    return FinetuneOutcome(logits=logits.astype(np.float32, copy=False), settings=settings, train_loss=losses, lr=lrs)
