"""The result record: the one place that says what a result file holds (schema v2), how its key is
hashed, and how older files are read.

`bench run` builds a `Record` from these types and `results.write` stores `Record.to_json()`;
the leaderboard, `bench check` and `results.load` read `Record.from_json()`. Every section keeps
the keys it does not know in `extra`, so a file written by a build with more fields (another
measurement) is read and rewritten without loss, and adding an optional field is one line: a
typed attribute with a default of None.

Version history: 1 -- key = (dataset, split, model, weights label, transform policy), so a
`--limit` run, another precision or another weights file shared one entry; 2 -- the key is the
whole experiment (`Identity`), hashed into the file name; sections merge; 3 -- the key holds what
can change predictions (device type, TF32, decode path, resize kernel), not the machine: the full
device name is efficiency's alone (`Identity.machine`, checked against the stored efficiency), so
another CPU model re-measures only efficiency.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self, overload

from ..errors import ResultsError, SchemaVersionError

SCHEMA_VERSION = 3
SECTIONS = ("accuracy", "efficiency")  # what a run can ask for; a new measurement adds its name here
KEY_HASH_LEN = 12


# ---------------------------------------------------------------------------------------------
# Sections: typed attributes + `extra` for keys this build does not know


class Section:
    """A dataclass read from and written to a JSON object; unknown keys live on in `extra`."""

    extra: dict[str, Any]
    # Every subclass is a dataclass: these say so to the type checker (`dataclasses.fields`, the keyword constructor).
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]

    if typing.TYPE_CHECKING:

        def __init__(self, **fields: Any) -> None: ...

    @overload
    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Self: ...

    @overload
    @classmethod
    def from_json(cls, d: None) -> None: ...

    @classmethod
    def from_json(cls, d: dict[str, Any] | None) -> Self | None:
        if d is None:
            return None
        if not isinstance(d, dict):
            raise TypeError(f"{cls.__name__}: expected an object, got {type(d).__name__}")
        hints = _hints(cls)
        known = {f.name for f in dataclasses.fields(cls) if f.name != "extra" and f.metadata.get("json", True)}
        kwargs = {}
        for k, v in d.items():
            if k in known:
                try:
                    kwargs[k] = _convert(hints[k], v)
                except TypeError as e:
                    raise TypeError(f"{k}: {e}") from None
        return cls(**kwargs, extra={k: v for k, v in d.items() if k not in known})

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name == "extra" or not f.metadata.get("json", True):
                continue
            v = getattr(self, f.name)
            out[f.name] = v.to_json() if isinstance(v, Section) else v
        out.update(self.extra)
        return out


_HINTS: dict[type, dict[str, Any]] = {}  # per class (a dict, not functools.cache: mypy sees no class object as Hashable)


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _convert(hint: Any, value: Any) -> Any:
    """A JSON value -> the attribute's type: nested sections become their dataclass, the rest stays. A value
    of another type (a string where an object belongs, 1e999 where a count belongs) is a TypeError here,
    on load, not an AttributeError or OverflowError in whichever reader touches it first."""
    for t in typing.get_args(hint) or (hint,):
        if isinstance(t, type) and issubclass(t, Section) and isinstance(value, dict):
            return t.from_json(value)
    if not _fits(hint, value):
        raise TypeError(f"expected {_name(hint)}, got {type(value).__name__} {_preview(value)}")
    return value


def _fits(hint: Any, value: Any) -> bool:
    """Whether a parsed JSON value has the attribute's declared type (the outer type: list, dict, int, ...)."""
    if hint is Any:
        return True
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(_fits(a, value) for a in args)
    origin = typing.get_origin(hint) or hint
    if value is None:
        return origin is type(None)
    if origin is bool:
        return isinstance(value, bool)
    if origin is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is float:  # JSON writes 1.0 as 1
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(origin, type) and issubclass(origin, Section):
        return isinstance(value, (dict, origin))
    if origin in (list, tuple):
        return isinstance(value, list) and (not args or all(v is None or _fits(args[0], v) for v in value))
    return isinstance(origin, type) and isinstance(value, origin)


def _name(hint: Any) -> str:
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    parts = [a for a in (typing.get_args(hint) if union else (hint,)) if a is not type(None)]
    return " or ".join(getattr(typing.get_origin(a) or a, "__name__", str(a)) for a in parts)


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# ---------------------------------------------------------------------------------------------
# The key


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


@dataclass(frozen=True)
class Identity(Section):
    """Everything that can change a number of the record. Its hash names the file; a rerun skips only an
    identical identity. A field that is None is left out of the hash, so a new optional field (default
    None) keeps every existing key valid."""

    model: str  # ModelSpec.id, e.g. tv:resnet50.IMAGENET1K_V2
    weights: str  # pretrained | random | file-<stem>: the readable part of the file name
    weights_digest: str | None  # file:<sha256 of the weights file> | state:<sha256 of the state dict>; None for random
    dataset: str  # with @<classes> when restricted with --classes
    split: str
    samples: str | None  # sha256 of the exact sample indices and their labels; None: no data (efficiency only)
    transform: dict[str, Any]  # TransformSpec.to_dict(), whatever fields it has
    precision: str
    label_space: str | None = None  # --label-space name, or name@sha256 of the file
    classes: str | None = None  # --classes name, or name@sha256 of the file
    data_path: str | None = None  # cpu | gpu: the decode path that ran (None without data)
    batch_size: int | None = None  # as asked (None: the default for the device)
    channels_last: bool | None = None  # as asked (None: the model's preference)
    compile: bool | None = None
    device: str | None = None  # device type: cpu | cuda | mps (v2 keys held kind:name, see `machine`)
    corruptions: str | None = None  # the canonical --corruptions set: a run with another set is another entry
    tf32: str | None = None  # on CUDA: on | off (both matmul and cuDNN) | cudnn-only (torch's default, v2 records)
    resize_kernel: str | None = None  # with data: pil | tensor-uint8 | tensor-float32-round (data.loaders.resize_kernel)
    # kind:name of the machine, e.g. cuda:NVIDIA H100 80GB HBM3 or cpu:AMD EPYC: what efficiency is measured on.
    # Not hashed (not in the file name): a stored efficiency counts only where its own machine equals it.
    machine: str | None = field(default=None, compare=False, metadata={"json": False})
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    # What efficiency depends on (with `machine`): a record of the same model that differs only elsewhere (other
    # samples, label space, decode path) holds the same efficiency measurement.
    EFFICIENCY_FIELDS: ClassVar[tuple[str, ...]] = (
        "model",
        "weights",
        "weights_digest",
        "dataset",
        "split",
        "transform",
        "precision",
        "batch_size",
        "channels_last",
        "compile",
        "device",
        "tf32",
    )

    def canonical(self) -> dict[str, Any]:
        return {k: v for k, v in self.to_json().items() if v is not None}

    @property
    def hash(self) -> str:
        return _digest(self.canonical())[:KEY_HASH_LEN]

    @property
    def policy(self) -> str:
        return str(self.transform.get("policy") or "model")

    def efficiency_part(self) -> dict[str, Any]:
        return {k: v for k, v in self.canonical().items() if k in self.EFFICIENCY_FIELDS}

    def efficiency_counts(self, record: Record) -> bool:
        """The record's stored efficiency was measured on this key's machine (or the key names none)."""
        return record.efficiency is not None and (self.machine is None or record.efficiency.machine == self.machine)

    def replace(self, **changes: Any) -> Identity:
        return dataclasses.replace(self, **changes)

    @property
    def prefix(self) -> str:
        """The readable part of the file name: model and weights (the experiment's details are in the hash)."""
        return f"{safe_name(self.model)}__{safe_name(self.weights)}"

    @property
    def stem(self) -> str:
        return f"{self.prefix}__{self.hash}"

    def path(self, results_dir: str | Path) -> Path:
        return Path(results_dir) / self.dataset / self.split / f"{self.stem}.json"

    def group(self) -> tuple[str, str, str, str, str]:
        """(dataset, split, model, weights, policy): one leaderboard row and one `bench check` entry."""
        return (self.dataset, self.split, self.model, self.weights, self.policy)

    def group_dict(self) -> dict[str, str]:
        return dict(zip(("dataset", "split", "model", "weights", "transform"), self.group()))


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]", "-", text)


# ---------------------------------------------------------------------------------------------
# The sections of a record


@dataclass
class WeightsRecord(Section):
    kind: str | None = None  # pretrained | random | file
    origin: str | None = None  # URL, hub id, package or path
    sha256: str | None = None  # over the state dict's tensors (models.state_dict_sha256)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class ModelRecord(Section):
    id: str | None = None
    source: str | None = None
    arch: str | None = None
    tag: str | None = None
    num_classes: int | None = None
    label_space: str | None = None
    weights: WeightsRecord | None = None
    reference: dict[str, Any] | None = None  # what the authors report (models.reference)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class DatasetRecord(Section):
    name: str | None = None
    split: str | None = None
    source: str | None = None
    size: int | None = None  # images in the split (after --classes)
    limit: int | None = None
    classes: str | None = None
    label_space: str | None = None
    num_classes: int | None = None
    streaming: bool | None = None  # read as an HF IterableDataset (--streaming): same samples, no local copy
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def complete(self) -> bool:
        """The whole split was asked for (a record without this section predates --limit and counts as whole)."""
        return self.limit is None or (self.size is not None and self.limit >= self.size)


@dataclass
class LabelsRecord(Section):
    dataset_space: str | None = None
    model_space: str | None = None
    dataset_classes: int | None = None
    model_classes: int | None = None
    mapped: int | None = None
    coverage: float | None = None
    unmapped: list[Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class Figures(Section):
    """One label protocol's accuracy (percent) and mean NLL."""

    top1: float | None = None
    top5: float | None = None
    correct1: int | None = None
    correct5: int | None = None
    top1_ci95: list[float] | None = None
    top5_ci95: list[float] | None = None
    nll: float | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class Accuracy(Section):
    n: int | None = None
    n_failed: int | None = None
    restricted: Figures | None = None
    full: Figures | None = None
    failed: list[dict[str, Any]] | None = None
    eval_wall_s: float | None = None
    eval_img_s: float | None = None
    data_path: str | None = None
    resize_kernel: str | None = None  # pil | tensor-uint8 | tensor-float32-round: what resized the images
    allow_tf32_matmul: bool | None = None
    allow_tf32_cudnn: bool | None = None
    workers: int | None = None
    batch_size: int | None = None
    real: dict[str, Any] | None = None  # ImageNet-ReaL top-1 on imagenet-1k validation
    calibration: dict[str, Any] | None = None  # ECE, adaptive ECE, Brier, reliability bins (bench.measure.calibration)
    corruptions: dict[str, Any] | None = None  # ImageNet-C errors, mCE, relative mCE (bench.measure.corruptions)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class Efficiency(Section):
    params: int | None = None
    params_trainable: int | None = None
    gmacs: float | None = None
    input_size: list[int] | None = None
    device: str | None = None
    device_name: str | None = None
    precision: str | None = None
    channels_last: bool | None = None
    compile: bool | None = None  # asked for
    compiled: bool | None = None  # the timed steps ran compiled graphs (dynamo can fall back to eager)
    compile_s: float | None = None  # the throughput batch's compile, apart from the warm-up
    compile_fallback: str | None = None  # why dynamo ran eagerly, when it did
    allow_tf32_matmul: bool | None = None
    allow_tf32_cudnn: bool | None = None
    batch_size: int | None = None
    batch_size_requested: int | None = None
    warmup: int | None = None
    iters: int | None = None
    repeats: int | None = None
    throughput_img_s: float | None = None
    throughput_img_s_min: float | None = None
    throughput_img_s_max: float | None = None
    latency_ms_p50: float | None = None
    latency_ms_p95: float | None = None
    latency_ms_p99: float | None = None
    gpu_max_allocated_mb: float | None = None
    gpu_max_reserved_mb: float | None = None
    nvml_used_mb: float | None = None
    nvml_total_mb: float | None = None
    cpu_rss_growth_mb: float | None = None
    world_size: int | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def machine(self) -> str | None:
        """kind:name of what it was measured on (Identity.machine's form), e.g. cpu:AMD EPYC."""
        if not self.device_name:
            return None
        return f"{str(self.device or 'cpu').split(':')[0]}:{self.device_name}"


@dataclass
class Protocol(Section):
    """What must match for two accuracies to be comparable (`bench check`); hashed as in schema v1."""

    dataset: str | None = None
    split: str | None = None
    n: int | None = None
    indices: str | None = None
    label_protocols: list[str] | None = None
    transform_policy: str | None = None
    dataset_space: str | None = None
    model_space: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def hash(self) -> str:
        # schema v1's formula, byte for byte: baselines written from v1 results still match
        return hashlib.sha256(json.dumps(self.to_json(), sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class Env(Section):
    python: str | None = None
    platform: str | None = None
    torch: str | None = None
    torchvision: str | None = None
    timm: str | None = None
    cuda: str | None = None
    gpu_name: str | None = None
    driver: str | None = None
    cpu: str | None = None
    bench_version: str | None = None
    git_sha: str | None = None
    extra: dict[str, Any] = field(
        default_factory=dict, repr=False
    )  # datasets, pandas, numpy, cudnn, counts, ... (measure.env.collect)


@dataclass
class SectionRun(Section):
    """When and by what code one section was measured: sections of a record may come from different runs."""

    started: str | None = None
    wall_s: float | None = None
    device: str | None = None
    world_size: int | None = None
    bench_version: str | None = None
    git_sha: str | None = None
    error: str | None = None  # the section failed (its measurement is absent and a rerun tries again): why
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class RunRecord(Section):
    """The latest run that wrote the record, and per section the run that measured it."""

    started: str | None = None
    wall_s: float | None = None
    device: str | None = None
    world_size: int | None = None
    batch_size: int | None = None
    data_path: str | None = None
    precision: str | None = None
    channels_last: bool | None = None
    transform_overrides: dict[str, Any] | None = None  # --mean/--std/--crop-pct/... given on the command line
    sections: dict[str, SectionRun] | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, d):
        rec = super().from_json(d)
        if rec is not None and isinstance(rec.sections, dict):
            rec.sections = {k: SectionRun.from_json(v) if isinstance(v, dict) else v for k, v in rec.sections.items()}
        return rec

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        if self.sections is not None:
            out["sections"] = {k: v.to_json() if isinstance(v, Section) else v for k, v in self.sections.items()}
        return out


@dataclass
class Record(Section):
    """One result file."""

    key: Identity
    model: ModelRecord | None = None
    transform: dict[str, Any] | None = None  # TransformSpec.to_dict() as it ran
    dataset: DatasetRecord | None = None
    labels: LabelsRecord | None = None
    accuracy: Accuracy | None = None
    efficiency: Efficiency | None = None
    protocol: Protocol | None = None
    protocol_hash: str | None = None
    env: Env | None = None
    run: RunRecord | None = None
    samples_file: str | None = None  # per-sample predictions (.npz) beside the JSON
    schema_version: int = SCHEMA_VERSION
    migrated_from: int | None = field(default=None, metadata={"json": False})  # 1 or 2 when read from an older file
    path: Path | None = field(default=None, compare=False, repr=False, metadata={"json": False})  # where it was read
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    def sections(self) -> tuple[str, ...]:
        """The measurements this record holds."""
        return tuple(s for s in SECTIONS if getattr(self, s, None) is not None or self.extra.get(s) is not None)

    def to_json(self) -> dict[str, Any]:
        d = super().to_json()
        return {"schema_version": d.pop("schema_version"), **d}

    @property
    def complete(self) -> bool:
        """Accuracy over the whole split (no --limit)."""
        return self.accuracy is not None and (self.dataset is None or self.dataset.complete)

    @property
    def overridden(self) -> bool:
        """Preprocessing changed on the command line (--mean, --crop-pct, ...), not the model's or the policy's own."""
        return bool(self.run and self.run.transform_overrides)

    def preference(self) -> tuple:
        """Which record of a group a leaderboard shows and `bench check` compares, larger first: the whole split,
        then the model's own preprocessing, then the most sections, then the newest."""
        started = (self.run.started if self.run else None) or ""
        return (self.complete, not self.overridden, len(self.sections()), started, str(self.path or ""))


# ---------------------------------------------------------------------------------------------
# Reading: version check and migration


def from_json(d: Any, path: Path | None = None, default_version: int | None = None) -> Record:
    """A record from parsed JSON: v3 as is, v1 and v2 through `migrate_v1` / `migrate_v2`, newer refused
    (SchemaVersionError)."""
    where = str(path) if path else "result"
    if not isinstance(d, dict):
        raise ResultsError(f"{where} is not a result (a JSON object was expected)")
    version = d.get("schema_version", default_version)
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{where} was written by a newer imagenet-bench (schema_version {version}; this one reads up to "
            f"{SCHEMA_VERSION}): upgrade imagenet-bench to read it; the file is left as it is"
        )
    migrated = None
    if version == 1:
        d, migrated = migrate_v2(migrate_v1(d)), 1
    elif version == 2:
        d, migrated = migrate_v2(d), 2
    elif version != SCHEMA_VERSION:
        raise ResultsError(f"{where} has no valid schema_version ({version!r}): it is not a result file")
    try:
        try:
            key = Identity.from_json(d.get("key"))
        except TypeError as e:
            raise TypeError(f"key.{e}") from None
        if key is None:
            raise KeyError("key")
        record = Record.from_json({k: v for k, v in d.items() if k != "key"} | {"key": key})
    except (KeyError, TypeError, ValueError) as e:
        raise ResultsError(f"{where} is malformed ({type(e).__name__}: {e}): {REMEASURE}") from e
    record.key, record.migrated_from, record.path = key, migrated, path
    return record


def migrate_v1(d: dict[str, Any]) -> dict[str, Any]:
    """A v1 result -> the v2 JSON shape. v1 keys lacked most of the experiment; what the file recorded
    elsewhere (state-dict checksum, precision, device, ...) fills the identity, so the migrated key
    never equals a v2 run's: a rerun measures again instead of trusting a v1 entry."""
    k = d.get("key")
    if not isinstance(k, dict) or not {"dataset", "split", "model"} <= set(k):
        raise KeyError("key (dataset, split, model)")
    model, run, eff = d.get("model") or {}, d.get("run") or {}, d.get("efficiency") or {}
    sha = (model.get("weights") or {}).get("sha256")
    protocol, dataset = d.get("protocol") or {}, d.get("dataset") or {}
    transform = d.get("transform") or {"policy": k.get("transform") or "model"}
    key = {
        "model": k["model"],
        "weights": k.get("weights") or "pretrained",
        "weights_digest": f"state:{sha}" if sha else None,
        "dataset": k["dataset"],
        "split": k["split"],
        "samples": f"v1:{protocol['indices']}" if protocol.get("indices") else None,
        "transform": transform,
        "precision": run.get("precision") or eff.get("precision") or "fp32",
        "classes": dataset.get("classes"),
        "data_path": run.get("data_path"),
        "channels_last": run.get("channels_last"),
        "compile": eff.get("compile"),
        "device": run.get("device"),
    }
    return {**d, "schema_version": 2, "key": key}


def migrate_v2(d: dict[str, Any]) -> dict[str, Any]:
    """A v2 result -> v3: the key's device becomes its type (the machine name is efficiency's, which records it),
    and what v2 ran implicitly is spelled out: the resize kernel of its decode path, and on CUDA torch's TF32
    defaults (cuDNN on, matmul off), which v2 neither set nor recorded."""
    k = d.get("key")
    if not isinstance(k, dict):
        raise KeyError("key")
    key = dict(k)
    kind = str(key.get("device") or "").split(":")[0] or None
    key["device"] = kind
    if kind == "cuda":
        key["tf32"] = "cudnn-only"
    if key.get("samples") is not None and key.get("data_path") in ("cpu", "gpu"):
        key["resize_kernel"] = resize_kernel_of(key["data_path"], kind or "cpu")
    return {**d, "schema_version": SCHEMA_VERSION, "key": key}


def resize_kernel_of(data_path: str, device_kind: str) -> str:
    """The kernel that resizes the images of a decode path: PIL in the CPU path; on tensors, torchvision's native
    uint8 kernel on CPU, and float32 + round on CUDA (the uint8 kernel is CPU-only in torchvision 0.26-0.29)."""
    if data_path != "gpu":
        return "pil"
    return "tensor-float32-round" if device_kind == "cuda" else "tensor-uint8"


REMEASURE = "delete it (and its .samples.npz) and rerun `bench run` for that model"


def parse_json(text: str, where: str, fix: str) -> Any:
    """JSON text -> data, or ResultsError naming `where` and `fix`: truncated, not JSON, or nested so deep
    (200,000 brackets) that the parser would overflow the stack."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ResultsError(f"cannot read {where} ({e}): it is corrupt or truncated; {fix}") from e
    except RecursionError:
        raise ResultsError(f"cannot read {where}: nested too deeply to be one of ours; {fix}") from None


def read_json(path: Path, fix: str, what: str = "") -> Any:
    """A JSON file this harness wrote (`what`: "baseline ", ...), read whole; every way it can be unreadable is a
    ResultsError naming the file and `fix`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise ResultsError(f"cannot read {what}{path} ({reason}): {fix}") from e
    return parse_json(text, f"{what}{path}", fix)


def check_samples(arrays: dict[str, Any], path: Path, fix: str) -> None:
    """Per-sample arrays as `evaluate` writes them: one row per sample in every array, `index` one-dimensional."""
    import numpy as np

    odd = sorted(k for k, a in arrays.items() if not isinstance(a, np.ndarray))  # a zip member that is not .npy
    if odd:
        raise ResultsError(f"{path}: {', '.join(odd)} is not a numpy array: {fix}")
    index = arrays.get("index")
    if index is not None and index.ndim != 1:
        raise ResultsError(f"{path}: index has shape {index.shape}, expected one entry per sample: {fix}")
    lengths = {k: (len(a) if a.ndim else None) for k, a in arrays.items()}
    if len(set(lengths.values())) > 1 or None in lengths.values():
        shown = ", ".join(f"{k} {v}" for k, v in sorted(lengths.items()))
        raise ResultsError(f"{path}: the per-sample arrays differ in length ({shown}): {fix}")


def loads(text: str, path: Path | None = None) -> Record:
    return from_json(parse_json(text, f"result {path or ''}".strip(), REMEASURE), path)


def dumps(record: Record) -> str:
    return json.dumps(record.to_json(), indent=2, default=_json_default) + "\n"


def _json_default(o: Any) -> Any:
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, (set, tuple)):
        return list(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
