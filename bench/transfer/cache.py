"""On-disk feature cache: one folder per (weights digest, feature spec, transform, split fingerprint,
precision, library versions), filled shard by shard, shared by every probe.

Layout: <cache>/<key[:2]>/<key>/manifest.json + shard-00000.npz, ... Each shard holds the features,
labels and sample indices of a fixed, contiguous range of the part's positions (SHARD images each) and
is written atomically; the manifest (rewritten atomically after every shard) lists the finished ones.
A killed extraction leaves whole shards and resumes from the first missing one. Under torchrun each
rank takes a contiguous block of shards (no padded duplicates) and rank 0 writes the manifest once
every rank is done, so the features -- and every probe's input -- are the same whatever the world
size: a shard's batches start at its first image on every rank count.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..store import atomic

FORMAT = 1  # the cache's own layout version; another value in a manifest is refused (exit 2)
SHARD = 512


class CacheVersionError(ConfigError):
    """A feature cache written by another version of the cache format (exit 2)."""


def default_dir() -> Path:
    import os

    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "imagenet-bench" / "features"


def versions() -> dict[str, str]:
    """The libraries whose numerics decide a feature (a new version is a new cache entry)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("torch", "torchvision", "timm", "imagenet-bench", "pillow", "numpy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "absent"
    return out


def cache_key(fields: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass
class Features:
    features: Any  # (n, dim) float32
    labels: Any  # (n,) int64
    indices: Any  # (n,) int64, into the source split
    failed: list[dict[str, Any]]
    cached_shards: int = 0  # how many shards were read rather than extracted
    key: str = ""


def shard_ranges(n: int, shard: int = SHARD) -> list[tuple[int, int]]:
    return [(s, min(s + shard, n)) for s in range(0, n, shard)] or [(0, 0)]


def rank_shards(n_shards: int, rank: int, world: int) -> range:
    """A contiguous block of shard numbers for `rank` (the first n_shards % world ranks get one more)."""
    base, extra = divmod(n_shards, world)
    start = rank * base + min(rank, extra)
    return range(start, start + base + (1 if rank < extra else 0))


def _npz(data: dict[str, Any]) -> bytes:
    import numpy as np

    buf = io.BytesIO()
    np.savez(buf, **data)
    return buf.getvalue()


class FeatureCache:
    """One cache entry (a folder); `get` extracts what is missing and returns the whole part."""

    def __init__(self, root: str | Path, fields: dict[str, Any], shard: int = SHARD):
        self.fields = {**fields, "format": FORMAT, "shard": shard}
        self.key = cache_key(self.fields)
        self.dir = Path(root).expanduser() / self.key[:2] / self.key
        self.shard = shard

    @property
    def manifest_path(self) -> Path:
        return self.dir / "manifest.json"

    def _manifest(self) -> dict[str, Any] | None:
        if not self.manifest_path.is_file():
            return None
        try:
            m = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # a torn manifest cannot happen (atomic writes); an edited one is rebuilt from the shards
        if m.get("format") != FORMAT:
            raise CacheVersionError(
                f"feature cache {self.dir} was written by cache format {m.get('format')!r}, this bench reads {FORMAT}: "
                f"delete that folder or pass another --cache-dir"
            )
        return m

    def _shard_path(self, j: int) -> Path:
        return self.dir / f"shard-{j:05d}.npz"

    def _read_shard(self, j: int, lo: int, hi: int) -> dict[str, Any] | None:
        import numpy as np

        p = self._shard_path(j)
        if not p.is_file():
            return None
        try:
            with np.load(p, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        except Exception:
            return None  # unreadable: extracted again
        if str(data.get("key")) != self.key or int(data["range"][0]) != lo or int(data["range"][1]) != hi:
            return None
        return data

    def _write_manifest(self, done: list[int], n: int, complete: bool) -> None:
        atomic.write_file(
            self.manifest_path,
            json.dumps(
                {"format": FORMAT, "key": self.key, "fields": self.fields, "n": n, "done": sorted(done), "complete": complete},
                indent=1,
                sort_keys=True,
            ),
        )

    def get(
        self,
        indices: list[int],
        extract: Callable[[list[int]], Any],
        info=None,
        after_shard: Callable[[int], None] | None = None,
    ) -> Features:
        """Features of `indices` (a part, in order); `extract(indices)` -> features.Extracted for one shard."""
        import numpy as np

        from ..measure import distributed as dist

        info = info or dist.DistInfo()
        self._manifest()  # refuses another format before any work
        ranges = shard_ranges(len(indices), self.shard)
        mine = rank_shards(len(ranges), info.rank, info.world_size)
        reused = 0
        for j in mine:
            lo, hi = ranges[j]
            if self._read_shard(j, lo, hi) is not None:
                reused += 1
                continue
            got = extract(list(indices[lo:hi]))
            dim = got.features.shape[1] if got.features.ndim == 2 else 0
            atomic.write_file(
                self._shard_path(j),
                _npz(
                    {
                        "features": got.features.reshape(len(got.features), dim).astype(np.float32),
                        "labels": got.labels.astype(np.int64),
                        "indices": got.indices.astype(np.int64),
                        "failed_index": np.asarray([f["index"] for f in got.failed], dtype=np.int64),
                        "failed_error": np.asarray([f["error"] for f in got.failed], dtype=str),
                        "range": np.asarray([lo, hi], dtype=np.int64),
                        "key": np.asarray(self.key),
                    }
                ),
            )
            if not info.active:
                self._write_manifest([k for k, (a, b) in enumerate(ranges) if self._shard_path(k).is_file()], len(indices), False)
            if after_shard is not None:
                after_shard(j)
        dist.barrier(info)
        parts = []
        for j, (lo, hi) in enumerate(ranges):
            data = self._read_shard(j, lo, hi)
            if data is None:
                raise ConfigError(f"feature cache {self.dir}: shard {j} is missing after extraction; rerun to extract it again")
            parts.append(data)
        if info.is_main:
            self._write_manifest(list(range(len(ranges))), len(indices), True)
        dist.barrier(info)
        dims = {p["features"].shape[1] for p in parts if len(p["features"])}
        if len(dims) > 1:
            raise ConfigError(f"feature cache {self.dir} mixes feature sizes {sorted(dims)}: delete it and rerun")
        dim = dims.pop() if dims else 0
        failed = [
            {"index": int(i), "error": str(e)}
            for p in parts
            for i, e in zip(p["failed_index"].tolist(), p["failed_error"].tolist())
        ]
        return Features(
            np.concatenate([p["features"].reshape(-1, dim) for p in parts]).astype(np.float32),
            np.concatenate([p["labels"] for p in parts]).astype(np.int64),
            np.concatenate([p["indices"] for p in parts]).astype(np.int64),
            failed,
            cached_shards=reused,
            key=self.key,
        )
