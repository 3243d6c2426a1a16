"""Per-entry locks in the results directory, so two concurrent runs never compute or write the same entry.

A lock is an flock on `.<entry>.lock` beside the result; the OS drops it if the holder dies. The holder
deletes the file when it is done (git ignores it meanwhile), which needs one check on acquiring: the
file we locked must still be the one at the path, or someone removed it under us and we try again.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from ..errors import ResultsError


def lock_path(json_path: Path) -> Path:
    return json_path.with_name(f".{json_path.stem}.lock")


class EntryLock:
    """An exclusive lock on one results entry; `acquire(wait=False)` says whether we got it."""

    def __init__(self, json_path: Path):
        self.json_path = Path(json_path)
        self.path = lock_path(self.json_path)
        self._fd: int | None = None
        self.holder: str | None = None  # pid of the other run when acquire(wait=False) failed

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, wait: bool = True) -> bool:
        while True:
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self.holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                if not wait:
                    os.close(fd)
                    return False
                print(
                    f"   waiting for another bench run (pid {self.holder}) that is computing {self.json_path.name}",
                    file=sys.stderr,
                    flush=True,
                )
                fcntl.flock(fd, fcntl.LOCK_EX)
            if self._still_there(fd):
                break
            os.close(fd)  # the holder removed the file after we opened it: lock the new one
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        except OSError as e:  # a full disk: leave nothing behind, and say it is the store, not the model
            with contextlib.suppress(OSError):
                self.path.unlink()
            os.close(fd)
            raise ResultsError(
                f"cannot write the lock {self.path} ({e.strerror}): free some space or pass another --results-dir"
            ) from e
        self._fd = fd
        return True

    def release(self) -> None:
        """Remove the lock file while still holding it, then let go: nobody can lock a stale file."""
        if self._fd is None:
            return
        try:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        finally:
            os.close(self._fd)  # closing releases the flock
            self._fd = None

    def _open(self) -> int:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)  # umask decides, as for the results
        except OSError as e:
            raise ResultsError(f"cannot create {self.path} ({e.strerror}): check permissions or pass --results-dir") from e
        return fd

    def _still_there(self, fd: int) -> bool:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False
        return st.st_ino == os.fstat(fd).st_ino


@contextlib.contextmanager
def entry_lock(json_path: Path, wait: bool = True) -> Iterator[EntryLock]:
    """Hold the entry's lock for the block; without `wait`, a held lock is a ResultsError naming the holder."""
    lock = EntryLock(json_path)
    if not lock.acquire(wait):
        raise ResultsError(
            f"another bench run (pid {lock.holder}) is computing {Path(json_path).name}: wait for it or use another --results-dir"
        )
    try:
        yield lock
    finally:
        lock.release()
