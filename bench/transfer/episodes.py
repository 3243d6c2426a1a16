"""Few-shot episodes: k images per class, without replacement, from the train part (train minus val).

Episode e of k shots for (seed, dataset) is a pure function of those four values and the pool: each
class's members are ordered by the splitmix64 hash of (episode key, index) and the first k are taken.
The key is sha256("seed|dataset|k|episode"): plain integer arithmetic, so the same indices come out on
every machine and numpy version (BiT's PyTorch few-shot sampler ignores its seed).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from ..errors import ConfigError


class TooFewImages(ConfigError):
    """A class has fewer images than the shots asked for (exit 2)."""


def episode_key(seed: int, dataset: str, k: int, episode: int) -> int:
    digest = hashlib.sha256(f"{seed}|{dataset}|{k}|{episode}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def sample(
    pool: Sequence[int], labels: Sequence[int], k: int, seed: int, dataset: str, episode: int, class_names=None
) -> list[int]:
    """k indices of every class present in `pool` (sorted); TooFewImages when a class has fewer than k."""
    import numpy as np

    from ..data.datasets import _splitmix64

    idx = np.asarray(pool, dtype=np.int64)
    y = np.asarray(labels, dtype=np.int64)[idx]
    key = np.uint64(episode_key(seed, dataset, k, episode))
    chosen: list[int] = []
    for c in np.unique(y):
        members = idx[y == c]
        if len(members) < k:
            name = class_names[int(c)] if class_names is not None else int(c)
            raise TooFewImages(
                f"class {name!r} of {dataset} has {len(members)} train image(s), fewer than --shots {k}: use --shots up to {len(members)}"
            )
        with np.errstate(over="ignore"):
            order = np.argsort(_splitmix64(members.astype(np.uint64) ^ _splitmix64(key)), kind="stable")
        chosen += members[order[:k]].tolist()
    return sorted(chosen)


def episodes(pool, labels, k: int, n: int, seed: int, dataset: str, class_names=None) -> list[list[int]]:
    return [sample(pool, labels, k, seed, dataset, e, class_names) for e in range(n)]
