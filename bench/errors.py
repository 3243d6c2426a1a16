"""Errors a user can cause. Each carries the exit code of the CLI contract and a message that names the fix."""

from __future__ import annotations

import errno
import os


def shorten(text: str, width: int = 120) -> str:
    """What a message echoes of a user's value: a 100,000-character argument must not become the message."""
    return text if len(text) <= width else f"{text[: width - 30]}…[{len(text)} characters]"


def folder_problem(path: str | os.PathLike) -> str | None:
    """Why `path` cannot be used as a folder, in words ("does not exist", "is a symlink loop", "is a file, not a
    folder", ...), or None when it is a folder. `Path.exists()` says False for all of these alike."""
    try:
        st = os.stat(path)
    except OSError as e:
        if e.errno == errno.ENOENT:
            return "is a dangling symlink" if os.path.islink(path) else "does not exist"
        if e.errno == errno.ELOOP:
            return "is a symlink loop"
        if e.errno == errno.ENOTDIR:
            return "is under a file, not a folder"
        if e.errno == errno.ENAMETOOLONG:
            return "is a name too long for the file system"
        return f"cannot be reached ({e.strerror})"
    import stat

    return None if stat.S_ISDIR(st.st_mode) else "is a file, not a folder"


class BenchError(Exception):
    """Base class: the CLI prints the message (no traceback) and exits with `exit_code`."""

    exit_code = 1


class ConfigError(BenchError):
    """Bad arguments or configuration (exit 2)."""

    exit_code = 2


class UnknownModelError(ConfigError):
    """A model name that no registry knows; carries close matches."""

    def __init__(self, name: str, suggestions: list[str]):
        self.name = name
        self.suggestions = suggestions
        hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"unknown model {shorten(repr(name))}.{hint} Run `bench list PATTERN` to search.")


class WeightsUnavailableError(BenchError):
    """Pretrained weights are neither cached nor downloadable (exit 1; other models continue)."""


class WeightsMismatchError(BenchError):
    """A checkpoint that does not fit the architecture."""


class DatasetUnavailableError(ConfigError):
    """The dataset is not where we were told, or not in a layout we know (exit 2)."""


class LabelSpaceError(BenchError):
    """A model head whose classes we cannot identify."""


class ResultsError(BenchError):
    """Results or baselines that cannot be read or written (exit 2: exit 1 means "a model failed" or "worse")."""

    exit_code = 2


class SchemaVersionError(ResultsError):
    """A result written by a newer imagenet-bench (exit 2): never overwritten, read only after an upgrade."""

    exit_code = 2


# Messages of the allocation failures that CUDA libraries report as a plain RuntimeError (cuBLAS handle or
# workspace, cuDNN workspace, cuFFT/cuSOLVER/NCCL buffers), not as torch.OutOfMemoryError: near the memory limit
# they mean the same thing, so the batch-size back-off treats them alike.
_ALLOC_FAILED = ("CUBLAS_STATUS_ALLOC_FAILED", "CUDNN_STATUS_ALLOC_FAILED", "CUFFT_ALLOC_FAILED", "CUSOLVER_STATUS_ALLOC_FAILED")


def is_out_of_memory(err: BaseException) -> bool:
    """torch.OutOfMemoryError, or a CUDA library's *_ALLOC_FAILED RuntimeError (see _ALLOC_FAILED)."""
    if type(err).__name__ == "OutOfMemoryError":  # torch.OutOfMemoryError (= torch.cuda.OutOfMemoryError); no torch import here
        return True
    return isinstance(err, RuntimeError) and any(s in str(err) for s in _ALLOC_FAILED)


def left_out(errors: list[ResultsError]) -> ResultsError:
    """One line for the files a render had to leave out (exit 2): the first error in full, then how many more."""
    more = f" (and {len(errors) - 1} more file(s) like it)" if len(errors) > 1 else ""
    return ResultsError(f"{errors[0]}{more}; everything else was written")
