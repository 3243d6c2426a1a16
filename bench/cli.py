"""Command line: parse arguments into a config and call one function. Nothing testable lives here."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from .errors import BenchError

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
# Kept here (not imported from bench.datasets) so that `bench --help` imports nothing heavy; a test
# checks it matches datasets.KNOWN.
DATASETS = ("tiny-imagenet", "imagenet-1k", "imagenet-v2", "imagenet-a", "imagenet-r", "imagenet-sketch", "imagenette", "samples")


def _models(text: str) -> list[str]:
    return [m for m in (s.strip() for s in text.split(",")) if m]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench", description="Benchmark pretrained ImageNet classifiers: accuracy, cost and provenance in one run.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("run", help="evaluate and measure models on a dataset")
    r.add_argument("--models", required=True, type=_models, help="comma-separated names or globs: alexnet, tv:resnet50.IMAGENET1K_V2, timm:resnet50.a1_in1k, 'resnet*'")
    r.add_argument("--dataset", default="tiny-imagenet", choices=DATASETS)
    r.add_argument("--data-dir", help="local copy: HF parquet + README, Stanford tiny-imagenet-200/, or ImageFolder of wnid dirs")
    r.add_argument("--split", help="dataset split (default: valid / validation / val)")
    r.add_argument("--limit", type=int, help="evaluate a deterministic class-stratified subset of N images")
    r.add_argument("--batch-size", type=int, help="default 256 on CUDA, 32 on CPU (halved on out-of-memory)")
    r.add_argument("--workers", type=int, help="data loader workers (default from the core count)")
    r.add_argument("--device", default="auto", help="auto|cpu|cuda|cuda:N|mps")
    r.add_argument("--data-path", default="auto", choices=["auto", "cpu", "gpu"],
                   help="decode + resize JPEGs in CPU workers, or batched on the GPU (auto: gpu on CUDA for JPEG data)")
    r.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "bf16"])
    r.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                   help="NHWC memory format (default: on for convolutional networks, off otherwise)")
    r.add_argument("--compile", action="store_true", help="torch.compile the model for the throughput measurement")
    r.add_argument("--weights", default="pretrained", help="pretrained (hub or cache) | random | PATH (.pth/.pt/.safetensors)")
    r.add_argument("--protocol", dest="transform", default="model", choices=["model", "fixed"],
                   help="preprocessing: the model's own eval transform, or fixed Resize 256 / CenterCrop 224 / ImageNet mean-std")
    r.add_argument("--mean", help="override the normalisation mean, e.g. 0.485,0.456,0.406")
    r.add_argument("--std", help="override the normalisation std")
    r.add_argument("--crop-pct", type=float, help="override the centre-crop fraction")
    r.add_argument("--interpolation", choices=["bilinear", "bicubic", "nearest"], help="override the resize interpolation")
    r.add_argument("--label-space", help="classes of a head that is not ImageNet-1k: tiny-imagenet, imagenet-22k, ... or a file with one wnid per line")
    r.add_argument("--classes", help="evaluate only the samples of these classes, e.g. imagenet-1k val on tiny-imagenet's 200")
    r.add_argument("--no-accuracy", dest="accuracy", action="store_false", help="efficiency only (no data needed)")
    r.add_argument("--no-efficiency", dest="efficiency", action="store_false", help="accuracy only")
    r.add_argument("--corruptions", metavar="all|NAME[:SEVERITY],...",
                   help="also evaluate under ImageNet-C corruptions (applied to the centre crop, seeded per image): error per "
                        "corruption and severity, mCE and relative mCE against AlexNet, e.g. all or gaussian_noise:3,fog")
    r.add_argument("--results-dir", default="results")
    r.add_argument("--force", action="store_true", help="rerun results that already exist")
    r.add_argument("--no-progress", dest="progress", action="store_false")

    ls = sub.add_parser("list", help="models the harness can run, with source and reference top-1")
    ls.add_argument("pattern", nargs="?", help="glob, e.g. 'resnet*' or '*lite*'")
    ls.add_argument("--format", choices=["table", "tsv", "json"], default="table")

    lb = sub.add_parser("labels", help="how a dataset's classes map onto a model head (by wnid)")
    lb.add_argument("dataset", choices=DATASETS)
    lb.add_argument("--model", help="map onto this model's head (default: an ImageNet-1k head)")
    lb.add_argument("--label-space", help="the head's label space when it is not ImageNet-1k")
    lb.add_argument("--format", choices=["tsv", "json"], default="tsv")

    pr = sub.add_parser("profile", help="efficiency only: params, GMACs, img/s, latency, memory (random weights, no data)")
    pr.add_argument("--models", required=True, type=_models)
    pr.add_argument("--device", default="auto")
    pr.add_argument("--batch-size", type=int)
    pr.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "bf16"])
    pr.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                    help="NHWC memory format (default: on for convolutional networks)")
    pr.add_argument("--compile", action="store_true")
    pr.add_argument("--json", action="store_true", help="print JSON instead of a table")

    se = sub.add_parser("sensitivity", help="Δtop-1 of each model under preprocessing variants (resize backend, interpolation, "
                                            "crop_pct, train/test size) with McNemar p; writes <out>/sensitivity.md")
    se.add_argument("--models", required=True, type=_models)
    se.add_argument("--dataset", default="samples", choices=DATASETS)
    se.add_argument("--data-dir")
    se.add_argument("--split")
    se.add_argument("--limit", type=int)
    se.add_argument("--device", default="auto")
    se.add_argument("--batch-size", type=int)
    se.add_argument("--workers", type=int)
    se.add_argument("--weights", default="pretrained")
    se.add_argument("--out", default="leaderboards", help="where sensitivity.json / .md / .png go")
    se.add_argument("--json", action="store_true", help="print the reports as JSON")
    se.add_argument("--no-progress", dest="progress", action="store_false")

    le = sub.add_parser("leaderboard", help="regenerate the markdown leaderboards from results")
    le.add_argument("--results-dir", default="results")
    le.add_argument("--out", default="leaderboards")

    ck = sub.add_parser("check", help="compare results with a baseline; exit 1 when accuracy got worse")
    ck.add_argument("--baseline", required=True, help="baseline JSON (see baselines/)")
    ck.add_argument("--results-dir", default="results")
    ck.add_argument("--tolerance", type=float, default=0.1, help="allowed top-1/top-5 drop in percentage points")
    ck.add_argument("--nll-tolerance", type=float, default=0.01, help="allowed relative rise of the mean NLL (0.01 = 1%%)")
    ck.add_argument("--update", action="store_true", help="write the baseline from the current results instead of checking")
    ck.add_argument("--json", action="store_true", help="print the verdicts as JSON")

    sub.add_parser("env", help="print the environment recorded in every result")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except BenchError as e:
        print(f"bench: error: {e}", file=sys.stderr)
        return e.exit_code
    except BrokenPipeError:  # `bench labels ... | head`: the reader left, which is not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        print("bench: interrupted; finished results are kept, rerun to continue", file=sys.stderr)
        return 130


def cmd_run(args) -> int:
    from .config import RunConfig, parse_floats
    from .runner import run

    overrides = {k: v for k, v in {
        "mean": parse_floats(args.mean, 3, "--mean"), "std": parse_floats(args.std, 3, "--std"),
        "crop_pct": args.crop_pct, "interpolation": args.interpolation}.items() if v is not None}
    cfg = RunConfig(models=args.models, dataset=args.dataset, split=args.split, data_dir=args.data_dir, limit=args.limit,
                    batch_size=args.batch_size, workers=args.workers, data_path=args.data_path, device=args.device, precision=args.precision,
                    channels_last=args.channels_last, compile=args.compile, weights=args.weights, transform=args.transform,
                    transform_overrides=overrides, label_space=args.label_space, classes=args.classes, accuracy=args.accuracy,
                    efficiency=args.efficiency, results_dir=args.results_dir, force=args.force, progress=args.progress,
                    corruptions=args.corruptions)
    report = run(cfg)
    if report.is_main:
        print(report.format())
    return report.exit_code


def cmd_list(args) -> int:
    from tabulate import tabulate

    from .models import list_models

    rows = list_models(args.pattern)
    if args.format == "json":
        print(json.dumps(rows, indent=1))
    elif args.format == "tsv":
        print("model\tsource\ttop1\tparams_m")
        for r in rows:
            print(f"{r['model']}\t{r['source']}\t{_dash(r['top1'])}\t{_dash(r['params_m'])}")
    else:
        print(tabulate([[r["model"], r["source"], _dash(r["top1"]), _dash(r["params_m"])] for r in rows],
                       headers=["model", "source", "ref top-1", "params (M)"], tablefmt="simple"))
    if not rows:
        print(f"no model matches {args.pattern!r}", file=sys.stderr)
        return EXIT_FAIL
    return EXIT_OK


def _dash(v) -> str:
    return "—" if v is None else str(v)


def cmd_labels(args) -> int:
    from .data import labels as L
    from .data.datasets import info_for

    dataset_space = info_for(args.dataset).label_space()
    if args.model:
        from . import models as M

        spec = M.resolve(args.model)
        head = L.for_head(spec.num_classes or 1000, args.label_space)
    else:
        head = L.named(args.label_space) if args.label_space else L.imagenet_1k()
    projection = L.project(dataset_space, head)
    rows = projection.rows()
    if args.format == "json":
        print(json.dumps({"projection": projection.summary(), "classes": rows}, indent=1))
    else:
        print("dataset_index\twnid\tmodel_index\tname")
        for r in rows:
            print(f"{r['dataset_index']}\t{r['wnid']}\t{'' if r['model_index'] is None else r['model_index']}\t{r['name']}")
    if projection.unmapped_wnids:
        print(f"{len(projection.unmapped_wnids)} of {len(dataset_space)} classes are not in {head.name}", file=sys.stderr)
    return EXIT_OK


def cmd_profile(args) -> int:
    from .profiling import format_table, profile

    rows = profile(args.models, device=args.device, batch_size=args.batch_size, precision=args.precision,
                   channels_last=args.channels_last, compile=args.compile)
    print(json.dumps(rows, indent=1) if args.json else format_table(rows))
    return EXIT_FAIL if any(r.get("error") for r in rows) else EXIT_OK


def cmd_sensitivity(args) -> int:
    from .sensitivity import run

    reports = run(args.models, dataset=args.dataset, split=args.split, data_dir=args.data_dir, limit=args.limit, device=args.device,
                  batch_size=args.batch_size, workers=args.workers, weights=args.weights, out=args.out, progress=args.progress)
    if args.json:
        print(json.dumps(reports, indent=1))
    else:
        for r in reports:
            print(f"{r['model']} on {r['dataset']}/{r['split']} (n={r['n']}): own protocol top-1 {r['top1']}")
            for v in r["variants"]:
                figures = (f"top-1 {v['top1']}  Δ {v['delta_top1']:+.2f}  flips -{v['flips_lost']}/+{v['flips_gained']}  McNemar p {v['mcnemar_p']:.4g}"
                           if v.get("top1") is not None else f"n/a: {v['note']}")
                print(f"  {v['axis']:<15} {v['variant']:<45} {figures}")
        print(f"wrote {args.out}/sensitivity.md")
    return EXIT_OK


def cmd_leaderboard(args) -> int:
    from .report.leaderboard import regenerate

    for path in regenerate(args.results_dir, args.out):
        print(path)
    return EXIT_OK


def cmd_check(args) -> int:
    from .report import regress

    if args.update:
        path = regress.write_baseline(args.results_dir, args.baseline)
        print(f"wrote baseline {path}")
        return EXIT_OK
    report = regress.check(args.baseline, args.results_dir, tolerance=args.tolerance, nll_tolerance=args.nll_tolerance)
    print(report.to_json() if args.json else report.format())
    return report.exit_code


def cmd_env(args) -> int:
    from .measure.env import collect, format_env

    print(format_env(collect()))
    return EXIT_OK


COMMANDS = {"run": cmd_run, "list": cmd_list, "labels": cmd_labels, "profile": cmd_profile,
            "leaderboard": cmd_leaderboard, "check": cmd_check, "env": cmd_env, "sensitivity": cmd_sensitivity}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
