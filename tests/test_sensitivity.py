"""`bench sensitivity`: real lite0 weights on the bundled photos; variants go through the library's own paths."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from bench import sensitivity as S
from bench.cli import main
from bench.data import datasets as D
from bench.data import loaders
from bench.data import transforms as T
from bench.measure import stats
from bench.report import sensitivity as page


def test_compare_counts_flips_and_calls_the_exact_mcnemar():
    own = {0: True, 1: True, 2: False, 3: False, 4: True, 5: False}
    other = {0: True, 1: False, 2: True, 3: True, 4: True, 5: True, 9: True}  # 9: not in both, ignored
    c = S.compare(own, other)
    # lost: image 1 (right -> wrong); gained: images 2, 3, 5; Δ = (3 - 1) / 6
    assert c == {
        "n": 6,
        "delta_top1": pytest.approx(100 * 2 / 6, abs=1e-4),
        "flips_lost": 1,
        "flips_gained": 3,
        "mcnemar_p": pytest.approx(stats.mcnemar_exact(1, 3), abs=1e-6),
    }
    assert c["mcnemar_p"] == pytest.approx(0.625)  # 2 * (C(4,0) + C(4,1)) / 2^4


def test_tensor_resize_is_the_gpu_paths_resize_on_the_cpu(lite0):
    spec, model, _ = lite0
    ts = T.resolve(spec, model)
    img = Image.open(D.samples_dir() / "chelsea.jpg").convert("RGB")
    from torchvision.transforms.functional import pil_to_tensor

    expected = loaders.GpuDecoder(ts, "cpu").spatial(pil_to_tensor(img))
    got = S.TensorResize(ts)(img)
    assert got.dtype == torch.uint8 and torch.equal(got, expected)
    pil = T.build(ts, normalize=False)(img)
    assert pil.shape == got.shape and not torch.equal(pil, got)  # two backends, same geometry, different pixels


def test_variants_use_the_override_path_of_bench_run(lite0):
    spec, model, _ = lite0
    ts = T.resolve(spec, model)
    by_axis = {}
    for v in S.variants(spec, model, ts):
        by_axis.setdefault(v.axis, []).append(v)
    assert by_axis["interpolation"][0].ts == T.resolve(spec, model, "model", {"interpolation": "bilinear"})
    assert [v.ts.crop_pct for v in by_axis["crop_pct"]] == [0.925, 0.825]
    assert by_axis["crop_pct"][0].ts == T.resolve(spec, model, "model", {"crop_pct": 0.925})
    (size,) = by_axis["input size"]
    assert size.ts is None and "no different test size" in size.note  # lite0's config has one size


def test_test_size_variant_where_timm_has_one():
    from bench import models as M

    spec = M.resolve("timm:resnet50.a1_in1k")
    model, _ = M.build(spec, "random")
    ts = T.resolve(spec, model)
    (size,) = [v for v in S.variants(spec, model, ts) if v.axis == "input size"]
    assert tuple(ts.input_size) == (3, 288, 288) and ts.crop_pct == 1.0  # the own protocol: timm's test size (validate.py)
    assert tuple(size.ts.input_size) == (3, 224, 224) and size.ts.crop_pct == 0.95  # resnet50.a1_in1k's train size
    assert size.name.startswith("train size 224")


@pytest.mark.slow
def test_sensitivity_command_on_the_bundled_photos(tmp_path, capsys):
    out, store = tmp_path / "out", tmp_path / "results"
    argv = ["sensitivity", "--models", "tf_efficientnet_lite0", "--out", str(out), "--results-dir", str(store)]
    assert main([*argv, "--no-progress", "--json"]) == 0
    (report,) = json.loads(capsys.readouterr().out)
    assert report["model"] == "timm:tf_efficientnet_lite0.in1k" and report["n"] == 5
    assert report["top1"] == 40.0  # the same figure `bench run` gives on these photos
    axes = [v["axis"] for v in report["variants"]]
    assert axes == ["resize backend", "interpolation", "crop_pct", "crop_pct", "input size"]
    for v in report["variants"][:4]:
        assert v["n"] == 5 and v["delta_top1"] == pytest.approx(v["top1"] - 40.0)
        assert v["delta_top1"] == pytest.approx(100 * (v["flips_gained"] - v["flips_lost"]) / 5)
        assert v["mcnemar_p"] == pytest.approx(stats.mcnemar_exact(v["flips_lost"], v["flips_gained"]), abs=1e-6)
    md = (out / "sensitivity.md").read_text()
    assert "| timm:tf_efficientnet_lite0.in1k | own protocol" in md and "](sensitivity.png)" in md
    assert page.load(store) == [report]  # stored under results/ as the model finished
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    page.regenerate(store, tmp_path / "fresh")  # from results/ alone, into an empty folder: byte-identical
    assert {p.name: p.read_bytes() for p in (tmp_path / "fresh").iterdir()} == first


REPORT = {
    "model": "timm:m",
    "dataset": "samples",
    "split": "val",
    "n": 5,
    "top1": 40.0,
    "device": "cpu",
    "date": "2026-01-01",
    "protocol": {"interpolation": "bicubic", "crop_pct": 0.875, "input_size": [3, 224, 224]},
    "variants": [
        {
            "axis": "crop_pct",
            "variant": "crop_pct 0.925 (+0.05)",
            "top1": 60.0,
            "delta_top1": 20.0,
            "flips_lost": 0,
            "flips_gained": 1,
            "mcnemar_p": 1.0,
            "note": None,
        },
        {"axis": "input size", "variant": "train vs test size", "note": "no test size"},
    ],
}


def test_reports_are_stored_one_per_model_dataset_split(tmp_path):
    a = {**REPORT, "model": "m1"}
    b = {**REPORT, "model": "m2"}
    page.save(tmp_path, a)
    page.save(tmp_path, b)
    page.save(tmp_path, {**a, "top1": 80.0})  # the same (model, dataset, split): replaces its own report only
    assert page.load(tmp_path) == [{**a, "top1": 80.0}, b]
    assert page.path_for(tmp_path, a) == tmp_path / "sensitivity" / "samples" / "val" / "m1.json"
    from bench.store import results

    assert results.iter_paths(tmp_path) == []  # reports are not results


def test_sensitivity_page_renders_byte_identical(tmp_path):
    report = REPORT
    page.save(tmp_path / "results", report)
    page.regenerate(tmp_path / "results", tmp_path / "a")
    page.regenerate(tmp_path / "results", tmp_path / "b")
    for name in (page.PAGE, page.PLOT):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    row = next(line for line in (tmp_path / "a" / page.PAGE).read_text().splitlines() if "crop_pct 0.925" in line)
    assert "+20.00" in row and "1.0000" in row
    assert np.isclose(float(row.split("|")[4]), 60.0)
