"""Dataset specs: where images and labels come from, in the layouts people have.

`tiny-imagenet`: the HF dataset `zh-plus/tiny-imagenet` (or a local HF-style copy), or the
Stanford `tiny-imagenet-200/` folder. `imagenet-1k`: an ImageFolder of wnid directories (or the
gated HF dataset). `samples`: photos bundled with the package (offline default). This is the
only module that imports `datasets`. Images stay undecoded here; decoding happens per sample
in loader workers, so a corrupt image costs one sample, not the run.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Sequence

from . import labels as L
from ..errors import DatasetUnavailableError
from .images import ImageSource, open_rgb

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
HF_TINY = "zh-plus/tiny-imagenet"
HF_IMAGENET = "ILSVRC/imagenet-1k"
VAL_NAME = re.compile(r"ILSVRC2012_val_(\d{8})")
GROUND_TRUTH = "ILSVRC2012_validation_ground_truth.txt"

_VAL = {"val": "val", "valid": "val", "validation": "val", "test": "val"}


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset the harness knows: default split, split aliases, label space, where it can come from."""

    name: str
    default_split: str
    splits: dict[str, str]  # alias -> canonical split name
    label_space: Callable[[], L.LabelSpace]
    hf_id: str | None = None  # loadable without --data-dir through `datasets.load_dataset`
    layout: str = "wnid folders"  # what --data-dir must hold, for messages and the README


KNOWN: dict[str, DatasetInfo] = {
    "tiny-imagenet": DatasetInfo("tiny-imagenet", "valid", {"valid": "valid", "val": "valid", "validation": "valid", "train": "train"},
                                 L.tiny_imagenet, HF_TINY, "HF parquet copy, Stanford tiny-imagenet-200/, or wnid folders"),
    "imagenet-1k": DatasetInfo("imagenet-1k", "validation", {"validation": "validation", "val": "validation", "valid": "validation", "train": "train"},
                               L.imagenet_1k, HF_IMAGENET, "wnid folders, flat ILSVRC2012_val_*.JPEG + devkit ground truth, or HF parquet copy"),
    "imagenet-v2": DatasetInfo("imagenet-v2", "val", _VAL, L.imagenet_1k, None, "folders 0..999 named by class index"),
    "imagenet-a": DatasetInfo("imagenet-a", "val", _VAL, L.imagenet_a, None, "200 wnid folders"),
    "imagenet-r": DatasetInfo("imagenet-r", "val", _VAL, L.imagenet_r, None, "200 wnid folders"),
    "imagenet-sketch": DatasetInfo("imagenet-sketch", "val", _VAL, L.imagenet_1k, None, "1000 wnid folders"),
    "imagenette": DatasetInfo("imagenette", "val", {**_VAL, "train": "train"}, L.imagenette, None, "imagenette2*/{train,val}/<wnid>"),
    "samples": DatasetInfo("samples", "val", _VAL, L.imagenet_1k, None, "files + labels.tsv (file, wnid)"),
}


@dataclass
class ImageSet:
    """Undecoded images with labels in `label_space` order; `source` says where they came from."""

    name: str
    split: str
    label_space: L.LabelSpace
    labels: list[int]
    source: str
    items: Sequence[Any] = field(repr=False)  # paths, bytes, or an HF dataset with an undecoded image column
    hf_column: str | None = None
    names: list[str] | None = field(default=None, repr=False)  # file names, where the source has them

    def __len__(self) -> int:
        return len(self.labels)

    def raw(self, i: int) -> ImageSource:
        if self.hf_column is None:
            return self.items[i]
        cell = self.items[i][self.hf_column]
        return cell["bytes"] if cell.get("bytes") else cell["path"]

    def ids(self) -> list[str]:
        """A human-readable id per sample (file name), for failure reports and ReaL lookups."""
        if self.names is not None:
            return list(self.names)
        if self.hf_column is None:
            return [Path(p).name if not isinstance(p, bytes) else f"#{i}" for i, p in enumerate(self.items)]
        return [f"#{i}" for i in range(len(self))]

    def restrict_classes(self, space: L.LabelSpace) -> "ImageSet":
        """Only the samples whose class is in `space` (e.g. ImageNet-1k val on Tiny's 200 classes)."""
        keep_space = L.subset(self.label_space, set(space.wnids), f"{self.label_space.name}∩{space.name}")
        if not len(keep_space):
            raise DatasetUnavailableError(f"{self.name} has none of the {len(space)} {space.name} classes")
        new_index = keep_space.index
        keep = [i for i, y in enumerate(self.labels) if 0 <= y < len(self.label_space) and self.label_space.wnids[y] in new_index]
        labels = [new_index[self.label_space.wnids[self.labels[i]]] for i in keep]
        ids = self.ids()
        names = [ids[i] for i in keep]
        items = self.items.select(keep) if hasattr(self.items, "select") else [self.items[i] for i in keep]
        return ImageSet(self.name, self.split, keep_space, labels, f"{self.source} (classes of {space.name})", items, self.hf_column, names)


def canonical_split(name: str, split: str | None) -> str:
    info = info_for(name)
    if split is None:
        return info.default_split
    try:
        return info.splits[split]
    except KeyError:
        raise DatasetUnavailableError(f"{name} has no split {split!r}: use one of {', '.join(sorted(set(info.splits.values())))}") from None


def info_for(name: str) -> DatasetInfo:
    if name not in KNOWN:
        raise DatasetUnavailableError(f"unknown dataset {name!r}: use one of {', '.join(KNOWN)}")
    return KNOWN[name]


def load(name: str, split: str | None = None, data_dir: str | Path | None = None) -> ImageSet:
    """Find the dataset (local layout first when --data-dir is given, else the hub/cache) and index it."""
    info = info_for(name)
    split = canonical_split(name, split)
    if name == "samples":
        return _samples(Path(data_dir) if data_dir else None)
    if data_dir is not None:
        root = Path(data_dir).expanduser()
        if not root.exists():
            raise DatasetUnavailableError(f"--data-dir {root} does not exist: point it at your {name} copy ({info.layout})")
        return _local(info, split, root)
    if info.hf_id is None:
        raise DatasetUnavailableError(f"{name} needs --data-dir pointing at a local copy ({info.layout})")
    return _hub(info, split)


# --- bundled samples ---------------------------------------------------------------------------


def samples_dir() -> Path:
    return Path(str(resources.files("bench").joinpath("resources", "samples")))


def _samples(root: Path | None) -> ImageSet:
    root = root or samples_dir()
    table = root / "labels.tsv"
    if not table.is_file():
        raise DatasetUnavailableError(f"{root} has no labels.tsv (file<TAB>wnid per line)")
    space = L.imagenet_1k()
    paths, labels = [], []
    with table.open(encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            paths.append(str(root / row["file"]))
            labels.append(_label_of(row["wnid"], space, table))
    return ImageSet("samples", "val", space, labels, f"bundled:{root.name}", paths)


def _label_of(wnid: str, space: L.LabelSpace, where: Path | str) -> int:
    try:
        return space.index[wnid]
    except KeyError:
        raise DatasetUnavailableError(f"{where}: class {wnid!r} is not one of the {len(space)} {space.name} classes") from None


# --- local layouts -----------------------------------------------------------------------------


def _local(info: DatasetInfo, split: str, root: Path) -> ImageSet:
    if (root / "README.md").is_file() and any(root.rglob("*.parquet")):
        return _hf_local(info, split, root)
    if info.name == "tiny-imagenet":
        stanford = root / "tiny-imagenet-200" if (root / "tiny-imagenet-200").is_dir() else root
        if (stanford / "val" / "val_annotations.txt").is_file() or (stanford / "wnids.txt").is_file():
            return _stanford(info, split, stanford)
    if info.name == "imagenet-1k" and split == "validation":
        flat = _flat_val_dir(root)
        if flat is not None:
            return _flat_val(info, flat)
    if info.name == "imagenet-v2":
        for candidate in (root, *sorted(p for p in root.iterdir() if p.is_dir())):
            if any(p.is_dir() and p.name.isdigit() for p in candidate.iterdir()):
                return _index_folder(info, split, candidate)
    for candidate in _folder_candidates(root, split):
        if any(p.is_dir() and _is_wnid(p.name) for p in candidate.iterdir()):
            return _image_folder(info, split, candidate)
    raise DatasetUnavailableError(f"{root} is not a layout we know for {info.name}: expected {info.layout}")


def _is_wnid(name: str) -> bool:
    return len(name) == 9 and name[0] == "n" and name[1:].isdigit()


def _folder_candidates(root: Path, split: str) -> list[Path]:
    """root/<split>, root/val, root, and the same one level down (imagenette2-320/val, ...)."""
    names = [split, "val", "validation", ""]
    found = [root / n if n else root for n in names]
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not _is_wnid(p.name)):
        found += [sub / n if n else sub for n in names]
    return [p for p in dict.fromkeys(found) if p.is_dir()]


def _flat_val_dir(root: Path) -> Path | None:
    for candidate in (root, root / "val", root / "ILSVRC2012_img_val"):
        if candidate.is_dir() and any(VAL_NAME.match(p.name) for p in candidate.iterdir() if p.is_file()):
            return candidate
    return None


def _ground_truth(flat: Path) -> Path:
    for base in (flat, flat.parent, flat.parent.parent):
        for candidate in (base / GROUND_TRUTH, base / "ILSVRC2012_devkit_t12" / "data" / GROUND_TRUTH, base / "data" / GROUND_TRUTH):
            if candidate.is_file():
                return candidate
    raise DatasetUnavailableError(
        f"{flat} holds the flat official val images but no {GROUND_TRUTH} was found beside it or in "
        "ILSVRC2012_devkit_t12/data/: copy it from the devkit, or sort the images into wnid folders"
    )


def _flat_val(info: DatasetInfo, flat: Path) -> ImageSet:
    """The official flat val folder; labels are devkit ILSVRC2012_IDs in meta.mat order, mapped by wnid.

    The classic silent bug is to read ID-1 as a sorted-wnid index: it is not (ID 1 is kit fox,
    sorted index 278).
    """
    gt = _ground_truth(flat)
    ids = [int(x) for x in gt.read_text().split()]
    order = L.ilsvrc2012_id_order()
    space = info.label_space()
    paths, labels = [], []
    for p in sorted(flat.iterdir()):
        m = VAL_NAME.match(p.name)
        if not m or p.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        number = int(m.group(1))
        if not 1 <= number <= len(ids):
            raise DatasetUnavailableError(f"{p.name}: no line {number} in {gt} ({len(ids)} lines)")
        ilsvrc_id = ids[number - 1]
        if not 1 <= ilsvrc_id <= 1000:
            raise DatasetUnavailableError(f"{gt} line {number}: ILSVRC2012_ID {ilsvrc_id} is outside 1..1000")
        paths.append(str(p))
        labels.append(space.index[order[ilsvrc_id - 1]])
    return ImageSet(info.name, "validation", space, labels, f"imagenet-flat:{flat} + {gt.name}", paths)


def _index_folder(info: DatasetInfo, split: str, root: Path) -> ImageSet:
    """ImageNet-V2: folders named by class *index* 0..999 (sorted-wnid order), not by wnid."""
    space = info.label_space()

    def label(d: Path) -> int:
        if not 0 <= int(d.name) < len(space):
            raise DatasetUnavailableError(f"{d}: class index {d.name} is outside 0..{len(space) - 1}")
        return int(d.name)

    dirs = sorted((p for p in root.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))
    paths, labels = _scan_class_dirs(dirs, label, root, "class-index folders")
    return ImageSet(info.name, split, space, labels, f"index-folders:{root}", paths)


def _scan_class_dirs(dirs: Sequence[Path], label_of: Callable[[Path], int], root: Path, what: str) -> tuple[list[str], list[int]]:
    """Image files under each class directory (recursively, sorted), labelled by `label_of(dir)`."""
    paths, labels = [], []
    for d in dirs:
        label = label_of(d)
        for f in sorted(d.rglob("*")):
            if f.suffix.lower() in IMAGE_SUFFIXES:
                paths.append(str(f))
                labels.append(label)
    if not paths:
        raise DatasetUnavailableError(f"{root} has {what} but no images in them")
    return paths, labels


def _stanford(info: DatasetInfo, split: str, root: Path) -> ImageSet:
    space = info.label_space()
    paths: list[str] = []
    labels: list[int] = []
    if split == "valid":
        ann = root / "val" / "val_annotations.txt"
        if not ann.is_file():
            raise DatasetUnavailableError(f"{ann} is missing: the Stanford layout keeps validation labels there")
        for line in ann.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            fname, wnid = line.split("\t")[:2]
            paths.append(str(root / "val" / "images" / fname))
            labels.append(_label_of(wnid, space, ann))
    else:
        train = root / "train"
        if not train.is_dir():
            raise DatasetUnavailableError(f"{train} is missing: the Stanford layout keeps train/<wnid>/images")
        for d in sorted(p for p in train.iterdir() if p.is_dir()):
            label = _label_of(d.name, space, d)
            for f in sorted((d / "images").iterdir() if (d / "images").is_dir() else d.iterdir()):
                if f.suffix.lower() in IMAGE_SUFFIXES:
                    paths.append(str(f))
                    labels.append(label)
    order = sorted(range(len(paths)), key=lambda i: (labels[i], paths[i]))  # HF order: grouped by class
    return ImageSet(info.name, split, space, [labels[i] for i in order], f"stanford:{root}", [paths[i] for i in order])


def _image_folder(info: DatasetInfo, split: str, root: Path) -> ImageSet:
    space = info.label_space()
    dirs = sorted(p for p in root.iterdir() if p.is_dir())
    paths, labels = _scan_class_dirs(dirs, lambda d: _label_of(d.name, space, d), root, "wnid directories")
    return ImageSet(info.name, split, space, labels, f"imagefolder:{root}", paths)


# --- Hugging Face ------------------------------------------------------------------------------


def _hf_local(info: DatasetInfo, split: str, root: Path) -> ImageSet:
    import datasets as hfds

    try:
        ds = hfds.load_dataset(str(root), split=split)
    except ValueError as e:  # unknown split
        raise DatasetUnavailableError(f"{root}: {e}") from e
    return _from_hf(info, split, ds, f"hf-local:{root}")


def _hub(info: DatasetInfo, split: str) -> ImageSet:
    """Fetch only this split's files (`load_dataset(repo, split=...)` downloads every split: datasets #6793)."""
    from .. import hub
    from . import hub_files

    offline = hub.ensure_offline_if_unreachable()
    try:
        fetched = hub_files.fetch_split(info.hf_id, split, offline=offline)
        ds = hub_files.load_parquet(fetched.paths, split, fetched.split_files.features)
    except DatasetUnavailableError:
        raise
    except Exception as e:  # noqa: BLE001 - ConnectionError, gated repo, missing cache: all need the user
        text = str(e)
        if _is_gated(e):
            why = f"{info.hf_id} is gated: accept its terms on the Hub and log in (`hf auth login` or HF_TOKEN)"
        elif offline:
            why = f"{info.hf_id} is not in the HF hub cache ({hub.hf_cache_dir()}) and the hub is unreachable"
        else:
            why = f"could not load {info.hf_id} ({type(e).__name__}: {text[:200]})"
        raise DatasetUnavailableError(f"{why}: pass --data-dir with a local copy (HF parquet, Stanford folder or ImageFolder of wnid dirs)") from e
    return _from_hf(info, split, ds, fetched.source)


def _is_gated(e: BaseException) -> bool:
    """A gated or unauthorised repo anywhere in the exception chain (datasets wraps hub errors)."""
    seen: BaseException | None = e
    while seen is not None:
        text = f"{type(seen).__name__} {seen}".lower()
        if "gated" in text or " 401" in text or " 403" in text or "unauthorized" in text:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _from_hf(info: DatasetInfo, split: str, ds, source: str) -> ImageSet:
    import datasets as hfds

    image_col = next((c for c, f in ds.features.items() if isinstance(f, hfds.Image)), None)
    label_col = next((c for c, f in ds.features.items() if isinstance(f, hfds.ClassLabel)), None)
    if image_col is None or label_col is None:
        raise DatasetUnavailableError(f"{source}: expected an Image column and a ClassLabel column, found {dict(ds.features)}")
    space = info.label_space()
    names = ds.features[label_col].names
    if all(n in space.index for n in names):
        to_space = [space.index[n] for n in names]  # ClassLabel names are wnids: map by wnid
    elif len(names) == len(space):
        to_space = list(range(len(space)))  # e.g. ILSVRC/imagenet-1k: names are descriptions, order is sorted wnids
    else:
        raise DatasetUnavailableError(f"{source}: its {len(names)} label names are neither wnids nor the {len(space)} {space.name} classes")
    raw = ds.data.column(label_col).to_pylist()
    labels = [to_space[x] if x is not None and 0 <= x < len(to_space) else -1 for x in raw]
    ds = ds.cast_column(image_col, hfds.Image(decode=False)).select_columns([image_col])
    names = _hf_file_names(ds, image_col)
    return ImageSet(info.name, split, space, labels, source, ds, hf_column=image_col, names=names)


def _hf_file_names(ds, image_col: str) -> list[str]:
    """The stored file name of each image (read from Arrow without touching the image bytes)."""
    out: list[str] = []
    for chunk in ds.data.column(image_col).chunks:
        out += [Path(p).name if p else f"#{len(out) + i}" for i, p in enumerate(chunk.field("path").to_pylist())]
    return out


# --- subsets and torch view --------------------------------------------------------------------


def stratified(labels: Sequence[int], limit: int | None) -> list[int]:
    """A deterministic class-stratified subset: round-robin over classes, in index order.

    The valid split is grouped by class, so the first N images would all be goldfish.
    """
    if limit is None or limit >= len(labels):
        return list(range(len(labels)))
    by_class: dict[int, list[int]] = {}
    for i, y in enumerate(labels):
        by_class.setdefault(y, []).append(i)
    queues = [by_class[c] for c in sorted(by_class)]
    chosen: list[int] = []
    depth = 0
    while len(chosen) < limit:
        for q in queues:
            if depth < len(q) and len(chosen) < limit:
                chosen.append(q[depth])
        depth += 1
    return sorted(chosen)


class SampleView:
    """A torch-style dataset over an ImageSet subset: (tensor, label, index, error) per sample.

    A sample that cannot be read yields `empty()` and its error instead of raising, so one bad
    image costs one sample, reported in the result. Subclasses say what `load` makes of the raw image.
    """

    def __init__(self, images: ImageSet, indices: Sequence[int]):
        self.images = images
        self.indices = list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def load(self, raw: ImageSource):
        raise NotImplementedError

    def empty(self):
        raise NotImplementedError

    def __getitem__(self, j: int):
        i = self.indices[j]
        label = self.images.labels[i]
        try:
            if label < 0 or label >= len(self.images.label_space):
                raise ValueError(f"label {label} outside the {len(self.images.label_space)} classes")
            return self.load(self.images.raw(i)), label, i, ""
        except Exception as e:  # noqa: BLE001 - reported per sample, never fatal
            return self.empty(), max(label, 0), i, f"{type(e).__name__}: {e}"[:300]


class TorchView(SampleView):
    """Decoded and transformed on the CPU (in loader workers)."""

    def __init__(self, images: ImageSet, indices: Sequence[int], transform: Callable, input_size: tuple[int, int, int]):
        super().__init__(images, indices)
        self.transform = transform
        self.input_size = tuple(input_size)

    def load(self, raw: ImageSource):
        return self.transform(open_rgb(raw))

    def empty(self):
        import torch

        return torch.zeros(self.input_size, dtype=torch.uint8)
