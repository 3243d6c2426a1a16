"""Train / val / test parts of a transfer dataset, stored as index arrays into the loaded source splits.

A `Part` is (source split, sorted indices); its fingerprint (source, split, indices, labels) is what the
feature cache and the result key hold, so another subset or another copy of the data is another entry.
`vtab1k` is VTAB-1k's train800 / val200: the first 800 of the train part and the first 200 of val.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ..data.datasets import ImageSet, _splitmix64, stratified
from ..errors import ConfigError
from . import presets

PROTOCOLS = ("full", "vtab1k")


@dataclass(frozen=True)
class Part:
    source: str  # which loaded split the indices point into
    indices: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.indices)


@dataclass(frozen=True)
class Splits:
    protocol: str  # full | vtab1k
    train: Part
    val: Part
    test: Part

    def parts(self) -> dict[str, Part]:
        return {"train": self.train, "val": self.val, "test": self.test}


def fingerprint(images: ImageSet, part: Part) -> str:
    """sha256 over where the images come from and the exact (index, label) pairs of the part."""
    import numpy as np

    idx = np.asarray(part.indices, dtype="<i8")
    lab = np.asarray(images.labels, dtype="<i8")[idx] if len(idx) else np.zeros(0, "<i8")
    head = f"{images.name}|{images.split}|{len(images)}|".encode()
    return hashlib.sha256(head + idx.tobytes() + b"|" + lab.tobytes()).hexdigest()


def _seeded_order(indices, salt: int):
    """`indices` in a fixed pseudo-random order (splitmix64 of (salt, index): plain integer arithmetic, the
    same on every machine and numpy version)."""
    import numpy as np

    idx = np.asarray(indices, dtype=np.uint64)
    return np.asarray(indices, dtype=np.int64)[np.argsort(_splitmix64(idx + _splitmix64(np.uint64(salt))), kind="stable")]


def stratified_holdout(labels, indices, fraction: float, salt: int = 0) -> tuple[list[int], list[int]]:
    """(kept, held out): from each class, round(fraction x its count) images in a fixed order are held out."""
    import numpy as np

    y = np.asarray(labels)
    kept: list[int] = []
    held: list[int] = []
    idx = np.asarray(indices, dtype=np.int64)
    for c in np.unique(y[idx]):
        members = _seeded_order(idx[y[idx] == c], salt)
        k = int(round(fraction * len(members)))
        held += members[:k].tolist()
        kept += members[k:].tolist()
    return sorted(kept), sorted(held)


def digits_split(labels) -> tuple[list[int], list[int], list[int]]:
    """The fixed digits split: per class, 20 % test, then 20 % of the class val, the rest (60 %) train."""
    rest, test = stratified_holdout(labels, range(len(labels)), 0.2, salt=1)
    n_val = {c: int(round(0.2 * sum(1 for i in range(len(labels)) if labels[i] == c))) for c in set(labels)}
    import numpy as np

    y = np.asarray(labels)
    train: list[int] = []
    val: list[int] = []
    for c in sorted(n_val):
        members = _seeded_order([i for i in rest if y[i] == c], salt=2)
        val += members[: n_val[c]].tolist()
        train += members[n_val[c] :].tolist()
    return sorted(train), sorted(val), sorted(test)


def make(preset: presets.Preset, sets: dict[str, ImageSet], protocol: str = "full", limit: int | None = None) -> Splits:
    """The parts for `preset` over its loaded source splits (`sets`: split name -> ImageSet)."""
    if protocol not in PROTOCOLS:
        raise ConfigError(f"--splits {protocol}: use one of {', '.join(PROTOCOLS)}")
    kind, arg = presets.parse_val(preset.val)
    train_set = sets[preset.train]
    test_source = preset.test
    all_train = range(len(train_set))
    if kind == "digits":
        train_idx, val_idx, test_idx = digits_split(train_set.labels)
        val_source = preset.train
    elif kind == "own":
        assert isinstance(arg, str)
        train_idx, val_idx, val_source = list(all_train), list(range(len(sets[arg]))), arg
        test_idx = list(range(len(sets[test_source])))
    elif kind == "tail":
        assert isinstance(arg, float)
        cut = len(train_set) - int(round(arg * len(train_set)))
        train_idx, val_idx, val_source = list(range(cut)), list(range(cut, len(train_set))), preset.train
        test_idx = list(range(len(sets[test_source])))
    elif kind == "stratified":
        assert isinstance(arg, float)
        train_idx, val_idx = stratified_holdout(train_set.labels, all_train, arg)
        val_source = preset.train
        test_idx = list(range(len(sets[test_source])))
    else:  # pragma: no cover - the presets table is ours
        raise ValueError(f"unknown val rule {preset.val}")
    # rows whose label is unknown (-1) are not part of any split
    train_idx = [i for i in train_idx if train_set.labels[i] >= 0]
    val_idx = [i for i in val_idx if sets[val_source].labels[i] >= 0]
    test_idx = [i for i in test_idx if sets[test_source].labels[i] >= 0]
    if protocol == "vtab1k":
        if len(train_idx) < 800 or len(val_idx) < 200:
            raise ConfigError(
                f"--splits vtab1k needs 800 train and 200 val images; {preset.name} has {len(train_idx)} and {len(val_idx)}: "
                f"use --splits full"
            )
        train_idx, val_idx = train_idx[:800], val_idx[:200]
    if limit is not None:
        train_idx = _limited(train_set.labels, train_idx, limit)
        val_idx = _limited(sets[val_source].labels, val_idx, limit)
        test_idx = _limited(sets[test_source].labels, test_idx, limit)
    return Splits(
        protocol,
        Part(preset.train, tuple(train_idx)),
        Part(val_source, tuple(val_idx)),
        Part(test_source, tuple(test_idx)),
    )


def _limited(labels, indices: list[int], limit: int) -> list[int]:
    """--limit: the same seeded class-stratified sample `bench run` takes, within this part."""
    chosen = stratified([labels[i] for i in indices], limit)
    return [indices[j] for j in chosen]
