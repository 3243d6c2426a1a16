"""Dataset layouts, subsets and image decoding."""

from __future__ import annotations

import io

import fixtures as F
import pytest
from PIL import Image

from bench.data import datasets as D
from bench.data import labels as L
from bench.data.images import open_rgb
from bench.errors import DatasetUnavailableError


def test_samples_are_bundled_with_imagenet_labels():
    ds = D.load("samples")
    assert len(ds) == 5
    assert ds.label_space.name == "imagenet-1k"
    assert ds.label_space.wnids[ds.labels[1]] == "n07920052"  # coffee -> espresso


def test_hf_and_stanford_layouts_agree(tiny_hf, tiny_stanford):
    hf = D.load("tiny-imagenet", "valid", tiny_hf)
    st = D.load("tiny-imagenet", "val", tiny_stanford.parent)
    assert hf.source.startswith("hf-local:") and st.source.startswith("stanford:")
    assert hf.labels == st.labels == [30, 119, 137, 193]
    assert open_rgb(hf.raw(0)).size == (64, 64)


def test_stanford_train_split(tiny_stanford):
    ds = D.load("tiny-imagenet", "train", tiny_stanford)
    assert len(ds) == 4 and ds.split == "train"


def test_image_folder_of_wnid_dirs(tmp_path, tiny_items):
    F.write_image_folder(tmp_path / "val", tiny_items)
    ds = D.load("imagenet-1k", None, tmp_path)
    assert ds.split == "validation" and len(ds) == 4
    assert [ds.label_space.wnids[y] for y in ds.labels] == [w for _, w, _ in tiny_items]


def test_missing_and_unknown_layouts_name_the_fix(tmp_path):
    with pytest.raises(DatasetUnavailableError, match="does not exist"):
        D.load("tiny-imagenet", None, tmp_path / "nope")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.txt").write_text("x")
    with pytest.raises(DatasetUnavailableError, match="not a layout we know"):
        D.load("tiny-imagenet", None, tmp_path / "junk")
    with pytest.raises(DatasetUnavailableError, match="no split"):
        D.load("tiny-imagenet", "test", tmp_path)


def test_hub_unreachable_names_data_dir():
    with pytest.raises(DatasetUnavailableError, match="--data-dir"):
        D.load("tiny-imagenet")


def test_unknown_wnid_in_folder_is_rejected(tmp_path):
    (tmp_path / "n99999999").mkdir()
    (tmp_path / "n99999999" / "x.jpg").write_bytes(b"")
    with pytest.raises(DatasetUnavailableError, match="n99999999"):
        D.load("imagenet-1k", None, tmp_path)


# --- explicit splits ----------------------------------------------------------------------------------


def test_missing_split_lists_the_splits_present(tmp_path, tiny_items):
    F.write_image_folder(tmp_path / "val", tiny_items)
    with pytest.raises(DatasetUnavailableError, match=r"holds no 'train' split of imagenet-1k \(splits present: validation\)"):
        D.load("imagenet-1k", "train", tmp_path)  # used to score val/ silently
    assert D.splits_present("imagenet-1k", tmp_path) == ["validation"]


def test_a_folder_of_class_dirs_is_the_split_its_name_says(tmp_path, tiny_items):
    F.write_image_folder(tmp_path / "train", tiny_items)
    assert D.load("imagenet-1k", "train", tmp_path / "train").split == "train"
    with pytest.raises(DatasetUnavailableError, match=r"splits present: train"):
        D.load("imagenet-1k", None, tmp_path / "train")  # the default split is validation, which this is not


def test_hf_copy_without_the_split_lists_its_splits(tiny_hf):
    with pytest.raises(DatasetUnavailableError, match=r"holds no 'train' split of tiny-imagenet \(splits present: valid\)"):
        D.load("tiny-imagenet", "train", tiny_hf)


def test_stanford_without_train_lists_valid(tmp_path, tiny_items):
    base = F.write_stanford(tmp_path, tiny_items)
    import shutil

    shutil.rmtree(base / "train")
    with pytest.raises(DatasetUnavailableError, match=r"splits present: valid"):
        D.load("tiny-imagenet", "train", tmp_path)


def test_missing_split_via_the_cli_exits_2(capsys, tiny_hf, tmp_path):
    from bench.cli import main

    assert (
        main(
            [
                "run",
                "--models",
                "tf_efficientnet_lite0",
                "--dataset",
                "tiny-imagenet",
                "--data-dir",
                str(tiny_hf),
                "--split",
                "train",
                "--no-efficiency",
                "--results-dir",
                str(tmp_path),
            ]
        )
        == 2
    )
    assert "splits present: valid" in capsys.readouterr().err and not any(tmp_path.iterdir())


# --- more HF layouts: plain parquet shards, save_to_disk -----------------------------------------------


def _hf_dataset(items, names, labels=None):
    """An HF Dataset of the items with a ClassLabel of `names`; each label is its wnid's position in `names` unless given."""
    import datasets as hfds

    features = hfds.Features({"image": hfds.Image(), "label": hfds.ClassLabel(names=list(names))})
    labels = [list(names).index(w) for _, w, _ in items] if labels is None else labels
    return hfds.Dataset.from_dict(
        {"image": [{"bytes": b, "path": name} for name, _, b in items], "label": labels}, features=features
    )


def _expected(items):
    space = L.tiny_imagenet()
    return [space.index[w] for _, w, _ in items]


def test_plain_parquet_shards_without_readme(tmp_path, tiny_items):
    """The ClassLabel names come from the parquet's own HF schema metadata; here in reverse order, so an index
    read as a sorted-wnid position would be wrong."""
    names = [w for _, w, _ in reversed(tiny_items)]
    ds = _hf_dataset(tiny_items, names)
    ds.to_parquet(str(tmp_path / "valid-00000-of-00001.parquet"))
    ds.select([0]).to_parquet(str(tmp_path / "train-00000-of-00001.parquet"))
    assert not (tmp_path / "README.md").exists()
    loaded = D.load("tiny-imagenet", "val", tmp_path)
    assert loaded.source == f"hf-local:{tmp_path}" and loaded.labels == _expected(tiny_items) == [30, 119, 137, 193]
    assert D.load("tiny-imagenet", "train", tmp_path).labels == [30]
    assert loaded.ids() == [name for name, _, _ in tiny_items]


def test_save_to_disk_dataset_and_dataset_dict(tmp_path, tiny_items):
    import datasets as hfds

    ds = _hf_dataset(tiny_items, L.tiny_imagenet().wnids)
    ds.save_to_disk(str(tmp_path / "one"))  # no split recorded: the folder is the default split
    assert D.load("tiny-imagenet", None, tmp_path / "one").labels == _expected(tiny_items)
    hfds.DatasetDict({"valid": ds, "train": ds.select([1, 2])}).save_to_disk(str(tmp_path / "dict"))
    assert D.load("tiny-imagenet", "valid", tmp_path / "dict").source == f"hf-saved:{tmp_path / 'dict'}"
    assert D.load("tiny-imagenet", "train", tmp_path / "dict").labels == _expected(tiny_items)[1:3]
    assert D.splits_present("tiny-imagenet", tmp_path / "dict") == ["train", "valid"]


def test_class_label_names_that_are_not_wnids_are_refused(tmp_path, tiny_items):
    words = dict(zip(L.tiny_imagenet().wnids, L.tiny_imagenet().names, strict=True))
    _hf_dataset(tiny_items, [words[w] for _, w, _ in tiny_items], labels=[0, 1, 2, 3]).save_to_disk(str(tmp_path / "named"))
    shown = r"its 4 ClassLabel names \('tabby, tabby cat', 'military uniform', \.\.\.\) are not WordNet ids"
    with pytest.raises(DatasetUnavailableError, match=shown):
        D.load("tiny-imagenet", None, tmp_path / "named")


def test_imagenet_1k_descriptions_map_by_index_where_the_order_is_known(tmp_path, tiny_items):
    """ILSVRC/imagenet-1k's ClassLabel holds the 1000 descriptions in sorted-wnid order: declared, so accepted."""
    space = L.imagenet_1k()
    import datasets as hfds

    features = hfds.Features({"image": hfds.Image(), "label": hfds.ClassLabel(names=[f"class {i}" for i in range(1000)])})
    idx = [space.index[w] for _, w, _ in tiny_items]
    hfds.Dataset.from_dict(
        {"image": [{"bytes": b, "path": None} for _, _, b in tiny_items], "label": idx}, features=features
    ).to_parquet(str(tmp_path / "validation-00000-of-00001.parquet"))
    assert D.load("imagenet-1k", "validation", tmp_path).labels == idx


def test_wnid_class_labels_outside_the_dataset_are_refused(tmp_path, tiny_items):
    items = [(n, "n01440764", b) for n, _, b in tiny_items[:1]]  # tench is not a Tiny ImageNet class
    _hf_dataset(items, ["n01440764"]).save_to_disk(str(tmp_path / "bad"))
    with pytest.raises(DatasetUnavailableError, match=r"ClassLabel 'n01440764' is not one of the 200 tiny-imagenet classes"):
        D.load("tiny-imagenet", None, tmp_path / "bad")


# --- registry -------------------------------------------------------------------------------------------


def test_every_dataset_declares_its_layouts_and_splits():
    for info in D.KNOWN.values():
        assert info.layouts and info.default_split in info.splits.values()
        assert all(info.splits[c] == c for c in set(info.splits.values()))  # each canonical split is its own alias


def test_data_dir_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(DatasetUnavailableError, match="is a file, not a folder: pass the folder"):
        D.load("imagenet-1k", None, tmp_path / "f")


def test_junk_line_in_val_annotations(tmp_path, tiny_items):
    base = F.write_stanford(tmp_path, tiny_items)
    (base / "val" / "val_annotations.txt").write_text("val_0.JPEG n02123045 0 0 63 63\n")  # spaces, not tabs
    with pytest.raises(DatasetUnavailableError, match=r"val_annotations.txt line 1: expected 'FILE<TAB>WNID<TAB>box'"):
        D.load("tiny-imagenet", None, tmp_path)


@pytest.mark.parametrize("name", ["gray.jpg", "cmyk.jpg", "rgba.png", "palette.png"])
def test_awkward_modes_become_rgb(name):
    img = open_rgb(F.awkward_images()[name])
    assert img.mode == "RGB" and img.size == (64, 64)


def test_sixteen_bit_grayscale_converts_as_the_reference_loaders_do():
    """PIL's convert("RGB") (timm's and torchvision's loaders) clips 16-bit values; it does not rescale them."""
    img = Image.new("I;16", (4, 4), 300)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    assert open_rgb(buf.getvalue()).getpixel((0, 0)) == (255, 255, 255)  # rescaling 300/65535 would give 1


@pytest.mark.parametrize("data,match", [(b"", "empty"), (b"not an image", "cannot identify")])
def test_bad_bytes_raise(data, match):
    with pytest.raises(Exception, match=match):
        open_rgb(data)


def test_truncated_jpeg_raises():
    with pytest.raises(OSError):
        open_rgb(F.awkward_images()["truncated.jpg"])


def test_corrupt_sample_is_reported_not_fatal(tmp_path):
    items = F.awkward_images()
    d = tmp_path / "n07920052"
    d.mkdir()
    for name, data in items.items():
        (d / name).write_bytes(data)
    ds = D.load("imagenet-1k", None, tmp_path)
    view = D.TorchView(
        ds,
        range(len(ds)),
        lambda img: __import__("torchvision").transforms.functional.pil_to_tensor(img.resize((8, 8))).float(),
        (3, 8, 8),
    )
    errors = {ds.ids()[view[j][2]]: view[j][3] for j in range(len(view))}
    assert [k for k, v in errors.items() if v] == ["truncated.jpg"]
