"""The BiT fine-tune probe on CPU: zero head, the HyperRule's schedule and settings, determinism, learning.

Oracles that are not the code under test: a zero head gives logits 0, so the first loss is exactly
ln(num_classes) whatever the backbone; the learning rates are BiT's warm-up worked out by hand; the
head each torchvision family ends in is named here from torchvision's model definitions.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from bench.errors import ConfigError
from bench.transfer import finetune as ft
from bench.transfer.finetune import FinetuneConfig, finetune, reset_head

CPU = torch.device("cpu")
HALF = (0.5, 0.5, 0.5)
SMALL_RES = (20, 16)  # (precrop, crop): keeps the CPU tests fast; the rule's own resolution is tested once


def _noise_images(n: int, seed: int = 0, size: int = 16) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)) for _ in range(n)]


def _colour_images(n: int, seed: int = 0) -> tuple[list[Image.Image], np.ndarray]:
    """Two linearly separable classes: reddish and bluish noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    images = []
    for y in labels:
        base = np.array([200, 40, 40] if y == 0 else [40, 40, 200], dtype=np.int64)
        pixels = np.clip(base + rng.integers(-40, 41, (16, 16, 3)), 0, 255).astype(np.uint8)
        images.append(Image.fromarray(pixels))
    return images, labels


@pytest.fixture(scope="module")
def timm_model():
    import timm

    torch.manual_seed(0)
    return timm.create_model("test_resnet", pretrained=False)


@pytest.fixture(scope="module")
def tv_resnet18():
    import torchvision

    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None)


class _NoNorm(torch.nn.Module):
    """A small net without BatchNorm: micro-batching must then change nothing but rounding."""

    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=2), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1))
        self.fc = torch.nn.Linear(8, 1000)

    def forward(self, x):
        return self.fc(self.features(x).flatten(1))


def _run(model, images, labels, test, *, seed=0, classes=3, **config):
    return finetune(
        model,
        images,
        labels,
        test,
        num_classes=classes,
        mean=HALF,
        std=HALF,
        seed=seed,
        device=CPU,
        config=FinetuneConfig(**config),
    )


# --------------------------------------------------------------------------------------------------- head


def test_reset_head_timm_is_a_zero_linear_of_num_classes(timm_model):
    import copy

    model = reset_head(copy.deepcopy(timm_model), 5)
    head = model.get_classifier()
    assert isinstance(head, torch.nn.Linear) and head.out_features == 5
    assert torch.count_nonzero(head.weight) == 0 and torch.count_nonzero(head.bias) == 0
    model.eval()
    assert torch.equal(model(torch.randn(2, 3, 64, 64)), torch.zeros(2, 5))


# (builder, where torchvision keeps the last layer, input side)
TV_FAST = [
    ("resnet18", "fc", 32),
    ("shufflenet_v2_x0_5", "fc", 32),
    ("mobilenet_v3_small", "classifier.3", 32),
]
TV_SLOW = [
    ("regnet_y_400mf", "fc", 64),
    ("efficientnet_b0", "classifier.1", 64),
    ("mnasnet0_5", "classifier.1", 64),
    ("densenet121", "classifier", 64),
    ("alexnet", "classifier.6", 64),
    ("vgg11", "classifier.6", 64),
    ("convnext_tiny", "classifier.2", 64),
    ("swin_t", "head", 64),
    ("vit_b_16", "heads.head", 224),
    ("maxvit_t", "classifier.5", 224),
    ("googlenet", "fc", 64),
    ("inception_v3", "fc", 299),
]


def _check_tv_head(arch: str, path: str, side: int) -> None:
    import torchvision

    torch.manual_seed(0)
    model = reset_head(torchvision.models.get_model(arch, weights=None), 7)
    head = model.get_submodule(path)
    assert isinstance(head, torch.nn.Linear) and head.out_features == 7
    assert torch.count_nonzero(head.weight) == 0 and torch.count_nonzero(head.bias) == 0
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, side, side))
    assert torch.equal(out, torch.zeros(1, 7))  # the zeroed layer is the one that makes the logits


@pytest.mark.parametrize(("arch", "path", "side"), TV_FAST)
def test_reset_head_torchvision_families(arch, path, side):
    _check_tv_head(arch, path, side)


@pytest.mark.slow
@pytest.mark.parametrize(("arch", "path", "side"), TV_SLOW)
def test_reset_head_torchvision_families_large(arch, path, side):
    _check_tv_head(arch, path, side)


def test_reset_head_refuses_a_head_that_cannot_learn_from_zero_and_an_unknown_model():
    import torchvision

    with pytest.raises(ConfigError, match="never learn"):
        reset_head(torchvision.models.squeezenet1_0(weights=None), 3)
    with pytest.raises(ConfigError, match="cannot find the classifier"):
        reset_head(torch.nn.Sequential(torch.nn.Flatten()), 3)


def test_train_mode_aux_outputs_give_the_main_logits():
    import torchvision

    logits = torch.ones(1, 3)
    assert ft._logits_of(torchvision.models.InceptionOutputs(logits, None)) is logits
    assert ft._logits_of((logits, torch.zeros(1))) is logits
    assert ft._logits_of(logits) is logits


# --------------------------------------------------------------------------------------------------- training


def test_smoke_timm_three_steps_settings_schedule_and_first_loss(timm_model):
    images, labels = _noise_images(30), np.arange(30) % 3
    before = {k: v.clone() for k, v in timm_model.state_dict().items()}
    out = _run(timm_model, images, labels, images[:7], steps=3, batch_size=4)
    assert out.logits.shape == (7, 3) and out.logits.dtype == np.float32
    # BiT warm-up for a set of 30 images: supports (100, ...), peak 0.003 * 8 / 512
    peak = 0.003 * 4 / 512
    assert out.lr == pytest.approx([0.0, peak / 100, 2 * peak / 100], rel=1e-12)
    assert len(out.train_loss) == 3
    assert out.train_loss[0] == pytest.approx(math.log(3), abs=1e-6)  # a zero head: logits 0
    s = out.settings
    assert s["resolution"] == [160, 128]  # 16x16 images: area < 96*96
    assert s["schedule"] == [100, 200, 300, 400, 500] and s["warmup_steps"] == 100
    assert (s["mixup_alpha"], s["lr"], s["batch_size"], s["steps_run"], s["seed"]) == (0.0, peak, 4, 3, 0)
    assert s["momentum"] == 0.9 and s["weight_decay"] == 0.0
    import json

    json.dumps(s)  # stored in a result record
    # the caller's model is not the one trained
    assert all(torch.equal(before[k], v) for k, v in timm_model.state_dict().items())


@pytest.mark.parametrize("which", ["timm", "torchvision"])
def test_two_runs_are_bit_identical_and_seeds_differ(which, request):
    model = request.getfixturevalue("timm_model" if which == "timm" else "tv_resnet18")
    images, labels = _noise_images(30), np.arange(30) % 3
    test = _noise_images(4, seed=1)
    kw = dict(steps=3, batch_size=4, resolution=SMALL_RES, base_lr=3.0)
    a = _run(model, images, labels, test, seed=0, **kw)
    b = _run(model, images, labels, test, seed=0, **kw)
    c = _run(model, images, labels, test, seed=1, **kw)
    assert np.array_equal(a.logits, b.logits) and a.train_loss == b.train_loss
    assert np.count_nonzero(a.logits) > 0  # it trained: a zero head would give zeros
    assert not np.array_equal(a.logits, c.logits)


def test_loss_decreases_on_a_separable_set(timm_model):
    images, labels = _colour_images(24)
    test, test_labels = _colour_images(10, seed=5)
    # The warm-up spans 100 steps; a large base lr brings its first steps to a useful size on CPU.
    out = _run(timm_model, images, labels, test, classes=2, steps=10, batch_size=12, resolution=(36, 32), base_lr=40.0)
    assert out.train_loss[0] == pytest.approx(math.log(2), abs=1e-6)
    assert np.mean(out.train_loss[-3:]) < 0.25 * math.log(2)
    assert (out.logits.argmax(1) == test_labels).mean() >= 0.9


def test_micro_batches_accumulate_to_the_logical_batch():
    torch.manual_seed(0)
    model = _NoNorm()
    images, labels = _noise_images(20), np.arange(20) % 4
    kw = dict(steps=4, batch_size=12, resolution=SMALL_RES, base_lr=50.0)
    whole = _run(model, images, labels, images[:5], classes=4, **kw)
    split = _run(model, images, labels, images[:5], classes=4, micro_batch_size=5, **kw)  # 5 + 5 + 2
    assert split.settings["micro_batch_size"] == 5
    assert np.count_nonzero(whole.logits) > 0
    np.testing.assert_allclose(split.logits, whole.logits, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(split.train_loss, whole.train_loss, rtol=1e-5)


def test_mixup_when_asked_keeps_the_first_loss_at_ln_c_and_is_seeded():
    torch.manual_seed(0)
    model = _NoNorm()
    images, labels = _noise_images(20), np.arange(20) % 4
    kw = dict(steps=3, batch_size=8, resolution=SMALL_RES, base_lr=50.0, mixup_alpha=0.1)
    a = _run(model, images, labels, images[:4], classes=4, **kw)
    b = _run(model, images, labels, images[:4], classes=4, **kw)
    off = _run(model, images, labels, images[:4], classes=4, **{**kw, "mixup_alpha": 0.0})
    assert a.settings["mixup_alpha"] == 0.1
    assert a.train_loss[0] == pytest.approx(math.log(4), abs=1e-6)  # any mix of zero logits
    assert np.array_equal(a.logits, b.logits)
    assert a.train_loss[1:] != off.train_loss[1:]


def test_sampler_walks_permutations_and_draws_with_replacement_below_one_batch():
    s = ft._Sampler(n=10, batch=4, crop_range=4, mixup=0.0, seed=0)
    stream = torch.cat([s.next().indices for _ in range(5)])  # 20 indices: two epochs
    assert sorted(stream[:10].tolist()) == list(range(10)) and sorted(stream[10:].tolist()) == list(range(10))
    b = s.next()
    assert b.offsets.min() >= 0 and b.offsets.max() <= 4 and b.partner is None and b.lam == 1.0
    few = ft._Sampler(n=3, batch=8, crop_range=0, mixup=0.0, seed=0).next()
    assert len(few.indices) == 8 and set(few.indices.tolist()) <= {0, 1, 2}


def test_steps_are_capped_by_the_schedule_and_bad_input_is_refused(timm_model):
    images, labels = _noise_images(4), np.array([0, 1, 0, 1])
    with pytest.raises(ConfigError, match=r"labels must lie in \[0, 2\)"):
        _run(timm_model, images, np.array([0, 1, 2, 1]), images, classes=2, steps=1)
    with pytest.raises(ConfigError, match="3 labels for 4"):
        _run(timm_model, images, labels[:3], images, classes=2, steps=1)
    with pytest.raises(ConfigError, match="batch_size must be at least 1"):
        _run(timm_model, images, labels, images, classes=2, steps=1, batch_size=0)
    with pytest.raises(ConfigError, match="crop <= precrop"):
        _run(timm_model, images, labels, images, classes=2, steps=1, resolution=(16, 32))


def test_train_and_eval_pixels_are_bits_transforms():
    """Our crop/flip/normalise equals torchvision's Resize((p, p)) + crop + hflip (BiT's train_tx) and
    Resize((c, c)) + ToTensor + Normalize (BiT's val_tx), on a non-square image."""
    from concurrent.futures import ThreadPoolExecutor

    from torchvision import transforms as T
    from torchvision.transforms import functional as TF

    image = _noise_images(1, seed=3, size=40)[0].crop((0, 0, 40, 30))
    b = ft._Batch(torch.tensor([0, 0]), torch.tensor([[1, 3], [4, 0]]), torch.tensor([False, True]), 1.0, None)
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    with ThreadPoolExecutor(2) as pool:
        got = ft._train_images(ft._Resized([image], 20, pool), b, torch.arange(2), 16)
        evaluated = torch.stack(ft._eval_images([image], 16, pool))
    resized = T.Resize((20, 20))(image)
    assert torch.equal(got[0], TF.pil_to_tensor(TF.crop(resized, 1, 3, 16, 16)))
    assert torch.equal(got[1], TF.pil_to_tensor(TF.hflip(TF.crop(resized, 4, 0, 16, 16))))
    expected = T.Compose([T.Resize((16, 16)), T.ToTensor(), T.Normalize(mean, std)])(image)
    m, s = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
    torch.testing.assert_close(ft._normalise(evaluated, m, s)[0], expected, rtol=0, atol=1e-6)


def test_crop_offsets_cover_randomcrops_whole_range():
    s = ft._Sampler(n=4, batch=4, crop_range=3, mixup=0.0, seed=0)
    offsets = torch.cat([s.next().offsets for _ in range(20)])
    assert offsets.min() == 0 and offsets.max() == 3  # torchvision RandomCrop: randint(0, h - th + 1)
