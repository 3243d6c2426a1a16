"""Weighted k-NN on L2-normalised features (DINO's eval_knn): a pure function of arrays.

Each test vector's cosine similarity to the whole train bank is computed a chunk of test rows at a
time (memory O(chunk x n_train), whatever the test size), the k most similar train vectors vote for
their class with weight exp(s / T), and classes rank by their summed votes. Ties: among equal
similarities the lower train index is nearer; among equal votes the lower class index wins. k larger
than the bank uses the whole bank. Any class count, any test size (DINO's script assumes 1000
classes and crashes under 100 test images).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

KS = (10, 20, 100, 200)
HEADLINE_K = 20
TEMPERATURE = 0.07
CHUNK = 256


@dataclass(frozen=True)
class KnnSettings:
    ks: tuple[int, ...] = KS
    temperature: float = TEMPERATURE
    chunk: int = CHUNK  # test rows per similarity block: decides peak memory, never a result

    def key(self) -> dict[str, Any]:
        """What can change a number (not `chunk`)."""
        return {"ks": list(self.ks), "temperature": self.temperature}


@dataclass
class KnnResult:
    """Per k: the ranked classes (n_test, min(5, n_classes)) by summed votes."""

    ranked: dict[int, Any]
    effective_k: dict[int, int] = field(default_factory=dict)


def normalise(x):
    import numpy as np

    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, np.float32(1e-12))


def knn(train_x, train_y, test_x, n_classes: int, settings: KnnSettings = KnnSettings(), top: int = 5) -> KnnResult:
    """Weighted k-NN predictions for every k of `settings` (the top-`top` classes of each test row)."""
    import numpy as np

    train_y = np.asarray(train_y, dtype=np.int64)
    bank = normalise(train_x)
    queries = normalise(test_x)
    n_train, n_test = len(bank), len(queries)
    if n_train == 0:
        raise ValueError("k-NN needs at least one train vector")
    top = min(top, n_classes)
    kmax = min(max(settings.ks), n_train)
    effective = {k: min(k, n_train) for k in settings.ks}
    ranked = {k: np.zeros((n_test, top), dtype=np.int64) for k in settings.ks}
    rows = np.arange(min(settings.chunk, max(n_test, 1)))[:, None]
    for start in range(0, n_test, settings.chunk):
        q = queries[start : start + settings.chunk]
        sim = q @ bank.T  # (chunk, n_train)
        # stable sort of -s: equal similarities keep train-index order, so the lower index is nearer
        order = np.argsort(-sim, axis=1, kind="stable")[:, :kmax]
        near_s = np.take_along_axis(sim, order, axis=1).astype(np.float64)
        near_y = train_y[order]
        weights = np.exp(near_s / settings.temperature)
        r = rows[: len(q)]
        for k in settings.ks:
            kk = effective[k]
            votes = np.zeros((len(q), n_classes), dtype=np.float64)
            np.add.at(votes, (np.broadcast_to(r, (len(q), kk)), near_y[:, :kk]), weights[:, :kk])
            ranked[k][start : start + len(q)] = np.argsort(-votes, axis=1, kind="stable")[:, :top]
    return KnnResult(ranked, effective)
