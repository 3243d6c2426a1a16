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


# --- every field of the spec against the library's own transform, and the uint8 / tensor paths ---------------------


@pytest.fixture(scope="module")
def photo_u8(photo) -> torch.Tensor:
    from torchvision.transforms.functional import pil_to_tensor

    return pil_to_tensor(photo)  # CHW uint8: the GPU decode path's input


def _tv_ref(weights: str):
    arch, tag = weights.split(".")
    return getattr(torchvision.models, arch)[tag].transforms()


@pytest.mark.parametrize(
    ("tag", "weights"),
    [
        ("tv:resnet50.IMAGENET1K_V2", "ResNet50_Weights.IMAGENET1K_V2"),  # resize 232, bilinear
        ("tv:vit_b_16.IMAGENET1K_SWAG_E2E_V1", "ViT_B_16_Weights.IMAGENET1K_SWAG_E2E_V1"),  # SWAG: 384 / 384, bicubic
        ("tv:vgg16.IMAGENET1K_FEATURES", "VGG16_Weights.IMAGENET1K_FEATURES"),  # its own mean, std 1/255
        ("fixed", "ResNet50_Weights.IMAGENET1K_V1"),  # the fixed policy is the classic V1 transform
    ],
)
def test_torchvision_spec_and_every_data_path_are_the_weights_own(photo, photo_u8, tag, weights):
    """ImageClassification on a PIL image and on a uint8 tensor (where antialias matters), and the uint8 path + normaliser."""
    ref = _tv_ref(weights)
    ts = T.resolve(M.resolve("tf_efficientnet_lite0"), policy="fixed") if tag == "fixed" else T.resolve(M.resolve(tag))
    assert (ts.crop_mode, ts.antialias, ts.interpolation) == ("center", ref.antialias, ref.interpolation.value)
    assert ref.antialias is True and (ts.mean, ts.std) == (tuple(ref.mean), tuple(ref.std))
    torch.testing.assert_close(T.build(ts)(photo_u8), ref(photo_u8), atol=1e-6, rtol=0)
    for img in (photo, photo_u8):
        raw = T.build(ts, normalize=False)(img)
        assert raw.dtype == torch.uint8 and tuple(raw.shape) == ts.input_size
        got = T.BatchNormalizer(ts)(raw.unsqueeze(0))[0]
        torch.testing.assert_close(got, ref(img), atol=2e-5, rtol=1e-6)


def _tv_cfg(**kw):
    """A torchvision pretrained config as the registry writes it from a weight's ImageClassification."""
    from types import SimpleNamespace

    cfg = {"crop_size": [224], "resize_size": [256], "interpolation": "bilinear", "mean": IMAGENET_MEAN, "std": IMAGENET_STD}
    return SimpleNamespace(source="torchvision", pretrained_cfg={**cfg, **kw})


def test_torchvision_antialias_is_the_weights_own_flag(photo_u8):
    """A weight built with ImageClassification(antialias=False) (torchvision < 0.17 left tensors unantialiased)."""
    from torchvision.transforms._presets import ImageClassification

    ref = ImageClassification(crop_size=224, resize_size=256, antialias=False)
    ts = T.resolve(_tv_cfg(antialias=False))
    assert ts.antialias is False
    torch.testing.assert_close(T.build(ts)(photo_u8), ref(photo_u8), atol=1e-6, rtol=0)
    got = T.BatchNormalizer(ts)(T.build(ts, normalize=False)(photo_u8).unsqueeze(0))[0]
    torch.testing.assert_close(got, ref(photo_u8), atol=2e-5, rtol=0)
    antialiased = ImageClassification(crop_size=224, resize_size=256)(photo_u8)
    assert (got - antialiased).abs().max() > 0.1  # the flag changes the pixels: the comparison above can fail
    # no flag in the config: ImageClassification's own default
    assert T.resolve(_tv_cfg()).antialias is ImageClassification(crop_size=224).antialias is True


def test_torchvision_crop_is_square():
    """ImageClassification takes one crop_size: a two-value crop cannot be the weight's transform on both data paths."""
    with pytest.raises(ConfigError, match=r"^a torchvision eval crop is square .*, got crop_size \[192, 256\]$"):
        T.resolve(_tv_cfg(crop_size=[192, 256]))
    assert T.resolve(_tv_cfg(crop_size=[192])).input_size == (3, 192, 192)


def test_torchvision_mean_std_overrides_reach_the_transform(photo):
    from torchvision.transforms._presets import ImageClassification

    mean, std = [0.5, 0.4, 0.3], [0.25, 0.2, 0.1]
    ts = T.resolve(M.resolve("tv:resnet50.IMAGENET1K_V2"), overrides={"mean": mean, "std": std})
    assert (ts.mean, ts.std) == (tuple(mean), tuple(std))
    ref = ImageClassification(crop_size=224, resize_size=232, mean=mean, std=std)
    torch.testing.assert_close(T.build(ts)(photo), ref(photo), atol=1e-6, rtol=0)


def test_to_dict_rounds_floats_to_six_places():
    d = T.resolve(M.resolve("tv:vgg16.IMAGENET1K_FEATURES")).to_dict()
    assert d["std"] == [0.003922] * 3  # 1/255 = 0.00392156...
    d = T.resolve(M.resolve("tv:resnet50.IMAGENET1K_V2")).to_dict()
    assert d["crop_pct"] == 0.965517 and d["resize"] == [232]  # 224 / 232 = 0.96551724...


def test_timm_test_input_size_alone_switches_the_size_and_squash_is_kept(photo):
    """dm_nfnet_f0.dm_in1k: trained at 192, tested at 256 (no test_crop_pct), crop_pct 0.9, squash crop."""
    from timm.data import create_transform, resolve_data_config

    spec = M.resolve("timm:dm_nfnet_f0.dm_in1k")
    assert spec.pretrained_cfg.get("test_crop_pct") is None and spec.pretrained_cfg["crop_mode"] == "squash"
    ts = T.resolve(spec)
    assert (ts.input_size, ts.crop_pct, ts.crop_mode, ts.resize, ts.test_size) == ((3, 256, 256), 0.9, "squash", (284, 284), True)
    ref = create_transform(**resolve_data_config({}, pretrained_cfg=spec.pretrained_cfg, use_test_size=True))
    assert ts.antialias is ref.transforms[0].antialias is True  # timm's eval Resize
    assert repr(T.build(ts)) == repr(ref)
    torch.testing.assert_close(T.build(ts)(photo), ref(photo), atol=1e-6, rtol=0)
    train = T.resolve(spec, use_train_size=True)
    assert (train.input_size, train.resize, train.crop_mode, train.test_size) == ((3, 192, 192), (213, 213), "squash", False)


def test_timm_test_crop_pct_alone_switches_the_crop():
    """fasternet_t0.in1k: crop_pct 1.0 for training, test_crop_pct 0.9 (no test_input_size)."""
    spec = M.resolve("timm:fasternet_t0.in1k")
    assert spec.pretrained_cfg.get("test_input_size") is None and spec.pretrained_cfg["test_crop_pct"] == 0.9
    ts = T.resolve(spec)
    assert (ts.input_size, ts.crop_pct, ts.resize, ts.crop_mode, ts.test_size) == ((3, 224, 224), 0.9, (248, 248), "center", True)
    train = T.resolve(spec, use_train_size=True)  # int(224 / 0.9) = 248 above; 224 / 1.0 here
    assert (train.crop_pct, train.resize, train.test_size) == (1.0, (224, 224), False)


def test_timm_border_crop_is_timms_own(photo):
    """deepseek_vit_412m: crop_mode border (longest side to 546, padded with the mean)."""
    from timm.data import create_transform, resolve_data_config

    spec = M.resolve("timm:deepseek_vit_412m.deepseek_v4_1_flash")
    ts = T.resolve(spec)
    assert (ts.input_size, ts.crop_mode, ts.resize, ts.test_size) == ((3, 546, 546), "border", (546, 546), False)
    ref = create_transform(**resolve_data_config({}, pretrained_cfg=spec.pretrained_cfg, use_test_size=True))
    assert repr(T.build(ts)) == repr(ref)
    torch.testing.assert_close(T.build(ts)(photo), ref(photo), atol=1e-6, rtol=0)


def test_timm_model_without_a_pretrained_cfg_falls_back_to_the_registry():
    ts = T.resolve(M.resolve("tf_efficientnet_lite0"), model=torch.nn.Identity())
    assert (ts.input_size, ts.resize, ts.crop_pct, ts.interpolation) == ((3, 224, 224), (256, 256), 0.875, "bicubic")
