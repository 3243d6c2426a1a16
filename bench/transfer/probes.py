"""The probe registry: name -> a pure function of (train features, labels, [val], test features, settings).

A probe returns ranked test predictions per variant (k-NN: one per k) and a record of what it chose.
Extraction and caching live elsewhere (features.py, cache.py), so every probe runs on plain arrays.
Adding a probe is one entry in PROBES. The fine-tune probe (BiT) trains the network itself, so it also
reads `ProbeInput.pixels`: the model and the images behind the feature rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import knn as knn_mod
from . import logreg as logreg_mod


@dataclass
class Pixels:
    """What a probe that trains the network needs besides the features: the model (trained as a copy), its
    normalisation, and the images behind each part's feature rows, decoded when read."""

    model: Any
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    device: str
    images: Callable[[str, Sequence[int]], Sequence[Any]]  # (part, source indices) -> PIL images, row for row


@dataclass
class ProbeInput:
    train_x: Any
    train_y: Any
    val_x: Any
    val_y: Any
    test_x: Any
    n_classes: int
    few_shot: bool  # train is the shots only: never fit on val
    # the source indices behind the rows of train_x / val_x / test_x, and the pixels (fine-tune only)
    train_indices: Any = None
    val_indices: Any = None
    test_indices: Any = None
    pixels: Pixels | None = None
    seed: int = 0


@dataclass
class ProbeOutput:
    ranked: dict[str, Any]  # variant ("" or "k=20") -> (n_test, <=5) class indices, best first
    headline: str  # the variant a table shows
    record: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Probe:
    name: str
    run: Callable[[ProbeInput, Any], ProbeOutput]
    settings: Any  # a frozen dataclass with key(): the settings that can change a number


def _knn(data: ProbeInput, settings: knn_mod.KnnSettings) -> ProbeOutput:
    """Full data: the bank is train + val (no hyperparameter is chosen on val); few-shot: the shots."""
    import numpy as np

    if data.few_shot or len(data.val_x) == 0:
        bank_x, bank_y = data.train_x, data.train_y
    else:
        bank_x, bank_y = np.concatenate([data.train_x, data.val_x]), np.concatenate([data.train_y, data.val_y])
    res = knn_mod.knn(bank_x, bank_y, data.test_x, data.n_classes, settings)
    headline = knn_mod.HEADLINE_K if knn_mod.HEADLINE_K in settings.ks else settings.ks[0]
    return ProbeOutput(
        {f"k={k}": r for k, r in res.ranked.items()},
        f"k={headline}",
        {
            "temperature": settings.temperature,
            "bank": int(len(bank_x)),
            "effective_k": {str(k): v for k, v in res.effective_k.items()},
        },
    )


def _logreg(data: ProbeInput, settings: logreg_mod.LogregSettings) -> ProbeOutput:
    ranked, record = logreg_mod.probe(
        data.train_x, data.train_y, data.val_x, data.val_y, data.test_x, settings, refit_with_val=not data.few_shot
    )
    return ProbeOutput({"": ranked}, "", record)


@dataclass(frozen=True)
class FinetuneSettings:
    """bench.transfer.finetune's knobs that `bench transfer` exposes; None = what the BiT-HyperRule says."""

    steps: int | None = None  # --finetune-steps: caps the rule's schedule (a CPU smoke run)
    batch_size: int = 512  # --finetune-batch-size: BiT's; the learning rate scales with it
    micro_batch_size: int | None = None  # gradient accumulation: memory only (BatchNorm statistics aside)

    def config(self):
        from .finetune import FinetuneConfig

        return FinetuneConfig(batch_size=self.batch_size, steps=self.steps, micro_batch_size=self.micro_batch_size)

    def key(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {"recipe": "bit-hyperrule", **asdict(self.config())}


def _finetune(data: ProbeInput, settings: FinetuneSettings) -> ProbeOutput:
    """BiT: the whole network with a zero head, trained by the HyperRule on train + val (full data, as the
    logistic regression's refit) or on the shots alone, then scored on test."""
    import numpy as np
    import torch

    from ..errors import ConfigError
    from .finetune import finetune

    px = data.pixels
    if px is None:
        raise ConfigError("the finetune probe needs the model and the images: run it through `bench transfer`")
    images = list(px.images("train", data.train_indices))
    labels = np.asarray(data.train_y)
    if not data.few_shot and len(data.val_y):
        images += list(px.images("val", data.val_indices))
        labels = np.concatenate([labels, np.asarray(data.val_y)])
    out = finetune(
        px.model,
        images,
        labels,
        px.images("test", data.test_indices),
        num_classes=data.n_classes,
        mean=px.mean,
        std=px.std,
        seed=data.seed,
        device=torch.device(px.device),
        config=settings.config(),
    )
    ranked = np.argsort(-out.logits, axis=1, kind="stable")[:, : min(5, data.n_classes)]
    record = {
        **out.settings,
        "fit_on": "train" if data.few_shot or not len(data.val_y) else "train+val",
        "n_fit": len(labels),
        "final_train_loss": out.train_loss[-1] if out.train_loss else None,
    }
    return ProbeOutput({"": ranked}, "", record)


PROBES: dict[str, Probe] = {
    "knn": Probe("knn", _knn, knn_mod.KnnSettings()),
    "logreg": Probe("logreg", _logreg, logreg_mod.LogregSettings()),
    "finetune": Probe("finetune", _finetune, FinetuneSettings()),
}


def names() -> tuple[str, ...]:
    return tuple(PROBES)
