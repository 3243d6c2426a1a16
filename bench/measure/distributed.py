"""Distributed evaluation on PyTorch's own launcher (`torchrun -m bench run ...`).

Each rank evaluates a disjoint strided shard (no padded duplicates, so n is exact); per-sample
records are gathered to every rank and rank 0 alone writes results. Rank 0 alone also decides
what is still to do (`broadcast`): ranks that looked at the store themselves could disagree.

Rank 0 alone measures efficiency and builds (perhaps downloads) the next model while the other ranks
wait in the next collective, so the process group gets a timeout far longer than NCCL's 10 minutes
(`timeout_s`). A single process (`torchrun --nproc-per-node 1`, or no torchrun) creates no process
group at all: NCCL is never touched.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

TIMEOUT_ENV = "BENCH_DIST_TIMEOUT_S"
DEFAULT_TIMEOUT_S = 4 * 3600  # a model's efficiency on rank 0 (budgeted, minutes) plus a slow weights download


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def timeout_s() -> int:
    """How long a rank may wait in a collective: BENCH_DIST_TIMEOUT_S, or DEFAULT_TIMEOUT_S."""
    raw = os.environ.get(TIMEOUT_ENV)
    if raw is None:
        return DEFAULT_TIMEOUT_S
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"{TIMEOUT_ENV}={raw!r} must be a whole number of seconds >= 1")
    return value


def init(device: str) -> DistInfo:
    """Join the process group torchrun set up (env:// rendezvous); a no-op for a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()  # no process group: a one-process torchrun never touches NCCL
    if device.startswith("cuda:"):
        raise ConfigError(
            f"--device {device} under torchrun would put all {world} ranks on one GPU: "
            "pass --device cuda (each rank takes cuda:LOCAL_RANK)"
        )
    import datetime

    import torch
    import torch.distributed as dist

    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if device.startswith("cuda") else "gloo"
    timeout = datetime.timedelta(seconds=timeout_s())
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, timeout=timeout)
    return DistInfo(rank, world, local_rank, backend)


def device_for(info: DistInfo, device: str) -> str:
    """One GPU per rank: cuda -> cuda:LOCAL_RANK under torchrun."""
    return f"cuda:{info.local_rank}" if info.active and device == "cuda" else device


def shard(indices: Sequence[int], info: DistInfo) -> list[int]:
    """This rank's disjoint share of `indices` (strided, so every rank gets a spread of classes)."""
    return list(indices)[info.rank :: info.world_size]


def all_gather(obj: Any, info: DistInfo) -> list[Any]:
    """Every rank's `obj`, in rank order (a one-element list without a process group)."""
    if not info.active:
        return [obj]
    import torch.distributed as dist

    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast(obj: Any, info: DistInfo, src: int = 0) -> Any:
    """Rank `src`'s `obj` on every rank (pickled; `obj` itself without a process group)."""
    if not info.active:
        return obj
    import torch.distributed as dist

    box = [obj if info.rank == src else None]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def barrier(info: DistInfo) -> None:
    if info.active:
        import torch.distributed as dist

        dist.barrier()


def shutdown(info: DistInfo) -> None:
    if info.active:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
