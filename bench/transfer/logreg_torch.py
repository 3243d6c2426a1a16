"""The logistic-regression objective of bench.transfer.logreg, minimised by torch's L-BFGS (strong Wolfe line
search) in float64 on any device: the GPU backend. Same J(W, b) = mean cross-entropy + lambda/2 ||W||^2,
same classes, same warm start; tested to give scikit-learn's predictions."""

from __future__ import annotations

from typing import Any


def fit(x, y, lam: float, settings: Any, init: Any = None, device: str | None = None):
    import numpy as np
    import torch

    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    classes = np.unique(y)
    col = {c: i for i, c in enumerate(classes.tolist())}
    xt = torch.as_tensor(np.asarray(x, dtype=np.float64), device=dev)
    yt = torch.as_tensor([col[v] for v in np.asarray(y).tolist()], device=dev)
    c, d = len(classes), xt.shape[1]
    if init is not None and np.array_equal(init.classes, classes):
        w0, b0 = np.asarray(init.coef, np.float64), np.asarray(init.intercept, np.float64)
    else:
        w0, b0 = np.zeros((c, d)), np.zeros(c)
    w = torch.tensor(w0, device=dev, requires_grad=True)
    b = torch.tensor(b0, device=dev, requires_grad=True)
    opt = torch.optim.LBFGS(
        [w, b],
        lr=1,
        max_iter=settings.max_iter,
        tolerance_grad=settings.tol * 1e-2,
        tolerance_change=1e-15,
        history_size=10,
        line_search_fn="strong_wolfe",
    )

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(xt @ w.T + b, yt) + lam / 2 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    n_iter = int(opt.state[opt._params[0]].get("n_iter", 0))
    coef, intercept = w.detach().cpu().numpy(), b.detach().cpu().numpy()
    if c == 2:  # scikit-learn's binary model is the difference of the two rows: store the same symmetric pair
        diff, bdiff = coef[1] - coef[0], intercept[1] - intercept[0]
        coef, intercept = np.vstack([-diff / 2, diff / 2]), np.array([-bdiff / 2, bdiff / 2])
    # the fields of logreg.Fit, in order: logreg wraps them (this module is below it, no import back)
    return coef, intercept, n_iter, n_iter < settings.max_iter, classes
