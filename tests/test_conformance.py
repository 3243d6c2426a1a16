"""Zoo-wide conformance: every torchvision classification weight and every timm pretrained tag is
preprocessed and built exactly as its own library does (no downloads; heavy networks on the meta device).

The oracles are the libraries' own code paths: `weights.transforms()`, timm's
`create_transform(**resolve_data_config(...))`, `get_model(arch, weights=...)` reading a file from its
cache, and the parameter counts torchvision measured on its pretrained networks (`meta["num_params"]`).
"""

from __future__ import annotations

import os
from functools import cache

import pytest
import torch
import torchvision.models as tvm
from PIL import Image

from bench import models as M
from bench.data import transforms as T
from bench.data.datasets import samples_dir
from bench.models import weights as W

pytestmark = pytest.mark.slow

# A landscape and a portrait photo: centre crop, squash and border differ on both axes.
PHOTOS = ("chelsea.jpg", "grace_hopper.jpg")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Hundreds of small element-wise ops: one intra-op thread is faster than two fighting for a busy CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@cache
def _photos() -> tuple[Image.Image, ...]:
    return tuple(Image.open(samples_dir() / name).convert("RGB") for name in PHOTOS)


def _to_uint8(x: torch.Tensor, mean, std) -> torch.Tensor:
    """Undo a library's float normalisation: the uint8 pixels it normalised (exact up to float rounding)."""
    m, s = torch.tensor(mean).view(-1, 1, 1), torch.tensor(std).view(-1, 1, 1)
    return ((x * s + m) * 255).round().clamp(0, 255).to(torch.uint8)


def _assert_same_pixels(ts: T.TransformSpec, library, what: str) -> None:
    """Our uint8 output equals the pixels the library normalised, exactly, and our batched normalisation
    equals the library's float output within 1e-5 (relative to its range: vgg16 FEATURES divides by 1/255)."""
    ours, normalise = T.build(ts, normalize=False), T.BatchNormalizer(ts)
    for img in _photos():
        expected = library(img)
        got = ours(img)
        assert got.dtype == torch.uint8 and got.shape == expected.shape, what
        assert torch.equal(got, _to_uint8(expected, ts.mean, ts.std)), what
        tol = 1e-5 * max(1.0, float(expected.abs().max()))
        assert float((normalise(got[None])[0] - expected).abs().max()) <= tol, what


@cache
def _tv_weights() -> tuple:
    return tuple((arch, w) for arch in tvm.list_models(module=tvm) for w in tvm.get_model_weights(arch))


def test_every_torchvision_weight_transform_is_weights_transforms():
    seen: dict[tuple, object] = {}
    for arch, w in _tv_weights():
        lib = w.transforms()
        ts = T.resolve(M.resolve(f"tv:{arch}.{w.name}"))
        assert (ts.library, ts.crop_mode, ts.test_size) == ("torchvision", "center", False)
        assert list(ts.input_size[1:]) == lib.crop_size * 2 and list(ts.resize) == lib.resize_size
        assert (ts.interpolation, ts.antialias) == (lib.interpolation.value, lib.antialias)
        assert (list(ts.mean), list(ts.std)) == (lib.mean, lib.std)
        seen.setdefault((repr(lib), ts), lib)
    for (_, ts), lib in seen.items():
        _assert_same_pixels(ts, lib, repr(lib))
    assert len(_tv_weights()) >= 110 and len(seen) >= 10  # every weight checked, pixels once per distinct transform


def test_every_timm_pretrained_tag_transform_is_create_transform():
    """Test size (the default, as validate.py) and train size (--use-train-size), for all ~1800 tags."""
    import timm
    from timm.data import create_transform, resolve_data_config
    from timm.models import get_pretrained_cfg

    geometry: dict[tuple, tuple] = {}  # resize/crop settings -> (our spec, the library's config)
    normalisation: dict[tuple, tuple] = {}  # mean/std -> (our spec, the library's config)
    modes: dict[str, int] = {}
    tags = timm.list_pretrained()
    for name in tags:
        spec = M.resolve(f"timm:{name}")
        pretrained_cfg = get_pretrained_cfg(name).to_dict()
        for train in (False, True):
            cfg = resolve_data_config(pretrained_cfg=pretrained_cfg, use_test_size=not train)
            ts = T.resolve(spec, use_train_size=train)
            assert (ts.library, ts.policy) == ("timm", "model")
            assert tuple(ts.input_size) == tuple(cfg["input_size"]) and ts.crop_pct == cfg["crop_pct"], name
            assert (ts.crop_mode, ts.interpolation) == (cfg["crop_mode"], cfg["interpolation"]), name
            assert (ts.mean, ts.std) == (tuple(cfg["mean"]), tuple(cfg["std"])), name
            assert ts.test_size == (
                not train and bool(pretrained_cfg.get("test_input_size") or pretrained_cfg.get("test_crop_pct"))
            )
            modes[ts.crop_mode] = modes.get(ts.crop_mode, 0) + 1
            geometry.setdefault((tuple(cfg["input_size"]), cfg["crop_pct"], cfg["crop_mode"], cfg["interpolation"]), (ts, cfg))
            normalisation.setdefault((tuple(cfg["mean"]), tuple(cfg["std"])), (ts, cfg))
    # pixels: timm's own uint8 pipeline (what validate.py feeds its prefetcher) once per distinct geometry ...
    for ts, cfg in geometry.values():
        library = create_transform(**cfg, is_training=False, normalize=False)
        for img in _photos():
            assert torch.equal(T.build(ts, normalize=False)(img), library(img)), cfg
    # ... and the full float pipeline once per distinct normalisation
    for ts, cfg in normalisation.values():
        _assert_same_pixels(ts, create_transform(**cfg, is_training=False), str(cfg))
    assert len(tags) > 1500 and modes.get("squash", 0) > 100 and modes.get("border", 0) > 0
    assert any(size[1] != size[2] for size, *_ in geometry)  # a non-square input size is among them


def _top_level_flags(model) -> dict:
    """Plain constructor settings a model keeps as attributes (transform_input, aux_logits, image_size, ...)."""
    return {k: v for k, v in vars(model).items() if not k.startswith("_") and isinstance(v, (bool, int, float, str, tuple))}


def _shapes(model) -> dict:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


# googlenet's builder loads its file with the two auxiliary heads and then drops them (inception_v3
# keeps its one): the file it expects has them, although the network it returns does not.
_FILE_BUILT_WITH = {"googlenet": {"aux_logits": True}}


def test_every_torchvision_weight_builds_the_builders_network(tmp_path, monkeypatch):
    """Ours (random init, on meta) == get_model(arch, weights=w) loading a real-format file from its cache:
    the builder's strict load proves the keys and shapes, then its network is compared with ours."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    checked = 0
    for arch, w in _tv_weights():
        spec = M.resolve(f"tv:{arch}.{w.name}")
        ours, info = M.build(spec, "random", meta=True)
        assert sum(p.numel() for p in ours.parameters()) == w.meta["num_params"], spec.id  # torchvision's own count
        assert info.num_classes == len(w.meta["categories"] or range(1000))
        path = M.tv_cache_path(spec)
        assert path.startswith(str(tmp_path))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if arch in _FILE_BUILT_WITH:
            with W.empty_weights():
                file_state = tvm.get_model(
                    arch, weights=None, num_classes=info.num_classes, init_weights=False, **_FILE_BUILT_WITH[arch]
                ).state_dict()
        else:
            file_state = ours.state_dict()
        torch.save(file_state, path)
        with W.empty_weights():
            theirs = tvm.get_model(arch, weights=w).eval()  # the real builder, its cache, a strict load
        os.remove(path)
        assert _shapes(ours) == _shapes(theirs), spec.id
        assert _top_level_flags(ours) == _top_level_flags(theirs), spec.id
        checked += 1
    assert checked == len(_tv_weights())


def test_the_builder_sets_what_each_weight_needs():
    """The three cases the issue names, with the figures torchvision documents for the weights."""
    googlenet, _ = M.build(M.resolve("googlenet"), "random")
    assert googlenet.transform_input and googlenet.aux1 is None and googlenet.aux2 is None
    assert sum(p.numel() for p in googlenet.parameters()) == 6_624_904  # 13.0 M with weights=None
    inception, _ = M.build(M.resolve("inception_v3"), "random", meta=True)
    assert inception.transform_input and inception.AuxLogits is not None
    for arch, size in (("vit_b_16", 384), ("vit_l_16", 512), ("vit_h_14", 518)):
        vit, _ = M.build(M.resolve(f"tv:{arch}.IMAGENET1K_SWAG_E2E_V1"), "random", meta=True)
        assert vit.image_size == size
