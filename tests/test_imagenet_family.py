"""Every ImageNet-family layout through the real loading code, and heads that are not 1000 classes."""

from __future__ import annotations

import json

import fixtures as F
import numpy as np
import pytest
import torch

from bench.cli import main
from bench.data import datasets as D
from bench.data import labels as L
from bench.errors import DatasetUnavailableError

INET = L.imagenet_1k()


def _photos():
    return F.tiny_photo_bytes(size=96)


def test_devkit_id_order_is_not_sorted_order():
    order = L.ilsvrc2012_id_order()
    assert order[0] == "n02119789" and INET.index["n02119789"] == 278  # ID 1 is kit fox, sorted index 278
    assert order[999] == "n03255030" and sorted(order) == list(INET.wnids)


# ILSVRC2012_IDs of the four photos' classes, copied from the devkit's map_clsloc.txt (not from bench/resources)
DEVKIT_ID = {"n02123045": 174, "n03763968": 866, "n04008634": 542, "n07920052": 947}  # tabby, uniform, projectile, espresso


def test_flat_official_val_with_devkit_ground_truth(tmp_path):
    """ILSVRC2012_IDs are in meta.mat order: reading them as sorted indices is the classic silent bug."""
    val = tmp_path / "ILSVRC2012_img_val"
    val.mkdir()
    photos = _photos()
    lines = []
    for k, (_, wnid, data) in enumerate(photos, start=1):
        (val / f"ILSVRC2012_val_{k:08d}.JPEG").write_bytes(data)
        lines.append(str(DEVKIT_ID[wnid]))
    devkit = tmp_path / "ILSVRC2012_devkit_t12" / "data"
    devkit.mkdir(parents=True)
    (devkit / D.GROUND_TRUTH).write_text("\n".join(lines) + "\n")
    ds = D.load("imagenet-1k", "val", tmp_path)
    assert ds.source.startswith("imagenet-flat:")
    assert [INET.wnids[y] for y in ds.labels] == [w for _, w, _ in photos]


def test_flat_val_without_ground_truth_names_the_fix(tmp_path):
    (tmp_path / "ILSVRC2012_val_00000001.JPEG").write_bytes(_photos()[0][2])
    with pytest.raises(DatasetUnavailableError, match="ILSVRC2012_validation_ground_truth.txt"):
        D.load("imagenet-1k", "val", tmp_path)


def test_imagenet_v2_folders_are_class_indices(tmp_path):
    root = tmp_path / "imagenetv2-matched-frequency-format-val"
    for _, wnid, data in _photos():
        d = root / str(INET.index[wnid])
        d.mkdir(parents=True)
        (d / "a.jpeg").write_bytes(data)
    ds = D.load("imagenet-v2", None, tmp_path)
    assert ds.source.startswith("index-folders:")
    assert sorted(INET.wnids[y] for y in ds.labels) == sorted(w for _, w, _ in _photos())


@pytest.mark.parametrize("name,space", [("imagenet-a", L.imagenet_a), ("imagenet-r", L.imagenet_r)])
def test_imagenet_a_and_r_use_their_200_classes(tmp_path, name, space):
    wnid = space().wnids[3]
    (tmp_path / wnid).mkdir()
    (tmp_path / wnid / "x.jpg").write_bytes(_photos()[0][2])
    ds = D.load(name, None, tmp_path)
    assert len(ds.label_space) == 200 and ds.labels == [3]
    proj = L.project(ds.label_space, INET)
    assert proj.coverage == 1.0 and len(proj.restricted_model_indices) == 200  # restricted = timm's --valid-labels


def test_imagenet_sketch_and_imagenette_layouts(tmp_path):
    sketch = tmp_path / "sketch"
    (sketch / "n01440764").mkdir(parents=True)
    (sketch / "n01440764" / "s.JPEG").write_bytes(_photos()[0][2])
    assert D.load("imagenet-sketch", None, sketch).label_space.name == "imagenet-1k"
    nette = tmp_path / "imagenette2-160" / "val" / "n03888605"
    nette.mkdir(parents=True)
    (nette / "p.JPEG").write_bytes(_photos()[0][2])
    ds = D.load("imagenette", None, tmp_path)
    assert len(ds.label_space) == 10 and ds.labels == [9]  # parachute is the last of the 10


def test_wnid_outside_the_dataset_classes_is_rejected(tmp_path):
    (tmp_path / "n01443537").mkdir()  # goldfish is not an ImageNet-A class
    (tmp_path / "n01443537" / "x.jpg").write_bytes(_photos()[0][2])
    with pytest.raises(DatasetUnavailableError, match="not one of the 200 imagenet-a classes"):
        D.load("imagenet-a", None, tmp_path)


def test_real_labels_reported_beside_original(tmp_path, capsys):
    """ImageNet-ReaL: timm's label sets looked up by val file number."""
    real = L.real_labels()
    # val image 2 has ReaL labels [970, 795]; file it under a wnid folder of a different class
    order = [INET.wnids[970]]
    d = tmp_path / "val" / order[0]
    d.mkdir(parents=True)
    for k in (1, 2, 4):
        (d / f"ILSVRC2012_val_{k:08d}.JPEG").write_bytes(_photos()[3][2])
    assert real[0] == [] and 970 in real[1]
    assert (
        main(
            [
                "run",
                "--models",
                "tf_efficientnet_lite0",
                "--dataset",
                "imagenet-1k",
                "--data-dir",
                str(tmp_path),
                "--no-efficiency",
                "--no-progress",
                "--results-dir",
                str(tmp_path / "r"),
            ]
        )
        == 0
    )
    r = json.loads(next((tmp_path / "r").rglob("*.json")).read_text())
    assert r["accuracy"]["real"]["n"] == 2  # image 1 has an empty ReaL set and is left out, as in the paper
    assert r["accuracy"]["n"] == 3
    # hits by a plain second count: the per-sample top-1 (ImageNet-1k head) in the image's ReaL set
    s = _samples_npz(tmp_path / "r")
    number = {int(i): k for i, k in zip(range(3), (1, 2, 4))}  # sample index -> val image number (files sorted)
    hits = sum(
        int(s["full_top5"][j, 0]) in real[number[int(i)] - 1] for j, i in enumerate(s["index"]) if real[number[int(i)] - 1]
    )
    assert r["accuracy"]["real"]["correct1"] == hits
    assert r["accuracy"]["real"]["top1"] == round(100 * hits / 2, 4)


def _lite0_head_checkpoint(lite0, tmp_path, rows, name, bias_fill=-1e4):
    """lite0's weights with its classifier cut down or padded to `rows` (ImageNet-1k index or None)."""
    _, model, _ = lite0
    state = {k: v.clone() for k, v in model.state_dict().items()}
    w, b = state["classifier.weight"], state["classifier.bias"]
    state["classifier.weight"] = torch.stack([w[r] if r is not None else torch.zeros_like(w[0]) for r in rows])
    state["classifier.bias"] = torch.stack([b[r] if r is not None else torch.tensor(bias_fill) for r in rows])
    path = tmp_path / name
    torch.save(state, path)
    return path


def _samples_npz(results_dir):
    return np.load(next(results_dir.rglob("*.samples.npz")))


def test_1001_head_with_background_maps_by_wnid(lite0, tmp_path):
    ckpt = _lite0_head_checkpoint(lite0, tmp_path, [None, *range(1000)], "bg1001.pth")
    base = ["run", "--models", "tf_efficientnet_lite0", "--dataset", "samples", "--no-efficiency", "--no-progress"]
    assert main(base + ["--results-dir", str(tmp_path / "a")]) == 0
    assert main(base + ["--weights", str(ckpt), "--results-dir", str(tmp_path / "b")]) == 0
    r = json.loads(next((tmp_path / "b").rglob("*.json")).read_text())
    assert r["model"]["label_space"] == "imagenet-1k+background" and r["labels"]["coverage"] == 1.0
    assert r["accuracy"]["full"]["top1"] == 40.0
    a, b = _samples_npz(tmp_path / "a"), _samples_npz(tmp_path / "b")
    np.testing.assert_array_equal(a["full_top5"] + 1, b["full_top5"])  # same classes, shifted by the background
    np.testing.assert_array_equal(a["restricted_top5"], b["restricted_top5"])


def test_200_class_head_on_tiny_and_on_imagenet_restricted_to_tiny(lite0, tmp_path, tiny_hf):
    tiny = L.tiny_imagenet()
    ckpt = _lite0_head_checkpoint(lite0, tmp_path, [INET.index[w] for w in tiny.wnids], "tiny200.pth")
    common = ["--models", "tf_efficientnet_lite0", "--no-efficiency", "--no-progress"]
    assert (
        main(["run", *common, "--dataset", "tiny-imagenet", "--data-dir", str(tiny_hf), "--results-dir", str(tmp_path / "a")])
        == 0
    )
    assert (
        main(
            [
                "run",
                *common,
                "--dataset",
                "tiny-imagenet",
                "--data-dir",
                str(tiny_hf),
                "--weights",
                str(ckpt),
                "--label-space",
                "tiny-imagenet",
                "--results-dir",
                str(tmp_path / "b"),
            ]
        )
        == 0
    )
    a, b = _samples_npz(tmp_path / "a"), _samples_npz(tmp_path / "b")
    np.testing.assert_array_equal(a["restricted_top5"], b["restricted_top5"])  # the head *is* the restricted logits
    # ImageNet-1k val (wnid folders), restricted to Tiny's 200 classes, through the 200-class head
    F.write_image_folder(tmp_path / "inet" / "val", F.tiny_photo_bytes())
    assert (
        main(
            [
                "run",
                *common,
                "--dataset",
                "imagenet-1k",
                "--data-dir",
                str(tmp_path / "inet"),
                "--weights",
                str(ckpt),
                "--classes",
                "tiny-imagenet",
                "--results-dir",
                str(tmp_path / "c"),
            ]
        )
        == 0
    )
    r = json.loads(next((tmp_path / "c").rglob("*.json")).read_text())
    assert r["key"]["dataset"] == "imagenet-1k@tiny-imagenet" and r["labels"]["coverage"] == 1.0
    assert r["accuracy"]["restricted"]["top5"] == 100.0 and r["model"]["num_classes"] == 200


def test_label_space_file_head_reports_unmapped(lite0, tmp_path):
    wnids = ["n07920052", "n03763968", "n12267677"]  # espresso, military uniform, acorn
    ckpt = _lite0_head_checkpoint(lite0, tmp_path, [INET.index[w] for w in wnids], "three.pth")
    head = tmp_path / "three.txt"
    head.write_text("\n".join(wnids) + "\n")
    assert (
        main(
            [
                "run",
                "--models",
                "tf_efficientnet_lite0",
                "--dataset",
                "samples",
                "--weights",
                str(ckpt),
                "--label-space",
                str(head),
                "--no-efficiency",
                "--no-progress",
                "--results-dir",
                str(tmp_path / "r"),
            ]
        )
        == 0
    )
    r = json.loads(next((tmp_path / "r").rglob("*.json")).read_text())
    assert r["labels"]["mapped"] == 3 and len(r["labels"]["unmapped"]) == 997
    assert r["accuracy"]["restricted"]["correct1"] == 2  # coffee and uniform; the other three count as wrong
    assert r["accuracy"]["n"] == 5


def test_labels_command_with_model(capsys):
    assert main(["labels", "tiny-imagenet", "--model", "timm:vit_base_patch16_224.augreg_in21k", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["projection"]["model_space"] == "imagenet-21k-goog"
    assert data["projection"]["unmapped"] == ["n04399382"]
