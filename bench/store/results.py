"""Results: a versioned, self-describing JSON per (dataset, split, model, weights, transform policy),
per-sample predictions in an .npz beside it, atomic writes, and a pandas view for tables.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ResultsError

SCHEMA_VERSION = 1
SAMPLES_SUFFIX = ".samples.npz"


@dataclass(frozen=True)
class ResultKey:
    """What makes two results the same entry: rerunning it replaces (or skips) the old one."""

    dataset: str
    split: str
    model: str  # ModelSpec.id, e.g. tv:resnet50.IMAGENET1K_V2
    weights: str  # pretrained | random | file-<stem>
    transform: str  # model | fixed
    corruptions: str = ""  # canonical --corruptions set ("" = none): a run with another set is another entry

    @property
    def stem(self) -> str:
        safe = re.sub(r"[^A-Za-z0-9_.+-]", "-", self.model)
        return f"{safe}__{self.weights}__{self.transform}" + (f"__c-{corruptions_label(self.corruptions)}" if self.corruptions else "")

    def path(self, results_dir: str | Path) -> Path:
        return Path(results_dir) / self.dataset / self.split / f"{self.stem}.json"

    def as_dict(self) -> dict[str, str]:
        d = {"dataset": self.dataset, "split": self.split, "model": self.model, "weights": self.weights, "transform": self.transform}
        return {**d, "corruptions": self.corruptions} if self.corruptions else d


def corruptions_label(canonical: str) -> str:
    """File-name part for a corruption set: readable when short, a hash of the canonical spelling when long."""
    if len(canonical) <= 40:
        return canonical.replace(":", "-").replace(",", "+")
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def weights_label(weights: str) -> str:
    """The weights part of a key: pretrained, random, or file-<stem> for --weights PATH."""
    if weights in ("pretrained", "random"):
        return weights
    return "file-" + re.sub(r"[^A-Za-z0-9_.+-]", "-", Path(weights).stem)


def protocol_hash(protocol: dict[str, Any]) -> str:
    """Short hash of what must match for two results to be comparable."""
    return hashlib.sha256(json.dumps(protocol, sort_keys=True).encode()).hexdigest()[:16]


def indices_hash(indices) -> str:
    return hashlib.sha256(",".join(map(str, indices)).encode()).hexdigest()[:16]


def is_done(key: ResultKey, results_dir: str | Path) -> bool:
    """A result counts as done only when both its JSON and its per-sample file are there."""
    p = key.path(results_dir)
    return p.is_file() and p.with_name(p.stem + SAMPLES_SUFFIX).is_file()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file in the same directory, fsync, rename: readers see all or nothing."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise ResultsError(f"cannot write results under {path.parent} ({e.strerror}): check permissions or pass --results-dir") from e
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise ResultsError(f"cannot write {path} ({e.strerror}): free some space or pass --results-dir; nothing was half-written") from e


def write(result: dict[str, Any], samples: dict[str, Any] | None, results_dir: str | Path) -> Path:
    """Store one result: samples first, JSON last (the JSON is what marks the entry done)."""
    import numpy as np

    key = ResultKey(**result["key"])
    path = key.path(results_dir)
    if samples is not None:
        buf = io.BytesIO()
        np.savez_compressed(buf, **samples)
        atomic_write_bytes(path.with_name(path.stem + SAMPLES_SUFFIX), buf.getvalue())
        result = {**result, "samples_file": path.stem + SAMPLES_SUFFIX}
    atomic_write_bytes(path, (json.dumps(result, indent=2, sort_keys=False, default=_json_default) + "\n").encode())
    return path


def _json_default(o: Any) -> Any:
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, (set, tuple)):
        return list(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def read(path: str | Path) -> dict[str, Any]:
    """One result, with its schema version checked."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ResultsError(f"cannot read result {path} ({e}): delete it and rerun that model") from e
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ResultsError(f"{path} has schema_version {version}, this bench reads {SCHEMA_VERSION}: rerun with --force to regenerate it")
    data["_path"] = str(path)
    return data


def read_samples(result: dict[str, Any]) -> dict[str, Any] | None:
    """The per-sample arrays stored beside a result, or None when absent."""
    import numpy as np

    name = result.get("samples_file")
    if not name:
        return None
    p = Path(result["_path"]).with_name(name)
    if not p.is_file():
        return None
    with np.load(p, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def iter_paths(results_dir: str | Path) -> list[Path]:
    root = Path(results_dir)
    return sorted(p for p in root.rglob("*.json") if not p.name.startswith(".")) if root.is_dir() else []


def read_all(results_dir: str | Path) -> list[dict[str, Any]]:
    return [read(p) for p in iter_paths(results_dir)]


def _get(d: dict | None, *path: str) -> Any:
    for k in path:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def flatten(r: dict[str, Any]) -> dict[str, Any]:
    """One result -> one flat row (the columns of `load`)."""
    acc, eff, ref = r.get("accuracy") or {}, r.get("efficiency") or {}, _get(r, "model", "reference") or {}
    ci = _get(acc, "restricted", "top1_ci95") or [None, None]
    return {
        "dataset": r["key"]["dataset"],
        "split": r["key"]["split"],
        "model": r["key"]["model"],
        "weights": r["key"]["weights"],
        "transform": r["key"]["transform"],
        "corruptions": r["key"].get("corruptions") or None,
        "source": _get(r, "model", "source"),
        "arch": _get(r, "model", "arch"),
        "tag": _get(r, "model", "tag"),
        "weights_sha256": _get(r, "model", "weights", "sha256"),
        "n": acc.get("n"),
        "n_failed": acc.get("n_failed"),
        "top1": _get(acc, "restricted", "top1"),
        "top5": _get(acc, "restricted", "top5"),
        "top1_ci_low": ci[0],
        "top1_ci_high": ci[1],
        "nll": _get(acc, "restricted", "nll"),
        "top1_full": _get(acc, "full", "top1"),
        "top5_full": _get(acc, "full", "top5"),
        "nll_full": _get(acc, "full", "nll"),
        "ece": _get(acc, "calibration", "ece"),
        "ece_adaptive": _get(acc, "calibration", "ece_adaptive"),
        "brier": _get(acc, "calibration", "brier"),
        "mce": _get(acc, "corruptions", "mce"),
        "relative_mce": _get(acc, "corruptions", "relative_mce"),
        "coverage": _get(r, "labels", "coverage"),
        "params": eff.get("params"),
        "gmacs": eff.get("gmacs"),
        "img_s": eff.get("throughput_img_s"),
        "img_s_device": eff.get("device_name") or eff.get("device"),
        "img_s_precision": eff.get("precision"),
        "img_s_batch": eff.get("batch_size"),
        "latency_p50_ms": eff.get("latency_ms_p50"),
        "gpu_peak_mb": eff.get("gpu_max_allocated_mb"),
        "eval_img_s": acc.get("eval_img_s"),
        "ref_top1": ref.get("top1"),
        "ref_top5": ref.get("top5"),
        "ref_params": ref.get("params"),
        "ref_gmacs": ref.get("gmacs"),
        "ref_source": ref.get("source"),
        "device": _get(r, "run", "device"),
        "started": _get(r, "run", "started"),
        "date": (_get(r, "run", "started") or "")[:10] or None,
        "protocol_hash": r.get("protocol_hash"),
        "path": r.get("_path"),
    }


def load(results_dir: str | Path = "results"):
    """All results under `results_dir` as a pandas DataFrame, one row per result (sorted by path)."""
    import pandas as pd

    rows = [flatten(r) for r in read_all(results_dir)]
    columns = list(flatten({"key": {k: None for k in ("dataset", "split", "model", "weights", "transform")}}).keys())
    return pd.DataFrame(rows, columns=columns)
