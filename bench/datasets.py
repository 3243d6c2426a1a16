"""Dataset specs: where images and labels come from, in the layouts people have.

`tiny-imagenet`: the HF dataset `zh-plus/tiny-imagenet` (or a local HF-style copy), or the
Stanford `tiny-imagenet-200/` folder. `imagenet-1k`: an ImageFolder of wnid directories (or the
gated HF dataset). `samples`: photos bundled with the package (offline default). This is the
only module that imports `datasets`. Images stay undecoded here; decoding happens per sample
in loader workers, so a corrupt image costs one sample, not the run.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Sequence

from . import labels as L
from .errors import DatasetUnavailableError
from .images import ImageSource, open_rgb

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
HF_TINY = "zh-plus/tiny-imagenet"
HF_IMAGENET = "ILSVRC/imagenet-1k"


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset the harness knows: its HF id, default split, split aliases and label space."""

    name: str
    default_split: str
    splits: dict[str, str]  # alias -> canonical split name
    label_space: Callable[[], L.LabelSpace]
    hf_id: str | None = None


KNOWN: dict[str, DatasetInfo] = {
    "tiny-imagenet": DatasetInfo("tiny-imagenet", "valid", {"valid": "valid", "val": "valid", "validation": "valid", "train": "train"},
                                 L.tiny_imagenet, HF_TINY),
    "imagenet-1k": DatasetInfo("imagenet-1k", "validation", {"validation": "validation", "val": "validation", "valid": "validation", "train": "train"},
                               L.imagenet_1k, HF_IMAGENET),
    "samples": DatasetInfo("samples", "val", {"val": "val", "valid": "val", "validation": "val"}, L.imagenet_1k),
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

    def __len__(self) -> int:
        return len(self.labels)

    def raw(self, i: int) -> ImageSource:
        if self.hf_column is None:
            return self.items[i]
        cell = self.items[i][self.hf_column]
        return cell["bytes"] if cell.get("bytes") else cell["path"]

    def ids(self) -> list[str]:
        """A human-readable id per sample (file name), for failure reports."""
        if self.hf_column is None:
            return [Path(p).name if not isinstance(p, bytes) else f"#{i}" for i, p in enumerate(self.items)]
        return [f"#{i}" for i in range(len(self))]


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
            raise DatasetUnavailableError(f"--data-dir {root} does not exist: point it at your {name} copy")
        return _local(info, split, root)
    return _hub(info, split)


# --- bundled samples ---------------------------------------------------------------------------


def samples_dir() -> Path:
    return Path(str(resources.files("bench").joinpath("data", "samples")))


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
    if (root / "README.md").is_file() or any(root.rglob("*.parquet")):
        return _hf_local(info, split, root)
    stanford = root / "tiny-imagenet-200" if (root / "tiny-imagenet-200").is_dir() else root
    if info.name == "tiny-imagenet" and ((stanford / "val" / "val_annotations.txt").is_file() or (stanford / "wnids.txt").is_file()):
        return _stanford(info, split, stanford)
    for candidate in (root / split, root / "val", root):
        if candidate.is_dir() and any(p.is_dir() and p.name.startswith("n") for p in candidate.iterdir()):
            return _image_folder(info, split, candidate)
    raise DatasetUnavailableError(
        f"{root} is not a layout we know for {info.name}: expected an HF copy (README.md + parquet), "
        "the Stanford folder (val/images + val/val_annotations.txt, train/<wnid>/images) "
        "or an ImageFolder of wnid directories"
    )


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
    paths, labels = [], []
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        label = _label_of(d.name, space, d)
        for f in sorted(d.rglob("*")):
            if f.suffix.lower() in IMAGE_SUFFIXES:
                paths.append(str(f))
                labels.append(label)
    if not paths:
        raise DatasetUnavailableError(f"{root} has wnid directories but no images in them")
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
    from . import hub

    offline = hub.ensure_offline_if_unreachable()
    import datasets as hfds

    try:
        ds = hfds.load_dataset(info.hf_id, split=split)
    except Exception as e:  # noqa: BLE001 - ConnectionError, gated repo, missing cache: all need the user
        text = str(e)
        if "gated" in text.lower() or "401" in text or "403" in text:
            why = f"{info.hf_id} is gated: accept its terms on the Hub and log in (`hf auth login` or HF_TOKEN)"
        elif offline:
            why = f"{info.hf_id} is not in the HF datasets cache ({hfds.config.HF_DATASETS_CACHE}) and the hub is unreachable"
        else:
            why = f"could not load {info.hf_id} ({type(e).__name__}: {text[:200]})"
        raise DatasetUnavailableError(f"{why}: pass --data-dir with a local copy (HF parquet, Stanford folder or ImageFolder of wnid dirs)") from e
    return _from_hf(info, split, ds, f"hf:{info.hf_id}")


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
    labels = [to_space[x] if 0 <= x < len(to_space) else -1 for x in raw]
    ds = ds.cast_column(image_col, hfds.Image(decode=False)).select_columns([image_col])
    return ImageSet(info.name, split, space, labels, source, ds, hf_column=image_col)


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


class TorchView:
    """A torch-style dataset over an ImageSet subset: (tensor, label, index, error)."""

    def __init__(self, images: ImageSet, indices: Sequence[int], transform: Callable, input_size: tuple[int, int, int]):
        self.images = images
        self.indices = list(indices)
        self.transform = transform
        self.input_size = tuple(input_size)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, j: int):
        import torch

        i = self.indices[j]
        label = self.images.labels[i]
        try:
            if label < 0 or label >= len(self.images.label_space):
                raise ValueError(f"label {label} outside the {len(self.images.label_space)} classes")
            x = self.transform(open_rgb(self.images.raw(i)))
            return x, label, i, ""
        except Exception as e:  # noqa: BLE001 - one bad image costs one sample, reported in the result
            return torch.zeros(self.input_size), max(label, 0), i, f"{type(e).__name__}: {e}"[:300]
