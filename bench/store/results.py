"""The results store: one JSON per experiment (`schema.Identity`, hashed into the file name), per-sample
predictions in an .npz beside it, atomic group-readable writes, what a rerun still has to measure
(`lookup`), how new sections merge into a stored record (`save`), and a pandas view for tables.

Layout: <results>/<dataset>/<split>/<model>__<weights>__<key hash>.json (+ .samples.npz).
"""

from __future__ import annotations

import io
import json
import sys
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from ..errors import ResultsError, SchemaVersionError
from . import atomic, schema, transfer
from .schema import SCHEMA_VERSION, Identity, Record  # noqa: F401 - the store's types, re-exported

SAMPLES_SUFFIX = ".samples.npz"
SENSITIVITY_DIR = "sensitivity"  # <results>/sensitivity/: `bench sensitivity` reports (bench.report.sensitivity), not results

Warn = Callable[[str], None]
T = TypeVar("T")


def _warn(msg: str) -> None:
    print(f"   warning: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# digests that go into keys and protocols


def indices_hash(indices) -> str:
    """The v1 protocol's hash of the sample indices (kept: `bench check` baselines carry it)."""
    import hashlib

    return hashlib.sha256(",".join(map(str, indices)).encode()).hexdigest()[:16]


def protocol_hash(protocol: dict[str, Any]) -> str:
    return schema.Protocol.from_json(protocol).hash


def samples_digest(indices: Sequence[int], labels: Sequence[int], content: str | None = None) -> str:
    """sha256 over the exact sample indices and the label of each, and over `content` (the digest of the bytes
    of those samples, datasets.content_digest): another subset, another copy whose labels differ, or other
    files under the same names, is another experiment."""
    import hashlib

    import numpy as np

    idx = np.asarray(list(indices), dtype="<i8")
    lab = np.asarray(labels, dtype="<i8")[idx] if len(idx) else np.zeros(0, "<i8")
    tail = b"" if content is None else b"|" + content.encode()
    return hashlib.sha256(idx.tobytes() + b"|" + lab.tobytes() + tail).hexdigest()


# ---------------------------------------------------------------------------------------------
# writing


def _as_record(record: Record | dict[str, Any]) -> Record:
    return record if isinstance(record, Record) else schema.from_json(record, default_version=1)


def write(record: Record | dict[str, Any], samples: dict[str, Any] | None, results_dir: str | Path) -> Path:
    """Store one record under its key: samples first, JSON last (the JSON is what marks the entry done)."""
    record = _as_record(record)
    path = record.key.path(results_dir)
    return _write_at(path, record, samples)


def _write_at(path: Path, record: Record, samples: dict[str, Any] | None) -> Path:
    try:
        return _write_files(path, record, samples)
    except ResultsError as e:
        raise ResultsError(f"{e} (or pass --results-dir)") from e


def _write_files(path: Path, record: Record, samples: dict[str, Any] | None) -> Path:
    if samples is not None:
        import numpy as np

        buf = io.BytesIO()
        np.savez_compressed(buf, **samples)
        atomic.write_file(path.with_name(path.stem + SAMPLES_SUFFIX), buf.getvalue())
        record = replace(record, samples_file=path.stem + SAMPLES_SUFFIX)
    atomic.write_file(path, schema.dumps(record))
    return path


# ---------------------------------------------------------------------------------------------
# reading


def read(path: str | Path) -> Record:
    """One record, migrated from v1 when older; a newer schema is a SchemaVersionError (exit 2)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ResultsError(f"cannot read result {path} ({e}): delete it and rerun that model") from e
    return schema.loads(text, path)


def read_samples(record: Record) -> dict[str, Any] | None:
    """The per-sample arrays stored beside a record, or None when absent."""
    import numpy as np

    if not record.samples_file or record.path is None:
        return None
    p = Path(record.path).with_name(record.samples_file)
    if not p.is_file():
        return None
    fix = "rerun `bench run` for that model (it measures the accuracy again) or delete the result"
    try:
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
        raise ResultsError(f"cannot read {p} ({type(e).__name__}: {e}): it is corrupt or truncated; {fix}") from e
    schema.check_samples(arrays, p, fix)
    return arrays


def iter_paths(results_dir: str | Path) -> list[Path]:
    """The `bench run` records under `results_dir`: not the hidden files, not the sensitivity reports
    (<results>/sensitivity/, bench.report.sensitivity) nor the transfer results (<results>/transfer/,
    bench.store.transfer) stored beside them."""
    root = Path(results_dir)
    if not root.is_dir():
        return []
    others = {SENSITIVITY_DIR, transfer.FOLDER}
    return sorted(p for p in root.rglob("*.json") if not p.name.startswith(".") and p.relative_to(root).parts[0] not in others)


def read_all(results_dir: str | Path, errors: list[ResultsError] | None = None) -> list[Record]:
    """Every record under `results_dir`. With `errors`, an unreadable file is appended there and skipped, so
    the other results still render (the caller reports them and exits 2); without it, the first one raises."""
    out = []
    for p in iter_paths(results_dir):
        try:
            out.append(read(p))
        except ResultsError as e:
            if errors is None or isinstance(e, SchemaVersionError):
                raise
            errors.append(e)
    return out


# ---------------------------------------------------------------------------------------------
# what a run still has to do


@dataclass
class Plan:
    """What `lookup` found under a key, and which requested sections are still to be measured."""

    key: Identity
    path: Path
    requested: tuple[str, ...]
    existing: Record | None = None  # the record under this key: new sections merge into it
    measure: tuple[str, ...] = ()
    adopt: Record | None = None  # an efficiency-only record (no data) whose measurement this record takes over
    targets: list[Record] = field(default_factory=list)  # efficiency-only run: records with data that get it
    stored_in: Path | None = None  # efficiency-only run already done: where the measurement is
    older: Path | None = None  # `existing` read from a file of an older schema whose key hashed to another name
    other_machine: str | None = None  # the machine of a stored efficiency that does not count here (re-measured)

    @property
    def done(self) -> bool:
        return not self.measure and self.adopt is None

    def why_done(self) -> str:
        return f"already done: {'+'.join(self.requested)} stored"


def lookup(key: Identity, results_dir: str | Path, requested: Sequence[str], force: bool = False, warn: Warn = _warn) -> Plan:
    """Which of `requested` are stored under `key`. A corrupt or truncated entry counts as absent (with a
    warning) and is measured again; one written by a newer bench raises SchemaVersionError. A stored efficiency
    counts only when measured on the key's machine (`Identity.machine`): another machine measures it again and
    keeps the accuracy. An entry of an older schema is found under its old file name (its key migrated)."""
    path = key.path(results_dir)
    existing = _read_entry(path, warn)
    siblings = [r for r in _siblings(key, results_dir) if r.path != path]
    plan = Plan(key, path, tuple(requested), existing)
    if existing is None:
        older = next((r for r in siblings if r.migrated_from is not None and r.key.hash == key.hash), None)
        if older is not None:
            existing, plan.existing, plan.older = older, older, older.path
            siblings.remove(older)
    have = _stored(existing, warn)
    if "efficiency" in have and existing is not None and not key.efficiency_counts(existing):
        have.discard("efficiency")
        plan.other_machine = existing.efficiency.machine if existing.efficiency else None
    measure = [s for s in requested if force or s not in have]
    if key.samples is None:  # efficiency only: the measurement is the same whatever samples a record has
        stored = [r for r in [existing, *siblings] if r is not None and key.efficiency_counts(r)]
        if stored and not force:
            measure, plan.stored_in = [], stored[0].path
        plan.targets = [r for r in siblings if r.key.samples is not None and (force or not key.efficiency_counts(r))]
    elif "efficiency" not in have and not (force and "efficiency" in requested):
        plan.adopt = next((r for r in siblings if r.key.samples is None and key.efficiency_counts(r)), None)
        if plan.adopt is not None and "efficiency" in measure:
            measure.remove("efficiency")
    plan.measure = tuple(measure)
    if plan.older is not None and plan.done:
        plan.stored_in = plan.older
    return plan


def _read_entry(path: Path, warn: Warn) -> Record | None:
    if not path.exists():
        return None
    try:
        return read(path)
    except SchemaVersionError:
        raise
    except ResultsError as e:
        warn(f"{e}; measuring it again")
        return None


def _stored(record: Record | None, warn: Warn) -> set[str]:
    if record is None:
        return set()
    have = set(record.sections())
    if "accuracy" in have and not _samples_ok(record):
        warn(f"{record.path}: its per-sample file {record.samples_file} is missing or corrupt; measuring accuracy again")
        have.discard("accuracy")
    return have


def _samples_ok(record: Record) -> bool:
    if not record.samples_file or record.path is None:
        return False
    p = Path(record.path).with_name(record.samples_file)
    return p.is_file() and zipfile.is_zipfile(p)


def _siblings(key: Identity, results_dir: str | Path) -> list[Record]:
    """Readable records of the same efficiency identity (same model, weights, transform, precision, device,
    batch, ...), whatever their samples; unreadable and newer files are not ours to judge here."""
    folder = key.path(results_dir).parent
    out = []
    for p in sorted(folder.glob(f"{key.prefix}__*.json")) if folder.is_dir() else []:
        if len(p.stem) != len(key.prefix) + 2 + schema.KEY_HASH_LEN:
            continue
        try:
            r = read(p)
        except ResultsError:
            continue
        if r.key.efficiency_part() == key.efficiency_part():
            out.append(r)
    return out


def merge(base: Record | None, new: Record, measured: Sequence[str]) -> Record:
    """`new`'s measured sections over `base`; what `new` did not measure stays as stored (never erased)."""
    if base is None:
        return new
    out = replace(
        base,
        key=new.key,
        model=new.model or base.model,
        transform=new.transform or base.transform,
        env=new.env or base.env,
        run=_merge_run(base.run, new.run),
        schema_version=schema.SCHEMA_VERSION,
        extra={**base.extra, **new.extra},
    )
    for section in measured:
        if hasattr(out, section):
            setattr(out, section, getattr(new, section))
        else:
            out.extra[section] = new.extra.get(section)
        if section == "accuracy":  # what describes the samples comes with the accuracy measured on them
            out.dataset, out.labels, out.protocol, out.protocol_hash = new.dataset, new.labels, new.protocol, new.protocol_hash
    return out


def _merge_run(base: schema.RunRecord | None, new: schema.RunRecord | None) -> schema.RunRecord | None:
    if new is None:
        return base
    sections = {**((base.sections if base else None) or {}), **(new.sections or {})}
    return replace(new, sections=sections or None)


def save(plan: Plan, record: Record, samples: dict[str, Any] | None, warn: Warn = _warn) -> list[Path]:
    """Store what a run measured (`plan.measure`) for `plan.key`, merged with what is stored; returns the
    files written. Call it holding the entry's lock."""

    def add_efficiency(path: Path) -> Path:
        current = read(path)
        return _write_at(path, merge(current, replace(record, key=current.key), plan.measure), None)

    if plan.key.samples is None and plan.targets:
        written = []
        for target in plan.targets:  # records with data, same efficiency identity: each gets the measurement
            path = _unless_locked(target, warn, "efficiency not added to it", add_efficiency)
            if path is not None:
                written.append(path)
        if plan.existing is not None:
            written.append(_write_at(plan.path, merge(plan.existing, record, plan.measure), None))
        return written
    merged = merge(plan.existing, record, plan.measure)
    if plan.adopt is not None:
        merged = _adopt(merged, plan.adopt)
    if "accuracy" not in plan.measure:
        samples = None  # the stored .npz stays, and the record keeps pointing at it
    path = _write_at(plan.path, merged, samples)
    if plan.adopt is not None:
        _remove_adopted(plan.adopt, warn)
    if plan.older is not None and plan.existing is not None and plan.older != path:  # now under its current name
        _unless_locked(plan.existing, warn, "left in place", lambda p: p.unlink(missing_ok=True))
    return [path]


def _unless_locked(stored: Record, warn: Warn, otherwise: str, action: Callable[[Path], T]) -> T | None:
    """`action(path)` holding the entry lock of a record read from the store; when another run holds it,
    a warning that says what is left undone (`otherwise`), and None."""
    from .locks import EntryLock

    path = stored.path
    assert path is not None, f"record {stored.key.stem} was not read from the store"  # `lookup` reads what it plans with
    lock = EntryLock(path)
    if not lock.acquire(wait=False):
        warn(f"{path.name} is being written by another run (pid {lock.holder}): {otherwise}")
        return None
    try:
        return action(path)
    finally:
        lock.release()


def _adopt(record: Record, donor: Record) -> Record:
    sections = {**((record.run.sections if record.run else None) or {})}
    if donor.run and donor.run.sections and "efficiency" in donor.run.sections:
        sections["efficiency"] = donor.run.sections["efficiency"]
    run = replace(record.run, sections=sections) if record.run else record.run
    return replace(record, efficiency=donor.efficiency, run=run)


def _remove_adopted(donor: Record, warn: Warn) -> None:
    """The efficiency-only record now lives in a record with data: remove it so one experiment is one file."""
    _unless_locked(donor, warn, "left in place", lambda path: path.unlink(missing_ok=True))


# ---------------------------------------------------------------------------------------------
# choosing among runs, and the pandas view

# Identity fields that say how a run executed, not which images it scored or how they were prepared
# (DESIGN: efficiency's extra key parts). A --corruptions run that differs from a clean run only here, or in
# its corruption set, scored the same clean experiment.
EXECUTION_ONLY = ("batch_size", "channels_last", "compile")


def clean_experiment(key: Identity) -> str:
    """What a record's clean accuracy measured (as canonical JSON): its identity without the corruption set and the
    execution knobs. Same model, weights digest, dataset, split, samples, transform, precision, label space,
    classes, data path and device: the same clean top-1."""
    part = {k: v for k, v in key.canonical().items() if k not in ("corruptions", *EXECUTION_ONLY)}
    return json.dumps(part, sort_keys=True, default=str)


@dataclass(frozen=True)
class Choice:
    """One leaderboard row of a (dataset, split, model, weights, policy): the record shown, the --corruptions
    run of the same clean experiment whose mCE joins the row (None when there is none), and the other runs."""

    shown: Record
    corruptions: Record | None
    others: list[Record]


def _mce_rank(record: Record) -> tuple:
    """Among --corruptions runs of one experiment: mCE over all 15 first, then over the most corruptions."""
    c = (record.accuracy.corruptions if record.accuracy else None) or {}
    return (bool(c.get("mce_complete")), c.get("mce") is not None, c.get("mce_corruptions") or 0, record.preference())


def choices(records: Sequence[Record]) -> list[Choice]:
    """Per (dataset, split, model, weights, policy): one row. A --corruptions run whose clean experiment
    (`clean_experiment`) a clean record also measured is not a row of its own: its mCE joins that record's row.
    A --corruptions run without such a partner competes like any run. The row shows `Record.preference`'s pick."""
    groups: dict[tuple, list[Record]] = {}
    for r in records:
        groups.setdefault(r.key.group(), []).append(r)
    out = []
    for g in sorted(groups):
        clean = {clean_experiment(r.key) for r in groups[g] if not r.key.corruptions and r.accuracy is not None}
        joining = [r for r in groups[g] if r.key.corruptions and clean_experiment(r.key) in clean]
        candidates = [r for r in groups[g] if not any(r is j for j in joining)]
        ranked = sorted(candidates, key=lambda r: r.preference(), reverse=True)
        best = ranked[0]
        partners = sorted(
            (j for j in joining if not best.key.corruptions and clean_experiment(j.key) == clean_experiment(best.key)),
            key=_mce_rank,
            reverse=True,
        )
        joined = partners[0] if partners else None
        rest = sorted((j for j in joining if j is not joined), key=lambda r: r.preference(), reverse=True)
        out.append(Choice(best, joined, ranked[1:] + rest))
    return out


def choose(records: Sequence[Record]) -> list[tuple[Record, list[Record]]]:
    """(shown, others) of each `choices` row: what `bench check` compares (it passes no --corruptions runs)."""
    return [(c.shown, c.others) for c in choices(records)]


def describe(record: Record) -> str:
    """A short line that tells one run of a model from another: its key hash and what sets it apart."""
    acc, ds = record.accuracy, record.dataset
    parts = [f"run {record.key.hash}"]
    if acc is not None and acc.n is not None:
        parts.append(f"n={acc.n}" + (f" (--limit {ds.limit})" if ds is not None and not ds.complete else ""))
    parts.append(record.key.precision)
    overrides = record.run.transform_overrides if record.run else None
    if overrides:  # = record.overridden
        parts.append("overrides " + ", ".join(f"{k}={v}" for k, v in sorted(overrides.items())))
    if record.key.corruptions:
        parts.append(f"corruptions {record.key.corruptions}")
    parts.append("+".join(record.sections()) or "no measurements")
    if record.run and record.run.started:
        parts.append(record.run.started[:10])
    return ", ".join(parts)


def flatten(record: Record | dict[str, Any]) -> dict[str, Any]:
    """One record -> one flat row (the columns of `load`)."""
    r = _as_record(record)
    acc = r.accuracy or schema.Accuracy()
    restricted, full = acc.restricted or schema.Figures(), acc.full or schema.Figures()
    eff = r.efficiency or schema.Efficiency()
    model = r.model or schema.ModelRecord()
    ref = model.reference or {}
    run = r.run or schema.RunRecord()
    ci: Sequence[float | None] = restricted.top1_ci95 or (None, None)
    dataset_key = r.key.group_dict()
    return {
        **dataset_key,
        "source": model.source,
        "arch": model.arch,
        "tag": model.tag,
        "weights_sha256": (model.weights or schema.WeightsRecord()).sha256,
        "n": acc.n,
        "n_failed": acc.n_failed,
        "top1": restricted.top1,
        "top5": restricted.top5,
        "top1_ci_low": ci[0],
        "top1_ci_high": ci[1],
        "nll": restricted.nll,
        "top1_full": full.top1,
        "top5_full": full.top5,
        "nll_full": full.nll,
        "corruptions": r.key.corruptions,
        "ece": (acc.calibration or {}).get("ece"),
        "ece_adaptive": (acc.calibration or {}).get("ece_adaptive"),
        "brier": (acc.calibration or {}).get("brier"),
        "mce": (acc.corruptions or {}).get("mce"),
        "relative_mce": (acc.corruptions or {}).get("relative_mce"),
        "mce_corruptions": (acc.corruptions or {}).get("mce_corruptions"),  # of the 15: fewer is a partial mCE
        "corruptions_run": r.key.hash if r.key.corruptions else None,  # the record the corruption figures come from
        "coverage": (r.labels or schema.LabelsRecord()).coverage,
        "params": eff.params,
        "gmacs": eff.gmacs,
        "img_s": eff.throughput_img_s,
        "img_s_device": eff.device_name or eff.device,
        "img_s_precision": eff.precision,
        "img_s_batch": eff.batch_size,
        "latency_p50_ms": eff.latency_ms_p50,
        "gpu_peak_mb": eff.gpu_max_allocated_mb,
        "eval_img_s": acc.eval_img_s,
        "ref_top1": ref.get("top1"),
        "ref_top5": ref.get("top5"),
        "ref_params": ref.get("params"),
        "ref_gmacs": ref.get("gmacs"),
        "ref_source": ref.get("source"),
        # What decides whether a reported figure is comparable (bench.models.reference.comparable).
        "transform_spec": r.transform,
        "dataset_limit": r.dataset.limit if r.dataset else None,
        "dataset_size": r.dataset.size if r.dataset else None,
        "dataset_source": r.dataset.source if r.dataset else None,
        "real_top1": (acc.real or {}).get("top1"),
        "real_n": (acc.real or {}).get("n"),
        "device": run.device,
        "started": run.started,
        "date": (run.started or "")[:10] or None,
        "protocol_hash": r.protocol_hash,
        "run": r.key.hash,
        "precision": r.key.precision,
        "limit": r.dataset.limit if r.dataset else None,
        "complete": r.complete,
        "overridden": r.overridden,
        "sections": "+".join(r.sections()),
        "schema_version": r.migrated_from or r.schema_version,
        "path": str(r.path) if r.path else None,
    }


CORRUPTION_COLUMNS = ("corruptions", "mce", "relative_mce", "mce_corruptions", "corruptions_run")
COLUMNS = list(flatten(Record(key=Identity("", "", None, "", "", None, {}, "fp32"))).keys()) + ["shown", "shown_instead_of"]


def load(results_dir: str | Path = "results", errors: list[ResultsError] | None = None):
    """All records under `results_dir` as a DataFrame, one row per record (sorted by path). `shown` marks the
    record of each leaderboard row (`choices`), which carries the corruption figures of the --corruptions run
    that joins it; `shown_instead_of` lists the other runs. `errors`: as for `read_all`."""
    return frame(read_all(results_dir, errors))


def frame(records: Sequence[Record]):
    """`load`'s DataFrame of records already read."""
    import pandas as pd

    rows = []
    for c in choices(records):
        row = {**flatten(c.shown), "shown": True, "shown_instead_of": [describe(o) for o in c.others]}
        if c.corruptions is not None:
            row.update({k: v for k, v in flatten(c.corruptions).items() if k in CORRUPTION_COLUMNS})
            rows.append({**flatten(c.corruptions), "shown": False, "shown_instead_of": []})
        rows.append(row)
        rows += [{**flatten(o), "shown": False, "shown_instead_of": []} for o in c.others]
    rows.sort(key=lambda row: row["path"] or "")
    return pd.DataFrame(rows, columns=COLUMNS)
