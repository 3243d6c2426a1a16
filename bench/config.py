"""RunConfig: everything one `bench run` needs, validated before any model is loaded.

Each field declares its command-line flag next to it (`metadata=flag(...)`): name, help, choices,
how text becomes a value (`parse`) and what a valid value is (`check`). The `run` parser is
generated from these declarations (cli.add_flags), and `RunConfig(...)` runs the same checks, so
a value is judged the same way from the command line and from Python. Adding an option is one
field here:

    seed: int = field(default=0, metadata=flag("--seed", parse=integer, check=at_least(0), help="..."))
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .data import datasets
from .data.transforms import POLICIES
from .errors import ConfigError, LabelSpaceError, shorten
from .measure.device import PRECISIONS

DEVICES = ("auto", "cpu", "cuda", "mps")
DATA_PATHS = ("auto", "cpu", "gpu")
INTERPOLATIONS = ("bilinear", "bicubic", "nearest")
FLAGS = "flags"  # the field-metadata key that holds a field's Flag declarations


# --- how a flag is declared -----------------------------------------------------------------------


@dataclass(frozen=True)
class Flag:
    """The command-line form of one config field (or of one key of a dict field).

    `parse` turns the text into a value and `check` judges a value; both raise ValueError with
    the reason, which becomes "FLAG VALUE: reason" (exit 2). `action` is "store_true",
    "store_false" or "bool" (--x / --no-x, unset = None). `key` names the entry a flag sets in a
    dict-valued field (the transform overrides).
    """

    names: tuple[str, ...]
    help: str | None = None
    parse: Callable[[str], Any] | None = None
    check: Callable[[Any], None] | None = None
    choices: Sequence[str] | Callable[[], Sequence[str]] | None = None
    action: str | None = None
    key: str | None = None
    metavar: str | None = None
    required: bool = False

    @property
    def name(self) -> str:
        return self.names[0]

    def options(self) -> Sequence[str] | None:
        return self.choices() if callable(self.choices) else self.choices

    def convert(self, text: str) -> Any:
        """Text from the command line -> a checked value (argparse's `type=`)."""
        try:
            value = self.parse(text) if self.parse else text
        except ValueError as e:
            raise ConfigError(f"{self.name} {shorten(text)}: {e}") from None
        self.validate(value, text)
        return value

    def validate(self, value: Any, text: str | None = None) -> None:
        """ConfigError "FLAG VALUE: reason" unless `value` is one of the choices and passes the check."""
        shown = shorten(_show(value) if text is None else text)
        options = self.options()
        if options is not None and value not in options:
            raise ConfigError(f"{self.name} {shown}: use one of {', '.join(options)}")
        if self.check is not None:
            try:
                self.check(value)
            except ValueError as e:
                raise ConfigError(f"{self.name} {shown}: {e}") from None


def flag(*names: str, **kw: Any) -> dict[str, Any]:
    """Field metadata: the field is set by this flag."""
    return {FLAGS: (Flag(names, **kw),)}


def flags(*declared: Flag) -> dict[str, Any]:
    """Field metadata for a dict field set by several flags, one key each."""
    return {FLAGS: declared}


def declared_flags(cls: type) -> list[tuple[Any, Flag]]:
    """(dataclass field, Flag) for every flag `cls` declares, in field order."""
    return [(f, fl) for f in fields(cls) for fl in f.metadata.get(FLAGS, ())]


def _show(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value)


# --- parsers (text -> value) and checks (value -> ok), each raising ValueError(reason) ----------------


def integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError("expected a whole number") from None


def number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError("expected a number") from None


def names_list(text: str) -> list[str]:
    return [m for m in (s.strip() for s in text.split(",")) if m]


def triple(text: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise ValueError("expected 3 comma-separated numbers, e.g. 0.485,0.456,0.406") from None
    if len(values) != 3:
        raise ValueError("expected 3 comma-separated numbers, e.g. 0.485,0.456,0.406")
    return values


def at_least(low: int, most: int | None = None) -> Callable[[Any], None]:
    """A whole number >= low (and <= most): a bound at parse time, not an overflow deep inside a run."""

    def check(value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"must be a whole number of at least {low}")
        if most is not None and value > most:
            raise ValueError(f"must be a whole number from {low} to {most:,}".replace(",", "_"))

    return check


MAX_BATCH = 1 << 16  # no accelerator holds a larger batch of ImageNet inputs; the OOM back-off halves from it
MAX_WORKERS = 1024


def non_negative(value: Any) -> None:
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError("must be a finite number of at least 0")


def positive(value: Any) -> None:
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError("must be a finite number above 0")


MIN_CROP_PCT = 0.01  # below it the resize before the crop is > 100x the input size (1e-300 overflows)


def fraction(value: Any) -> None:
    if not isinstance(value, (int, float)) or not MIN_CROP_PCT <= value <= 1:  # False for nan too
        raise ValueError(f"use a fraction in [{MIN_CROP_PCT}, 1], e.g. 0.875 (a 224 crop of the image resized to 256)")


def finite_triple(value: Any) -> None:
    if len(value) != 3 or not all(math.isfinite(v) for v in value):
        raise ValueError("expected 3 finite numbers, e.g. 0.485,0.456,0.406")


def positive_triple(value: Any) -> None:
    if len(value) != 3 or not all(math.isfinite(v) and v > 0 for v in value):
        raise ValueError("each value divides the pixels, so it must be a positive number, e.g. 0.229,0.224,0.225")


def non_empty(value: Any) -> None:
    if not value:
        raise ValueError("no models given: pass NAME[,NAME...] (see `bench list`)")


def device_name(value: Any) -> None:
    if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", str(value)):
        raise ValueError(f"use one of {', '.join(DEVICES)} (or cuda:N)")


def weights_source(value: Any) -> None:
    if value in ("pretrained", "random"):
        return
    p = Path(value).expanduser()
    if p.is_dir():
        raise ValueError("is a directory, pass a file (.pth/.pt/.safetensors), pretrained or random")
    if not p.exists():
        raise ValueError("no such file: pass pretrained, random or a checkpoint file (.pth/.pt/.safetensors)")


def not_a_file(value: Any) -> None:
    """A folder to write to: one that exists, or a path where one can be created."""
    from .errors import folder_problem

    problem = folder_problem(Path(value).expanduser())
    if problem not in (None, "does not exist"):
        raise ValueError(f"{problem}: pass a folder (it is created when missing)")


def user_path(text: str) -> str:
    """A path flag's text with `~` expanded (a shell leaves `--classes=~/file` alone): expanded once, here."""
    return str(Path(text).expanduser()) if text.startswith("~") else text


def label_space_ref(value: Any) -> None:
    """A label-space name, or a file of one wnid per line (labels.from_file checks each line)."""
    from .data import labels

    p = Path(value).expanduser()
    if p.is_dir():
        raise ValueError("is a directory, pass a file with one wnid per line, or a name (imagenet-1k, tiny-imagenet, ...)")
    if not p.is_file() and (p.suffix or "/" in str(value) or "\\" in str(value)):
        raise ValueError("no such file: pass a file with one wnid per line, or a name (imagenet-1k, tiny-imagenet, ...)")
    try:
        labels.named(str(p) if p.is_file() else value)
    except LabelSpaceError as e:
        raise ValueError(str(e)) from None


# --- the run configuration ----------------------------------------------------------------------------


def shard_spec(value: Any) -> None:
    """`I/N` with 0 <= I < N (bench.sweep reads it; the environment variables are checked there)."""
    import re

    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(value))
    if not m or not 0 <= int(m.group(1)) < int(m.group(2)):
        raise ValueError("expected I/N with 0 <= I < N, e.g. --shard 0/4")
    if int(m.group(2)) > MAX_SHARDS:
        raise ValueError(f"N is more than {MAX_SHARDS:_} shards: use N up to the number of tasks of the array job")


MAX_SHARDS = 100_000  # more shards than any array job runs; a larger N is a typo, not a plan


PATH_FIELDS = ("data_dir", "weights", "label_space", "classes", "results_dir")  # fields that may name a file or folder


@dataclass
class RunConfig:
    """One run: models x one dataset split, with how to evaluate and measure them."""

    models: list[str] = field(
        metadata=flag(
            "--models",
            required=True,
            parse=names_list,
            check=non_empty,
            metavar="NAMES",
            help="comma-separated names or globs: alexnet, tv:resnet50.IMAGENET1K_V2, timm:resnet50.a1_in1k, 'resnet*' (see `bench list`)",
        )
    )
    dataset: str = field(default="tiny-imagenet", metadata=flag("--dataset", choices=datasets.names, help="which dataset"))
    split: str | None = field(
        default=None,
        metadata=flag(
            "--split",
            help="dataset split (default: the dataset's valid / validation / val); a copy without it exits 2 listing its splits",
        ),
    )
    data_dir: str | None = field(
        default=None,
        metadata=flag(
            "--data-dir",
            metavar="DIR",
            help="local copy: HF parquet shards (with or without README.md), a save_to_disk folder, Stanford tiny-imagenet-200/, "
            "or <split>/<wnid>/ folders",
        ),
    )
    limit: int | None = field(
        default=None,
        metadata=flag(
            "--limit",
            parse=integer,
            check=at_least(1),
            metavar="N",
            help="evaluate a seeded class-stratified sample of N images (round-robin over classes; the same on every machine)",
        ),
    )
    batch_size: int | None = field(
        default=None,
        metadata=flag(
            "--batch-size",
            parse=integer,
            check=at_least(1, MAX_BATCH),
            metavar="B",
            help="default 256 on CUDA, 32 on CPU (halved on out-of-memory)",
        ),
    )
    workers: int | None = field(
        default=None,
        metadata=flag(
            "--workers",
            parse=integer,
            check=at_least(0, MAX_WORKERS),
            metavar="W",
            help="data loader workers (default from the core count)",
        ),
    )
    data_path: str = field(
        default="auto",
        metadata=flag(
            "--data-path",
            choices=DATA_PATHS,
            help="decode + resize in CPU workers as the libraries do (auto), or JPEG decode on the GPU (opt-in, faster, not bit-exact)",
        ),
    )
    device: str = field(default="auto", metadata=flag("--device", check=device_name, help="auto|cpu|cuda|cuda:N|mps"))
    precision: str = field(default="fp32", metadata=flag("--precision", choices=PRECISIONS))
    channels_last: bool | None = field(
        default=None,
        metadata=flag(
            "--channels-last", action="bool", help="NHWC memory format (default: on for convolutional networks, off otherwise)"
        ),
    )
    compile: bool = field(
        default=False,
        metadata=flag("--compile", action="store_true", help="torch.compile the model for the throughput measurement"),
    )
    tf32: bool = field(
        default=False,  # measure.device.DEFAULT_TF32: "fp32" means IEEE fp32 for convolutions and matmuls alike
        metadata=flag(
            "--tf32", action="store_true", help="allow TF32 for CUDA matmuls and convolutions (default: off, IEEE fp32)"
        ),
    )
    weights: str = field(
        default="pretrained",
        metadata=flag(
            "--weights", check=weights_source, help="pretrained (hub or cache) | random | PATH (.pth/.pt/.safetensors)"
        ),
    )
    transform: str = field(
        default="model",
        metadata=flag(
            "--preprocessing",
            "--protocol",  # the old name, kept working
            choices=POLICIES,
            help="the model's own eval transform, or fixed Resize 256 / CenterCrop 224 / ImageNet mean-std for every model",
        ),
    )
    transform_overrides: dict[str, Any] = field(
        default_factory=dict,
        metadata=flags(
            Flag(
                ("--mean",),
                key="mean",
                parse=triple,
                check=finite_triple,
                help="override the normalisation mean, e.g. 0.485,0.456,0.406",
            ),
            Flag(
                ("--std",),
                key="std",
                parse=triple,
                check=positive_triple,
                help="override the normalisation std, e.g. 0.229,0.224,0.225",
            ),
            Flag(
                ("--crop-pct",), key="crop_pct", parse=number, check=fraction, help="override the centre-crop fraction, in (0, 1]"
            ),
            Flag(("--interpolation",), key="interpolation", choices=INTERPOLATIONS, help="override the resize interpolation"),
        ),
    )
    use_train_size: bool = field(
        default=False,
        metadata=flag(
            "--use-train-size",
            action="store_true",
            help="timm: evaluate at the train input size, not the test size its reported figure was measured at (as validate.py)",
        ),
    )
    label_space: str | None = field(
        default=None,
        metadata=flag(
            "--label-space",
            check=label_space_ref,
            help="classes of a head that is not ImageNet-1k: tiny-imagenet, imagenet-22k, ... or a file with one wnid per line",
        ),
    )
    classes: str | None = field(
        default=None,
        metadata=flag(
            "--classes",
            check=label_space_ref,
            help="evaluate only the samples of these classes, e.g. imagenet-1k val on tiny-imagenet's 200",
        ),
    )
    accuracy: bool = field(
        default=True, metadata=flag("--no-accuracy", action="store_false", help="efficiency only (no data needed)")
    )
    efficiency: bool = field(default=True, metadata=flag("--no-efficiency", action="store_false", help="accuracy only"))
    corruptions: str | None = field(
        default=None,
        metadata=flag(
            "--corruptions",
            metavar="all|NAME[:SEVERITY],...",
            help="also evaluate under ImageNet-C corruptions (applied to the centre crop, seeded per image): error per corruption "
            "and severity, mCE and relative mCE against AlexNet, e.g. all or gaussian_noise:3,fog",
        ),
    )
    results_dir: str = field(default="results", metadata=flag("--results-dir", check=not_a_file, metavar="DIR"))
    force: bool = field(default=False, metadata=flag("--force", action="store_true", help="rerun results that already exist"))
    progress: bool = field(default=True, metadata=flag("--no-progress", action="store_false", help="no progress bar"))
    streaming: bool = field(
        default=False,
        metadata=flag(
            "--streaming",
            action="store_true",
            help="evaluate from an HF IterableDataset: no local copy of the split (bench.data.streaming)",
        ),
    )
    shard: str | None = field(
        default=None,
        metadata=flag(
            "--shard",
            check=shard_spec,
            metavar="I/N",
            help="run part I of N of the model list (default: from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX; bench.sweep)",
        ),
    )
    dry_run: bool = field(
        default=False,
        metadata=flag("--dry-run", action="store_true", help="print the models this shard would run, one per line, and exit"),
    )
    json: bool = field(
        default=False,
        metadata=flag(
            "--json", action="store_true", help="print the end-of-run summary as JSON on stdout (progress stays on stderr)"
        ),
    )

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Every declared check, then the rules that involve two fields; ConfigError (exit 2) naming the fix."""
        for name in PATH_FIELDS:  # `~` expanded once, here: the checks, the keys and the run all see one path
            value = getattr(self, name)
            if isinstance(value, str) and value.startswith("~"):
                setattr(self, name, str(Path(value).expanduser()))
        for f, fl in declared_flags(type(self)):
            value = getattr(self, f.name)
            if fl.key is not None:
                value = value.get(fl.key) if isinstance(value, dict) else None
            if value is not None:
                fl.validate(value)
        datasets.canonical_split(self.dataset, self.split)
        if self.data_dir is not None:
            datasets.check_root(self.dataset, self.data_dir)
        if self.data_path == "gpu" and self.device == "cpu":
            raise ConfigError("--data-path gpu needs a CUDA device: use --device cuda, or --data-path cpu")
        if not self.accuracy and not self.efficiency:
            raise ConfigError("--no-accuracy and --no-efficiency together leave nothing to measure")
        if self.corruptions is not None:
            from .measure.corruptions import canonical

            if not self.accuracy:
                raise ConfigError("--corruptions measures accuracy under corruption: drop --no-accuracy")
            if self.streaming:
                raise ConfigError("--corruptions runs on the materialised data path: drop --streaming for a corruption run")
            self.corruptions = canonical(self.corruptions)  # one spelling per set: it is part of the result's identity

    @property
    def dataset_key(self) -> str:
        """The dataset name in result keys: `imagenet-1k@tiny-imagenet` when restricted with --classes."""
        return f"{self.dataset}@{Path(self.classes).stem}" if self.classes else self.dataset

    def resolved_device(self) -> str:
        """`auto` -> cuda when present, else mps, else cpu; an explicit device that is not here is an error (exit 2)."""
        import torch

        mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
        if self.device == "auto":
            return "cuda" if torch.cuda.is_available() else "mps" if mps else "cpu"
        if self.device.startswith("cuda"):
            if not torch.cuda.is_available():
                raise ConfigError("--device cuda but CUDA is not available here: use --device cpu or auto")
            index = int(self.device.partition(":")[2] or 0)
            if index >= torch.cuda.device_count():
                raise ConfigError(
                    f"--device {self.device}: this machine has {torch.cuda.device_count()} CUDA device(s): use cuda:0.."
                )
        if self.device == "mps" and not mps:
            raise ConfigError("--device mps but MPS is not available here: use --device cpu or auto")
        return self.device

    def eval_batch_size(self, device: str) -> int:
        from .measure.device import default_batch_size

        return self.batch_size or default_batch_size(device, "eval")
