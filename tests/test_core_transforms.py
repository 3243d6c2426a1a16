"""Transform resolution and decoding, against the libraries' own preprocessing on a real photo.

Oracles: torchvision `weights.transforms()`, timm `create_transform(**resolve_data_config(...))`,
PIL `Image.convert("RGB")`, and the normalisation formula written out in numpy.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from bench import models as M
from bench.data import transforms as T
from bench.data.datasets import samples_dir
from bench.data.images import open_rgb
from bench.errors import ConfigError

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return Image.open(samples_dir() / "coffee.jpg").convert("RGB")


def test_fixed_policy_is_the_classic_bilinear_256_224(photo):
    ts = T.resolve(M.resolve("tf_efficientnet_lite0"), policy="fixed")
    assert (ts.policy, ts.input_size, ts.resize, ts.crop_pct, ts.interpolation) == (
        "fixed",
        (3, 224, 224),
        (256,),
        0.875,
        "bilinear",
    )
    assert (ts.mean, ts.std, ts.library) == (IMAGENET_MEAN, IMAGENET_STD, "torchvision")
    # torchvision's own classic eval transform (ResNet50 V1): resize 256 bilinear, crop 224
    reference = torchvision.models.ResNet50_Weights.IMAGENET1K_V1.transforms()
    torch.testing.assert_close(T.build(ts)(photo), reference(photo), atol=1e-6, rtol=0)


@pytest.mark.parametrize("weights", ["ResNet50_Weights.IMAGENET1K_V2", "ViT_B_16_Weights.IMAGENET1K_SWAG_E2E_V1"])
def test_torchvision_weights_transform_is_the_weights_own(photo, weights):
    arch, tag = weights.split(".")
    enum = getattr(torchvision.models, arch)[tag]
    spec = M.resolve(f"tv:{_tv_arch(arch)}.{tag}")
    ts = T.resolve(spec)
    ref = enum.transforms()
    assert ts.input_size[-1] == ref.crop_size[0] and ts.resize == tuple(ref.resize_size)
    assert ts.interpolation == ref.interpolation.value and (ts.library, ts.policy) == ("torchvision", "model")
    assert ts.crop_pct == ref.crop_size[0] / ref.resize_size[0] == pytest.approx(spec.pretrained_cfg["crop_pct"], abs=1e-4) and (
        ts.mean,
        ts.std,
    ) == (tuple(ref.mean), tuple(ref.std))
    torch.testing.assert_close(T.build(ts)(photo), ref(photo), atol=1e-6, rtol=0)


def _tv_arch(enum_name: str) -> str:
    return {"ResNet50_Weights": "resnet50", "ViT_B_16_Weights": "vit_b_16"}[enum_name]


def test_timm_transform_is_timms_own(photo):
    from timm.data import create_transform, resolve_data_config

    spec = M.resolve("tf_efficientnet_lite0")
    ts = T.resolve(spec)
    assert (ts.input_size, ts.resize, ts.crop_pct, ts.interpolation) == (
        (3, 224, 224),
        (256, 256),
        0.875,
        "bicubic",
    )  # 224 / 0.875
    assert (ts.mean, ts.std, ts.library, ts.policy) == ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "timm", "model")
    ref = create_transform(**resolve_data_config({}, pretrained_cfg=spec.pretrained_cfg, use_test_size=True))
    torch.testing.assert_close(T.build(ts)(photo), ref(photo), atol=1e-6, rtol=0)


def test_timm_evaluates_at_the_pretrained_test_size_unless_told_otherwise():
    """timm's own eval default (validate.py): the pretrained config's test_input_size / test_crop_pct."""
    from timm.data import resolve_data_config

    spec = M.resolve("timm:resnet50.a1_in1k")
    assert spec.pretrained_cfg["test_input_size"] == (3, 288, 288)  # timm's registry: trained at 224, tested at 288
    ts = T.resolve(spec)
    ref = resolve_data_config({}, pretrained_cfg=spec.pretrained_cfg, use_test_size=True)
    assert (ts.input_size, ts.crop_pct, ts.test_size) == (tuple(ref["input_size"]), ref["crop_pct"], True)
    assert ts.input_size == (3, 288, 288) and ts.resize == (math.floor(288 / ref["crop_pct"]),) * 2
    train = T.resolve(spec, use_train_size=True)
    assert (train.input_size, train.test_size) == ((3, 224, 224), False)


def test_timm_build_is_timms_own_transform_object(photo):
    """The timm path hands everything to create_transform: the same object as timm's own, not just similar pixels."""
    from timm.data import create_transform, resolve_data_config

    spec = M.resolve("timm:test_resnet.r160_in1k")  # 160 px, crop_pct 0.95, bilinear: none of them timm's defaults
    ts = T.resolve(spec)
    assert (ts.input_size, ts.resize, ts.crop_pct, ts.interpolation) == (
        (3, 160, 160),
        (168, 168),
        0.95,
        "bilinear",
    )  # int(160 / 0.95)
    for normalize in (True, False):
        ref = create_transform(
            **resolve_data_config({}, pretrained_cfg=spec.pretrained_cfg, use_test_size=True), normalize=normalize
        )
        assert repr(T.build(ts, normalize=normalize)) == repr(ref)
        torch.testing.assert_close(T.build(ts, normalize=normalize)(photo), ref(photo), atol=1e-6, rtol=0)


def test_torchvision_path_honours_an_explicit_crop_pct(photo):
    from torchvision import transforms as tvt

    ts = T.resolve(M.resolve("tv:resnet50.IMAGENET1K_V2"), overrides={"crop_pct": 0.875})  # its own is 224 / 232
    assert (ts.resize, ts.crop_pct, ts.library) == ((256,), 0.875, "torchvision")  # 224 / 0.875
    ref = tvt.Compose(
        [
            tvt.Resize(256, interpolation=tvt.InterpolationMode.BILINEAR),
            tvt.CenterCrop(224),
            tvt.ToTensor(),
            tvt.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )
    torch.testing.assert_close(T.build(ts)(photo), ref(photo), atol=1e-6, rtol=0)


def test_timm_resolves_from_the_model_when_given():
    import timm

    model = timm.create_model(
        "test_resnet.r160_in1k", pretrained=False, pretrained_cfg_overlay=dict(input_size=(3, 128, 128), crop_pct=1.0)
    )
    ts = T.resolve(M.resolve("timm:test_resnet.r160_in1k"), model=model)  # the model's own config wins over the registry's
    assert (ts.input_size, ts.crop_pct, ts.resize) == ((3, 128, 128), 1.0, (128, 128))


def test_non_square_sizes_resize_by_the_width():
    from types import SimpleNamespace

    cfg = {"input_size": (3, 192, 256), "crop_pct": 0.8, "interpolation": "bilinear", "mean": (0.5,) * 3, "std": (0.5,) * 3}
    ts = T.resolve(SimpleNamespace(source="timm", pretrained_cfg=cfg))
    assert (ts.input_size, ts.resize) == ((3, 192, 256), (240, 320))  # int(192 / 0.8), int(256 / 0.8): per axis
    ts = T.resolve(M.resolve("tf_efficientnet_lite0"), overrides={"input_size": (3, 192, 256), "crop_pct": 0.8})
    assert (ts.input_size, ts.resize) == ((3, 192, 256), (240, 320))


def test_overrides_win_and_crop_pct_moves_the_resize():
    spec = M.resolve("tf_efficientnet_lite0")
    ts = T.resolve(spec, overrides={"crop_pct": 1.0, "mean": [0.1, 0.2, 0.3]})
    assert (ts.crop_pct, ts.resize, ts.mean, ts.std) == (1.0, (224, 224), (0.1, 0.2, 0.3), (0.5, 0.5, 0.5))
    ts = T.resolve(spec, overrides={"crop_pct": 0.5})
    assert (ts.crop_pct, ts.resize) == (0.5, (448, 448))
    assert T.resolve(spec, overrides={"crop_pct": 0.8}).resize == (280, 280)  # int(224 / 0.8)
    ts = T.resolve(spec, policy="fixed", overrides={"interpolation": "bicubic"})
    assert (ts.interpolation, ts.resize) == ("bicubic", (256,))
    ts = T.resolve(spec, policy="fixed", overrides={"crop_pct": 0.8})
    assert (ts.crop_pct, ts.resize) == (0.8, (280,))


def test_unknown_policy_is_a_config_error():
    with pytest.raises(ConfigError, match="model, fixed"):
        T.resolve(M.resolve("tf_efficientnet_lite0"), policy="center")


def test_to_dict_is_json_ready():
    ts = T.TransformSpec(
        policy="model",
        library="timm",
        input_size=(3, 224, 224),
        resize=(256, 256),
        crop_pct=0.875,
        crop_mode="center",
        interpolation="bicubic",
        antialias=True,
        mean=(1 / 3, 0.5, 0.5),
        std=(0.2, 0.2, 2 / 3),
        test_size=True,
        decode="pil-convert-rgb",
    )
    d = ts.to_dict()
    assert d == {
        "policy": "model",
        "library": "timm",
        "input_size": [3, 224, 224],
        "resize": [256, 256],
        "crop_pct": 0.875,
        "crop_mode": "center",
        "interpolation": "bicubic",
        "antialias": True,
        "mean": [0.333333, 0.5, 0.5],
        "std": [0.2, 0.2, 0.666667],
        "test_size": True,
        "decode": "pil-convert-rgb",
    }
    import json

    assert json.loads(json.dumps(d)) == d


def test_uint8_path_then_batch_normaliser_is_the_float_path(photo):
    for ts in (T.resolve(M.resolve("tf_efficientnet_lite0")), T.resolve(M.resolve("tf_efficientnet_lite0"), policy="fixed")):
        raw = T.build(ts, normalize=False)(photo)
        assert raw.dtype == torch.uint8 and tuple(raw.shape) == ts.input_size
        x = raw.numpy().astype(np.float64)
        expected = (x / 255.0 - np.array(ts.mean)[:, None, None]) / np.array(ts.std)[:, None, None]
        got = T.BatchNormalizer(ts)(raw.unsqueeze(0))[0]
        np.testing.assert_allclose(got.numpy(), expected, atol=2e-6)
        torch.testing.assert_close(got, T.build(ts)(photo), atol=2e-5, rtol=0)


def test_batch_normaliser_leaves_float_input_alone_and_caches_per_device():
    ts = T.TransformSpec(
        policy="fixed",
        library="torchvision",
        input_size=(3, 2, 2),
        resize=(2,),
        crop_pct=1.0,
        crop_mode="center",
        interpolation="bilinear",
        antialias=True,
        mean=(0.0, 0.5, 1.0),
        std=(1.0, 0.5, 0.25),
    )
    norm = T.BatchNormalizer(ts)
    x = torch.rand(1, 3, 2, 2)
    assert norm(x) is x
    u = torch.full((2, 3, 2, 2), 255, dtype=torch.uint8)
    out = norm(u)
    assert out.dtype == torch.float32 and out[:, :, 0, 0].tolist() == [[1.0, 1.0, 0.0]] * 2  # (1-0)/1, (1-.5)/.5, (1-1)/.25
    assert norm(torch.zeros(1, 3, 2, 2, dtype=torch.uint8))[0, :, 1, 1].tolist() == [0.0, -1.0, -4.0]


def test_rgba_decodes_like_the_reference_loaders():
    """torchvision's and timm's ImageFolder loaders call convert("RGB"): alpha is dropped, not composited."""
    rgba = Image.new("RGBA", (4, 4), (10, 200, 30, 0))
    rgba.putpixel((1, 1), (250, 5, 5, 128))
    buf = io.BytesIO()
    rgba.save(buf, "PNG")
    got = open_rgb(buf.getvalue())
    assert got.mode == "RGB"
    assert np.array_equal(np.asarray(got), np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")))
    assert got.getpixel((0, 0)) == (10, 200, 30) and got.getpixel((1, 1)) == (250, 5, 5)
