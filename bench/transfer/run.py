"""`bench transfer`: for each model, features (cached) -> every probe x shots -> one record each.

Per model: the key of every (probe, shots) entry is computed first (weights digest, transform, feature
spec, split fingerprints, sampled few-shot indices); when all are stored the model is not even built.
Otherwise the pre-logit features of the train / val / test parts are read from the feature cache or
extracted into it, every probe runs on the arrays, and each record is written as soon as it is done.
A model that fails is reported and the others go on; the run ends with the summary table (or JSON).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from .. import models
from ..data import classsets, transforms
from ..data.datasets import ImageSet
from ..errors import BenchError, ConfigError, DatasetUnavailableError
from ..measure import distributed as dist
from ..measure import transfer as metrics
from ..store import transfer as store
from . import cache, episodes, features, presets, probes, splits
from .config import TransferConfig


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class Row:
    """One line of the summary: a (model, probe, shots) entry and what happened to it."""

    model: str
    probe: str
    shots: str
    status: str  # written | skipped | failed
    why: str = ""
    top1: float | None = None
    top5: float | None = None
    mean_per_class: float | None = None
    sd: float | None = None
    n: int | None = None
    path: str | None = None
    exit_code: int = 0

    @classmethod
    def of(cls, record: store.TransferRecord, status: str, why: str = "") -> Row:
        s = record.summary
        return cls(
            record.key.model,
            record.key.probe,
            record.key.shots,
            status,
            why,
            (s.get("top1") or {}).get("mean"),
            (s.get("top5") or {}).get("mean"),
            (s.get("mean_per_class") or {}).get("mean"),
            (s.get(record.headline) or {}).get("sd") if record.key.shots != "full" else None,
            record.n.get("test"),
            str(record.path) if record.path else None,
        )

    def cells(self) -> list[str]:
        def f(v, fmt=".2f"):
            return "—" if v is None else format(v, fmt)

        top1 = f(self.top1) + (f" ± {self.sd:.2f}" if self.sd is not None else "")
        status = f"{self.status} ({self.why})" if self.why else self.status
        return [
            self.model,
            self.probe,
            self.shots,
            top1,
            f(self.top5),
            f(self.mean_per_class),
            f(self.n, "d"),
            status,
            self.path or "",
        ]


HEADERS = ["model", "probe", "shots", "top-1", "top-5", "mean/class", "n", "status", "file"]


@dataclass
class TransferReport:
    dataset: str
    rows: list[Row] = field(default_factory=list)
    is_main: bool = True
    interrupted: str | None = None

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 130
        return max((r.exit_code for r in self.rows if r.status == "failed"), default=0)

    def counts(self) -> str:
        n = {s: sum(r.status == s for r in self.rows) for s in ("written", "skipped", "failed")}
        hint = " (--force measures again)" if any(r.why.startswith("already done") for r in self.rows) else ""
        return f"{n['written']} written, {n['skipped']} skipped{hint}, {n['failed']} failed"

    def format(self) -> str:
        from ..report.tables import terminal_table  # tabulate is optional at run time (a lent GPU machine)

        lines = []
        if self.rows:
            lines.append(
                terminal_table(
                    HEADERS,
                    [r.cells() for r in self.rows],
                    ("left", "left", "left", "right", "right", "right", "right", "left", "left"),
                )
            )
        lines.append(self.counts())
        if self.interrupted:
            lines.append(
                f"  INTERRUPTED during {self.interrupted}: finished entries are kept; rerun the same command to continue"
            )
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "results": [asdict(r) for r in self.rows],
            "summary": self.counts(),
            "interrupted": self.interrupted,
            "exit_code": self.exit_code,
        }


# --- data -------------------------------------------------------------------------------------------


@dataclass
class Data:
    preset: presets.Preset
    sets: dict[str, ImageSet]
    layout: splits.Splits
    fingerprints: dict[str, str]
    n_classes: int
    class_names: list[str]

    def part(self, name: str) -> tuple[ImageSet, splits.Part]:
        p = self.layout.parts()[name]
        return self.sets[p.source], p


def load_data(cfg: TransferConfig) -> Data:
    preset = presets.resolve(cfg.dataset)
    kind, arg = presets.parse_val(preset.val)
    needed = [preset.train, preset.test] + ([str(arg)] if kind == "own" else [])
    sets: dict[str, ImageSet] = {}
    for split in dict.fromkeys(needed):
        sets[split] = _load_split(preset, split, cfg.data_dir)
    names = list(sets[preset.train].label_space.wnids)
    for split, s in sets.items():
        if list(s.label_space.wnids) != names:
            raise DatasetUnavailableError(
                f"{preset.name}: split {split!r} has other classes than {preset.train!r}: is this one dataset?"
            )
    sp = splits.make(preset, sets, cfg.splits, cfg.limit)
    fps = {name: splits.fingerprint(sets[p.source], p) for name, p in sp.parts().items()}
    _log(
        f"{preset.name}: {len(names)} classes; train {len(sp.train)}, val {len(sp.val)}, test {len(sp.test)} "
        f"({cfg.splits}; val: {preset.val}) from {sets[preset.train].source}"
    )
    return Data(preset, sets, sp, fps, len(names), names)


def _load_split(preset: presets.Preset, split: str, data_dir: str | None) -> ImageSet:
    if preset.name == "digits":
        return classsets.digits()
    if data_dir is not None and classsets.is_image_folder(data_dir):
        return classsets.image_folder(data_dir, split, preset.name)
    assert preset.repo is not None
    return classsets.hub(preset.repo, split, preset.label_column, data_dir)


# --- keys ------------------------------------------------------------------------------------------


def _weights_label(weights: str) -> str:
    return weights if weights in ("pretrained", "random") else f"file-{Path(weights).stem}"


def _weights_digest(cfg: TransferConfig, spec: models.ModelSpec) -> str | None:
    """file:<sha256> of the weights file; random weights are drawn from seed 0 and known by their state's sha256
    (so every rank and every resumed extraction has the same ones); pretrained weights not on this machine are
    fetched by building the model (then its file is known)."""
    from ..store.checksums import file_sha256

    if cfg.weights == "random":
        model, _ = _build(spec, "random")
        return f"random-seed0:{models.state_dict_sha256(model)}"
    path = models.weights_file(spec, cfg.weights)
    if path is None or not path.is_file():
        model, info = _build(spec, cfg.weights)
        path = models.weights_file(spec, cfg.weights)
        if path is None or not path.is_file():
            return f"state:{info.sha256}"
    return f"file:{file_sha256(path)}"


def _build(spec: models.ModelSpec, weights: str):
    """models.build, with random weights drawn from a fixed seed (the global RNG state is left as it was)."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return models.build(spec, weights)


def _feature_spec(spec: models.ModelSpec) -> features.FeatureSpec:
    """Without the weights: timm models are known by their source, torchvision ones by their architecture
    (built on the meta device, no memory, no weights)."""
    if spec.source == models.TIMM:
        return features.FeatureSpec("timm-pre-logits")
    model, _ = models.build(spec, "random", meta=True)
    return features.Extractor(model, spec.source, spec.id).spec


def _sampled_digest(sampled: list[list[int]]) -> str:
    return hashlib.sha256(repr(sampled).encode()).hexdigest()


@dataclass
class Entry:
    probe: probes.Probe
    shots: str
    key: store.TransferKey
    sampled: list[list[int]]  # the few-shot indices (into the train part's source split) of every episode


def _entries(cfg: TransferConfig, spec, data: Data, digest, ts, fspec) -> list[Entry]:
    out = []
    train_set, train_part = data.part("train")
    for shots in cfg.shots:
        if shots == "full":
            sampled: list[list[int]] = []
        else:
            sampled = episodes.episodes(
                train_part.indices, train_set.labels, int(shots), cfg.episodes, cfg.seed, data.preset.name, data.class_names
            )
        for name in cfg.probes:
            probe = probes.PROBES[name]
            if name == "logreg" and cfg.logreg_backend != probe.settings.backend:
                probe = replace(probe, settings=replace(probe.settings, backend=cfg.logreg_backend))
            if name == "finetune":
                probe = replace(probe, settings=probes.FinetuneSettings(cfg.finetune_steps, cfg.finetune_batch_size))
            key = store.TransferKey(
                model=spec.id,
                weights=_weights_label(cfg.weights),
                weights_digest=digest,
                dataset=data.preset.name,
                splits=cfg.splits,
                parts=dict(data.fingerprints),
                transform=ts.to_dict(),
                feature=fspec.to_dict(),
                precision=cfg.precision,
                probe=name,
                settings=probe.settings.key(),
                shots=shots,
                episodes=1 if shots == "full" else cfg.episodes,
                seed=None if shots == "full" and name != "finetune" else cfg.seed,  # the fine-tune draws from it too
                sampled=_sampled_digest(sampled) if sampled else None,
            )
            out.append(Entry(probe, shots, key, sampled))
    return out


# --- the run ---------------------------------------------------------------------------------------


def run(cfg: TransferConfig, after_shard=None) -> TransferReport:
    """Every model of `cfg`; a model's failure is a row, not an exception."""
    specs = models.expand(cfg.models)  # unknown names: exit 2 before any work
    device = cfg.resolved_device()
    info = dist.init(device)
    device = dist.device_for(info, device)
    report = TransferReport(cfg.dataset, is_main=info.is_main)
    try:
        data = load_data(cfg)
        for spec in specs:
            try:
                report.rows += run_model(cfg, spec, data, device, info, after_shard)
            except ConfigError:
                raise  # bad input (no pooled features, too few images, another cache format): exit 2 at once
            except BenchError as e:
                report.rows.append(
                    Row(spec.id, ",".join(cfg.probes), ",".join(cfg.shots), "failed", str(e), exit_code=e.exit_code)
                )
                _log(f"   failed: {e}")
            except KeyboardInterrupt:
                report.interrupted = spec.id
                break
            except Exception as e:
                report.rows.append(
                    Row(spec.id, ",".join(cfg.probes), ",".join(cfg.shots), "failed", f"{type(e).__name__}: {e}", exit_code=1)
                )
                _log(f"   failed: {type(e).__name__}: {e}")
    finally:
        dist.shutdown(info)
    return report


def run_model(cfg: TransferConfig, spec, data: Data, device: str, info: dist.DistInfo, after_shard=None) -> list[Row]:
    ts = transforms.resolve(spec)
    fspec = _feature_spec(spec)
    digest = _weights_digest(cfg, spec)
    entries = _entries(cfg, spec, data, digest, ts, fspec)
    rows: list[Row] = []
    todo = []
    # rank 0 alone looks at the store and decides (ranks that looked themselves could disagree)
    stored_list = dist.broadcast(
        [None if cfg.force else store.lookup(e.key, cfg.results_dir) for e in entries] if info.is_main else None, info
    )
    for e, stored in zip(entries, stored_list):
        if stored is not None:
            rows.append(Row.of(stored, "skipped", "already done: identical key stored"))
        else:
            todo.append(e)
    if not todo:
        return rows
    _log(f"== {spec.id} on {data.preset.name}: {len(todo)} entr{'y' if len(todo) == 1 else 'ies'} to do ({device})")
    model, winfo = _build(spec, cfg.weights)
    extractor = features.Extractor(model, spec.source, spec.id)
    if extractor.spec != fspec:  # pragma: no cover - the meta build and the real one are the same architecture
        raise BenchError(f"{spec.id}: feature spec {extractor.spec} differs from {fspec}")
    ts = transforms.resolve(spec, model)
    t0 = time.perf_counter()
    feats = {
        name: _features(cfg, spec, data, name, extractor, ts, fspec, digest, device, info, after_shard)
        for name in ("train", "val", "test")
    }
    extract_s = time.perf_counter() - t0
    from ..measure import env

    environment = env.collect(device)
    pixels = probes.Pixels(model, tuple(ts.mean), tuple(ts.std), device, partial(_images, data))  # type: ignore[arg-type]
    for e in todo:
        t1 = time.perf_counter()
        record = _probe_entry(cfg, e, data, feats, pixels)
        record.env = environment
        record.run = {
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "device": device,
            "world_size": info.world_size,
            "batch_size": cfg.eval_batch_size(device),
            "features_s": round(extract_s, 3),
            "probe_s": round(time.perf_counter() - t1, 3),
            "feature_cache": {n: f.key for n, f in feats.items()},
            "failed_images": {n: f.failed for n, f in feats.items() if f.failed},
            "weights": {"kind": winfo.kind, "origin": winfo.origin, "sha256": winfo.sha256},
        }
        if info.is_main:
            record.path = store.write(record, cfg.results_dir)
        rows.append(Row.of(record, "written", f"{e.probe.name}"))
    return rows


def _features(cfg, spec, data: Data, name: str, extractor, ts, fspec, digest, device, info, after_shard) -> cache.Features:
    images, part = data.part(name)
    fields = {
        "weights_digest": digest,
        "model": spec.id,
        "feature": fspec.to_dict(),
        "transform": ts.to_dict(),
        "split": data.fingerprints[name],
        "precision": cfg.precision,
        "versions": cache.versions(),
    }
    c = cache.FeatureCache(cfg.cache_dir or cache.default_dir(), fields, shard=cfg.cache_shard)
    batch = cfg.eval_batch_size(device)

    def extract(indices: list[int]):
        return features.extract(extractor, images, indices, ts, device, batch, cfg.precision, cfg.workers, cfg.progress)

    got = c.get(list(part.indices), extract, info, after_shard)
    _log(f"   {name}: {len(got.labels)} x {got.features.shape[1]} features ({got.cached_shards} shard(s) from the cache {c.dir})")
    return got


def _images(data: Data, part: str, indices) -> Sequence[Any]:
    """The decoded images of `part` at its source indices, for the fine-tune (decoded when read)."""
    images, _ = data.part(part)
    return _Decoded(images, [int(i) for i in indices])


@dataclass
class _Decoded(Sequence):
    images: ImageSet
    indices: list[int]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i):
        from ..data.images import open_rgb

        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return open_rgb(self.images.raw(self.indices[i]))


def _probe_entry(
    cfg: TransferConfig, e: Entry, data: Data, feats: dict[str, cache.Features], pixels: probes.Pixels | None = None
) -> store.TransferRecord:
    import numpy as np

    tr, va, te = feats["train"], feats["val"], feats["test"]
    runs = [None] if e.shots == "full" else e.sampled
    per_episode = []
    for ep, chosen in enumerate(runs):
        if chosen is None:
            x, y, idx = tr.features, tr.labels, tr.indices
        else:
            pos = {int(i): j for j, i in enumerate(tr.indices.tolist())}
            missing = [i for i in chosen if i not in pos]
            if missing:
                raise BenchError(f"few-shot image {missing[0]} of {data.preset.name} could not be read: see the failed images")
            rows = np.asarray([pos[i] for i in chosen], dtype=np.int64)
            x, y, idx = tr.features[rows], tr.labels[rows], tr.indices[rows]
        out = e.probe.run(
            probes.ProbeInput(
                x,
                y,
                va.features,
                va.labels,
                te.features,
                data.n_classes,
                few_shot=chosen is not None,
                train_indices=idx,
                val_indices=va.indices,
                test_indices=te.indices,
                pixels=pixels,
                seed=cfg.seed * 1000 + ep,  # one seed per (seed, episode): episodes differ in their draws
            ),
            e.probe.settings,
        )
        variants = {v: metrics.scores(r, te.labels, data.n_classes) for v, r in out.ranked.items()}
        per_episode.append(
            {
                "episode": ep,
                **variants[out.headline],
                "variants": variants if len(variants) > 1 else None,
                "probe": out.record,
                "indices": chosen,
            }
        )
    summary: dict[str, Any] = {m: metrics.spread([p[m] for p in per_episode]) for m in ("top1", "top5", "mean_per_class")}
    if len(per_episode[0].get("variants") or {}) > 1:
        summary["variants"] = {
            v: {m: metrics.spread([p["variants"][v][m] for p in per_episode]) for m in ("top1", "top5", "mean_per_class")}
            for v in per_episode[0]["variants"]
        }
    return store.TransferRecord(
        key=e.key,
        summary=summary,
        episodes=per_episode,
        headline=data.preset.headline,
        n={"train": int(len(tr.labels)), "val": int(len(va.labels)), "test": int(len(te.labels))},
        num_classes=data.n_classes,
    )


def check_data_dir(path: str | None) -> None:
    if path is not None and not Path(path).expanduser().is_dir():
        raise ConfigError(f"--data-dir {path} is not a folder")
