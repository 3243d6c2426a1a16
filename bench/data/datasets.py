"""Datasets registry: each dataset declares its splits, label space and on-disk layouts in one place.

A layout says which splits a folder holds (`find`) and how to index one of them (`load`); the
generic `load` picks the first layout that recognises `--data-dir` and refuses a split it does
not hold, listing the ones it does (no silent fallback to another split). Adding a dataset is one
`DatasetInfo` entry in `KNOWN`; adding a layout is one `Layout`. This is the only module that
imports `datasets`. Images stay undecoded here; decoding happens per sample in loader workers, so
a corrupt image costs one sample, not the run.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import DatasetUnavailableError, folder_problem, shorten
from . import labels as label_spaces

if TYPE_CHECKING:  # PIL stays out of `bench --help`, which reads the registry for its choices
    from .images import ImageSource

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
HF_TINY = "zh-plus/tiny-imagenet"
HF_IMAGENET = "ILSVRC/imagenet-1k"
VAL_NAME = re.compile(r"ILSVRC2012_val_(\d{8})")
GROUND_TRUTH = "ILSVRC2012_validation_ground_truth.txt"
WNID = re.compile(r"n\d{8}")


# --- the registry --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """One way a dataset sits on disk.

    `find(info, root)` -> {canonical split: what `load` needs} for the splits this folder holds,
    or None when the folder is not in this layout. `load(info, split, where)` -> ImageSet.
    """

    name: str
    describe: str  # what --data-dir must hold, for messages and the README
    find: Callable[[DatasetInfo, Path], dict[str, Any] | None]
    load: Callable[[DatasetInfo, str, Any], ImageSet]


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset the harness knows: its splits (alias -> canonical), label space, layouts and hub id."""

    name: str
    default_split: str
    splits: dict[str, str]  # alias -> canonical split name
    label_space: Callable[[], label_spaces.LabelSpace]
    layouts: tuple[Layout, ...]
    hf_id: str | None = None  # loadable without --data-dir through `datasets.load_dataset`
    bundled: Callable[[], Path] | None = None  # a copy shipped with the package, used without --data-dir
    # HF ClassLabel names that are descriptions, not wnids, but known to be in label-space order
    # (ILSVRC/imagenet-1k: "tench, Tinca tinca", ... in sorted-wnid order).
    names_in_space_order: bool = False

    @property
    def layout(self) -> str:
        return "; or ".join(lay.describe for lay in self.layouts)

    def canonical(self, alias: str) -> str | None:
        return self.splits.get(alias)


def names() -> tuple[str, ...]:
    """Every dataset name, for the CLI's choices (cheap: nothing heavy is imported)."""
    return tuple(KNOWN)


def info_for(name: str) -> DatasetInfo:
    if name not in KNOWN:
        raise DatasetUnavailableError(f"unknown dataset {name!r}: use one of {', '.join(KNOWN)}")
    return KNOWN[name]


def canonical_split(name: str, split: str | None) -> str:
    info = info_for(name)
    if split is None:
        return info.default_split
    canonical = info.canonical(split)
    if canonical is None:
        raise DatasetUnavailableError(f"{name} has no split {split!r}: use one of {', '.join(sorted(set(info.splits.values())))}")
    return canonical


def load(name: str, split: str | None = None, data_dir: str | Path | None = None) -> ImageSet:
    """Index one split: from `data_dir` (its layout detected), the bundled copy, or the hub/cache."""
    info = info_for(name)
    split = canonical_split(name, split)
    if data_dir is not None:
        root = check_root(name, data_dir)
    elif info.bundled is not None:
        root = info.bundled()
    elif info.hf_id is not None:
        return _hub(info, split)
    else:
        raise DatasetUnavailableError(f"{name} needs --data-dir pointing at a local copy ({info.layout})")
    layout, found = detect(info, root)
    if split not in found:
        held = ", ".join(sorted(found)) or "none"
        raise DatasetUnavailableError(
            f"{root} ({layout.name}) holds no {split!r} split of {name} (splits present: {held}): "
            f"pass --split {sorted(found)[0] if found else split} or a --data-dir that has {split}"
        )
    return layout.load(info, split, found[split])


def check_root(name: str, data_dir: str | Path) -> Path:
    """`--data-dir` as a folder, or an error naming what it must hold."""
    info, root = info_for(name), Path(data_dir).expanduser()
    problem = folder_problem(root)
    if problem is not None:
        raise DatasetUnavailableError(
            f"--data-dir {shorten(str(root))} {problem}: pass the folder that holds your {name} copy ({info.layout})"
        )
    return root


def detect(info: DatasetInfo, root: Path) -> tuple[Layout, dict[str, Any]]:
    """The first of the dataset's layouts that recognises `root`, with the splits it holds there."""
    for layout in info.layouts:
        found = layout.find(info, root)
        if found is not None:
            return layout, found
    raise DatasetUnavailableError(f"{root} is not a layout we know for {info.name}: expected {info.layout}")


def splits_present(name: str, data_dir: str | Path) -> list[str]:
    """The canonical splits a local copy holds (what `load` would accept for it)."""
    return sorted(detect(info_for(name), Path(data_dir).expanduser())[1])


class Images(Protocol):
    """What the runner and the loaders read of a split: an `ImageSet`, or a `streaming.StreamedImageSet`."""

    name: str
    split: str
    label_space: label_spaces.LabelSpace
    labels: list[int]
    source: str

    def __len__(self) -> int: ...

    def raw(self, i: int) -> ImageSource: ...

    def ids(self) -> list[str]: ...

    def restrict_classes(self, space: label_spaces.LabelSpace) -> Images: ...


@dataclass
class ImageSet:
    """Undecoded images with labels in `label_space` order; `source` says where they came from."""

    name: str
    split: str
    label_space: label_spaces.LabelSpace
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

    def restrict_classes(self, space: label_spaces.LabelSpace) -> ImageSet:
        """Only the samples whose class is in `space` (e.g. ImageNet-1k val on Tiny's 200 classes)."""
        keep_space, keep, labels = kept_classes(self, space)
        ids = self.ids()
        names = [ids[i] for i in keep]
        items = self.items.select(keep) if hasattr(self.items, "select") else [self.items[i] for i in keep]
        return ImageSet(
            self.name, self.split, keep_space, labels, f"{self.source} (classes of {space.name})", items, self.hf_column, names
        )


def content_digest(images: Images, indices: Sequence[int]) -> str | None:
    """sha256 over the bytes of exactly the samples a run reads (file contents, or the encoded bytes held in a
    parquet copy), in index order: replacing files under the same names makes another experiment. A file that
    cannot be read counts by its error, so its later arrival changes the digest too. None for a stream (its
    bytes are not read before the run; its source names the revision)."""
    import hashlib
    from concurrent.futures import ThreadPoolExecutor

    if not isinstance(images, ImageSet):
        return None

    def one(i: int) -> bytes:
        try:
            raw = images.raw(i)
            if isinstance(raw, (bytes, bytearray, memoryview)):
                return hashlib.sha256(raw).digest()
            with open(raw, "rb") as f:
                return hashlib.file_digest(f, "sha256").digest()
        except (OSError, KeyError, TypeError) as e:
            return f"unreadable:{type(e).__name__}".encode()

    total = hashlib.sha256()
    if images.hf_column is not None:  # rows of an HF dataset: read in order, one reader
        for i in indices:
            total.update(one(i))
        return total.hexdigest()
    with ThreadPoolExecutor(max_workers=8) as pool:  # files: hashlib and reads release the GIL
        for digest in pool.map(one, indices, chunksize=64):
            total.update(digest)
    return total.hexdigest()


def kept_classes(images: Images, space: label_spaces.LabelSpace) -> tuple[label_spaces.LabelSpace, list[int], list[int]]:
    """What `restrict_classes` keeps: (the classes of `images` that `space` has, the positions of their samples,
    and those samples' labels in the kept classes)."""
    own = images.label_space
    keep_space = label_spaces.subset(own, set(space.wnids), f"{own.name}∩{space.name}")
    if not len(keep_space):
        raise DatasetUnavailableError(f"{images.name} has none of the {len(space)} {space.name} classes")
    index = keep_space.index
    keep = [i for i, y in enumerate(images.labels) if 0 <= y < len(own) and own.wnids[y] in index]
    return keep_space, keep, [index[own.wnids[images.labels[i]]] for i in keep]


def _label_of(wnid: str, space: label_spaces.LabelSpace, where: Path | str) -> int:
    try:
        return space.index[wnid]
    except KeyError:
        raise DatasetUnavailableError(f"{where}: class {wnid!r} is not one of the {len(space)} {space.name} classes") from None


def _is_wnid(name: str) -> bool:
    return WNID.fullmatch(name) is not None


def _subdirs(path: Path) -> list[Path]:
    try:
        return sorted(p for p in path.iterdir() if p.is_dir())
    except OSError as e:
        raise DatasetUnavailableError(f"cannot list {path} ({e.strerror}): check the path and its permissions") from e


# --- bundled samples: files + labels.tsv ---------------------------------------------------------


def samples_dir() -> Path:
    return Path(str(resources.files("bench").joinpath("resources", "samples")))


def _find_tsv(info: DatasetInfo, root: Path) -> dict[str, Any] | None:
    return {info.default_split: root} if (root / "labels.tsv").is_file() else None


def _load_tsv(info: DatasetInfo, split: str, root: Path) -> ImageSet:
    table = root / "labels.tsv"
    space = info.label_space()
    paths, labels = [], []
    with table.open(encoding="utf-8") as f:
        reader = csv.DictReader(f, delimiter="\t")
        if not {"file", "wnid"} <= set(reader.fieldnames or ()):
            raise DatasetUnavailableError(
                f"{table}: the first line must be the header 'file<TAB>wnid', found {reader.fieldnames}"
            )
        for n, row in enumerate(reader, start=2):
            if not row["file"] or not row["wnid"]:
                raise DatasetUnavailableError(f"{table} line {n}: expected 'FILE<TAB>WNID', got {row}: fix or remove that line")
            paths.append(str(root / row["file"]))
            labels.append(_label_of(row["wnid"], space, f"{table} line {n}"))
    source = f"bundled:{root.name}" if root == samples_dir() else f"labels-tsv:{root}"
    return ImageSet(info.name, split, space, labels, source, paths)


SAMPLES_TSV = Layout("files + labels.tsv", "image files + labels.tsv (file<TAB>wnid per line)", _find_tsv, _load_tsv)


# --- class folders (ImageFolder of wnid dirs; ImageNet-V2's index dirs) ---------------------------


def _split_folders(info: DatasetInfo, root: Path, is_class: Callable[[str], bool]) -> dict[str, Path] | None:
    """Splits held as class folders: root/<split>/<class>/, or root/<class>/ (one split, named by the
    folder's own name or else the default split), also one wrapper folder down (imagenette2-320/val).

    A split is only ever found under its own name: `--split train` never scores a val folder.
    """

    def holds_classes(d: Path) -> bool:
        return any(is_class(p.name) for p in _subdirs(d))

    def named(base: Path) -> dict[str, Path]:
        found: dict[str, Path] = {}
        for d in _subdirs(base):
            canonical = info.canonical(d.name)
            if canonical is not None and canonical not in found and holds_classes(d):
                found[canonical] = d
        return found

    def flat(base: Path) -> dict[str, Path]:
        return {info.canonical(base.name) or info.default_split: base} if holds_classes(base) else {}

    found = named(root) or flat(root)
    if found:
        return found
    wrappers = [d for d in _subdirs(root) if not is_class(d.name)]
    # a wrapper with split folders (imagenette2-320/val) is a copy; one of bare class folders only when none has split folders
    hits = [(w, f) for w in wrappers if (f := named(w))] or [(w, f) for w in wrappers if (f := flat(w))]
    if len(hits) > 1:
        raise DatasetUnavailableError(
            f"{root} holds several copies ({', '.join(w.name for w, _ in hits)}): pass one of them as --data-dir"
        )
    return hits[0][1] if hits else None


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


def _load_image_folder(info: DatasetInfo, split: str, root: Path) -> ImageSet:
    space = info.label_space()
    dirs = _subdirs(root)
    paths, labels = _scan_class_dirs(dirs, lambda d: _label_of(d.name, space, d), root, "wnid directories")
    return ImageSet(info.name, split, space, labels, f"imagefolder:{root}", paths)


def _load_index_folder(info: DatasetInfo, split: str, root: Path) -> ImageSet:
    """ImageNet-V2: folders named by class *index* 0..999 (sorted-wnid order), not by wnid."""
    space = info.label_space()

    def label(d: Path) -> int:
        if not 0 <= int(d.name) < len(space):
            raise DatasetUnavailableError(f"{d}: class index {d.name} is outside 0..{len(space) - 1}")
        return int(d.name)

    dirs = sorted((p for p in _subdirs(root) if p.name.isdigit()), key=lambda p: int(p.name))
    paths, labels = _scan_class_dirs(dirs, label, root, "class-index folders")
    return ImageSet(info.name, split, space, labels, f"index-folders:{root}", paths)


WNID_FOLDERS = Layout(
    "wnid folders",
    "<split>/<wnid>/*.JPEG folders (or <wnid>/ folders of one split)",
    lambda info, root: _split_folders(info, root, _is_wnid),
    _load_image_folder,
)
INDEX_FOLDERS = Layout(
    "class-index folders",
    "folders 0..999 named by class index",
    lambda info, root: _split_folders(info, root, str.isdigit),
    _load_index_folder,
)


# --- Stanford tiny-imagenet-200/ -------------------------------------------------------------------


def _find_stanford(info: DatasetInfo, root: Path) -> dict[str, Any] | None:
    base = root / "tiny-imagenet-200" if (root / "tiny-imagenet-200").is_dir() else root
    ann = base / "val" / "val_annotations.txt"
    if not ((base / "wnids.txt").is_file() or ann.is_file()):
        return None
    found: dict[str, Any] = {}
    if ann.is_file():
        found["valid"] = base
    if (base / "train").is_dir():
        found["train"] = base
    return found


def _load_stanford(info: DatasetInfo, split: str, root: Path) -> ImageSet:
    space = info.label_space()
    paths: list[str] = []
    labels: list[int] = []
    if split == "valid":
        ann = root / "val" / "val_annotations.txt"
        for n, line in enumerate(ann.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            cells = line.split("\t")
            if len(cells) < 2 or not cells[0].strip():
                raise DatasetUnavailableError(
                    f"{ann} line {n}: expected 'FILE<TAB>WNID<TAB>box', got {line[:80]!r}: fix or remove that line"
                )
            paths.append(str(root / "val" / "images" / cells[0].strip()))
            labels.append(_label_of(cells[1].strip(), space, f"{ann} line {n}"))
    else:
        for d in _subdirs(root / "train"):
            label = _label_of(d.name, space, d)
            for f in sorted((d / "images").iterdir() if (d / "images").is_dir() else d.iterdir()):
                if f.suffix.lower() in IMAGE_SUFFIXES:
                    paths.append(str(f))
                    labels.append(label)
    order = sorted(range(len(paths)), key=lambda i: (labels[i], paths[i]))  # HF order: grouped by class
    return ImageSet(info.name, split, space, [labels[i] for i in order], f"stanford:{root}", [paths[i] for i in order])


STANFORD = Layout(
    "Stanford tiny-imagenet-200",
    "Stanford tiny-imagenet-200/ (val/val_annotations.txt, train/<wnid>/images)",
    _find_stanford,
    _load_stanford,
)


# --- official flat ILSVRC2012 val + devkit ground truth ---------------------------------------------


def _find_flat_val(info: DatasetInfo, root: Path) -> dict[str, Any] | None:
    for candidate in (root, root / "val", root / "ILSVRC2012_img_val"):
        if candidate.is_dir() and any(VAL_NAME.match(p.name) for p in candidate.iterdir() if p.is_file()):
            return {"validation": candidate}
    return None


def _ground_truth(flat: Path) -> Path:
    for base in (flat, flat.parent, flat.parent.parent):
        for candidate in (
            base / GROUND_TRUTH,
            base / "ILSVRC2012_devkit_t12" / "data" / GROUND_TRUTH,
            base / "data" / GROUND_TRUTH,
        ):
            if candidate.is_file():
                return candidate
    raise DatasetUnavailableError(
        f"{flat} holds the flat official val images but no {GROUND_TRUTH} was found beside it or in "
        "ILSVRC2012_devkit_t12/data/: copy it from the devkit, or sort the images into wnid folders"
    )


def _load_flat_val(info: DatasetInfo, split: str, flat: Path) -> ImageSet:
    """The official flat val folder; labels are devkit ILSVRC2012_IDs in meta.mat order, mapped by wnid.

    The classic silent bug is to read ID-1 as a sorted-wnid index: it is not (ID 1 is kit fox,
    sorted index 278).
    """
    gt = _ground_truth(flat)
    ids = []
    for n, token in enumerate(gt.read_text().split(), start=1):
        if not token.isdigit():
            raise DatasetUnavailableError(
                f"{gt} entry {n}: {token[:40]!r} is not an ILSVRC2012_ID (1..1000): use the devkit's file"
            )
        ids.append(int(token))
    order = label_spaces.ilsvrc2012_id_order()
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
    return ImageSet(info.name, split, space, labels, f"imagenet-flat:{flat} + {gt.name}", paths)


FLAT_VAL = Layout(
    "flat ILSVRC2012 val",
    "flat ILSVRC2012_val_*.JPEG + devkit ILSVRC2012_validation_ground_truth.txt",
    _find_flat_val,
    _load_flat_val,
)


# --- Hugging Face copies: parquet shards (with or without README.md), save_to_disk ------------------


def _parquet_files(root: Path) -> bool:
    """Parquet shards at the top, in data/, or one folder down (not inside class folders, which can hold
    a million images)."""
    if any(root.glob("*.parquet")) or any((root / "data").rglob("*.parquet")):
        return True
    return any(any(d.glob("*.parquet")) for d in _subdirs(root) if not (_is_wnid(d.name) or d.name.isdigit()))


def _found_splits(info: DatasetInfo, hf_splits: Sequence[str]) -> dict[str, str]:
    """{canonical split: the copy's own split name}, for the copy's splits this dataset knows."""
    found: dict[str, str] = {}
    for s in hf_splits:
        canonical = info.canonical(s)
        if canonical is not None:
            found.setdefault(canonical, s)
    return found


def _find_hf_parquet(info: DatasetInfo, root: Path) -> dict[str, Any] | None:
    if not _parquet_files(root):
        return None
    import datasets as hfds

    try:
        hf_splits = hfds.get_dataset_split_names(str(root))
    except Exception as e:
        raise hf_error(e, root, "name the shards <split>-*.parquet or add a README.md with configs") from e
    return {s: (root, name) for s, name in _found_splits(info, hf_splits).items()}


HF_CACHE_VARS = ("HF_HOME", "HF_DATASETS_CACHE", "HF_HUB_CACHE", "XDG_CACHE_HOME")


def hf_error(e: BaseException, root: Path | str, otherwise: str) -> DatasetUnavailableError:
    """What `datasets` / pyarrow failing on a local copy means, with the fix for that cause: a cache variable
    naming a file, a corrupt parquet file, an OS error on a named file; else `otherwise` (a layout problem)."""
    import os

    why = f"{type(e).__name__}: {shorten(str(e), 200)}"
    for var in HF_CACHE_VARS:
        value = os.environ.get(var)
        if value and folder_problem(value) not in (None, "does not exist"):
            return DatasetUnavailableError(
                f"{var}={shorten(value)} {folder_problem(value)}: the Hugging Face cache must be a folder; point {var} "
                f"at one or unset it ({why})"
            )
    chain = [e]
    while chain[-1].__cause__ is not None or chain[-1].__context__ is not None:  # datasets wraps pyarrow's error
        chain.append(chain[-1].__cause__ or chain[-1].__context__)  # type: ignore[arg-type]
        if len(chain) > 20:
            break
    arrow = next((c for c in chain if type(c).__module__.startswith("pyarrow")), None)
    if arrow is not None:
        why = f"{type(arrow).__name__}: {shorten(str(arrow), 200)}"
        return DatasetUnavailableError(
            f"a parquet file under {shorten(str(root))} is corrupt (not readable as parquet: {why}): delete that shard "
            "and fetch it again"
        )
    if isinstance(e, OSError) and e.filename:
        return DatasetUnavailableError(
            f"cannot read {shorten(str(e.filename))} ({e.strerror}): check that file and its permissions ({why})"
        )
    return DatasetUnavailableError(f"{shorten(str(root))} holds parquet files that `datasets` cannot read ({why}): {otherwise}")


def _load_hf_parquet(info: DatasetInfo, split: str, where: tuple[Path, str]) -> ImageSet:
    import datasets as hfds

    root, hf_split = where
    try:
        ds = hfds.load_dataset(str(root), split=hf_split)
    except Exception as e:
        raise hf_error(e, root, f"check the copy's split {hf_split!r}") from e
    return _from_hf(info, split, ds, f"hf-local:{root}")


def _find_saved(info: DatasetInfo, root: Path) -> dict[str, Any] | None:
    """`Dataset.save_to_disk` (state.json: one split, named in it) or `DatasetDict.save_to_disk`."""
    try:
        if (root / "dataset_dict.json").is_file():
            hf_splits = json.loads((root / "dataset_dict.json").read_text(encoding="utf-8"))["splits"]
            return {s: (root, name) for s, name in _found_splits(info, hf_splits).items()}
        if (root / "state.json").is_file() and (root / "dataset_info.json").is_file():
            name = json.loads((root / "state.json").read_text(encoding="utf-8")).get("_split")
            split = info.canonical(name) if name else (info.canonical(root.name) or info.default_split)
            return {split: (root, None)} if split else {}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DatasetUnavailableError(
            f"{root} looks like a `save_to_disk` copy but its json is unreadable ({e}): save it again"
        ) from e
    return None


def _load_saved(info: DatasetInfo, split: str, where: tuple[Path, str | None]) -> ImageSet:
    import datasets as hfds

    root, hf_split = where
    try:
        ds = hfds.load_from_disk(str(root))
        if hf_split is not None:
            ds = ds[hf_split]
    except Exception as e:
        raise DatasetUnavailableError(
            f"cannot load the saved dataset {root} ({type(e).__name__}: {str(e)[:200]}): save it again"
        ) from e
    return _from_hf(info, split, ds, f"hf-saved:{root}")


HF_PARQUET = Layout(
    "HF parquet", "HF parquet shards (<split>-*.parquet, with or without README.md)", _find_hf_parquet, _load_hf_parquet
)
HF_SAVED = Layout("HF save_to_disk", "a datasets save_to_disk folder (state.json or dataset_dict.json)", _find_saved, _load_saved)
HF_LAYOUTS = (HF_PARQUET, HF_SAVED)


_VAL = {"val": "val", "valid": "val", "validation": "val", "test": "val"}

KNOWN: dict[str, DatasetInfo] = {
    "tiny-imagenet": DatasetInfo(
        "tiny-imagenet",
        "valid",
        {"valid": "valid", "val": "valid", "validation": "valid", "train": "train"},
        label_spaces.tiny_imagenet,
        (*HF_LAYOUTS, STANFORD, WNID_FOLDERS),
        HF_TINY,
    ),
    "imagenet-1k": DatasetInfo(
        "imagenet-1k",
        "validation",
        {"validation": "validation", "val": "validation", "valid": "validation", "train": "train"},
        label_spaces.imagenet_1k,
        (*HF_LAYOUTS, FLAT_VAL, WNID_FOLDERS),
        HF_IMAGENET,
        names_in_space_order=True,
    ),
    "imagenet-v2": DatasetInfo("imagenet-v2", "val", _VAL, label_spaces.imagenet_1k, (INDEX_FOLDERS,)),
    "imagenet-a": DatasetInfo("imagenet-a", "val", _VAL, label_spaces.imagenet_a, (WNID_FOLDERS,)),
    "imagenet-r": DatasetInfo("imagenet-r", "val", _VAL, label_spaces.imagenet_r, (WNID_FOLDERS,)),
    "imagenet-sketch": DatasetInfo("imagenet-sketch", "val", _VAL, label_spaces.imagenet_1k, (WNID_FOLDERS,)),
    "imagenette": DatasetInfo("imagenette", "val", {**_VAL, "train": "train"}, label_spaces.imagenette, (WNID_FOLDERS,)),
    "samples": DatasetInfo("samples", "val", _VAL, label_spaces.imagenet_1k, (SAMPLES_TSV,), bundled=samples_dir),
}


# --- Hugging Face hub --------------------------------------------------------------------------------


def _hub(info: DatasetInfo, split: str) -> ImageSet:
    """Fetch only this split's files (`load_dataset(repo, split=...)` downloads every split: datasets #6793)."""
    from .. import hub
    from . import hub_files

    assert info.hf_id is not None  # `load` comes here only for a dataset on the hub
    fetched = hub_files.fetch_split(info.hf_id, split, offline=hub.offline())
    ds = hub_files.load_parquet(fetched.paths, split, fetched.split_files.features)
    hub_files.check_count(fetched.split_files, len(ds))
    return _from_hf(info, split, ds, fetched.source)


def _from_hf(info: DatasetInfo, split: str, ds, source: str) -> ImageSet:
    import datasets as hfds

    image_col = next((c for c, f in ds.features.items() if isinstance(f, hfds.Image)), None)
    label_col = next((c for c, f in ds.features.items() if isinstance(f, hfds.ClassLabel)), None)
    if image_col is None or label_col is None:
        raise DatasetUnavailableError(f"{source}: expected an Image column and a ClassLabel column, found {dict(ds.features)}")
    space = info.label_space()
    to_space = _class_label_order(info, list(ds.features[label_col].names), space, source)
    raw = ds.data.column(label_col).to_pylist()
    labels = [to_space[x] if x is not None and 0 <= x < len(to_space) else -1 for x in raw]
    ds = ds.cast_column(image_col, hfds.Image(decode=False)).select_columns([image_col])
    names = _hf_file_names(ds, image_col)
    return ImageSet(info.name, split, space, labels, source, ds, hf_column=image_col, names=names)


def _class_label_order(info: DatasetInfo, names: list[str], space: label_spaces.LabelSpace, source: str) -> list[int]:
    """ClassLabel index -> label-space index. The ClassLabel names decide: wnids map by wnid; other names
    only where the dataset declares their order (ILSVRC/imagenet-1k's descriptions are in sorted-wnid order)."""
    if names and all(_is_wnid(n) for n in names):
        unknown = [n for n in names if n not in space.index]
        if unknown:
            more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
            raise DatasetUnavailableError(
                f"{source}: ClassLabel {unknown[0]!r}{more} is not one of the {len(space)} {space.name} classes: "
                f"is this a copy of {info.name}?"
            )
        return [space.index[n] for n in names]
    if info.names_in_space_order and len(names) == len(space):
        return list(range(len(space)))
    shown = ", ".join(repr(n) for n in names[:2])
    raise DatasetUnavailableError(
        f"{source}: its {len(names)} ClassLabel names ({shown}, ...) are not WordNet ids, so their order "
        f"is unknown: save the copy with the wnids as ClassLabel names (e.g. 'n01443537')"
    )


def _hf_file_names(ds, image_col: str) -> list[str]:
    """The stored file name of each image (read from Arrow without touching the image bytes)."""
    out: list[str] = []
    for chunk in ds.data.column(image_col).chunks:
        out += [Path(p).name if p else f"#{len(out) + i}" for i, p in enumerate(chunk.field("path").to_pylist())]
    return out


# --- subsets and torch view --------------------------------------------------------------------


def stratified(labels: Sequence[int], limit: int | None, seed: int = 0) -> list[int]:
    """A seeded class-stratified sample of `limit` indices (sorted), the same on every run and machine.

    Round-robin over the classes in a seeded order, each class giving its next image in a seeded
    order: any N spreads over min(N, classes) classes, each getting N/classes ± 1 (the valid split
    is grouped by class, so the first N images would all be goldfish). The orders come from the
    splitmix64 hash of (seed, class) and (seed, index), plain integer arithmetic rather than an RNG
    stream that a library may change between versions.
    """
    import numpy as np

    if limit is None or limit >= len(labels):
        return list(range(len(labels)))
    y = np.asarray(labels, dtype=np.int64).view(np.uint64)
    with np.errstate(over="ignore"):
        index_key = _splitmix64(np.arange(len(y), dtype=np.uint64) + _splitmix64(np.uint64(2 * seed)))
        class_key = _splitmix64(np.unique(y) + _splitmix64(np.uint64(2 * seed + 1)))
    by_class = np.lexsort((index_key, y))  # grouped by class, each class in its seeded order
    classes, start, count = np.unique(y[by_class], return_index=True, return_counts=True)
    depth = np.arange(len(y)) - np.repeat(start, count)  # each image's round
    class_turn = np.argsort(np.argsort(class_key, kind="stable"), kind="stable")
    turn = np.repeat(class_turn, count)
    chosen = by_class[np.lexsort((turn, depth))[:limit]]  # round 0 of every class in turn order, then round 1, ...
    return sorted(int(i) for i in chosen)


def _splitmix64(x):
    """splitmix64's finaliser on uint64 (numpy wraps modulo 2**64): a fixed, well-spread integer hash."""
    import numpy as np

    with np.errstate(over="ignore"):  # the wrap-around is the point
        x = np.asarray(x, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


class SampleView:
    """A torch-style dataset over an ImageSet subset: (tensor, label, index, error) per sample.

    A sample that cannot be read yields `empty()` and its error instead of raising, so one bad
    image costs one sample, reported in the result. Subclasses say what `load` makes of the raw image.
    """

    def __init__(self, images: Images, indices: Sequence[int]):
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
        except Exception as e:
            return self.empty(), max(label, 0), i, f"{type(e).__name__}: {e}"[:300]


class TorchView(SampleView):
    """Decoded and transformed on the CPU (in loader workers)."""

    def __init__(self, images: Images, indices: Sequence[int], transform: Callable, input_size: tuple[int, int, int]):
        super().__init__(images, indices)
        self.transform = transform
        self.input_size = tuple(input_size)

    def load(self, raw: ImageSource):
        from .images import open_rgb

        return self.transform(open_rgb(raw))

    def empty(self):
        import torch

        return torch.zeros(self.input_size, dtype=torch.uint8)
