"""sha256 of files (weights, label lists), cached by (path, size, mtime, inode) so that a rerun which
skips a model does not read a 1 GB checkpoint again. Re-saving a file changes its mtime, so the
cache never answers for content it did not hash.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

CHUNK = 1 << 20


def cache_dir() -> Path:
    """$XDG_CACHE_HOME/imagenet-bench/sha256 (~/.cache/... by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "imagenet-bench" / "sha256"


def _stamp(path: Path) -> str:
    st = path.stat()
    return f"{path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}"


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes; from the cache when the file is unchanged since it was hashed."""
    path = Path(path)
    stamp = _stamp(path)
    entry = cache_dir() / hashlib.sha256(stamp.encode()).hexdigest()
    try:
        cached = entry.read_text().strip()
        if len(cached) == 64:
            return cached
    except OSError:
        pass
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    digest = h.hexdigest()
    if _stamp(path) == stamp:  # not rewritten while we read it
        _remember(entry, digest)
    return digest


def _remember(entry: Path, digest: str) -> None:
    """Best effort: a cache that cannot be written only costs a re-hash next time."""
    from .atomic import write_file

    with contextlib.suppress(Exception):  # read-only home, full disk: hashing still worked
        write_file(entry, digest)
