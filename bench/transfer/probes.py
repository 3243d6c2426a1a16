"""The probe registry: name -> a pure function of (train features, labels, [val], test features, settings).

A probe returns ranked test predictions per variant (k-NN: one per k) and a record of what it chose.
Extraction and caching live elsewhere (features.py, cache.py), so every probe runs on plain arrays.
Adding a probe is one entry in PROBES.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import knn as knn_mod
from . import logreg as logreg_mod


@dataclass
class ProbeInput:
    train_x: Any
    train_y: Any
    val_x: Any
    val_y: Any
    test_x: Any
    n_classes: int
    few_shot: bool  # train is the shots only: never fit on val


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


PROBES: dict[str, Probe] = {
    "knn": Probe("knn", _knn, knn_mod.KnnSettings()),
    "logreg": Probe("logreg", _logreg, logreg_mod.LogregSettings()),
}


def names() -> tuple[str, ...]:
    return tuple(PROBES)
