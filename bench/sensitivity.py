"""`bench sensitivity`: how much a model's top-1 depends on preprocessing details, on the same images.

Against the model's own protocol (its pretrained config through the library's own transform, PIL
resize, as `bench run` evaluates it), each variant changes one thing:
- resize backend: the tensor resize of the GPU decode path (torchvision v2, antialias) instead of PIL;
- interpolation: bilinear <-> bicubic;
- crop_pct: +0.05 and -0.05;
- input size: timm's test size where the pretrained config has one that differs (else the train size).
Each variant reports Δtop-1 (restricted) with the per-image flips (right -> wrong, wrong -> right) and
the exact McNemar p of those flips. Each model's report is stored under <results>/sensitivity/ as it finishes and rendered as
<out>/sensitivity.md + sensitivity.png (bench.report.sensitivity).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from . import models as M
from .data import datasets as D
from .data import labels as L
from .data import transforms as T
from .errors import ResultsError, left_out

SHIFT = 0.05


@dataclass(frozen=True)
class Variant:
    """One change to the model's own protocol; `ts` is None when it does not apply to this model (see `note`)."""

    axis: str
    name: str
    ts: T.TransformSpec | None
    backend: str = "pil"  # pil | tensor
    note: str | None = None


class TensorResize:
    """PIL image -> uint8 tensor through the GPU decode path's spatial steps (transforms.build_for_tensors), on the CPU:
    the same geometry as the model's own transform, with tensor resampling instead of PIL's."""

    def __init__(self, ts: T.TransformSpec):
        self.steps = T.build_for_tensors(ts)

    def __call__(self, img):
        from torchvision.transforms.functional import pil_to_tensor

        return self.steps(pil_to_tensor(img))


def variants(spec: M.ModelSpec, model, ts: T.TransformSpec) -> list[Variant]:
    """The variants of `ts` (the model's own protocol), each through the same override path as `bench run`."""

    def resolved(**overrides) -> T.TransformSpec:
        return T.resolve(spec, model, "model", overrides)

    # The CPU's native uint8 kernel; CUDA resizes in float32 and rounds (tests/test_loaders.py certifies both).
    out = [Variant("resize backend", "tensor resize (torchvision v2, antialias, uint8 kernel)", ts, backend="tensor")]
    others = [m for m in ("bilinear", "bicubic") if m != ts.interpolation]
    out += [Variant("interpolation", f"{m} interpolation", resolved(interpolation=m)) for m in others]
    for sign in (+1, -1):
        crop = round(ts.crop_pct + sign * SHIFT, 4)
        name = f"crop_pct {crop:.3f} ({'+' if sign > 0 else '−'}{SHIFT:.2f})"
        out.append(
            Variant("crop_pct", name, resolved(crop_pct=crop))
            if 0 < crop <= 1.0
            else Variant("crop_pct", name, None, note="crop_pct would leave (0, 1]")
        )
    if spec.source != "timm":
        out.append(Variant("input size", "train vs test size", None, note="torchvision weights define one eval size"))
    else:
        other = T.resolve(spec, model, "model", use_train_size=ts.test_size)  # the size the own protocol does not use
        if (tuple(other.input_size), other.crop_pct) == (tuple(ts.input_size), ts.crop_pct):
            out.append(Variant("input size", "train vs test size", None, note="the pretrained config has no different test size"))
        else:
            which = "train" if ts.test_size else "test"
            out.append(Variant("input size", f"{which} size {other.input_size[-1]} (crop_pct {other.crop_pct})", other))
    return out


def _evaluate(
    model,
    images,
    indices,
    ts: T.TransformSpec,
    transform: Callable,
    projection,
    device: str,
    batch: int,
    workers: int | None,
    progress: bool,
):
    """The harness's CPU data path (uint8 in workers, batched normalise on the device) with `transform`."""
    from .data import loaders
    from .measure.evaluate import evaluate

    n_workers = min(loaders.default_workers(workers), max(0, (len(indices) + batch - 1) // batch - 1))
    view = D.TorchView(images, indices, transform, ts.input_size)
    loader = loaders.data_loader(view, batch_size=batch, shuffle=False, num_workers=n_workers)
    return evaluate(model, loader, projection, device, total=len(indices), progress=progress, finish=T.BatchNormalizer(ts))


def _correct(ev) -> dict[int, bool]:
    s = ev.samples
    ok = (s["restricted_top5"][:, 0] == s["target"]) & (s["target"] >= 0)
    return dict(zip(s["index"].tolist(), ok.tolist()))


def compare(own: dict[int, bool], other: dict[int, bool]) -> dict[str, Any]:
    """Δtop-1 (pp), flips each way and the exact McNemar p over the images both evaluations scored."""
    from .measure import stats

    common = sorted(set(own) & set(other))
    n = len(common)
    lost = sum(1 for i in common if own[i] and not other[i])
    gained = sum(1 for i in common if other[i] and not own[i])
    return {
        "n": n,
        "delta_top1": round(100.0 * (gained - lost) / n, 4) if n else None,
        "flips_lost": lost,
        "flips_gained": gained,
        "mcnemar_p": round(stats.mcnemar_exact(lost, gained), 6),
    }


def _top1(ev) -> float | None:
    return ev.summary["restricted"]["top1"]


def measure_model(
    spec: M.ModelSpec,
    images,
    indices,
    device: str,
    weights: str = "pretrained",
    batch: int = 32,
    workers: int | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """One model's sensitivity report: its own protocol, then every variant against it."""
    from .store import results as R

    model, winfo = M.build(spec, weights)
    head = L.for_head(winfo.num_classes, None)
    projection = L.project(images.label_space, head)
    ts = T.resolve(spec, model, "model")

    def evaluate_with(t: T.TransformSpec, fn: Callable):
        return _evaluate(model, images, indices, t, fn, projection, device, batch, workers, progress)

    own = evaluate_with(ts, T.build(ts, normalize=False))
    own_correct = _correct(own)
    rows = []
    for v in variants(spec, model, ts):
        if log:
            log(f"   {v.axis}: {v.name}")
        row: dict[str, Any] = {
            "axis": v.axis,
            "variant": v.name,
            "note": v.note,
            "transform": None
            if v.ts is None
            else {
                **v.ts.to_dict(),
                "resize_backend": v.backend,
                "resize_kernel": "tensor-uint8" if v.backend == "tensor" else "pil",
            },
        }
        if v.ts is not None:
            fn = TensorResize(v.ts) if v.backend == "tensor" else T.build(v.ts, normalize=False)
            ev = evaluate_with(v.ts, fn)
            row.update({"top1": _top1(ev), **compare(own_correct, _correct(ev))})
        rows.append(row)
    return {
        "model": spec.id,
        "weights": {"kind": winfo.kind, "origin": winfo.origin, "sha256": winfo.sha256},
        "dataset": images.name,
        "split": images.split,
        "n": len(indices),
        "indices": R.indices_hash(indices),
        "protocol": {**ts.to_dict(), "resize_backend": "pil"},
        "top1": _top1(own),
        "device": device,
        "date": dt.datetime.now(dt.UTC).date().isoformat(),
        "variants": rows,
    }


@dataclass
class SensitivityRun:
    """What `bench sensitivity` did: the reports written (each as soon as its model finished) and the models
    that failed (model -> why); `exit_code` is the first failure's (1: a model failed, the others are kept)."""

    reports: list[dict[str, Any]]
    failed: dict[str, str]
    exit_code: int = 0


def run(
    models: Sequence[str],
    dataset: str = "samples",
    split: str | None = None,
    data_dir: str | None = None,
    limit: int | None = None,
    device: str = "auto",
    batch_size: int | None = None,
    workers: int | None = None,
    weights: str = "pretrained",
    out: str = "leaderboards",
    progress: bool = True,
    results_dir: str = "results",
) -> SensitivityRun:
    """Measure every model on one dataset split; store each model's report under <results_dir>/sensitivity/ as
    soon as it is done (a later failure loses nothing), then re-render <out>/sensitivity.md. One model's
    failure is reported and the others go on (exit 1); a report or page that cannot be written is exit 2."""
    from .config import RunConfig
    from .errors import BenchError
    from .report import sensitivity as page
    from .store import atomic

    # Before any compute: where the reports and the page go must be writable folders.
    results_dir = str(atomic.check_writable(results_dir, "--results-dir"))
    out = str(atomic.check_writable(out, "--out"))
    specs = M.expand(list(models))
    cfg = RunConfig(
        models=list(models),
        dataset=dataset,
        split=split,
        data_dir=data_dir,
        limit=limit,
        device=device,
        batch_size=batch_size,
        workers=workers,
        weights=weights,
        efficiency=False,
        progress=progress,
        results_dir=results_dir,
    )
    dev = cfg.resolved_device()
    images = D.load(dataset, D.canonical_split(dataset, split), data_dir)
    indices = D.stratified(images.labels, limit)
    done = SensitivityRun([], {})
    for spec in specs:
        _log(f"== sensitivity of {spec.id} on {images.name}/{images.split} ({len(indices)} images, {dev})")
        try:
            with contextlib.redirect_stdout(sys.stderr):  # library progress ("Downloading: ...") is not output
                report = measure_model(spec, images, indices, dev, weights, cfg.eval_batch_size(dev), workers, progress, _log)
            _set_aside_if_corrupt(page, results_dir, report)
            _log(f"   wrote {page.save(results_dir, report)}")
            done.reports.append(report)
        except ResultsError:
            raise  # the store itself failed (full disk, permissions): not one model's problem
        except BenchError as e:
            done.failed[spec.id] = str(e)
            done.exit_code = done.exit_code or e.exit_code
            _log(f"   failed: {e}")
        except Exception as e:
            done.failed[spec.id] = f"{type(e).__name__}: {e}"
            done.exit_code = done.exit_code or 1
            _log(f"   failed: {type(e).__name__}: {e}")
    errors: list[ResultsError] = []
    page.regenerate(results_dir, out, errors)
    if errors:  # the reports of this run are stored and on the page; another stored report is not
        raise left_out(errors)
    return done


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _set_aside_if_corrupt(page, results_dir: str, report: dict[str, Any]) -> None:
    """The stored report this one replaces, when it is unreadable: kept as <name>.corrupt, with a warning."""
    path = page.path_for(results_dir, report)
    if not path.is_file():
        return
    try:
        page.read(path)
    except ResultsError as e:
        _log(f"   warning: {e}; set aside as {page.set_aside(path).name} and measured again")
