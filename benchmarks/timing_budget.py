"""Is the default time budget long enough? Default-budget vs long-budget throughput, per model.

For each model (random init, no downloads), runs `bench.measure.efficiency.measure` with the
device's default budget and with a budget `--long-scale` times longer (more repeats of the same
length), interleaved round by round (default, long, default, long, ...) so that slow drift of a
shared machine hits both alike. Prints each default run's median over the long runs' median, and
the seconds one default `measure` took (what `bench profile` spends per model, building aside).
Goal (issue 15): every ratio within 0.95-1.05, and `bench profile` of these six models on 2 CPU
cores within 150 s. Examples:

    python benchmarks/timing_budget.py --device cpu
    python benchmarks/timing_budget.py --device cuda --models resnet50,vit_b_16 --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

try:
    from bench import models as M
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench import models as M
from bench.measure.efficiency import EfficiencyConfig, measure
from bench.measure.timing import default_budget

DEFAULT_MODELS = "alexnet,resnet18,resnet50,vgg16,vit_b_16,convnext_tiny"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=DEFAULT_MODELS)
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=int, help="default: measure's (8 on CPU, 256 on GPU)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "bf16"])
    p.add_argument("--rounds", type=int, default=3, help="default/long pairs per model")
    p.add_argument("--long-scale", type=float, default=5.0, help="the long run's budget, in default budgets")
    p.add_argument("--tolerance", type=float, default=0.05, help="allowed |ratio - 1|")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device_type = EfficiencyConfig(device=args.device).device_type()
    short = default_budget(device_type)
    # Latency is not what is compared here: the long run keeps the default latency budget.
    long = replace(short.scaled(args.long_scale), latency_budget_s=short.latency_budget_s)
    print(
        f"device {args.device} | default budget {short}\nlong budget x{args.long_scale:g}: repeats {long.repeats}, "
        f"warmup_max_s {long.warmup_max_s:g}\n",
        flush=True,
    )
    worst, total_s, lines = 0.0, 0.0, []
    started = time.perf_counter()
    for name in args.models.split(","):
        spec = M.resolve(name)
        model, _ = M.build(spec, "random")
        cfg = EfficiencyConfig(
            device=args.device, batch_size=args.batch_size, precision=args.precision, channels_last=M.prefers_channels_last(model)
        )
        defaults, longs = [], []
        for _ in range(args.rounds):
            defaults.append(measure(model, spec.input_size, replace(cfg, budget=short)))
            longs.append(measure(model, spec.input_size, replace(cfg, budget=long)))
        reference = statistics.median(r["throughput_img_s"] for r in longs)
        ratios = [r["throughput_img_s"] / reference for r in defaults]
        seconds = statistics.median(r["measure_s"] for r in defaults)
        worst = max(worst, *(abs(x - 1) for x in ratios))
        total_s += seconds
        settled = sum(r["warmup_settled"] for r in defaults)
        shorts = ", ".join(f"{r['throughput_img_s']:.1f}" for r in defaults)
        line = (
            f"{spec.id:36s} batch {defaults[0]['batch_size']:>3} | default {shorts}"
            f" img/s | long {reference:.1f} img/s | ratio {', '.join(f'{x:.3f}' for x in ratios)}"
            f" | default measure {seconds:.1f} s, warm-up settled {settled}/{args.rounds}"
        )
        print(line, flush=True)
        lines.append(line)
    verdict = "within" if worst <= args.tolerance else "NOT within"
    print(
        f"\nworst |ratio - 1| = {worst:.3f} ({verdict} {args.tolerance:g}); default measure() total {total_s:.1f} s "
        f"for {len(lines)} models (bench profile adds start-up and model building); script {time.perf_counter() - started:.0f} s"
    )
    return 0 if worst <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
