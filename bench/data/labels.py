"""Label spaces identified by WordNet id, and projections between them.

A class is its wnid (``n01443537``), never its name: names repeat (``crane`` the bird and the
machine; ``maillot`` twice) and are spelled differently across datasets.
"""

from __future__ import annotations

import csv
import io
import os
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

from ..errors import LabelSpaceError

BACKGROUND = "background"

# The ImageNet subsets whose class lists timm ships and reads through its public ImageNetInfo;
# a head's output size picks one through timm's `infer_imagenet_subset`. 1001 outputs (TF-slim's
# background class at 0 before ImageNet-1k) is ours: timm does not name it.
TIMM_SUBSETS = ("imagenet-1k", "imagenet-12k", "imagenet-22k", "imagenet-21k-goog", "imagenet-21k-miil", "imagenet-22k-ms")


@dataclass(frozen=True)
class LabelSpace:
    """An ordered list of classes: index i of a head or dataset is ``wnids[i]``."""

    name: str
    wnids: tuple[str, ...]
    names: tuple[str, ...] = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.wnids) != len(self.names):
            raise ValueError(f"label space {self.name}: {len(self.wnids)} wnids but {len(self.names)} names")

    def __len__(self) -> int:
        return len(self.wnids)

    @property
    def index(self) -> dict[str, int]:
        return _index(self.wnids)


@cache
def _index(wnids: tuple[str, ...]) -> dict[str, int]:
    return {w: i for i, w in enumerate(wnids)}


def _timm_info_text(filename: str) -> str:
    """A file of timm's `_info` folder that ImageNetInfo does not expose (ImageNet-A/R lists, ReaL labels)."""
    data = pkgutil.get_data("timm.data", os.path.join("_info", filename))
    if data is None:  # pragma: no cover - timm always ships these
        raise LabelSpaceError(f"timm does not ship {filename}; upgrade timm (pip install -U timm)")
    return data.decode("utf-8")


@cache
def _lemmas() -> dict[str, str]:
    """wnid -> WordNet lemma for every class timm knows (the 21k-goog list is the superset)."""
    from timm.data import ImageNetInfo

    lemmas = ImageNetInfo("imagenet-21k-goog").label_descriptions(as_dict=True)
    assert isinstance(lemmas, dict)  # as_dict=True (timm types the return as list | dict)
    return lemmas


def _package_text(name: str) -> str:
    return resources.files("bench").joinpath("resources", name).read_text(encoding="utf-8")


@cache
def timm_subset(subset: str) -> LabelSpace:
    """A label space from timm's ImageNetInfo (order = the head's output order, names = lemmas)."""
    from timm.data import ImageNetInfo

    info = ImageNetInfo(subset)
    return LabelSpace(subset, tuple(info.label_names()), tuple(info.label_descriptions()))


def imagenet_1k() -> LabelSpace:
    """ImageNet-1k: the 1000 ILSVRC-2012 classes in sorted-wnid order (torchvision and timm heads)."""
    return timm_subset("imagenet-1k")


@cache
def imagenet_1k_with_background() -> LabelSpace:
    """1001 outputs: TF-slim's background class at 0, then ImageNet-1k."""
    base = imagenet_1k()
    return LabelSpace("imagenet-1k+background", (BACKGROUND, *base.wnids), (BACKGROUND, *base.names))


@cache
def tiny_imagenet() -> LabelSpace:
    """Tiny ImageNet's 200 classes in sorted-wnid order (HF `zh-plus/tiny-imagenet` label order)."""
    wnids = tuple(_package_text("tiny_imagenet_wnids.txt").split())
    words = dict(row for row in csv.reader(io.StringIO(_package_text("tiny_imagenet_words.tsv")), delimiter="\t"))
    return LabelSpace("tiny-imagenet", wnids, tuple(words.get(w, w) for w in wnids))


def from_file(path: str | os.PathLike) -> LabelSpace:
    """A label space from a file with one wnid per line (optionally a tab and a name)."""
    p = Path(path)
    if not p.is_file():
        raise LabelSpaceError(f"label space file {p} does not exist: pass a file with one wnid per line")
    wnids, names = [], []
    lemmas = _lemmas()
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise LabelSpaceError(f"cannot read label space file {p} ({e}): pass a text file with one wnid per line") from e
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        wnid, _, name = line.partition("\t")
        wnid = wnid.strip()
        if not (re.fullmatch(r"n\d{8}", wnid) or wnid == BACKGROUND):
            raise LabelSpaceError(
                f"label space file {p} line {n}: {wnid[:40]!r} is not a WordNet id: list one wnid per line, "
                "like n01440764 (a tab and a name may follow)"
            )
        wnids.append(wnid)
        names.append(name.strip() or lemmas.get(wnid, wnid))
    if not wnids:
        raise LabelSpaceError(f"label space file {p} lists no wnids: list one per line, like n01440764")
    if len(set(wnids)) != len(wnids):
        raise LabelSpaceError(f"label space file {p} lists a wnid twice")
    return LabelSpace(p.stem, tuple(wnids), tuple(names))


def _timm_list(filename: str, name: str) -> LabelSpace:
    wnids = tuple(_timm_info_text(filename).split())
    lemmas = _lemmas()
    return LabelSpace(name, wnids, tuple(lemmas.get(w, w) for w in wnids))


@cache
def imagenet_a() -> LabelSpace:
    """ImageNet-A's 200 classes (timm's list, sorted wnids)."""
    return _timm_list("imagenet_a_synsets.txt", "imagenet-a")


@cache
def imagenet_r() -> LabelSpace:
    """ImageNet-R's 200 classes (timm's list, sorted wnids)."""
    return _timm_list("imagenet_r_synsets.txt", "imagenet-r")


# Imagenette (fast.ai): 10 easily told apart ImageNet classes, folders named by wnid.
IMAGENETTE_WNIDS = (
    "n01440764",
    "n02102040",
    "n02979186",
    "n03000684",
    "n03028079",
    "n03394916",
    "n03417042",
    "n03425413",
    "n03445777",
    "n03888605",
)


@cache
def imagenette() -> LabelSpace:
    lemmas = _lemmas()
    return LabelSpace("imagenette", IMAGENETTE_WNIDS, tuple(lemmas[w] for w in IMAGENETTE_WNIDS))


@cache
def ilsvrc2012_id_order() -> tuple[str, ...]:
    """wnids in ILSVRC2012_ID order (devkit meta.mat): line i is ID i+1. Not sorted-wnid order."""
    wnids = tuple(_package_text("ilsvrc2012_id_to_wnid.txt").split())
    if len(wnids) != 1000:  # pragma: no cover - package data
        raise LabelSpaceError("bench/data/ilsvrc2012_id_to_wnid.txt must list 1000 wnids")
    return wnids


@cache
def real_labels() -> list[list[int]]:
    """ImageNet-ReaL label sets (Beyer et al. 2020) per val image, in ILSVRC2012_val_00000001.. order."""
    import json

    return json.loads(_timm_info_text("imagenet_real_labels.json"))


def subset(space: LabelSpace, wnids: set[str] | tuple[str, ...], name: str | None = None) -> LabelSpace:
    """The classes of `space` that are in `wnids`, in `space` order."""
    keep = [i for i, w in enumerate(space.wnids) if w in set(wnids)]
    return LabelSpace(name or f"{space.name}-subset", tuple(space.wnids[i] for i in keep), tuple(space.names[i] for i in keep))


NAMED_SPACES: dict[str, Callable[[], LabelSpace]] = {
    "imagenet-1k": imagenet_1k,
    "imagenet-1k+background": imagenet_1k_with_background,
    "tiny-imagenet": tiny_imagenet,
    "imagenet-a": imagenet_a,
    "imagenet-r": imagenet_r,
    "imagenette": imagenette,
}


def named(name: str) -> LabelSpace:
    """A label space by name (`imagenet-1k`, `tiny-imagenet`, a timm subset) or by file path."""
    if name in NAMED_SPACES:
        return NAMED_SPACES[name]()
    if name in TIMM_SUBSETS:
        return timm_subset(name)
    if Path(name).is_file():
        return from_file(name)
    known = ", ".join([*NAMED_SPACES, *TIMM_SUBSETS])
    raise LabelSpaceError(f"unknown label space {name!r}: use one of {known}, or a file with one wnid per line")


def for_head(num_classes: int, hint: str | None = None) -> LabelSpace:
    """The label space of a classifier head, from its output size (and a hint where sizes are ambiguous)."""
    if hint:
        space = named(hint)
        if len(space) != num_classes:
            raise LabelSpaceError(f"label space {space.name} has {len(space)} classes but the head has {num_classes} outputs")
        return space
    if num_classes == 1001:
        return imagenet_1k_with_background()
    if num_classes == 200:
        return tiny_imagenet()
    from timm.data import infer_imagenet_subset

    subset_name = infer_imagenet_subset({"num_classes": num_classes})
    if subset_name is not None:
        return timm_subset(subset_name)
    raise LabelSpaceError(
        f"a head with {num_classes} outputs matches no known label space "
        "(1000, 1001, 200, 11221, 11821, 21841, 21842, 21843): pass --label-space FILE with one wnid per line"
    )


@dataclass(frozen=True)
class Projection:
    """How dataset classes land on model outputs: ``model_index[d]`` is the head index of dataset class d."""

    dataset: LabelSpace
    model: LabelSpace
    model_index: tuple[int | None, ...]

    @property
    def mapped(self) -> list[int]:
        """Dataset classes the model can predict."""
        return [d for d, m in enumerate(self.model_index) if m is not None]

    @property
    def unmapped_wnids(self) -> list[str]:
        return [self.dataset.wnids[d] for d, m in enumerate(self.model_index) if m is None]

    @property
    def restricted_model_indices(self) -> list[int]:
        """Head indices the `restricted` protocol keeps (the dataset's classes the head has), in dataset order."""
        return [m for m in self.model_index if m is not None]

    @property
    def coverage(self) -> float:
        return len(self.mapped) / len(self.dataset) if len(self.dataset) else 0.0

    def summary(self) -> dict:
        return {
            "dataset_space": self.dataset.name,
            "model_space": self.model.name,
            "dataset_classes": len(self.dataset),
            "model_classes": len(self.model),
            "mapped": len(self.mapped),
            "coverage": round(self.coverage, 6),
            "unmapped": self.unmapped_wnids,
        }

    def rows(self) -> list[dict]:
        """One row per dataset class, for `bench labels`."""
        return [
            {"dataset_index": d, "wnid": w, "model_index": m, "name": self.dataset.names[d]}
            for d, (w, m) in enumerate(zip(self.dataset.wnids, self.model_index))
        ]


def project(dataset: LabelSpace, model: LabelSpace) -> Projection:
    """Map each dataset class to the model output with the same wnid (None where the head lacks it)."""
    index = model.index
    return Projection(dataset, model, tuple(index.get(w) for w in dataset.wnids))
