"""The time-budget rule with scripted timers: deterministic, nothing is actually timed."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from dataclasses import fields, replace

import pytest

from bench.errors import ConfigError
from bench.measure import timing
from bench.measure.timing import CPU_BUDGET, GPU_BUDGET, Budget, Repeats


class FakeTimer:
    """Timer whose k-th call of the step (k = 0, 1, ...) takes durations(k) seconds.

    It really calls the step, so call counts are observable; `timings` records n per timing."""

    def __init__(self, durations: Callable[[int], float]) -> None:
        self.durations = durations
        self.calls = 0
        self.timings: list[int] = []

    def __call__(self, fn: Callable[[], object], n: int) -> float:
        total = 0.0
        for _ in range(n):
            fn()
            total += self.durations(self.calls)
            self.calls += 1
        self.timings.append(n)
        return total


# Caps out of the way unless a test sets them.
B = Budget(
    warmup_min_iters=2,
    warmup_max_iters=1000,
    warmup_max_s=1e9,
    settle_window=3,
    settle_tol=0.05,
    repeats=5,
    min_repeat_s=1.0,
    min_iters=1,
    latency_budget_s=2.0,
    latency_min_iters=5,
    latency_max_iters=50,
)


def _noop() -> None:
    pass


# --- warm-up ---------------------------------------------------------------------------


def test_settled_compares_medians_of_consecutive_windows() -> None:
    assert timing.settled([10, 2, 2, 2, 2, 2], 3, 0.05)  # medians 2 (10, 2, 2) and 2
    assert not timing.settled([10, 2, 2, 2, 2], 3, 0.05)  # fewer than 2k times
    assert not timing.settled([4, 3, 2, 2, 2, 2], 3, 0.05)  # medians 3 and 2: 50 % apart
    assert timing.settled([2.1, 2.0, 2.0, 2.0, 2.0, 2.06], 3, 0.05)  # 2.0 vs 2.0
    assert not timing.settled([1.0, 1.0, 1.0, 1.1, 1.1, 1.1], 3, 0.05)  # 1.0 vs 1.1: 9.1 % of 1.1
    assert timing.settled([10, 10, 10, 2, 2, 2, 2, 2, 2], 3, 0.05)  # only the k times before the last k count
    assert timing.settled([1.25, 1.0], 1, 0.25)  # exactly tol apart (0.25 = 0.25 x 1.0, exact in binary) is settled
    assert not timing.settled([1.25, 1.0], 1, 0.24)


def test_warmup_stops_when_times_settle() -> None:
    timer = FakeTimer(lambda k: 5.0 if k == 0 else 1.0)  # a slow first call, then steady
    w = timing.warm_up(_noop, timer, B)
    assert (w.iters, w.settled, w.first_s, w.seconds) == (6, True, 5.0, 10.0)
    assert w.step_s(3) == 1.0
    assert timer.timings == [1] * 6  # every warm-up step is timed on its own


def test_warmup_time_cap_when_never_settled() -> None:
    timer = FakeTimer(lambda k: 1.0 if k % 2 == 0 else 2.0)  # medians alternate 1, 2: never settle
    w = timing.warm_up(_noop, timer, replace(B, warmup_max_s=7.5))
    # cumulative 1, 3, 4, 6, 7, 9: the sixth call passes 7.5 s
    assert (w.iters, w.settled, w.seconds) == (6, False, 9.0)


def test_warmup_time_cap_reached_exactly_ends_it() -> None:
    timer = FakeTimer(lambda k: 1.0 if k % 2 == 0 else 2.0)
    w = timing.warm_up(_noop, timer, replace(B, warmup_max_s=7.0))
    assert (w.iters, w.seconds) == (5, 7.0)  # cumulative 1, 3, 4, 6, 7: the cap is reached, not passed


def test_warmup_iteration_cap() -> None:
    timer = FakeTimer(lambda k: 0.8**k)  # 20 % faster every step: never within 5 %
    w = timing.warm_up(_noop, timer, replace(B, warmup_max_iters=12))
    assert (w.iters, w.settled) == (12, False)


def test_warmup_runs_min_iters_even_past_the_time_cap() -> None:
    # First call = compilation (100 s): the cap must not end warm-up on it, and the step time
    # that calibrates the repeats must not include it.
    timer = FakeTimer(lambda k: 100.0 if k == 0 else 0.5)
    w = timing.warm_up(_noop, timer, replace(B, warmup_min_iters=2, warmup_max_s=5.0))
    assert (w.iters, w.settled, w.first_s) == (2, False, 100.0)
    assert w.step_s(3) == 0.5


# --- repeats ---------------------------------------------------------------------------


@pytest.mark.parametrize(("step_s", "min_repeat_s", "min_iters", "expected"), [
    (0.25, 1.0, 1, 4),  # 4 x 0.25 s = 1 s
    (0.3, 1.0, 1, 4),  # 3 steps would be 0.9 s
    (2.0, 1.0, 1, 1),  # one step already lasts long enough
    (0.25, 1.0, 10, 10),  # the iteration minimum wins
    (0.0, 1.0, 3, 3),  # a timer that reads 0: the minimum, not a division by zero
])  # fmt: skip
def test_iters_per_repeat(step_s: float, min_repeat_s: float, min_iters: int, expected: int) -> None:
    assert timing.iters_for(step_s, replace(B, min_repeat_s=min_repeat_s, min_iters=min_iters)) == expected


def test_repeats_use_the_calibrated_step_count() -> None:
    timer = FakeTimer(lambda k: 0.25)
    r = timing.time_repeats(_noop, timer, B, step_s=0.25)
    assert r.iters == [4] * 5 and r.seconds == [1.0] * 5 and r.discarded_s == 0
    assert timer.timings == [4] * 5 and timer.calls == 20


def test_short_repeat_is_redone_with_more_steps() -> None:
    # Warm-up said 0.25 s a step, the steps now take 0.05 s: 4 steps last 0.2 s < 1 s, so that
    # repeat is discarded and redone with ceil(1.05 x 1 s / 0.05 s) = 21 steps (within 10x of 4).
    timer = FakeTimer(lambda k: 0.05)
    r = timing.time_repeats(_noop, timer, B, step_s=0.25)
    assert timer.timings == [4] + [21] * 5
    assert r.iters == [21] * 5 and r.seconds == pytest.approx([1.05] * 5)
    assert r.discarded_s == pytest.approx(0.2)


def test_nearly_long_enough_repeat_costs_one_redo() -> None:
    # Synchronised warm-up steps (0.1 s) overstate pipelined ones (0.099 s): 10 steps last 0.99 s.
    timer = FakeTimer(lambda k: 0.099)
    r = timing.time_repeats(_noop, timer, B, step_s=0.1)
    assert timer.timings == [10] + [11] * 5  # ceil(1.05 x 10 x 1 / 0.99) = 11, not 2x
    assert r.discarded_s == pytest.approx(0.99)


def test_redo_scales_with_the_minimum_repeat_time() -> None:
    # min_repeat_s 0.5: warm-up 0.1 s/step gives 5 steps; they take 0.02 s (0.1 s in all, short), so the redo
    # runs ceil(1.05 x 5 x 0.5 / 0.1) = 27 steps = 0.54 s >= 0.5 s
    timer = FakeTimer(lambda k: 0.02)
    r = timing.time_repeats(_noop, timer, replace(B, min_repeat_s=0.5, repeats=2), step_s=0.1)
    assert timer.timings == [5, 27, 27] and r.seconds == pytest.approx([0.54, 0.54])


def test_redo_grows_at_most_tenfold() -> None:
    timer = FakeTimer(lambda k: 0.001)
    r = timing.time_repeats(_noop, timer, replace(B, repeats=1), step_s=1.0)
    assert timer.timings == [1, 10, 100, 1000]  # 0.001, 0.01, 0.1 s are short; 1 s counts
    assert r.discarded_s == pytest.approx(0.111)  # every discarded repeat counts


def test_redo_is_bounded_when_the_timer_reads_zero() -> None:
    timer = FakeTimer(lambda k: 0.0)
    r = timing.time_repeats(_noop, timer, replace(B, repeats=2), step_s=0.0)
    assert timer.timings == [2**i for i in range(10)] + [1024, 1024]  # 10 doublings, then counted
    assert r.iters == [1024, 1024]


def test_rates_multiply_by_items_per_step() -> None:
    r = Repeats(iters=[4, 10], seconds=[2.0, 4.0])
    assert r.rates(per_step=8) == [16.0, 20.0]  # 8 images x 4 steps / 2 s; 8 x 10 / 4
    assert r.rates() == [2.0, 2.5]


# --- latency and percentiles ----------------------------------------------------------------


@pytest.mark.parametrize(("step_s", "expected"), [(0.1, 20), (1.0, 5), (0.001, 50), (0.0, 50)])
def test_latency_sample_count(step_s: float, expected: int) -> None:
    # 2 s budget, at least 5 and at most 50 samples
    timer = FakeTimer(lambda k: step_s)
    samples = timing.latency_samples(_noop, timer, B, step_s)
    assert len(samples) == expected and timer.timings == [1] * expected


def test_percentiles_hand_computed() -> None:
    values = [float(v) for v in range(100, 0, -1)]  # 1..100, unsorted
    # linear interpolation at position q/100 * (n - 1): p50 -> 49.5 -> 50.5; p95 -> 94.05 -> 95.05
    assert timing.percentiles(values, [0, 50, 95, 99, 100]) == pytest.approx([1.0, 50.5, 95.05, 99.01, 100.0])
    # The same rule implemented independently by the standard library.
    q = statistics.quantiles(values, n=100, method="inclusive")
    assert timing.percentiles(values, [25, 95]) == pytest.approx([q[24], q[94]])
    assert timing.percentiles([3.0, 1.0, 2.0, 4.0], [50]) == [2.5]


# --- timers ----------------------------------------------------------------------------------


def test_wall_timer_syncs_around_the_calls() -> None:
    log: list[str] = []
    ticks = iter([10.0, 12.5])

    def clock() -> float:
        log.append("clock")
        return next(ticks)

    timer = timing.wall_timer(sync=lambda: log.append("sync"), clock=clock)
    assert timer(lambda: log.append("call"), 3) == 2.5
    assert log == ["sync", "clock", "call", "call", "call", "sync", "clock"]


class _FakeCuda:
    """torch.cuda stand-in: records the order of synchronisations, event records and calls."""

    def __init__(self, log: list[str], elapsed_ms: float) -> None:
        self.log = log
        self.elapsed_ms = elapsed_ms
        self.events = 0
        cuda = self

        class Event:
            def __init__(self, enable_timing: bool = False) -> None:
                assert enable_timing
                self.name = "start" if cuda.events == 0 else "end"
                cuda.events += 1

            def record(self, stream: object) -> None:
                assert stream == "stream-of-cuda:0"
                cuda.log.append(f"record {self.name}")

            def synchronize(self) -> None:
                cuda.log.append(f"wait {self.name}")

            def elapsed_time(self, other: Event) -> float:
                return cuda.elapsed_ms

        self.Event = Event

    def current_stream(self, device: object) -> str:
        return f"stream-of-{device}"

    def synchronize(self, device: object) -> None:
        self.log.append(f"synchronize {device}")


def test_cuda_event_timer_records_events_around_the_calls() -> None:
    log: list[str] = []
    timer = timing.cuda_event_timer("cuda:0", cuda=_FakeCuda(log, elapsed_ms=250.0))
    assert timer(lambda: log.append("call"), 2) == 0.25  # ms -> s
    assert log == ["synchronize cuda:0", "record start", "call", "call", "record end", "wait end"]


# --- budgets ---------------------------------------------------------------------------------


def test_default_budgets() -> None:
    assert timing.default_budget("cpu") is CPU_BUDGET
    assert timing.default_budget("cuda") is GPU_BUDGET and timing.default_budget("mps") is GPU_BUDGET
    # GPU: longer warm-up (autotuning, clocks), and enough latency samples for a p99.
    assert GPU_BUDGET.warmup_min_iters > CPU_BUDGET.warmup_min_iters and GPU_BUDGET.latency_min_iters >= 100
    assert CPU_BUDGET.validate() is CPU_BUDGET and GPU_BUDGET.validate() is GPU_BUDGET


def test_scaled_budget() -> None:
    long = CPU_BUDGET.scaled(4)
    assert (long.repeats, long.min_repeat_s, long.warmup_max_s, long.latency_budget_s) == (20, 1.0, 32.0, 8.0)
    assert long.settle_window == CPU_BUDGET.settle_window and long.min_iters == CPU_BUDGET.min_iters


@pytest.mark.parametrize("bad", [
    dict(repeats=0), dict(min_iters=0), dict(settle_window=0), dict(warmup_min_iters=0), dict(settle_tol=0.0),
    dict(min_repeat_s=-1.0), dict(latency_min_iters=10, latency_max_iters=5),
])  # fmt: skip
def test_invalid_budget_rejected(bad: dict) -> None:
    with pytest.raises(ConfigError, match="invalid timing budget"):
        replace(CPU_BUDGET, **bad).validate()


def test_budget_is_json_ready() -> None:
    d = CPU_BUDGET.to_dict()
    assert json.loads(json.dumps(d)) == d and set(d) == {f.name for f in fields(Budget)}
    assert (d["repeats"], d["min_repeat_s"], d["settle_window"]) == (5, 1.0, 3)
