"""Time-budgeted timing: warm up until step times settle, then repeats of a minimum length.

The rule is `timeit.Timer.autorange`'s and pytest-benchmark's: the number of calls per timed
repeat is calibrated so that one repeat lasts at least a minimum time, and the median and spread
over repeats are reported. The warm-up ends when the median step time stops moving (with caps),
not after a fixed count. Nothing here knows about devices: a `Timer` says how long n calls took,
including the device work they queued (perf_counter around a synchronize, or CUDA events), so
CPU and GPU follow the same rule. torch is imported lazily, for the CUDA timer only.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import ConfigError

# (fn, n) -> seconds that n back-to-back calls of fn took, device work included.
Timer = Callable[[Callable[[], object], int], float]


@dataclass(frozen=True)
class Budget:
    """How long to measure. Times are seconds; `*_iters` count calls of the timed step."""

    warmup_min_iters: int  # always run this many (the first call may include compile / autotune)
    warmup_max_iters: int  # cap: stop warming up even if not settled
    warmup_max_s: float  # cap on warm-up time, checked once warmup_min_iters have run
    settle_window: int  # k: settled when the median of the last k steps ...
    settle_tol: float  # ... is within this fraction of the median of the k steps before them
    repeats: int  # timed repeats; throughput is their median
    min_repeat_s: float  # each repeat lasts at least this long ...
    min_iters: int  # ... and runs at least this many steps
    latency_budget_s: float  # batch-1 samples: as many as fit in this time ...
    latency_min_iters: int  # ... but at least this many
    latency_max_iters: int  # ... and at most this many

    def validate(self) -> Budget:
        ints = ("warmup_min_iters", "warmup_max_iters", "settle_window", "repeats", "min_iters", "latency_min_iters")
        bad = [f"{k}={getattr(self, k)}" for k in ints if getattr(self, k) < 1]
        bad += [f"{k}={getattr(self, k)}" for k in ("warmup_max_s", "min_repeat_s", "latency_budget_s") if getattr(self, k) < 0]
        if self.settle_tol <= 0:
            bad.append(f"settle_tol={self.settle_tol}")
        if self.latency_max_iters < self.latency_min_iters:
            bad.append(f"latency_max_iters={self.latency_max_iters} < latency_min_iters={self.latency_min_iters}")
        if bad:
            raise ConfigError(f"invalid timing budget ({', '.join(bad)}): counts must be >= 1, times >= 0, settle_tol > 0")
        return self

    def scaled(self, factor: float) -> Budget:
        """About `factor` times the time: more repeats of the same length, longer caps (a reference run)."""
        return replace(
            self,
            warmup_max_s=self.warmup_max_s * factor,
            repeats=max(1, round(self.repeats * factor)),
            latency_budget_s=self.latency_budget_s * factor,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# CPU: the first call is slow (oneDNN primitive creation, allocation), the following ones are steady
# within a few percent. `bench profile` of six classic models must finish within 150 s on two
# cores, so a model gets ~10-20 s: a warm-up of >= 6 steps when it settles (<= 8 s otherwise),
# 5 repeats of >= 1 s (a vgg16 or vit_b_16 step at batch 8 takes ~1-1.5 s), and >= 2 s or 20 batch-1 calls.
CPU_BUDGET = Budget(
    warmup_min_iters=2,
    warmup_max_iters=50,
    warmup_max_s=8.0,
    settle_window=3,
    settle_tol=0.05,
    repeats=5,
    min_repeat_s=1.0,
    min_iters=1,
    latency_budget_s=2.0,
    latency_min_iters=20,
    latency_max_iters=200,
)
# GPU: cuDNN autotuning and clock ramp-up need more warm-up; steps are short, so repeats of 1 s
# hold many of them (min 10, like timm's benchmark.py timing tens of steps) and latency gets the
# 100+ samples that p99 needs.
GPU_BUDGET = Budget(
    warmup_min_iters=10,
    warmup_max_iters=1000,
    warmup_max_s=20.0,
    settle_window=5,
    settle_tol=0.02,
    repeats=5,
    min_repeat_s=1.0,
    min_iters=10,
    latency_budget_s=3.0,
    latency_min_iters=100,
    latency_max_iters=1000,
)


def default_budget(device_type: str) -> Budget:
    """The budget for a device type ("cpu", "cuda", "mps")."""
    return CPU_BUDGET if device_type == "cpu" else GPU_BUDGET


# --- timers -------------------------------------------------------------------------


def wall_timer(sync: Callable[[], None] = lambda: None, clock: Callable[[], float] = time.perf_counter) -> Timer:
    """Wall-clock timer; `sync` waits for queued device work (no-op on CPU)."""

    def timer(fn: Callable[[], object], n: int) -> float:
        sync()  # earlier work must not be counted
        t0 = clock()
        for _ in range(n):
            fn()
        sync()
        return clock() - t0

    return timer


def cuda_event_timer(device: Any, cuda: Any = None) -> Timer:
    """Timer from CUDA events on the current stream; `cuda` is torch.cuda (injectable for tests)."""
    if cuda is None:
        import torch

        cuda = torch.cuda

    def timer(fn: Callable[[], object], n: int) -> float:
        stream = cuda.current_stream(device)
        start, end = cuda.Event(enable_timing=True), cuda.Event(enable_timing=True)
        cuda.synchronize(device)  # earlier work must not be counted
        start.record(stream)
        for _ in range(n):
            fn()
        end.record(stream)
        end.synchronize()
        return start.elapsed_time(end) / 1e3  # elapsed_time is in ms

    return timer


# --- the rule -----------------------------------------------------------------------


@dataclass
class Warmup:
    """What the warm-up did; `step_s` (typical step time) calibrates what follows."""

    times: list[float] = field(default_factory=list)
    settled: bool = False

    @property
    def iters(self) -> int:
        return len(self.times)

    @property
    def seconds(self) -> float:
        return sum(self.times)

    @property
    def first_s(self) -> float | None:
        return self.times[0] if self.times else None

    def step_s(self, k: int) -> float:
        # The first call (compile, autotune, allocation) is never typical once there are others.
        steady = self.times[1:] or self.times
        return statistics.median(steady[-k:])


def settled(times: Sequence[float], k: int, tol: float) -> bool:
    """True when the median of the last k times is within tol of the median of the k before."""
    if len(times) < 2 * k:
        return False
    last, before = statistics.median(times[-k:]), statistics.median(times[-2 * k : -k])
    return abs(last - before) <= tol * last


def warm_up(step: Callable[[], object], timer: Timer, budget: Budget) -> Warmup:
    """Call step until its time settles, or a cap is reached (then `settled` is False)."""
    w = Warmup()
    while True:
        w.times.append(timer(step, 1))
        if w.iters < budget.warmup_min_iters:
            continue
        if settled(w.times, budget.settle_window, budget.settle_tol):
            w.settled = True
            return w
        if w.iters >= budget.warmup_max_iters or w.seconds >= budget.warmup_max_s:
            return w


def iters_for(step_s: float, budget: Budget) -> int:
    """Steps for one repeat of at least min_repeat_s and min_iters."""
    if step_s <= 0:
        return budget.min_iters
    return max(budget.min_iters, math.ceil(budget.min_repeat_s / step_s))


@dataclass
class Repeats:
    """Timed repeats: repeat i ran iters[i] steps in seconds[i]; `discarded_s` went to repeats
    that came out shorter than min_repeat_s and were redone with more steps."""

    iters: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    discarded_s: float = 0.0

    def rates(self, per_step: float = 1.0) -> list[float]:
        """Items per second of each repeat, `per_step` items per step (the batch size)."""
        return [per_step * n / s for n, s in zip(self.iters, self.seconds, strict=True)]


# A repeat shorter than min_repeat_s is redone, at most this many times in all (so that a timer
# that reads 0 cannot loop forever), with the steps that would have lasted min_repeat_s plus 5 %:
# at least one more step, at most 10x (autorange's progression), 2x when nothing was measured.
_MAX_REDOS = 10
_REDO_MARGIN = 1.05


def _redo_iters(n: int, seconds: float, budget: Budget) -> int:
    if seconds <= 0:
        return 2 * n
    return min(10 * n, max(n + 1, math.ceil(_REDO_MARGIN * n * budget.min_repeat_s / seconds)))


def time_repeats(step: Callable[[], object], timer: Timer, budget: Budget, step_s: float) -> Repeats:
    """`budget.repeats` repeats of at least min_repeat_s and min_iters each.

    The step count comes from the warm-up's step time; a repeat that still comes out short (the
    estimate was high) does not count and is redone with more steps, as autorange does."""
    r = Repeats()
    n = iters_for(step_s, budget)
    redos = 0
    while len(r.seconds) < budget.repeats:
        s = timer(step, n)
        if s < budget.min_repeat_s and redos < _MAX_REDOS:
            redos += 1
            r.discarded_s += s
            n = _redo_iters(n, s, budget)
            continue
        r.iters.append(n)
        r.seconds.append(s)
    return r


def latency_samples(step: Callable[[], object], timer: Timer, budget: Budget, step_s: float) -> list[float]:
    """Seconds of single calls: as many as fit in latency_budget_s, within the min/max counts."""
    want = math.ceil(budget.latency_budget_s / step_s) if step_s > 0 else budget.latency_max_iters
    n = min(budget.latency_max_iters, max(budget.latency_min_iters, want))
    return [timer(step, 1) for _ in range(n)]


def percentiles(values: Sequence[float], qs: Sequence[float]) -> list[float]:
    """Linearly interpolated percentiles (numpy's default method)."""
    return [float(v) for v in np.percentile(np.asarray(values, dtype=float), qs)]
