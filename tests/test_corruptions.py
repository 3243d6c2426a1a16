"""ImageNet-C corruptions: the harness's worker step equals calling the library directly; mCE by hand."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
import torch
from PIL import Image

from bench.data import datasets as D
from bench.data import loaders
from bench.data import transforms as T
from bench.errors import ConfigError
from bench.measure import corruptions as C

# Hendrycks & Dietterich 2019's AlexNet errors as google-research/augmix imagenet.py lists them (ALEXNET_ERR), in
# ImageNet-C order: an independent copy of what bench/resources/imagenet_c_alexnet.csv must hold.
AUGMIX_ALEXNET_ERR = [
    0.886428,
    0.894468,
    0.922640,
    0.819880,
    0.826268,
    0.785948,
    0.798360,
    0.866816,
    0.826572,
    0.819324,
    0.564592,
    0.853204,
    0.646056,
    0.717840,
    0.606500,
]


def test_names_are_the_librarys():
    from imagecorruptions import get_corruption_names

    assert list(C.COMMON) == get_corruption_names("common")
    assert list(C.EXTRA) == get_corruption_names("validation")


def test_alexnet_constants_match_the_published_list():
    errors, clean, sources = C.alexnet()
    assert [errors[c] for c in C.COMMON] == AUGMIX_ALEXNET_ERR
    assert clean == pytest.approx(1 - 0.56522)  # torchvision AlexNet_Weights.IMAGENET1K_V1 acc@1
    assert "Hendrycks & Dietterich 2019" in sources["corruptions"]


def test_parse_and_canonical_spelling():
    assert C.parse("gaussian_noise:3") == (("gaussian_noise", 3),)
    assert len(C.parse("all")) == 75
    assert C.parse("fog:2, gaussian_noise") == tuple([("gaussian_noise", s) for s in range(1, 6)] + [("fog", 2)])
    assert (
        C.canonical("fog:2,gaussian_noise:1,gaussian_noise:2,gaussian_noise:3,gaussian_noise:4,gaussian_noise:5")
        == "gaussian_noise,fog:2"
    )
    assert C.canonical(",".join(C.COMMON)) == "all"
    assert C.canonical("all,spatter:1") == ",".join(C.COMMON) + ",spatter:1"


@pytest.mark.parametrize(
    "text, message", [("gausian_noise", "did you mean gaussian_noise"), ("fog:6", "severity must be 1 to 5"), ("", "empty")]
)
def test_bad_corruptions_are_config_errors(text, message):
    with pytest.raises(ConfigError, match=message):
        C.parse(text)


def _independent_seed(index: int, name: str, severity: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{index}:{name}:{severity}".encode()).digest()[:4], "little")


def _by_the_library(crop_chw: torch.Tensor, index: int, name: str, severity: int) -> np.ndarray:
    """What ImageNet-C's recipe gives with the library called directly: seed, corrupt, uint8, JPEG q85."""
    from imagecorruptions import corrupt

    seed = _independent_seed(index, name, severity)
    np.random.seed(seed)
    kwargs = {"seed": seed} if name in ("impulse_noise", "glass_blur") else {}
    out = corrupt(crop_chw.permute(1, 2, 0).numpy().copy(), severity=severity, corruption_name=name, **kwargs)
    buf = io.BytesIO()
    Image.fromarray(out).save(buf, format="JPEG", quality=85, optimize=True)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


@pytest.fixture(scope="module")
def photos(lite0):
    spec, model, _ = lite0
    images = D.load("samples")
    ts = T.resolve(spec, model)
    return images, ts


def _loader_batch(images, ts, indices, corrupt, workers=0):
    pipe = loaders.build(images, indices, ts, "cpu", batch_size=len(indices), workers=workers, data_path="cpu", corrupt=corrupt)
    ((x, _, idx, errs),) = list(pipe.batches)
    assert not any(errs) and pipe.data_path == "cpu"
    return x, idx


@pytest.mark.parametrize("name, severity", [("gaussian_noise", 3), ("impulse_noise", 2)])
def test_worker_step_equals_the_library_called_directly(photos, name, severity):
    images, ts = photos
    i = [p.rsplit("/", 1)[-1] for p in images.items].index("chelsea.jpg")
    crop = T.build(ts, normalize=False)(Image.open(images.items[i]).convert("RGB"))
    x, _ = _loader_batch(images, ts, [i], C.Corruptor(name, severity))
    expected = _by_the_library(crop, i, name, severity)
    assert x.dtype == torch.uint8 and tuple(x.shape[1:]) == tuple(ts.input_size)
    np.testing.assert_array_equal(x[0].permute(1, 2, 0).numpy(), expected)
    assert not np.array_equal(expected, crop.permute(1, 2, 0).numpy())  # it did corrupt


def test_seeding_is_per_image_not_per_worker_or_batch(photos):
    images, ts = photos
    corrupt = C.Corruptor("shot_noise", 4)
    alone, _ = _loader_batch(images, ts, [3], corrupt)
    together, idx = _loader_batch(images, ts, [0, 3], corrupt, workers=0)
    assert idx.tolist() == [0, 3]
    np.testing.assert_array_equal(alone[0].numpy(), together[1].numpy())
    pipe = loaders.build(images, [0, 1, 3], ts, "cpu", batch_size=1, workers=2, data_path="cpu", corrupt=corrupt)
    in_workers = {int(i): x[0] for x, _, idx, _ in pipe.batches for i in idx}
    assert pipe.workers == 2
    np.testing.assert_array_equal(in_workers[3].numpy(), alone[0].numpy())


def test_apply_leaves_the_callers_random_stream_alone():
    np.random.seed(123)
    before = np.random.random()
    np.random.seed(123)
    C.apply(np.full((40, 40, 3), 128, dtype=np.uint8), "gaussian_noise", 1, index=0)
    assert np.random.random() == before


def test_mce_of_alexnet_itself_is_100():
    ref, clean, _ = C.alexnet()
    s = C.score({c: {sev: ref[c] for sev in C.SEVERITIES} for c in C.COMMON}, clean)
    assert s["mce"] == 100.0 and s["relative_mce"] == 100.0 and s["mce_complete"] and s["mce_corruptions"] == 15


def test_mce_of_a_model_with_half_alexnets_errors_is_50():
    ref, clean, _ = C.alexnet()
    s = C.score({c: {sev: ref[c] / 2 for sev in C.SEVERITIES} for c in C.COMMON}, clean / 2)
    assert s["mce"] == pytest.approx(50.0) and s["relative_mce"] == pytest.approx(50.0)


def test_partial_mce_by_hand():
    # fake model: 80% error on gaussian noise at every severity, 30% clean error.
    # CE = 0.80 / 0.886428 = 90.2499%; relative CE = (0.80 - 0.30) / (0.886428 - 0.43478) = 0.5 / 0.451648 = 110.7057%
    s = C.score({"gaussian_noise": {sev: 0.8 for sev in C.SEVERITIES}, "fog": {3: 0.5}}, 0.3)
    assert s["ce"]["gaussian_noise"] == pytest.approx(90.2499, abs=1e-4)
    assert s["relative_ce"]["gaussian_noise"] == pytest.approx(110.7057, abs=1e-4)
    assert s["ce"]["fog"] is None  # one severity of five: no CE
    assert s["mce"] == pytest.approx(90.2499, abs=1e-4) and s["mce_corruptions"] == 1 and not s["mce_complete"]


def test_summary_from_the_per_sample_record():
    samples = {
        "index": np.arange(4),
        "target": np.array([1, 2, 3, 4]),
        "restricted_top5": np.array([[1, 0, 0, 0, 0], [2, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]]),
        C.array_name("gaussian_noise", 3): np.array([1, 0, 0, -1], dtype=np.int32),
    }
    s = C.summarize(samples, "gaussian_noise:3")
    assert s["clean_error"] == 50.0 and s["errors"] == {"gaussian_noise": {"3": 75.0}}
    assert s["requested"] == "gaussian_noise:3" and s["mce"] is None and s["library"].startswith("imagecorruptions-imaug ")
