"""`bench run`: for each model, resolve -> build -> transform -> evaluate -> measure -> store.

A model that fails is reported and the others go on; a finished result is on disk before the
next model starts, so an interrupted run keeps it and a rerun skips it. Under torchrun every
rank evaluates a shard and rank 0 writes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from .data import datasets as D
from .measure import distributed as dist
from .data import labels as L
from . import models as M
from .store import results as R
from .data import transforms as T
from .config import RunConfig
from .errors import BenchError, DatasetUnavailableError
from .store.locks import entry_lock


@dataclass
class RunReport:
    """What happened to each model: written, skipped or failed (with why)."""

    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    unreadable_samples: dict[str, list[str]] = field(default_factory=dict)
    interrupted: str | None = None  # the model that was running when Ctrl-C / SIGTERM came
    is_main: bool = True  # under torchrun only rank 0 reports

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 130
        return 1 if self.failed else 0

    def format(self) -> str:
        lines = [f"{len(self.written)} written, {len(self.skipped)} skipped (already done; --force reruns), {len(self.failed)} failed"]
        lines += [f"  wrote   {p}" for p in self.written]
        lines += [f"  skipped {p}" for p in self.skipped]
        lines += [f"  FAILED  {m}: {why}" for m, why in self.failed.items()]
        for m, bad in self.unreadable_samples.items():
            shown = ", ".join(bad[:5]) + (f", ... ({len(bad) - 5} more)" if len(bad) > 5 else "")
            lines.append(f"  {m}: {len(bad)} image(s) could not be read and were left out: {shown} (see accuracy.failed)")
        if self.interrupted:
            lines.append(f"  INTERRUPTED during {self.interrupted}: nothing of it was written; rerun the same command to continue")
        return "\n".join(lines)


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Interrupted(KeyboardInterrupt):
    """SIGTERM, turned into the same unwinding as Ctrl-C so that nothing half-done is written."""


def _on_sigterm(signum, frame):  # noqa: ARG001
    raise Interrupted()


def run(cfg: RunConfig) -> RunReport:
    """Evaluate and measure every model of `cfg`; never raises for one model's failure."""
    specs = M.expand(cfg.models)  # unknown names fail here, before any work (exit 2)
    info = dist.init(cfg.resolved_device())
    device = dist.device_for(info, cfg.resolved_device())
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if _main_thread() else None
    try:
        return _run(cfg, specs, info, device)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        dist.shutdown(info)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _run(cfg: RunConfig, specs: list[M.ModelSpec], info: dist.DistInfo, device: str) -> RunReport:
    report = RunReport(is_main=info.is_main)
    split = D.canonical_split(cfg.dataset, cfg.split)
    todo = []
    for spec in specs:
        key = _key(cfg, spec, split)
        if R.is_done(key, cfg.results_dir) and not cfg.force:
            report.skipped.append(str(key.path(cfg.results_dir)))
        else:
            todo.append((spec, key))
    dist.barrier(info)  # every rank decided on the same list before rank 0 writes anything
    if not todo:
        return report
    images = _load_images(cfg, split, todo) if cfg.accuracy else None
    for spec, key in todo:
        _log(f"== {spec.id} on {key.dataset}/{split} ({device}{f', rank {info.rank}/{info.world_size}' if info.active else ''})")
        try:
            with entry_lock(key.path(cfg.results_dir)) if info.is_main else contextlib.nullcontext():
                if info.is_main and R.is_done(key, cfg.results_dir) and not cfg.force:
                    report.skipped.append(str(key.path(cfg.results_dir)))  # another run finished it while we waited
                    continue
                result, samples = run_one(cfg, spec, key, images, device, info)
                if info.is_main:
                    path = R.write(result, samples, cfg.results_dir)
                    report.written.append(str(path))
                    bad = (result.get("accuracy") or {}).get("failed") or []
                    if bad:
                        report.unreadable_samples[spec.id] = [f"{f.get('id', f['index'])} ({f['error']})" for f in bad]
        except BenchError as e:
            report.failed[spec.id] = str(e)
            _log(f"   failed: {e}")
        except KeyboardInterrupt:
            report.interrupted = spec.id
            _log(f"   interrupted: finished results are kept; rerun to continue from {spec.id}")
            break
        except Exception as e:  # noqa: BLE001 - one model's crash must not lose the others
            report.failed[spec.id] = f"{type(e).__name__}: {e}"
            _log(f"   failed: {type(e).__name__}: {e}")
    return report


def _load_images(cfg: RunConfig, split: str, todo) -> D.ImageSet:
    try:
        images = D.load(cfg.dataset, split, cfg.data_dir)
    except DatasetUnavailableError as e:
        hints = [h for spec, _ in todo if cfg.weights == "pretrained" and (h := M.uncached_weights_hint(spec))]
        if hints:
            raise DatasetUnavailableError(f"{e}\nand the weights are not cached either:\n  " + "\n  ".join(hints)) from e
        raise
    if cfg.classes:
        images = images.restrict_classes(L.named(cfg.classes))
    _log(f"{cfg.dataset}/{split}: {len(images)} images from {images.source}")
    return images


def _key(cfg: RunConfig, spec: M.ModelSpec, split: str) -> R.ResultKey:
    return R.ResultKey(cfg.dataset_key, split, spec.id, R.weights_label(cfg.weights), cfg.transform, cfg.corruptions or "")


def run_one(cfg: RunConfig, spec: M.ModelSpec, key: R.ResultKey, images: D.ImageSet | None, device: str,
            info: dist.DistInfo = dist.DistInfo()):
    """One model: returns (result dict, per-sample arrays or None); identical on every rank."""
    from .measure import env

    started = dt.datetime.now(dt.timezone.utc)
    t0 = time.perf_counter()
    model, winfo = M.build(spec, cfg.weights)
    channels_last = M.prefers_channels_last(model) if cfg.channels_last is None else cfg.channels_last
    head = L.for_head(winfo.num_classes, cfg.label_space)
    ts = T.resolve(spec, model, cfg.transform, cfg.transform_overrides)
    result: dict[str, Any] = {
        "schema_version": R.SCHEMA_VERSION,
        "key": key.as_dict(),
        "model": {
            "id": spec.id, "source": spec.source, "arch": spec.arch, "tag": spec.tag,
            "num_classes": winfo.num_classes, "label_space": head.name,
            "weights": {"kind": winfo.kind, "origin": winfo.origin, "sha256": winfo.sha256},
            "reference": spec.reference,
        },
        "transform": ts.to_dict(),
    }
    samples = None
    if images is not None:
        projection = L.project(images.label_space, head)
        if not projection.mapped:
            raise BenchError(f"{spec.id} ({head.name}) predicts none of the {len(images.label_space)} {images.label_space.name} classes")
        indices = D.stratified(images.labels, cfg.limit)
        evaluation = _evaluate_sharded(cfg, model, images, indices, ts, projection, device, info, channels_last)
        if cfg.corruptions:  # same model, images and transform; each corruption and severity is one more pass
            from .measure import corruptions as C

            C.evaluate_all(evaluation, cfg.corruptions, lambda c: _evaluate_sharded(
                cfg, model, images, indices, ts, projection, device, info, channels_last, corrupt=c), _log)
        samples = evaluation.samples
        ids = images.ids()
        if images.name == "imagenet-1k" and images.split == "validation":
            from .measure.evaluate import real_accuracy

            evaluation.summary["real"] = real_accuracy(samples, ids, projection)
        for f in evaluation.summary["failed"]:
            f["id"] = ids[f["index"]]
        result["accuracy"] = evaluation.summary
        result["labels"] = projection.summary()
        result["dataset"] = {"name": images.name, "split": images.split, "source": images.source, "size": len(images),
                             "limit": cfg.limit, "classes": cfg.classes, "label_space": images.label_space.name,
                             "num_classes": len(images.label_space)}
        protocol = {"dataset": key.dataset, "split": images.split, "n": len(indices), "indices": R.indices_hash(indices),
                    "label_protocols": ["restricted", "full"], "transform_policy": cfg.transform,
                    "dataset_space": images.label_space.name, "model_space": head.name}
        result["protocol"] = protocol
        result["protocol_hash"] = R.protocol_hash(protocol)
    result["efficiency"] = None
    if cfg.efficiency and info.is_main:  # measured once, on rank 0, and labelled with the world size
        result["efficiency"] = {**_efficiency(cfg, model, ts, device, channels_last), "world_size": info.world_size}
    result["env"] = env.collect(device)
    result["run"] = {
        "started": started.isoformat(timespec="seconds"),
        "wall_s": round(time.perf_counter() - t0, 3),
        "device": device,
        "world_size": info.world_size,
        "batch_size": cfg.eval_batch_size(device),
        "data_path": cfg.data_path,
        "precision": cfg.precision,
        "channels_last": channels_last,
    }
    return result, samples


def _evaluate_sharded(cfg, model, images, indices, ts, projection, device, info: dist.DistInfo, channels_last: bool, corrupt=None):
    """Evaluate this rank's shard, then gather every rank's records (errors too, so no rank hangs)."""
    from .measure.evaluate import merge

    try:
        part, error = _evaluate_with_backoff(cfg, model, images, dist.shard(indices, info), ts, projection, device, channels_last,
                                             corrupt), None
    except Exception as e:  # noqa: BLE001 - re-raised below on every rank
        part, error = None, e
    gathered = dist.all_gather((part, None if error is None else f"{type(error).__name__}: {error}"), info)
    if error is not None:
        raise error
    errors = [f"rank {r}: {err}" for r, (_, err) in enumerate(gathered) if err]
    if errors:
        raise BenchError("evaluation failed on " + "; ".join(errors))
    return merge([p for p, _ in gathered], projection)


def _evaluate_with_backoff(cfg, model, images, indices, ts, projection, device, channels_last: bool, corrupt=None):
    """Evaluate; on CUDA out-of-memory halve the batch and start over (partial batches are not kept)."""
    import torch

    from .data import loaders
    from .measure.evaluate import evaluate

    batch = cfg.eval_batch_size(device)
    while True:
        pipe = loaders.build(images, indices, ts, device, batch, cfg.workers, cfg.data_path, corrupt=corrupt)
        try:
            ev = evaluate(model, pipe.batches, projection, device, cfg.precision, channels_last,
                          total=len(indices), progress=cfg.progress, finish=pipe.finish)
            ev.summary["data_path"] = pipe.data_path
            ev.summary["workers"] = pipe.workers
            ev.summary["batch_size"] = batch
            return ev
        except torch.cuda.OutOfMemoryError:
            if batch == 1:
                raise BenchError("out of GPU memory even at batch size 1: use a smaller model or --device cpu") from None
            batch //= 2
            torch.cuda.empty_cache()
            _log(f"   out of GPU memory: retrying with --batch-size {batch}")


def _efficiency(cfg: RunConfig, model, ts: T.TransformSpec, device: str, channels_last: bool) -> dict[str, Any]:
    from .measure.efficiency import EfficiencyConfig, measure

    ecfg = EfficiencyConfig(device=device, batch_size=cfg.batch_size, precision=cfg.precision,
                            channels_last=channels_last, compile=cfg.compile)
    return measure(model, tuple(ts.input_size), ecfg)
