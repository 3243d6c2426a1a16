"""TransferConfig: one `bench transfer` run. The options it shares with `bench run` are RunConfig's own
declarations (same flag, help, parse and check), taken over field by field, not declared again."""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from ..config import RunConfig, at_least, declared_flags, flag, integer, names_list
from ..errors import ConfigError
from . import probes, splits

_RUN = {f.name: f for f in fields(RunConfig)}
SHARED = (
    "data_dir",
    "limit",
    "batch_size",
    "workers",
    "device",
    "precision",
    "weights",
    "results_dir",
    "force",
    "progress",
    "json",
)


def _shared(name: str) -> Any:
    """RunConfig's field `name`: its default and its flag declaration."""
    f = _RUN[name]
    if f.default is not MISSING:
        return field(default=f.default, metadata=f.metadata)
    return field(metadata=f.metadata)


def shots_list(text: str) -> list[str]:
    out = []
    for s in names_list(text):
        if s != "full" and not (s.isdigit() and int(s) >= 1):
            raise ValueError(f"{s!r} is neither 'full' nor a whole number of images per class of at least 1")
        out.append(s)
    return out


def probe_list(text: str) -> list[str]:
    return names_list(text)


def known_probes(value: Any) -> None:
    unknown = [p for p in value if p not in probes.PROBES]
    if unknown or not value:
        raise ValueError(f"use one or more of {', '.join(probes.PROBES)}")


def non_empty_shots(value: Any) -> None:
    if not value:
        raise ValueError("give full and/or a number of images per class, e.g. full,1,5")


@dataclass
class TransferConfig:
    """Models x one transfer dataset x probes x shots."""

    models: list[str] = _shared("models")
    dataset: str = field(
        default="digits",
        metadata=flag(
            "--dataset",
            metavar="NAME",
            help="digits (offline), tiny-imagenet, cifar10, cifar100, flowers102, pets, food101, dtd, "
            "or a Hugging Face image-classification repo owner/name",
        ),
    )
    probes: list[str] = field(
        default_factory=lambda: ["knn", "logreg"],
        metadata=flag(
            "--probes",
            parse=probe_list,
            check=known_probes,
            metavar="P[,P...]",
            help="knn, logreg, finetune (default: knn,logreg; finetune trains the whole network by the BiT-HyperRule: meant for GPUs)",
        ),
    )
    shots: list[str] = field(
        default_factory=lambda: ["full"],
        metadata=flag(
            "--shots",
            parse=shots_list,
            check=non_empty_shots,
            metavar="S[,S...]",
            help="full and/or images per class, e.g. full,1,5,10,25",
        ),
    )
    episodes: int = field(
        default=5, metadata=flag("--episodes", parse=integer, check=at_least(1), help="few-shot episodes per shot count")
    )
    seed: int = field(default=0, metadata=flag("--seed", parse=integer, check=at_least(0), help="seed of the few-shot episodes"))
    splits: str = field(
        default="full", metadata=flag("--splits", choices=splits.PROTOCOLS, help="full, or VTAB-1k's train800/val200")
    )
    cache_dir: str | None = field(
        default=None,
        metadata=flag("--cache-dir", metavar="DIR", help="feature cache (default: ~/.cache/imagenet-bench/features)"),
    )
    logreg_backend: str = field(
        default="sklearn",
        metadata=flag(
            "--logreg-backend",
            choices=("sklearn", "torch"),
            help="logistic regression by scikit-learn on the CPU, or the same objective by torch's L-BFGS (GPU when present)",
        ),
    )
    finetune_steps: int | None = field(
        default=None,
        metadata=flag(
            "--finetune-steps",
            parse=integer,
            check=at_least(1),
            metavar="N",
            help="cap the fine-tune's HyperRule schedule at N steps (a CPU smoke run; default: the rule's 500 to 20,000)",
        ),
    )
    finetune_batch_size: int = field(
        default=512,
        metadata=flag(
            "--finetune-batch-size",
            parse=integer,
            check=at_least(1),
            metavar="B",
            help="the fine-tune's logical batch (BiT's 512; the learning rate 0.003 scales with B/512)",
        ),
    )
    cache_shard: int = field(
        default=512,
        metadata=flag(
            "--cache-shard",
            parse=integer,
            check=at_least(1),
            metavar="N",
            help="images per feature-cache shard: the unit of resuming and of torchrun's split (not part of any result)",
        ),
    )
    data_dir: str | None = _shared("data_dir")
    limit: int | None = _shared("limit")
    batch_size: int | None = _shared("batch_size")
    workers: int | None = _shared("workers")
    device: str = _shared("device")
    precision: str = _shared("precision")
    weights: str = _shared("weights")
    results_dir: str = _shared("results_dir")
    force: bool = _shared("force")
    progress: bool = _shared("progress")
    json: bool = _shared("json")

    def __post_init__(self) -> None:
        for f, fl in declared_flags(type(self)):
            value = getattr(self, f.name)
            if value is not None:
                fl.validate(value)
        if self.data_dir is not None:
            from pathlib import Path

            if not Path(self.data_dir).expanduser().is_dir():
                raise ConfigError(
                    f"--data-dir {self.data_dir} is not a folder: pass a local copy (parquet shards or <split>/<class>/)"
                )

    @property
    def few_shots(self) -> list[int]:
        return [int(s) for s in self.shots if s != "full"]

    def resolved_device(self) -> str:
        return RunConfig(models=self.models, device=self.device).resolved_device()

    def eval_batch_size(self, device: str) -> int:
        from ..measure.device import default_batch_size

        return self.batch_size or default_batch_size(device, "eval")
