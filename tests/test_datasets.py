"""Dataset layouts, subsets and image decoding."""

from __future__ import annotations

import io

import pytest
from PIL import Image

import fixtures as F
from bench.data import datasets as D
from bench.errors import DatasetUnavailableError
from bench.data.images import open_rgb


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


def test_stratified_limit_is_round_robin_and_deterministic():
    labels = [0] * 5 + [1] * 5 + [2] * 5
    assert D.stratified(labels, 4) == [0, 1, 5, 10]
    assert D.stratified(labels, 4) == D.stratified(labels, 4)
    assert D.stratified(labels, None) == list(range(15))
    assert sorted(labels[i] for i in D.stratified(labels, 6)) == [0, 0, 1, 1, 2, 2]


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
    view = D.TorchView(ds, range(len(ds)), lambda img: __import__("torchvision").transforms.functional.pil_to_tensor(img.resize((8, 8))).float(), (3, 8, 8))
    errors = {ds.ids()[view[j][2]]: view[j][3] for j in range(len(view))}
    assert [k for k, v in errors.items() if v] == ["truncated.jpg"]


def test_gated_hf_dataset_names_the_token(monkeypatch):
    import datasets as hfds
    from huggingface_hub.errors import GatedRepoError

    class Response:  # what HfHubHTTPError reads from an HTTP response
        headers: dict = {}
        request = None
        status_code = 401

    def gated(*args, **kwargs):
        raise GatedRepoError("401 Client Error. Cannot access gated repo for url https://huggingface.co/datasets/ILSVRC/imagenet-1k",
                             response=Response())

    monkeypatch.setattr(hfds, "load_dataset", gated)
    with pytest.raises(DatasetUnavailableError, match=r"gated.*HF_TOKEN.*--data-dir"):
        D.load("imagenet-1k")
