"""Transfer results: one JSON per (model, dataset, probe, shots) experiment, keyed like `bench run`'s.

The key holds everything that can change a number: model id and weights digest, dataset and split
protocol, the fingerprint of every part (train / val / test indices and labels), the transform, the
feature spec, precision, the probe and its settings, the shots, episodes, seed and the digest of the
sampled few-shot indices. A changed setting is a new file; a rerun with the same key skips it.

Layout: <results>/transfer/<dataset>/<model>__<weights>__<probe>__<shots>__<key hash>.json
(`bench run`'s reader skips the transfer/ folder; `read_all` here reads only it).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ResultsError, SchemaVersionError
from . import atomic, schema

TRANSFER_SCHEMA = 1
FOLDER = "transfer"
HASH_LEN = 12


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", text).strip("-") or "x"


@dataclass(frozen=True)
class TransferKey:
    model: str
    weights: str  # pretrained | random | file-<stem>
    weights_digest: str | None
    dataset: str
    splits: str  # full | vtab1k
    parts: dict[str, str]  # part -> fingerprint (source, split, indices, labels)
    transform: dict[str, Any]
    feature: dict[str, Any]
    precision: str
    probe: str
    settings: dict[str, Any]
    shots: str  # "full" or the number of images per class
    episodes: int
    seed: int | None
    sampled: str | None  # sha256 of the few-shot indices of every episode

    def canonical(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.canonical().encode()).hexdigest()[:HASH_LEN]

    def path(self, results_dir: str | Path) -> Path:
        name = f"{_safe(self.model)}__{_safe(self.weights)}__{_safe(self.probe)}__{_safe(self.shots)}__{self.hash}.json"
        return Path(results_dir) / FOLDER / _safe(self.dataset) / name

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TransferKey:
        return cls(**d)


@dataclass
class TransferRecord:
    """Figures (headline and per episode), what the probe chose (lambda, curve, convergence), provenance."""

    key: TransferKey
    summary: dict[str, Any]  # metric -> {mean, sd, min, median, max} over episodes (one episode for full data)
    episodes: list[dict[str, Any]]  # per episode: metrics (+ per k for k-NN), probe record, sampled indices
    headline: str = "top1"  # which metric a table leads with (mean_per_class for Flowers and Pets)
    n: dict[str, int] = field(default_factory=dict)  # images per part (after failures)
    num_classes: int | None = None
    imagenet_top1: float | None = None  # the model's stored ImageNet-1k top-1, when a `bench run` result exists
    env: dict[str, Any] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)
    schema_version: int = TRANSFER_SCHEMA
    path: Path | None = field(default=None, compare=False)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("path")
        d["key"] = asdict(self.key)
        d["key_hash"] = self.key.hash
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any], path: Path | None = None) -> TransferRecord:
        version = d.get("schema_version")
        if not isinstance(version, int):
            raise ResultsError(f"transfer result {path}: no schema_version: delete it and rerun `bench transfer`")
        if version > TRANSFER_SCHEMA:
            raise SchemaVersionError(
                f"transfer result {path} has schema {version}, newer than this bench reads ({TRANSFER_SCHEMA}): upgrade imagenet-bench"
            )
        d = dict(d)
        d.pop("key_hash", None)
        try:
            key = TransferKey.from_json(d.pop("key"))
            return cls(key=key, path=path, **d)
        except (TypeError, KeyError) as e:
            raise ResultsError(f"transfer result {path} is not a transfer record ({e}): delete it and rerun") from e


def write(record: TransferRecord, results_dir: str | Path) -> Path:
    path = record.key.path(results_dir)
    atomic.write_file(path, json.dumps(record.to_json(), indent=1, sort_keys=True) + "\n")
    return path


def read(path: str | Path) -> TransferRecord:
    path = Path(path)
    # the store's one JSON reader: unreadable, truncated or absurdly nested files are all one ResultsError
    data = schema.read_json(path, "delete it and rerun `bench transfer`", what="transfer result ")
    if not isinstance(data, dict):
        raise ResultsError(f"transfer result {path} is not a JSON object: delete it and rerun `bench transfer`")
    return TransferRecord.from_json(data, path)


def iter_paths(results_dir: str | Path) -> list[Path]:
    root = Path(results_dir) / FOLDER
    return sorted(p for p in root.rglob("*.json") if not p.name.startswith(".")) if root.is_dir() else []


def read_all(results_dir: str | Path) -> list[TransferRecord]:
    return [read(p) for p in iter_paths(results_dir)]


def lookup(key: TransferKey, results_dir: str | Path) -> TransferRecord | None:
    """The stored record under exactly this key; an unreadable one counts as absent (measured again)."""
    path = key.path(results_dir)
    if not path.is_file():
        return None
    try:
        record = read(path)
    except SchemaVersionError:
        raise
    except ResultsError:
        return None
    return record if record.key == key else None
