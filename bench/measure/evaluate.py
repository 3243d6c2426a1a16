"""The accuracy loop: logits -> both label protocols -> summary figures and per-sample records.

`restricted` (primary): top-k over the dataset's classes only (timm's --valid-labels idea).
`full`: top-k over every model output; right when it equals the mapped class.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..data.labels import Projection
from ..errors import LabelSpaceError
from . import calibration
from .device import autocast
from .stats import wilson

TOPK = 5


@dataclass
class Evaluation:
    """Summary figures (JSON) plus per-sample arrays (stored beside the JSON)."""

    summary: dict[str, Any]
    samples: dict[str, Any] = field(repr=False)


def evaluate(
    model,
    batches: Iterable,
    projection: Projection,
    device: str = "cpu",
    precision: str = "fp32",
    channels_last: bool = False,
    total: int | None = None,
    progress: bool = True,
    finish: Callable | None = None,
) -> Evaluation:
    """Run `model` over `batches` of (images, labels, indices, errors) and score both protocols.

    `finish` runs on the device batch before the model (the batched uint8 -> normalised step).
    """
    import numpy as np
    import torch
    from tqdm import tqdm

    restricted_cols = torch.tensor(projection.restricted_model_indices, dtype=torch.long)
    mapped = projection.mapped  # restricted column r -> dataset class mapped[r]
    n_restricted = len(mapped)
    to_model = torch.tensor([m if m is not None else -1 for m in projection.model_index], dtype=torch.long)
    to_restricted = torch.full((len(projection.dataset),), -1, dtype=torch.long)
    to_restricted[torch.tensor(mapped, dtype=torch.long)] = torch.arange(n_restricted)
    mapped_t = torch.tensor(mapped, dtype=torch.long)

    rec: dict[str, list] = {k: [] for k in ("index", "target", "full_top5", "restricted_top5", "nll_full", "nll_restricted")}
    rec.update({k: [] for k in calibration.KEYS})  # what ECE / Brier need, so stored runs can be rescored
    failed: list[dict[str, Any]] = []
    seen = 0
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    start = time.perf_counter()
    bar = tqdm(total=total, unit="img", disable=not progress, leave=False)
    with torch.inference_mode():
        for x, y, idx, errs in batches:
            seen += len(y)
            bar.update(len(y))
            ok = torch.tensor([not e for e in errs], dtype=torch.bool)
            failed += [{"index": int(i), "error": e} for i, e in zip(idx.tolist(), errs) if e]
            if not ok.any():
                continue
            x = x.to(device, non_blocking=True)
            if not ok.all():
                x = x[ok.to(x.device)]
            y, idx = y[ok], idx[ok]
            if finish is not None:
                x = finish(x)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast(device, precision):
                logits = model(x)
            logits = logits.float().cpu()
            if logits.shape[1] != len(projection.model):
                raise LabelSpaceError(
                    f"the model outputs {logits.shape[1]} classes but its label space {projection.model.name} has "
                    f"{len(projection.model)}: pass --label-space for this head"
                )
            # full protocol: every model output
            logp = torch.log_softmax(logits, dim=1)
            full_top = top_k(logits, TOPK)
            t_model = to_model[y]
            nll_full = torch.where(t_model >= 0, -logp.gather(1, t_model.clamp(min=0)[:, None])[:, 0], torch.tensor(float("nan")))
            # restricted protocol: only the dataset's classes the head has
            r_logits = logits[:, restricted_cols]
            r_top = mapped_t[top_k(r_logits, TOPK)]
            t_r = to_restricted[y]
            r_logp = torch.log_softmax(r_logits, dim=1)
            nll_r = torch.where(t_r >= 0, -r_logp.gather(1, t_r.clamp(min=0)[:, None])[:, 0], torch.tensor(float("nan")))
            rec["index"].append(idx)
            rec["target"].append(y)
            rec["full_top5"].append(_pad(full_top))
            rec["restricted_top5"].append(_pad(r_top))
            rec["nll_full"].append(nll_full)
            rec["nll_restricted"].append(nll_r)
            for k, v in calibration.per_sample(r_logp, t_r).items():
                rec[k].append(v)
    bar.close()
    wall = time.perf_counter() - start
    samples = {k: (torch.cat(v).numpy() if v else np.zeros((0, TOPK) if "top5" in k else (0,))) for k, v in rec.items()}
    samples["index"] = samples["index"].astype("int64")
    samples["target"] = samples["target"].astype("int32")
    samples["full_top5"] = samples["full_top5"].astype("int32")
    samples["restricted_top5"] = samples["restricted_top5"].astype("int32")
    samples["nll_full"] = samples["nll_full"].astype("float32")
    samples["nll_restricted"] = samples["nll_restricted"].astype("float32")
    for k in calibration.KEYS:
        samples[k] = samples[k].astype("float32")
    summary = summarize(samples, projection)
    summary["failed"] = failed
    summary["n_failed"] = len(failed)
    summary["eval_wall_s"] = round(wall, 3)
    summary["eval_img_s"] = round(seen / wall, 2) if wall > 0 else None
    return Evaluation(summary, samples)


def top_k(logits, k: int):
    """Indices of the k largest logits per row; among equal logits the lowest class index wins.

    `Tensor.topk` leaves the order of ties to the implementation (CPU and CUDA, k=1 and k=5 may
    disagree, so topk(5)[0] could differ from argmax); a stable descending sort does not. A NaN
    logit ranks last (sort and topk would rank it first and credit a broken output as a hit).
    """
    import torch

    ranked = torch.nan_to_num(logits, nan=float("-inf"), posinf=float("inf"), neginf=float("-inf"))
    return torch.sort(ranked, dim=1, descending=True, stable=True).indices[:, : min(k, logits.shape[1])]


def _pad(top):
    import torch

    if top.shape[1] == TOPK:
        return top
    return torch.cat([top, torch.full((top.shape[0], TOPK - top.shape[1]), -1, dtype=top.dtype)], dim=1)


def summarize(samples: dict[str, Any], projection: Projection) -> dict[str, Any]:
    """Top-1/top-5, Wilson interval and NLL for both protocols from per-sample arrays."""
    import numpy as np

    n = int(len(samples["target"]))
    target = samples["target"]
    to_model = np.array([m if m is not None else -1 for m in projection.model_index], dtype=np.int64)
    out: dict[str, Any] = {"n": n}
    for protocol, top, tgt, nll in (
        ("restricted", samples["restricted_top5"], target, samples["nll_restricted"]),
        ("full", samples["full_top5"], to_model[target] if n else target, samples["nll_full"]),
    ):
        hit1 = (top[:, 0] == tgt) & (tgt >= 0) if n else np.zeros(0, bool)
        hit5 = (top == tgt[:, None]).any(axis=1) & (tgt >= 0) if n else np.zeros(0, bool)
        c1, c5 = int(hit1.sum()), int(hit5.sum())
        nonfinite = int((~np.isfinite(nll)).sum()) if n else 0
        out[protocol] = {
            "top1": round(100.0 * c1 / n, 4) if n else None,
            "top5": round(100.0 * c5 / n, 4) if n else None,
            "correct1": c1,
            "correct5": c5,
            "top1_ci95": list(wilson(c1, n)) if n else None,
            "top5_ci95": list(wilson(c5, n)) if n else None,
            # over the same n as top-1: a row without a finite NLL (NaN logits, a target the head cannot
            # predict) makes the mean undefined rather than silently leaving the row out
            "nll": round(float(nll.mean()), 6) if n and not nonfinite else None,
            "nll_nonfinite": nonfinite,
        }
    out["calibration"] = calibration.summarize(samples)
    return out


def real_accuracy(samples: dict[str, Any], ids: list[str], projection: Projection) -> dict[str, Any] | None:
    """ImageNet-ReaL top-1 (Beyer et al. 2020): right when the prediction is in the image's ReaL label set.

    Needs the official val file names (ILSVRC2012_val_00000001...) to find each image's set; images
    whose set is empty (no valid label) are left out, as in the paper. None when no id parses.
    """
    from ..data.datasets import VAL_NAME as pattern
    from ..data.labels import imagenet_1k, real_labels

    inet = imagenet_1k().index
    real = real_labels()
    model_to_inet = [inet.get(w, -1) for w in projection.model.wnids]
    hits = counted = 0
    for j, i in enumerate(samples["index"]):
        m = pattern.search(ids[int(i)])
        if not m or not 1 <= int(m.group(1)) <= len(real):
            continue
        valid = real[int(m.group(1)) - 1]
        if not valid:
            continue
        counted += 1
        top = int(samples["full_top5"][j, 0])
        hits += int(top >= 0 and model_to_inet[top] in valid)
    if not counted:
        return None
    return {"top1": round(100.0 * hits / counted, 4), "n": counted, "correct1": hits, "top1_ci95": list(wilson(hits, counted))}


def merge(parts: list[Evaluation], projection: Projection) -> Evaluation:
    """Join the evaluations of disjoint shards into the one a single process would have produced."""
    import numpy as np

    if len(parts) == 1:
        return parts[0]
    order = np.argsort(np.concatenate([p.samples["index"] for p in parts]), kind="stable")
    samples = {k: np.concatenate([p.samples[k] for p in parts])[order] for k in parts[0].samples}
    summary = summarize(samples, projection)
    summary["failed"] = sorted((f for p in parts for f in p.summary["failed"]), key=lambda f: f["index"])
    summary["n_failed"] = len(summary["failed"])
    wall = max(p.summary["eval_wall_s"] for p in parts)
    seen = summary["n"] + summary["n_failed"]
    summary["eval_wall_s"] = wall
    summary["eval_img_s"] = round(seen / wall, 2) if wall > 0 else None
    return Evaluation(summary, samples)
