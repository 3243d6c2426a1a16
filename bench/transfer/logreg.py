"""L2-regularised multinomial logistic regression on raw features (Kornblith et al.; CLIP's linear probe).

Objective, for weights W and biases b (biases not penalised):

    J(W, b) = (1/n) * sum_i cross_entropy(W x_i + b, y_i) + (lambda / 2) * ||W||^2

which is scikit-learn's LogisticRegression (L-BFGS) with C = 1 / (n * lambda). lambda comes from a
45-value log grid 1e-6 .. 1e5 (Kornblith), searched coarse-then-bisect as CLIP's appendix does: every
8th grid value first, then the interval around the best halves until neighbouring grid values are
compared; each fit warm-starts from the fit of the nearest lambda already done. A lambda is scored on
val by (accuracy, then lower log-loss): accuracy alone is flat over wide ranges, and the log-loss
tie-break keeps the curve single-peaked enough for the bisection to find the sweep's pick.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

GRID_SIZE = 45
GRID_LOW, GRID_HIGH = -6.0, 5.0
COARSE_STEP = 8
MAX_ITER = 1000
TOL = 1e-6


def grid():
    import numpy as np

    return np.logspace(GRID_LOW, GRID_HIGH, GRID_SIZE)


@dataclass(frozen=True)
class LogregSettings:
    max_iter: int = MAX_ITER
    tol: float = TOL
    backend: str = "sklearn"  # sklearn (CPU) | torch (same objective, L-BFGS in torch: GPU)

    def key(self) -> dict[str, Any]:
        return {
            "grid": [GRID_LOW, GRID_HIGH, GRID_SIZE],
            "search": f"coarse{COARSE_STEP}-bisect",
            "max_iter": self.max_iter,
            "tol": self.tol,
            "backend": self.backend,
        }


@dataclass
class Fit:
    coef: Any
    intercept: Any
    n_iter: int
    converged: bool
    classes: Any  # the label values of the columns (sorted present labels)


@dataclass
class Search:
    """The chosen lambda and the validation curve (every lambda evaluated, in grid order)."""

    lam: float
    index: int
    curve: list[dict[str, Any]] = field(default_factory=list)


def fit(x, y, lam: float, settings: LogregSettings = LogregSettings(), init: Fit | None = None) -> Fit:
    """One L-BFGS fit of J at `lam`, warm-started from `init` when its classes match."""
    if settings.backend == "torch":
        from .logreg_torch import fit as torch_fit

        return Fit(*torch_fit(x, y, lam, settings, init))
    import numpy as np
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    x = np.asarray(x, dtype=np.float64)
    clf = LogisticRegression(
        C=1.0 / (len(x) * lam), solver="lbfgs", max_iter=settings.max_iter, tol=settings.tol, warm_start=True
    )
    classes = np.unique(y)
    if init is not None and len(classes) > 2 and np.array_equal(init.classes, classes):
        clf.coef_, clf.intercept_, clf.classes_ = init.coef.copy(), init.intercept.copy(), classes
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        clf.fit(x, y)
    n_iter = int(np.max(clf.n_iter_))
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught) and n_iter < settings.max_iter
    if len(classes) == 2:  # scikit-learn stores one column for two classes: make it the multinomial pair
        coef = np.vstack([-clf.coef_ / 2, clf.coef_ / 2])
        intercept = np.array([-clf.intercept_[0] / 2, clf.intercept_[0] / 2])
    else:
        coef, intercept = clf.coef_, clf.intercept_
    return Fit(coef, intercept, n_iter, converged, classes)


def decision(model: Fit, x):
    import numpy as np

    return np.asarray(x, dtype=np.float64) @ model.coef.T + model.intercept


def ranked(model: Fit, x, top: int = 5):
    """Class indices (the original label values), best first."""
    import numpy as np

    scores = decision(model, x)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :top]
    return model.classes[order]


def _val_score(model: Fit, x, y) -> tuple[float, float]:
    """(accuracy, mean log-loss) on val; a val label the fit never saw counts as wrong with infinite loss."""
    import numpy as np
    from scipy.special import log_softmax

    scores = decision(model, x)
    pred = model.classes[np.argmax(scores, axis=1)]
    acc = float((pred == y).mean()) if len(y) else 0.0
    col = {c: i for i, c in enumerate(model.classes.tolist())}
    logp = log_softmax(scores, axis=1)
    losses = [-logp[i, col[t]] if t in col else np.inf for i, t in enumerate(np.asarray(y).tolist())]
    return acc, float(np.mean(losses)) if losses else float("inf")


def search(train_x, train_y, val_x, val_y, settings: LogregSettings = LogregSettings(), exhaustive: bool = False) -> Search:
    """Coarse-then-bisect over the grid (or every grid value with `exhaustive`), each fit warm-started."""
    lams = grid()
    fits: dict[int, Fit] = {}
    scored: dict[int, tuple[float, float]] = {}

    def evaluate(i: int) -> None:
        if i in scored or not 0 <= i < len(lams):
            return
        nearest = min(fits, key=lambda j: (abs(j - i), j), default=None)
        fits[i] = fit(train_x, train_y, float(lams[i]), settings, fits.get(nearest) if nearest is not None else None)
        scored[i] = _val_score(fits[i], val_x, val_y)

    def best() -> int:
        # higher accuracy, then lower log-loss, then the larger lambda (the simpler model)
        return max(scored, key=lambda i: (scored[i][0], -scored[i][1], i))

    if exhaustive:
        for i in reversed(range(len(lams))):
            evaluate(i)
    else:
        # strongest regularisation first: each weaker one warm-starts from a nearby, easier solution
        for i in sorted({*range(0, len(lams), COARSE_STEP), len(lams) - 1}, reverse=True):
            evaluate(i)
        step = COARSE_STEP
        while step > 1:
            step //= 2
            b = best()
            evaluate(b - step)
            evaluate(b + step)
    b = best()
    curve = [
        {
            "lambda": float(lams[i]),
            "val_top1": round(100 * scored[i][0], 4),
            "val_loss": round(scored[i][1], 6),
            "n_iter": fits[i].n_iter,
            "converged": fits[i].converged,
        }
        for i in sorted(scored)
    ]
    return Search(float(lams[b]), b, curve)


def probe(train_x, train_y, val_x, val_y, test_x, settings: LogregSettings = LogregSettings(), refit_with_val: bool = True):
    """λ on val, then one fit on train (+ val when `refit_with_val`, the full-data protocol), scored on test.

    Returns (ranked test classes, record)."""
    import numpy as np

    found = search(train_x, train_y, val_x, val_y, settings)
    if refit_with_val:
        x, y = np.concatenate([train_x, val_x]), np.concatenate([train_y, val_y])
    else:
        x, y = train_x, train_y
    final = fit(x, y, found.lam, settings)
    record = {
        "lambda": found.lam,
        "lambda_index": found.index,
        "C": 1.0 / (len(x) * found.lam),
        "curve": found.curve,
        "refit_on": "train+val" if refit_with_val else "train",
        "n_fit": int(len(x)),
        "n_iter": final.n_iter,
        "converged": final.converged,
        "fits": len(found.curve) + 1,
    }
    return ranked(final, test_x), record
