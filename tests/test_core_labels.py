"""Label projection and the dataset label readers, against values taken from outside the package.

Expected values come from public copies of the official files, not from bench/resources:
- ILSVRC2012 devkit `map_clsloc.txt` (wnid, ILSVRC2012_ID, name), read from the public copy in
  github.com/aangelopoulos/rcps imagenet/map_clsloc.txt @ d9353b00b5a7 (IDs 1..1000 in order);
  DEVKIT_SHA256 is the sha256 of its 1000 wnids joined by newlines, in ID order.
- sorted-wnid ImageNet-1k indices (timm's imagenet_synsets.txt / torchvision's category order):
  0 tench n01440764, 1 goldfish n01443537, 278 kit fox n02119789, 999 toilet tissue n15075141.
- Tiny ImageNet's sorted 200 wnids: 0 goldfish n01443537, 199 acorn n12267677.
"""

from __future__ import annotations

import hashlib

import pytest

from bench.data import datasets as D
from bench.data import labels as L
from bench.errors import DatasetUnavailableError, LabelSpaceError

# ILSVRC2012_ID -> wnid, from map_clsloc.txt (see the module docstring).
DEVKIT = {
    1: "n02119789",
    2: "n02100735",
    3: "n02110185",
    4: "n02096294",
    5: "n02102040",
    174: "n02123045",
    449: "n01440764",
    450: "n01443537",
    490: "n01751748",
    542: "n04008634",
    866: "n03763968",
    947: "n07920052",
    1000: "n03255030",
}
DEVKIT_SHA256 = "930a31901625f2149f8bab016254025ad225daf9efafa3f00011daf6f5f919f9"
SORTED = {0: "n01440764", 1: "n01443537", 278: "n02119789", 999: "n15075141"}


def test_devkit_id_table_is_the_official_one():
    order = L.ilsvrc2012_id_order()
    assert {i: order[i - 1] for i in DEVKIT} == DEVKIT
    # any swap of two IDs anywhere in the table changes this digest of the official order
    assert hashlib.sha256("\n".join(order).encode()).hexdigest() == DEVKIT_SHA256


def test_imagenet_1k_sorted_indices():
    inet = L.imagenet_1k()
    assert {i: inet.wnids[i] for i in SORTED} == SORTED


def _flat_val(root, ids):
    """ILSVRC2012_img_val/ with one (unreadable, never decoded) file per image + the devkit ground truth."""
    val = root / "ILSVRC2012_img_val"
    val.mkdir()
    for k in range(1, len(ids) + 1):
        (val / f"ILSVRC2012_val_{k:08d}.JPEG").write_bytes(b"jpeg")
    (val / "0_README.txt").write_text("not an image")  # sorts first
    (val / "ILSVRC2012_val_00000001.xml").write_text("<annotation/>")  # official name, not an image
    (val / "cover.JPEG").write_bytes(b"jpeg")  # an image, not an official val name
    gt = root / "ILSVRC2012_devkit_t12" / "data"
    gt.mkdir(parents=True)
    (gt / D.GROUND_TRUTH).write_text("\n".join(map(str, ids)) + "\n")
    return root


def test_flat_val_reads_devkit_ids_in_meta_order(tmp_path):
    ids = [1, 2, 3, 4, 1000, 449]
    ds = D.load("imagenet-1k", "val", _flat_val(tmp_path, ids))
    assert (ds.name, ds.split, ds.label_space.name) == ("imagenet-1k", "validation", "imagenet-1k")
    assert ds.source == f"imagenet-flat:{tmp_path / 'ILSVRC2012_img_val'} + {D.GROUND_TRUTH}"
    assert [ds.label_space.wnids[y] for y in ds.labels] == [DEVKIT[i] for i in ids]
    assert ds.labels[0] == 278 and ds.labels[5] == 0  # kit fox and tench by sorted index
    assert [p.rsplit("/", 1)[-1] for p in ds.items] == [f"ILSVRC2012_val_{k:08d}.JPEG" for k in range(1, 7)]


@pytest.mark.parametrize("ids,match", [([0], "outside 1..1000"), ([1001], "outside 1..1000")])
def test_flat_val_rejects_ids_outside_the_devkit(tmp_path, ids, match):
    with pytest.raises(DatasetUnavailableError, match=match):
        D.load("imagenet-1k", "val", _flat_val(tmp_path, ids))


def test_flat_val_names_the_entry_that_is_not_an_id(tmp_path):
    root = _flat_val(tmp_path, [12, 7, 3])
    gt = root / "ILSVRC2012_devkit_t12" / "data" / D.GROUND_TRUTH
    gt.write_text("12\n7\nn01443537\n")
    with pytest.raises(DatasetUnavailableError, match=r"entry 3: 'n01443537' is not an ILSVRC2012_ID"):
        D.load("imagenet-1k", "val", root)


def test_flat_val_with_more_images_than_ground_truth_lines(tmp_path):
    root = _flat_val(tmp_path, [1, 2])
    (root / "ILSVRC2012_img_val" / "ILSVRC2012_val_00000003.JPEG").write_bytes(b"jpeg")
    with pytest.raises(DatasetUnavailableError, match="no line 3 .*2 lines"):
        D.load("imagenet-1k", "val", root)


@pytest.mark.parametrize("where", ["beside", "parent", "data"])
def test_flat_val_finds_the_ground_truth_where_people_put_it(tmp_path, where):
    val = tmp_path / "val"
    val.mkdir()
    (val / "ILSVRC2012_val_00000001.JPEG").write_bytes(b"jpeg")
    target = {"beside": val, "parent": tmp_path, "data": tmp_path / "data"}[where]
    target.mkdir(exist_ok=True)
    (target / D.GROUND_TRUTH).write_text("2\n")
    ds = D.load("imagenet-1k", "val", tmp_path)
    assert ds.label_space.wnids[ds.labels[0]] == DEVKIT[2]


def test_imagenet_v2_folders_are_sorted_class_indices(tmp_path):
    root = tmp_path / "imagenetv2-matched-frequency-format-val"
    for folder, n in (("999", 1), ("278", 2), ("1", 1), ("0", 1)):
        (root / folder / "sub").mkdir(parents=True)
        for k in range(n):
            (root / folder / "sub" / f"{k}.jpeg").write_bytes(b"jpeg")
        (root / folder / "notes.txt").write_text("x")
    (root / "1000").write_text("a stray file named by a number is not a class folder")
    ds = D.load("imagenet-v2", None, tmp_path)
    assert (ds.name, ds.split, ds.source) == ("imagenet-v2", "val", f"index-folders:{root}")
    assert ds.labels == [0, 1, 278, 278, 999]  # folders in numeric order (not "0","1","278","999" by luck)
    assert [p.split("/")[-3:] for p in ds.items] == [
        ["0", "sub", "0.jpeg"],
        ["1", "sub", "0.jpeg"],
        ["278", "sub", "0.jpeg"],
        ["278", "sub", "1.jpeg"],
        ["999", "sub", "0.jpeg"],
    ]
    assert [ds.label_space.wnids[y] for y in ds.labels] == [SORTED[0], SORTED[1], SORTED[278], SORTED[278], SORTED[999]]


def test_imagenet_v2_numeric_not_lexical_folder_order(tmp_path):
    for folder in ("10", "9"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "a.jpeg").write_bytes(b"jpeg")
    assert D.load("imagenet-v2", None, tmp_path).labels == [9, 10]


def test_imagenet_v2_index_outside_the_classes(tmp_path):
    (tmp_path / "1000").mkdir()
    (tmp_path / "1000" / "a.jpeg").write_bytes(b"jpeg")
    with pytest.raises(DatasetUnavailableError, match="outside 0..999"):
        D.load("imagenet-v2", None, tmp_path)


def test_class_folders_without_images_are_an_error(tmp_path):
    (tmp_path / "5").mkdir()
    (tmp_path / "5" / "a.txt").write_text("x")
    with pytest.raises(DatasetUnavailableError, match=f"^{tmp_path} has class-index folders but no images in them$"):
        D.load("imagenet-v2", None, tmp_path)


def _stanford(root, rows):
    base = root / "tiny-imagenet-200"
    (base / "val" / "images").mkdir(parents=True)
    (base / "wnids.txt").write_text("n01443537\n")
    lines = [f"{f}\t{w}\t0\t0\t63\t63" for f, w in rows]
    (base / "val" / "val_annotations.txt").write_text("\n".join(lines[:1] + [""] + lines[1:]) + "\n")  # a blank line too
    return base


def test_stanford_val_annotations_by_wnid_grouped_by_class(tmp_path):
    base = _stanford(
        tmp_path,
        [("val_0.JPEG", "n12267677"), ("val 1.JPEG", "n01443537"), ("val_2.JPEG", "n12267677"), ("val_3.JPEG", "n01443537")],
    )
    ds = D.load("tiny-imagenet", "valid", tmp_path)
    assert (ds.name, ds.split, ds.label_space.name, ds.source) == ("tiny-imagenet", "valid", "tiny-imagenet", f"stanford:{base}")
    assert ds.labels == [0, 0, 199, 199]  # goldfish, acorn; grouped by class like the HF copy
    assert [p.rsplit("/", 1)[-1] for p in ds.items] == ["val 1.JPEG", "val_3.JPEG", "val_0.JPEG", "val_2.JPEG"]
    assert all(p.startswith(str(base / "val" / "images")) for p in ds.items)


def test_stanford_unknown_wnid_and_missing_annotations(tmp_path):
    _stanford(tmp_path / "a", [("v.JPEG", "n02119789")])  # kit fox: ImageNet-1k, not Tiny ImageNet
    with pytest.raises(
        DatasetUnavailableError, match="val_annotations.txt line 1: class 'n02119789' is not one of the 200 tiny-imagenet classes"
    ):
        D.load("tiny-imagenet", "valid", tmp_path / "a")
    base = _stanford(tmp_path / "b", [])
    (base / "val" / "val_annotations.txt").unlink()
    # without its annotations the folder is no Stanford `valid` split (the layout declares that file)
    with pytest.raises(DatasetUnavailableError, match=r"holds no 'valid' split of tiny-imagenet \(splits present: none\)"):
        D.load("tiny-imagenet", "valid", base)


@pytest.mark.parametrize(
    "line,reason",
    [
        ("v1.JPEG", "one cell: no wnid"),
        ("\tn01443537\t0\t0\t63\t63", "an empty file name"),
        ("   \tn01443537", "a blank file name"),
    ],
)
def test_stanford_malformed_annotation_names_its_line(tmp_path, line, reason):
    base = _stanford(tmp_path, [("v0.JPEG", "n01443537")])
    ann = base / "val" / "val_annotations.txt"
    ann.write_text(ann.read_text() + line + "\n")  # line 1 an image, line 2 blank, line 3 this one
    with pytest.raises(DatasetUnavailableError, match=r"val_annotations.txt line 3: expected 'FILE<TAB>WNID<TAB>box'"):
        D.load("tiny-imagenet", "valid", tmp_path)


def test_stanford_annotation_without_a_box_is_enough(tmp_path):
    # file and wnid are all the labels need: the box columns are optional
    base = _stanford(tmp_path, [])
    (base / "val" / "val_annotations.txt").write_text("a.JPEG\tn01443537\n b.JPEG \t n01443537 \n")
    ds = D.load("tiny-imagenet", "valid", tmp_path)
    assert [p.rsplit("/", 1)[-1] for p in ds.items] == ["a.JPEG", "b.JPEG"] and list(ds.labels) == [0, 0]


def test_stanford_train_folders(tmp_path):
    base = _stanford(tmp_path, [])
    for wnid, files in (("n12267677", ["b.JPEG", "a.JPEG"]), ("n01443537", ["c.JPEG"])):
        (base / "train" / wnid / "images").mkdir(parents=True)
        for f in files:
            (base / "train" / wnid / "images" / f).write_bytes(b"jpeg")
        (base / "train" / wnid / f"{wnid}_boxes.txt").write_text("x")
    flat = base / "train" / "n01443537"  # a class folder holding its images directly (no images/ level)
    ds = D.load("tiny-imagenet", "train", base)
    assert (ds.name, ds.split) == ("tiny-imagenet", "train")
    assert ds.labels == [0, 199, 199]
    assert [p.rsplit("/", 1)[-1] for p in ds.items] == ["c.JPEG", "a.JPEG", "b.JPEG"]
    for f in (flat / "images").iterdir():
        f.rename(flat / f.name)
    (flat / "images").rmdir()
    assert [p.rsplit("/", 1)[-1] for p in D.load("tiny-imagenet", "train", base).items] == ["c.JPEG", "a.JPEG", "b.JPEG"]
    (base / "train" / "n02119789").mkdir()
    with pytest.raises(DatasetUnavailableError, match="train/n02119789: class 'n02119789' is not one of the 200"):
        D.load("tiny-imagenet", "train", base)


def test_project_by_wnid_never_by_name_or_position():
    model = L.LabelSpace("m", ("n3", "n1", "n2"), ("c", "a", "b"))
    data = L.LabelSpace("d", ("n1", "n9", "n3"), ("b", "c", "a"))  # names shuffled on purpose
    p = L.project(data, model)
    assert p.model_index == (1, None, 0)
    assert p.mapped == [0, 2] and p.restricted_model_indices == [1, 0] and p.unmapped_wnids == ["n9"]
    assert p.coverage == pytest.approx(2 / 3)
    assert p.summary() == {
        "dataset_space": "d",
        "model_space": "m",
        "dataset_classes": 3,
        "model_classes": 3,
        "mapped": 2,
        "coverage": 0.666667,
        "unmapped": ["n9"],
    }
    assert p.rows()[1] == {"dataset_index": 1, "wnid": "n9", "model_index": None, "name": "c"}
    assert L.project(L.LabelSpace("e", (), ()), model).coverage == 0.0


def test_subset_keeps_the_space_order():
    space = L.LabelSpace("s", ("n1", "n2", "n3", "n4"), ("a", "b", "c", "d"))
    sub = L.subset(space, ("n4", "n2"))
    assert sub.wnids == ("n2", "n4") and sub.names == ("b", "d") and sub.name == "s-subset"
    assert L.subset(space, {"n1"}, "one").name == "one"


def test_restricting_imagenet_to_tiny_classes_relabels_by_wnid():
    inet = L.imagenet_1k()
    labels = [inet.index["n12267677"], inet.index["n02119789"], inet.index["n01443537"], -1]
    images = D.ImageSet("imagenet-1k", "validation", inet, labels, "test", ["a.jpg", "b.jpg", "c.jpg", "d.jpg"])
    sub = images.restrict_classes(L.tiny_imagenet())
    assert sub.items == ["a.jpg", "c.jpg"] and sub.names == ["a.jpg", "c.jpg"]
    assert [sub.label_space.wnids[y] for y in sub.labels] == ["n12267677", "n01443537"]
    assert len(sub.label_space) == 200 and sub.label_space.name == "imagenet-1k∩tiny-imagenet"
    assert (sub.name, sub.split, sub.source, sub.hf_column) == (
        "imagenet-1k",
        "validation",
        "test (classes of tiny-imagenet)",
        None,
    )


def test_restrict_classes_keeps_label_zero_drops_out_of_range_and_selects_hf_rows():
    class Rows(list):  # the one method of a datasets.Dataset that restrict_classes uses
        def select(self, keep):
            return Rows(self[i] for i in keep)

    space = L.LabelSpace("s", ("n01443537", "n02119789", "n12267677"), ("goldfish", "kit fox", "acorn"))
    images = D.ImageSet(
        "x",
        "val",
        space,
        [0, 1, 2, 3, -1],
        "src",
        Rows(["r0", "r1", "r2", "r3", "r4"]),
        hf_column="image",
        names=["f0", "f1", "f2", "f3", "f4"],
    )
    sub = images.restrict_classes(L.tiny_imagenet())
    assert isinstance(sub.items, Rows) and sub.items == ["r0", "r2"] and sub.names == ["f0", "f2"]
    assert sub.labels == [0, 1] and sub.label_space.wnids == ("n01443537", "n12267677") and sub.hf_column == "image"
    with pytest.raises(DatasetUnavailableError, match="none of the"):
        D.ImageSet("x", "val", L.LabelSpace("k", ("n02119789",), ("kit fox",)), [0], "src", ["a"]).restrict_classes(
            L.tiny_imagenet()
        )


@pytest.mark.parametrize(
    "size,name",
    [
        (1000, "imagenet-1k"),
        (1001, "imagenet-1k+background"),
        (200, "tiny-imagenet"),
        (11821, "imagenet-12k"),
        (21843, "imagenet-21k-goog"),
    ],
)
def test_head_sizes(size, name):
    space = L.for_head(size)
    assert space.name == name and len(space) == size


def test_head_hint_must_match_the_head_size(tmp_path):
    assert L.for_head(200, "tiny-imagenet").name == "tiny-imagenet"
    with pytest.raises(LabelSpaceError, match="has 1000 classes but the head has 200"):
        L.for_head(200, "imagenet-1k")
    f = tmp_path / "two.txt"
    f.write_text("# comment\nn01443537\tmy goldfish\n\nn12267677\nn99999999\n")
    space = L.for_head(3, str(f))
    assert space.wnids == ("n01443537", "n12267677", "n99999999") and space.name == "two"
    # the file's name, else timm's lemma, else the wnid itself
    assert space.names == ("my goldfish", "acorn", "n99999999")


def test_background_head_is_imagenet_shifted_by_one():
    bg, inet = L.imagenet_1k_with_background(), L.imagenet_1k()
    assert bg.wnids[0] == "background" and bg.wnids[1:] == inet.wnids


def test_label_space_file_errors(tmp_path):
    with pytest.raises(LabelSpaceError, match="does not exist"):
        L.from_file(tmp_path / "nope.txt")
    twice = tmp_path / "twice.txt"
    twice.write_text("n01443537\nn01443537\n")
    with pytest.raises(LabelSpaceError, match="twice"):
        L.from_file(twice)
    with pytest.raises(LabelSpaceError, match="unknown label space"):
        L.named("imagenet-2k")
    bad = tmp_path / "bad.txt"
    bad.write_text("# my classes\nn01443537\tgoldfish\n\ncat\tnot a wnid\n")  # comment, wnid, blank, then line 4
    with pytest.raises(LabelSpaceError, match=r"bad.txt line 4: 'cat' is not a WordNet id"):
        L.from_file(bad)


@pytest.fixture
def latin1_locale(monkeypatch):
    """A machine whose locale encoding is Latin-1: reading without an explicit encoding would use it."""
    import io

    real = io.text_encoding
    monkeypatch.setattr(io, "text_encoding", lambda encoding, stacklevel=2: "latin-1" if encoding is None else real(encoding))


def test_label_files_are_utf8_whatever_the_locale(tmp_path, latin1_locale):
    f = tmp_path / "names.txt"
    f.write_bytes("n01443537\tpoisson rouge à œil\n".encode())
    assert L.from_file(f).names == ("poisson rouge à œil",)
    base = _stanford(tmp_path, [])
    (base / "val" / "val_annotations.txt").write_bytes("é.JPEG\tn01443537\n".encode())
    assert D.load("tiny-imagenet", "valid", tmp_path).items[0].endswith("/é.JPEG")


def test_label_space_file_accepts_a_background_class(tmp_path):
    f = tmp_path / "head.txt"
    f.write_text("background\nn01443537\tgoldfish\nn01440764\n")
    space = L.from_file(f)
    assert space.wnids == ("background", "n01443537", "n01440764")
    assert space.names[1] == "goldfish"


def test_cli_dataset_choices_are_the_registry():
    """Every command that takes a dataset offers exactly the registry's names (read without heavy imports)."""
    import argparse

    from bench.cli import build_parser

    seen = {}
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command, sub in action.choices.items():
                for a in sub._actions:
                    if a.dest == "dataset" and a.choices is not None:
                        seen[command] = list(a.choices)
    assert {"run", "labels"} <= set(seen)
    assert all(choices == list(D.KNOWN) for choices in seen.values()), seen
    assert {"tiny-imagenet", "imagenet-1k", "imagenet-v2"} <= set(D.KNOWN)
