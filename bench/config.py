"""RunConfig: everything one `bench run` needs, validated before any model is loaded."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

PRECISIONS = ("fp32", "fp16", "bf16")
DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass
class RunConfig:
    """One run: models x one dataset split, with how to evaluate and measure them."""

    models: list[str]
    dataset: str = "tiny-imagenet"
    split: str | None = None  # None -> the dataset's default (valid / validation / val)
    data_dir: str | None = None
    limit: int | None = None
    batch_size: int | None = None  # None -> 256 on CUDA, 32 on CPU
    workers: int | None = None  # None -> from the core count
    data_path: str = "auto"  # auto | cpu | gpu: where JPEGs are decoded and resized
    device: str = "auto"
    precision: str = "fp32"
    channels_last: bool | None = None  # None: on for convolutional networks (models.prefers_channels_last)
    compile: bool = False
    weights: str = "pretrained"  # pretrained | random | PATH
    transform: str = "model"  # model | fixed
    transform_overrides: dict[str, Any] = field(default_factory=dict)  # mean, std, crop_pct, interpolation
    label_space: str | None = None  # name or file for heads that are not ImageNet-1k
    classes: str | None = None  # evaluate only the samples of these classes (a label space name or file)
    accuracy: bool = True
    efficiency: bool = True
    corruptions: str | None = None  # ImageNet-C: all | NAME[:SEVERITY],...; canonical spelling after validate()
    results_dir: str = "results"
    force: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if not self.models:
            raise ConfigError("no models given: pass --models NAME[,NAME...] (see `bench list`)")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"--precision {self.precision!r}: use one of {', '.join(PRECISIONS)}")
        if self.device.split(":")[0] not in DEVICES:
            raise ConfigError(f"--device {self.device!r}: use one of {', '.join(DEVICES)} (or cuda:N)")
        if self.limit is not None and self.limit < 1:
            raise ConfigError("--limit must be at least 1")
        if self.batch_size is not None and self.batch_size < 1:
            raise ConfigError("--batch-size must be at least 1")
        if self.data_path not in ("auto", "cpu", "gpu"):
            raise ConfigError(f"--data-path {self.data_path!r}: use auto, cpu or gpu")
        if self.data_path == "gpu" and self.device == "cpu":
            raise ConfigError("--data-path gpu needs a CUDA device: use --device cuda, or --data-path cpu")
        if self.workers is not None and self.workers < 0:
            raise ConfigError("--workers must be 0 or more")
        if self.weights not in ("pretrained", "random") and not Path(self.weights).expanduser().exists():
            raise ConfigError(f"--weights {self.weights!r} is neither pretrained, random nor an existing file")
        if not self.accuracy and not self.efficiency:
            raise ConfigError("--no-accuracy and --no-efficiency together leave nothing to measure")
        if self.corruptions is not None:
            from .measure.corruptions import canonical

            if not self.accuracy:
                raise ConfigError("--corruptions measures accuracy under corruption: drop --no-accuracy")
            self.corruptions = canonical(self.corruptions)  # one spelling per set: it is part of the result's identity

    @property
    def dataset_key(self) -> str:
        """The dataset name in result keys: `imagenet-1k@tiny-imagenet` when restricted with --classes."""
        return f"{self.dataset}@{Path(self.classes).stem}" if self.classes else self.dataset

    def resolved_device(self) -> str:
        """`auto` -> cuda when present, else mps, else cpu; an explicit cuda without CUDA is an error."""
        import torch

        if self.device == "auto":
            if torch.cuda.is_available():
                return "cuda"
            if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
                return "mps"
            return "cpu"
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError("--device cuda but CUDA is not available here: use --device cpu or auto")
        return self.device

    def eval_batch_size(self, device: str) -> int:
        return self.batch_size or (256 if device.startswith("cuda") else 32)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_floats(text: str | None, n: int, flag: str) -> tuple[float, ...] | None:
    """'0.5,0.5,0.5' -> (0.5, 0.5, 0.5); a clear error otherwise."""
    if text is None:
        return None
    try:
        values = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise ConfigError(f"{flag} {text!r}: expected {n} comma-separated numbers") from None
    if len(values) != n:
        raise ConfigError(f"{flag} {text!r}: expected {n} comma-separated numbers")
    return values
