"""Errors a user can cause. Each carries the exit code of the CLI contract and a message that names the fix."""

from __future__ import annotations


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
        super().__init__(f"unknown model {name!r}.{hint} Run `bench list PATTERN` to search.")


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
