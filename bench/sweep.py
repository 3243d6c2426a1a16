"""Zoo sweeps on the schedulers people already run: `bench run --shard I/N`.

The scheduler distributes (a SLURM array task or a Kubernetes Indexed Job pod per shard) and the
shared results store makes every task resumable; there is no coordinator. Each task expands the
same model list and keeps its part of one deterministic partition:

- costs: `models.cost.estimate` (GMACs at the eval input size; a documented proxy where unknown);
- partition: greedy longest-processing-time into N bins — models sorted by cost, largest first,
  ties by id; each goes to the least-loaded bin, ties to the lowest bin index. No hashing, no
  randomness: the same list and package versions give the same shards on every machine.
  Bound: max bin <= total/N + (1 - 1/N) * largest cost (list scheduling), and <= (4/3 - 1/(3N)) x
  the optimal makespan (Graham 1969, LPT);
- within a shard, models keep the order they were given.

`I`/`N` come from `--shard I/N`, else SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN (divided by
SLURM_ARRAY_TASK_STEP) of SLURM_ARRAY_TASK_COUNT, else Kubernetes' JOB_COMPLETION_INDEX of
BENCH_SHARD_COUNT (set it to the Job's `completions`).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .config import MAX_SHARDS
from .errors import ConfigError, shorten

SHARD_COUNT_ENV = "BENCH_SHARD_COUNT"


@dataclass(frozen=True)
class Shard:
    index: int
    count: int
    origin: str  # where I/N came from, for the log line

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str, origin: str = "--shard") -> Shard:
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m:
        raise ConfigError(f"{origin} {shorten(repr(text))}: expected I/N with 0 <= I < N, e.g. --shard 0/4")
    return _checked(int(m.group(1)), int(m.group(2)), origin)


def _checked(index: int, count: int, origin: str) -> Shard:
    if count > MAX_SHARDS:
        raise ConfigError(
            f"{shorten(origin)}: {_digits(count)} shards is more than {MAX_SHARDS:_}: use N up to the number of tasks"
        )
    if count < 1 or not 0 <= index < count:
        raise ConfigError(
            f"{shorten(origin)}: shard {_digits(index)}/{count} is out of range: use I/N with 0 <= I < N (N at least 1)"
        )
    return Shard(index, count, origin)


def _digits(n: int) -> str:
    text = str(n)
    return text if len(text) <= 12 else f"a {len(text)}-digit number"


def _int(env: Mapping[str, str], name: str) -> int:
    try:
        return int(env[name])
    except ValueError:
        raise ConfigError(
            f"{name}={shorten(repr(env[name]))} is not an integer: fix the job script or pass --shard I/N"
        ) from None


def from_env(env: Mapping[str, str] | None = None) -> Shard | None:
    """The shard a SLURM array task or a Kubernetes Indexed Job pod is, or None outside both."""
    env = os.environ if env is None else env
    if "SLURM_ARRAY_TASK_ID" in env:
        if "SLURM_ARRAY_TASK_COUNT" not in env:
            raise ConfigError("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not: pass --shard I/N")
        first = _int(env, "SLURM_ARRAY_TASK_MIN") if "SLURM_ARRAY_TASK_MIN" in env else 0
        step = _int(env, "SLURM_ARRAY_TASK_STEP") if "SLURM_ARRAY_TASK_STEP" in env else 1
        offset = _int(env, "SLURM_ARRAY_TASK_ID") - first
        if step < 1 or offset % step:
            raise ConfigError(
                f"SLURM array task {env['SLURM_ARRAY_TASK_ID']} is not on the array's MIN + k*STEP grid: "
                "use a plain range (--array=0-N) or pass --shard I/N"
            )
        return _checked(
            offset // step,
            _int(env, "SLURM_ARRAY_TASK_COUNT"),
            f"SLURM_ARRAY_TASK_ID={env['SLURM_ARRAY_TASK_ID']} of SLURM_ARRAY_TASK_COUNT={env['SLURM_ARRAY_TASK_COUNT']}",
        )
    if "JOB_COMPLETION_INDEX" in env:
        if SHARD_COUNT_ENV not in env:
            raise ConfigError(
                f"JOB_COMPLETION_INDEX is set but {SHARD_COUNT_ENV} is not: set it to the Job's completions, or pass --shard I/N"
            )
        return _checked(
            _int(env, "JOB_COMPLETION_INDEX"),
            _int(env, SHARD_COUNT_ENV),
            f"JOB_COMPLETION_INDEX={env['JOB_COMPLETION_INDEX']} of {SHARD_COUNT_ENV}={env[SHARD_COUNT_ENV]}",
        )
    return None


def resolve_shard(explicit: str | None, env: Mapping[str, str] | None = None) -> Shard | None:
    """`--shard` wins over the scheduler's variables."""
    return parse_shard(explicit) if explicit is not None else from_env(env)


def partition(items: Sequence[tuple[str, float]], n: int) -> list[list[str]]:
    """Greedy LPT: (id, cost) pairs into n bins of ids; deterministic (cost desc, id asc; least-loaded bin, lowest index)."""
    if n < 1:
        raise ValueError("n must be at least 1")
    loads = [0.0] * n
    bins: list[list[str]] = [[] for _ in range(n)]
    for key, c in sorted(items, key=lambda kv: (-kv[1], kv[0])):
        b = min(range(n), key=lambda k: (loads[k], k))
        bins[b].append(key)
        loads[b] += c
    return bins


def costs(specs: list) -> dict[str, float]:
    """id -> estimated GMACs per image (models.cost.estimate)."""
    from .models.cost import estimate

    return {s.id: estimate(s).gmacs for s in specs}


def select(specs: list, shard: Shard | None, cost: Mapping[str, float] | None = None) -> list:
    """This shard's specs, in the order given; all of them without a shard."""
    if shard is None or shard.count == 1:
        return list(specs)
    cost = costs(specs) if cost is None else cost
    mine = set(partition([(s.id, cost[s.id]) for s in specs], shard.count)[shard.index])
    return [s for s in specs if s.id in mine]


def plan(cfg) -> list:
    """The expanded model list of `cfg`, cut to its shard; says on stderr which shard this is."""
    from . import models

    specs = models.expand(cfg.models)  # unknown names fail here, before any work (exit 2)
    shard = resolve_shard(getattr(cfg, "shard", None))
    if shard is None:
        return specs
    cost = costs(specs)
    mine = select(specs, shard, cost)
    print(
        f"shard {shard} ({shard.origin}): {len(mine)} of {len(specs)} models, estimated "
        f"{sum(cost[s.id] for s in mine):.1f} of {sum(cost.values()):.1f} GMACs per image",
        file=sys.stderr,
        flush=True,
    )
    return mine


def dry_run(cfg) -> int:
    """`--dry-run`: the models this shard would run, one per line; loads no data and no weights."""
    for spec in plan(cfg):
        print(spec.id)
    return 0
