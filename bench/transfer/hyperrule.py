"""The BiT-HyperRule (Kolesnikov et al., "Big Transfer", 2020) as tables, transcribed from its source.

Source: google-research/big_transfer, `bit_hyperrule.py` (commit 140de6e, the repository's newest),
and `bit_pytorch/train.py` for how the rule is applied (step counting, warm-up, mixup draws). Every
table below names the lines it comes from; tests/test_hyperrule.py checks each against the source's
own values, and against the source's `get_lr` written out in the test.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

SOURCE = "google-research/big_transfer bit_hyperrule.py @ 140de6e"

# bit_hyperrule.py lines 15-18 (`get_resolution`): (precrop, crop) by the image's area, H*W < 96*96.
SMALL_IMAGE_AREA = 96 * 96
RESOLUTION_SMALL = (160, 128)  # train: resize to 160x160, random-crop 128; test: resize to 128x128
RESOLUTION_LARGE = (512, 480)  # train: resize to 512x512, random-crop 480; test: resize to 480x480

# bit_hyperrule.py lines 40-46 (`get_schedule`): the step supports by training-set size. The first
# support is the warm-up length, the middle ones the decay points, the last one the total steps.
# (upper bound on dataset size, exclusive; supports). The last bucket has no upper bound.
SCHEDULES: tuple[tuple[int | None, tuple[int, ...]], ...] = (
    (20_000, (100, 200, 300, 400, 500)),
    (500_000, (500, 3000, 6000, 9000, 10_000)),
    (None, (500, 6000, 12_000, 18_000, 20_000)),
)

# bit_hyperrule.py lines 36-37 (`get_mixup`): alpha 0 (off) below 20k training images, else 0.1.
MIXUP_THRESHOLD = 20_000
MIXUP_SMALL, MIXUP_LARGE = 0.0, 0.1

# bit_hyperrule.py lines 58-62: "Staircase decays by factor of 10" at each support after the first.
DECAY_FACTOR = 10.0

# bit_common.py lines 46-51: --batch 512, --base_lr 0.003; bit_pytorch/train.py line 183: SGD momentum
# 0.9, no weight decay. BiT's fine-tuning code uses base_lr as is whatever --batch is (its README ran
# batch 128 with a hand-picked 0.001); we scale it linearly with batch (Goyal et al.), which leaves the
# source's 0.003 at its batch of 512 unchanged.
BASE_LR = 0.003
BASE_BATCH = 512
MOMENTUM = 0.9


def resolution(image_size: tuple[int, int]) -> tuple[int, int]:
    """(precrop, crop) for an (H, W) image: bit_hyperrule.get_resolution."""
    height, width = image_size
    return RESOLUTION_SMALL if height * width < SMALL_IMAGE_AREA else RESOLUTION_LARGE


def resolution_for_images(sizes: Iterable[tuple[int, int]]) -> tuple[int, int]:
    """The bucket of a dataset of (H, W) sizes: the median image's area decides.

    BiT keys the bucket on one nominal size per dataset (`known_dataset_sizes`); for a set whose images
    vary (Flowers, Pets) the median area is that nominal size's analogue, and one odd image cannot move it.
    """
    areas = sorted(h * w for h, w in sizes)
    if not areas:
        raise ValueError("resolution_for_images needs at least one image size")
    mid = len(areas) // 2
    median = areas[mid] if len(areas) % 2 else (areas[mid - 1] + areas[mid]) / 2
    return RESOLUTION_SMALL if median < SMALL_IMAGE_AREA else RESOLUTION_LARGE


def schedule(dataset_size: int) -> tuple[int, ...]:
    """The step supports (warm-up end, decay points..., total): bit_hyperrule.get_schedule."""
    for bound, supports in SCHEDULES:
        if bound is None or dataset_size < bound:
            return supports
    raise AssertionError("the last SCHEDULES bucket has no bound")  # pragma: no cover


def mixup_alpha(dataset_size: int) -> float:
    """Beta(alpha, alpha) mixup; 0 means off: bit_hyperrule.get_mixup."""
    return MIXUP_SMALL if dataset_size < MIXUP_THRESHOLD else MIXUP_LARGE


def scaled_lr(batch_size: int, base_lr: float = BASE_LR) -> float:
    """The peak learning rate for a logical batch: base_lr * batch / 512 (0.003 at BiT's batch)."""
    return base_lr * batch_size / BASE_BATCH


def lr_at(step: int, supports: Sequence[int], peak_lr: float) -> float | None:
    """Learning rate before optimiser step `step` (0-based), None once training is over.

    bit_hyperrule.get_lr, lines 49-63: linear warm-up from 0 over supports[0] steps, then divided by 10
    at every later support that is strictly below `step`, and None at supports[-1].
    """
    if step < supports[0]:
        return peak_lr * step / supports[0]
    if step >= supports[-1]:
        return None
    decays = sum(1 for s in supports[1:] if s < step)
    return peak_lr / DECAY_FACTOR**decays


@dataclass(frozen=True)
class Rule:
    """Everything the HyperRule decides for one training set."""

    resolution: tuple[int, int]  # (precrop, crop)
    supports: tuple[int, ...]
    mixup_alpha: float
    peak_lr: float

    @property
    def warmup_steps(self) -> int:
        return self.supports[0]

    @property
    def total_steps(self) -> int:
        return self.supports[-1]


def rule_for(
    image_sizes: Iterable[tuple[int, int]], dataset_size: int, batch_size: int = BASE_BATCH, base_lr: float = BASE_LR
) -> Rule:
    """The HyperRule's settings for a training set of `dataset_size` images of the given (H, W) sizes."""
    return Rule(
        resolution=resolution_for_images(image_sizes),
        supports=schedule(dataset_size),
        mixup_alpha=mixup_alpha(dataset_size),
        peak_lr=scaled_lr(batch_size, base_lr),
    )
