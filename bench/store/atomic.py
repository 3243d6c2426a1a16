"""The one way this harness writes a file: temp file in the same folder, fsync, rename.

Readers (and a later run after a crash or a full disk) see the old file or the new one, never a
truncated mix. Results, samples, baselines, checksums, pages, plots and the site all go through here.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..errors import ConfigError, ResultsError, shorten


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_file(path: Path, data: bytes | str) -> Path:
    """Write `data` (str is encoded as UTF-8, no newline translation) to `path` atomically. The file gets
    the mode a plain open() would give (0666 less the umask), not mkstemp's private 0600. A failure
    raises ResultsError (exit 2) and leaves the previous file as it was."""
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise ResultsError(
            f"cannot write under {path.parent} ({e.strerror}): check permissions or choose another output folder"
        ) from e
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise ResultsError(
            f"cannot write {path} ({e.strerror}): free some space or choose another output folder; nothing was half-written"
        ) from e
    return path


def write_control(path: Path, data: str) -> None:
    """Write to a kernel control file (/proc/self/clear_refs) in place: it is an interface, not a stored
    file, so there is nothing to replace atomically. OSError is the caller's (an unsupported kernel)."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, data.encode("ascii"))
    finally:
        os.close(fd)


def check_writable(folder: str | Path, flag: str) -> Path:
    """Before any compute: `folder` is (or can become) a writable folder, else ConfigError naming `flag`'s fix.
    Creates it, so that a later write cannot fail for want of it."""
    path = Path(folder).expanduser()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{flag} {shorten(str(folder))} is a file, not a folder: pass a folder (it is created when missing)")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".write-check.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ConfigError(
            f"{flag} {shorten(str(folder))} is not writable ({e.strerror}): check its permissions or pass another folder"
        ) from e
    return path
