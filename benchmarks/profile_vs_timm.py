"""Cross-check `bench.measure.efficiency.measure` against a timm-benchmark.py-style timing loop.

Both run in one process on the same model, device and numerical settings, so a ratio far
from 1.0 points at the timing method (sync per step, no_grad vs inference_mode, warm-up,
median over repeats), not at the hardware. Examples:

    python benchmarks/profile_vs_timm.py --model resnet50 --device cuda --precision bf16 \
        --channels-last --batch-size 256
    python benchmarks/profile_vs_timm.py --device cpu --model resnet18 --batch-size 8
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

try:
    from bench.measure.efficiency import EfficiencyConfig, compile_static, measure
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.measure.efficiency import EfficiencyConfig, compile_static, measure

_DTYPES = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}

torch.backends.cudnn.benchmark = True  # as timm's benchmark.py sets at import


@dataclass
class TimmStyleResult:
    img_s: float
    warmup: int
    iters: int
    compiled: bool | None = None  # --compile: every timed step called a compiled graph
    dynamic: bool | None = None  # --compile: a shape-generic graph was compiled (it must not be: like for like)


def build_model(name: str) -> tuple[nn.Module, tuple[int, int, int]]:
    """Random-init model (no downloads) and its evaluation input size."""
    import torchvision

    if name in torchvision.models.list_models():
        return torchvision.models.get_model(name, weights=None), (3, 224, 224)
    import timm

    model = timm.create_model(name, pretrained=False)
    return model, tuple(model.pretrained_cfg["input_size"])  # type: ignore[return-value]


def timm_style_throughput(model: nn.Module, input_size: tuple[int, int, int], args: argparse.Namespace) -> TimmStyleResult:
    """img/s timed the way timm's benchmark.py InferenceBenchmarkRunner does it:
    no_grad, synchronize + perf_counter after every step, one wall-clock span."""
    device = torch.device(args.device)
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    model.to(device).eval().to(memory_format=fmt)
    # Compiled afresh and static, as measure() compiles: after measure() compiled batch B and batch 1, a plain
    # torch.compile would get a dynamic-shape graph (automatic dynamic shapes) and the ratio would compare kernels.
    runner, tracker = compile_static(model) if args.compile else (model, None)
    x = torch.randn((args.batch_size, *input_size), device=device).contiguous(memory_format=fmt)
    dtype = _DTYPES[args.precision]
    # Same autocast as measure(): this script compares timing methods, not dtype policies
    # (timm itself casts the model for bf16 and autocasts only for "amp").
    amp = (lambda: torch.autocast(device.type, dtype=dtype)) if dtype else contextlib.nullcontext

    def now(sync: bool = False) -> float:
        if sync and device.type == "cuda":
            torch.cuda.synchronize(device)
        elif sync and device.type == "mps":
            torch.mps.synchronize()
        return time.perf_counter()

    def step() -> None:
        with amp():
            runner(x)
        now(sync=True)

    with torch.no_grad():
        for _ in range(args.timm_warmup):
            step()
        start = now()
        for _ in range(args.timm_iters):
            step()
        elapsed = now(sync=True) - start
    model.to(memory_format=torch.contiguous_format)
    result = TimmStyleResult(args.batch_size * args.timm_iters / elapsed, args.timm_warmup, args.timm_iters)
    if tracker is not None:
        result.compiled, result.dynamic = tracker.calls >= args.timm_warmup + args.timm_iters, tracker.dynamic
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="resnet50", help="torchvision or timm name (random init)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--precision", default="fp32", choices=sorted(_DTYPES))
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--timm-warmup", type=int, default=10, help="timm benchmark.py default: 10")
    p.add_argument("--timm-iters", type=int, default=40, help="timed steps of the timm-style loop")
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="alternate both methods N times, report medians (use on shared/throttled CPUs, where speed drifts within seconds)",
    )
    return p.parse_args(argv)


def _mb(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.0f}"


def report(args: argparse.Namespace, rounds: list[tuple[dict[str, Any], TimmStyleResult]]) -> str:
    """Both figures (medians over rounds), their ratio, and per-round values if >1 round."""
    last = rounds[-1][0]
    ours = statistics.median(o["throughput_img_s"] for o, _ in rounds)
    theirs = statistics.median(t.img_s for _, t in rounds)
    backoff = f" (OOM back-off ran batch {last['batch_size']})" if last["batch_size"] != args.batch_size else ""
    lines = [
        f"model {args.model} | {last['device']} ({last['device_name']}) | {args.precision}"
        f" | channels_last={args.channels_last} | compile={args.compile} | batch {args.batch_size}{backoff}",
        *(
            [
                f"compiled (static graphs): measure {last['compiled']} ({last['compile_s']:.1f} s compile),"
                f" timm-style {rounds[-1][1].compiled} (dynamic graph: {rounds[-1][1].dynamic})"
            ]
            if args.compile
            else []
        ),
        f"bench.measure.efficiency.measure : {ours:10.1f} img/s  (median of {last['repeats']} repeats of"
        f" {'/'.join(map(str, sorted(set(last['repeat_iters']))))} iters after {last['warmup_iters']} warm-up,"
        f" {'settled' if last['warmup_settled'] else 'not settled'}; {last['throughput_timing_s']:.1f} s)",
        f"timm-style loop          : {theirs:10.1f} img/s  ({args.timm_iters} iters after"
        f" {args.timm_warmup} warm-up, sync every step)",
        f"ratio measure / timm     : {ours / theirs:10.3f}",
        f"first call (compile, autotune, allocation): {last['first_call_s']:.2f} s; warm-up peak / steady peak GPU MB:"
        f" {_mb(last['gpu_warmup_max_allocated_mb'])} / {_mb(last['gpu_max_allocated_mb'])};"
        f" NVML MB this process / whole device: {_mb(last['nvml_process_used_mb'])} / {_mb(last['nvml_device_used_mb'])}",
    ]
    if len(rounds) > 1:
        per_round = ", ".join(f"{o['throughput_img_s']:.1f}/{t.img_s:.1f}" for o, t in rounds)
        lines.append(f"per round (measure/timm) : {per_round}  -> medians above")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    model, input_size = build_model(args.model)
    cfg = EfficiencyConfig(
        device=args.device,
        batch_size=args.batch_size,
        precision=args.precision,
        channels_last=args.channels_last,
        compile=args.compile,
    )
    # Alternating (not all-of-one-then-the-other) spreads slow drift over both methods.
    rounds = [
        (measure(model, input_size, cfg), timm_style_throughput(model, input_size, args)) for _ in range(max(1, args.rounds))
    ]
    print(report(args, rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
