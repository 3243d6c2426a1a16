"""Per-entry locks in the results directory, so two concurrent runs never compute or write the same entry."""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from pathlib import Path
from typing import Iterator

from ..errors import ResultsError


@contextlib.contextmanager
def entry_lock(json_path: Path, wait: bool = True) -> Iterator[None]:
    """Hold an exclusive flock on `<entry>.lock` beside the result; the OS drops it if we die."""
    lock_path = json_path.with_name(f".{json_path.stem}.lock")
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise ResultsError(f"cannot create {lock_path} ({e.strerror}): check permissions or pass --results-dir") from e
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            if not wait:
                raise ResultsError(f"another bench run (pid {holder}) is computing {json_path.name}: wait for it or use another --results-dir") from None
            print(f"   waiting for another bench run (pid {holder}) that is computing {json_path.name}", file=sys.stderr, flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the flock
