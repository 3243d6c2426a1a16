"""`bench check`: compare the results of a run with a committed baseline, asv-compare style.

Each baseline entry gets a verdict (improved / same / worse / not comparable / missing; results
the baseline lacks are `new`). Accuracy decides the verdict; a changed transform, checksum,
library or device only shows as a note, because that is exactly the change CI must judge.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ResultsError
from ..measure.stats import mcnemar_exact
from ..store import results, schema
from . import tables as F

BASELINE_SCHEMA_VERSION = 2  # 2: per-sample arrays in an .npz beside the JSON (1 had them inline)
ALPHA = 0.05  # McNemar significance level for flips
SAMPLE_FIELDS = ("index", "target", "top1_restricted", "top1_full")
LIBRARIES = ("torch", "torchvision", "timm")
KEY_FIELDS = ("dataset", "split", "model", "weights", "transform")

SAME, IMPROVED, WORSE, NOT_COMPARABLE, MISSING, NEW = "same", "improved", "worse", "not comparable", "missing", "new"
FAILING = (WORSE, MISSING, NOT_COMPARABLE)
ORDER = (WORSE, MISSING, NOT_COMPARABLE, IMPROVED, SAME, NEW)  # summary order: what fails first


# ---------------------------------------------------------------------------------------------
# baseline entries


@dataclass(frozen=True)
class Figures:
    """The accuracy figures a verdict is judged on (percent; NLL in nats)."""

    n: int
    top1: float | None
    top5: float | None
    nll: float | None
    top1_full: float | None
    top5_full: float | None
    nll_full: float | None

    @classmethod
    def from_accuracy(cls, acc: dict[str, Any]) -> Figures:
        """From a baseline file's accuracy object."""
        r, f = acc.get("restricted") or {}, acc.get("full") or {}
        n = acc["n"]
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"accuracy.n must be a whole number of at least 0, got {_preview(n)}")
        figures = [
            _figure(part, name, part_name)
            for part_name, part in (("restricted", r), ("full", f))
            for name in ("top1", "top5", "nll")
        ]
        return cls(n, *figures[:3], *figures[3:])

    @classmethod
    def from_record(cls, acc: schema.Accuracy) -> Figures:
        assert acc.n is not None, "only records with a sample count are checked (_entries_from_results)"
        r, f = acc.restricted or schema.Figures(), acc.full or schema.Figures()
        return cls(int(acc.n), r.top1, r.top5, r.nll, f.top1, f.top5, f.nll)

    def as_accuracy(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "restricted": {"top1": self.top1, "top5": self.top5, "nll": self.nll},
            "full": {"top1": self.top1_full, "top5": self.top5_full, "nll": self.nll_full},
        }


@dataclass
class Entry:
    """One (dataset, split, model, weights, transform) as the baseline and the check see it."""

    key: dict[str, str]
    figures: Figures
    protocol: dict[str, Any]
    protocol_hash: str | None
    transform: dict[str, Any]
    weights_sha256: str | None
    versions: dict[str, str | None]
    device: str | None
    device_name: str | None
    precision: str | None
    samples: dict[str, Any] | None  # index, target, top1_restricted, top1_full (numpy int64)

    @property
    def ident(self) -> tuple[str, ...]:
        k = self.key
        return (k["dataset"], k["split"], k["model"], k["weights"], k["transform"])

    @property
    def model_ident(self) -> tuple[str, ...]:
        """What stays when the data changes: used to pair a baseline entry with a run on another split."""
        k = self.key
        return (k["model"], k["weights"], k["transform"])

    @classmethod
    def from_result(cls, record: schema.Record) -> Entry:
        """A stored record (read through bench.store.schema) as the check sees it."""
        env, run = record.env or schema.Env(), record.run or schema.RunRecord()
        device = run.device
        device_name = env.gpu_name if (device or "").startswith("cuda") else env.cpu
        weights = (record.model.weights if record.model else None) or schema.WeightsRecord()
        assert record.accuracy is not None, "only records with accuracy are checked (_entries_from_results)"
        return cls(
            key=record.key.group_dict(),
            figures=Figures.from_record(record.accuracy),
            protocol=record.protocol.to_json() if record.protocol else {},
            protocol_hash=record.protocol_hash,
            transform=dict(record.transform or {}),
            weights_sha256=weights.sha256,
            versions={lib: getattr(env, lib, None) for lib in LIBRARIES},
            device=device,
            device_name=device_name,
            precision=run.precision or record.key.precision,
            samples=_top1_samples(results.read_samples(record)),
        )

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "key": self.key,
            "accuracy": self.figures.as_accuracy(),
            "protocol_hash": self.protocol_hash,
            "protocol": self.protocol,
            "transform": self.transform,
            "weights_sha256": self.weights_sha256,
            "versions": self.versions,
            "device": self.device,
            "device_name": self.device_name,
            "precision": self.precision,
            "samples": self.samples is not None,  # the arrays are in the .npz beside the baseline
        }
        return d

    @property
    def npz_prefix(self) -> str:
        """The entry's name in the baseline's .npz (its identity, readable in `np.load(...).files`)."""
        return "/".join(self.ident)

    @classmethod
    def from_json(cls, d: dict[str, Any], arrays: Any = None) -> Entry:
        key = d["key"]
        if not isinstance(key, dict) or not all(isinstance(key.get(k), str) for k in KEY_FIELDS):
            raise ValueError(f"key must be an object with the strings {', '.join(KEY_FIELDS)}, got {_preview(key)}")
        entry = cls(
            key=dict(key),
            figures=Figures.from_accuracy(d["accuracy"]),
            protocol=dict(d.get("protocol") or {}),
            protocol_hash=d.get("protocol_hash"),
            transform=dict(d.get("transform") or {}),
            weights_sha256=d.get("weights_sha256"),
            versions=dict(d.get("versions") or {}),
            device=d.get("device"),
            device_name=d.get("device_name"),
            precision=d.get("precision"),
            samples=None,
        )
        if d.get("samples"):
            if arrays is None:
                raise ValueError("the entry has per-sample arrays but the baseline's .npz is missing")
            entry.samples = _checked_samples(arrays, entry.npz_prefix)
        return entry


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _figure(part: Any, name: str, part_name: str) -> float | None:
    """One figure of a baseline entry: a finite number or null (1e999 parses as inf, which no accuracy is)."""
    if not isinstance(part, dict):
        raise ValueError(f"accuracy.{part_name} must be an object, got {_preview(part)}")
    v = part.get(name)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ValueError(f"accuracy.{part_name}.{name} must be a finite number or null, got {_preview(v)}")
    return float(v)


def _checked_samples(arrays: Any, prefix: str) -> dict[str, Any]:
    """An entry's per-sample arrays: present, whole numbers, one dimension each and all of one length."""
    import numpy as np

    names = [f"{prefix}/{f}" for f in SAMPLE_FIELDS]
    missing = [n for n in names if n not in arrays]
    if missing:
        raise ValueError(f"the baseline's .npz lacks {missing[0]}")
    out = {f: arrays[n] for f, n in zip(SAMPLE_FIELDS, names)}
    for f, a in out.items():
        if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer):
            raise ValueError(
                f"{prefix}/{f} in the .npz has shape {a.shape} and dtype {a.dtype}: expected one whole number per sample"
            )
    lengths = {f: len(a) for f, a in out.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"{prefix}: the per-sample arrays in the .npz differ in length ({lengths})")
    return {f: a.astype("int64") for f, a in out.items()}


def _top1_samples(samples: dict[str, Any] | None) -> dict[str, Any] | None:
    """Only what flips need (top-1 of both protocols, by sample index): a baseline stays small."""
    if samples is None:
        return None
    import numpy as np

    order = np.argsort(samples["index"], kind="stable")
    return {
        "index": samples["index"][order].astype(np.int64),
        "target": samples["target"][order].astype(np.int64),
        "top1_restricted": samples["restricted_top5"][order, 0].astype(np.int64),
        "top1_full": samples["full_top5"][order, 0].astype(np.int64),
    }


def _entries_from_results(results_dir: str | Path) -> list[Entry]:
    """Per (dataset, split, model, weights, policy) the record a leaderboard shows (results.choose), among those
    with accuracy (efficiency-only results have nothing to regress on) and no corruptions."""
    root = Path(results_dir)
    if not root.is_dir():
        raise ConfigError(
            f"results directory {root} does not exist: run `bench run ... --results-dir {root}` first or pass --results-dir"
        )
    # Corruption runs are left out: their clean figures are the plain run's, and the gate judges clean accuracy.
    with_accuracy = [
        r for r in results.read_all(root) if r.accuracy is not None and r.accuracy.n is not None and not r.key.corruptions
    ]
    entries = [Entry.from_result(best) for best, _ in results.choose(with_accuracy)]
    if not entries and not _transfer_entries(root):  # transfer results alone are something to check
        raise ConfigError(
            f"no accuracy results under {root}: run `bench run ... --results-dir {root}` first or pass --results-dir"
        )
    return sorted(entries, key=lambda e: e.ident)


# ---------------------------------------------------------------------------------------------
# baseline file


def write_baseline(results_dir: str | Path, path: str | Path) -> Path:
    """Write the baseline for every accuracy result under `results_dir`, atomically."""
    from ..measure import env

    entries = _entries_from_results(results_dir)
    doc = {
        "baseline_schema_version": BASELINE_SCHEMA_VERSION,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "bench_version": env.package_version("imagenet-bench"),
        "note": "written by `bench check --update`; regenerate it rather than editing it",
        "entries": [e.to_json() for e in entries],
        "transfer": _transfer_entries(results_dir),  # `bench transfer` results, judged on their headline means
    }
    path = Path(path)
    arrays = {f"{e.npz_prefix}/{f}": e.samples[f] for e in entries if e.samples is not None for f in SAMPLE_FIELDS}
    _atomic_write(samples_path(path), _npz_bytes(arrays))  # arrays first: the JSON names what they hold
    _atomic_write(path, (dumps_compact(doc) + "\n").encode("utf-8"))
    return path


def samples_path(path: str | Path) -> Path:
    """The per-sample arrays of a baseline: `offline.json` -> `offline.npz`, beside it."""
    return Path(path).with_suffix(".npz")


def _npz_bytes(arrays: dict[str, Any]) -> bytes:
    import io

    import numpy as np

    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def dumps_compact(obj: Any, indent: int = 0) -> str:
    """JSON with one key per line but lists of scalars on one line: a baseline diff then shows
    which entry and which figure changed, and per-sample lists do not run to thousands of lines."""
    pad, inner = " " * indent, " " * (indent + 1)
    if isinstance(obj, dict) and obj:
        items = [f"{inner}{json.dumps(k)}: {dumps_compact(v, indent + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(obj, list) and any(isinstance(v, (dict, list)) for v in obj):
        return "[\n" + ",\n".join(inner + dumps_compact(v, indent + 1) for v in obj) + f"\n{pad}]"
    return json.dumps(obj)


def _atomic_write(path: Path, data: bytes) -> None:
    """The results store's temp-file + rename: a crash never leaves a half-written baseline."""
    from ..store.atomic import write_file

    try:
        write_file(path, data)
    except ResultsError as e:
        raise ConfigError(f"cannot write baseline {path}: {e}; pass a writable --baseline path") from e


def read_baseline(path: str | Path) -> list[Entry]:
    """The entries of a baseline file; every way it can be unusable is a ConfigError naming the fix."""
    path = Path(path)
    fix = f"regenerate it with `bench check --update --baseline {path}` from results you trust"
    if path.is_dir():
        raise ConfigError(f"baseline {path} is a folder: pass the baseline's .json file, e.g. --baseline {path / 'offline.json'}")
    if not path.is_file():
        raise ConfigError(
            f"baseline {path} not found: create it with `bench check --update --baseline {path}` "
            "from results you trust, or pass the right --baseline"
        )
    try:
        doc = schema.read_json(path, fix, what="baseline ")
    except ResultsError as e:
        raise ConfigError(str(e)) from e
    if not isinstance(doc, dict):
        raise ConfigError(f"baseline {path} is not a baseline (a JSON object was expected): {fix}")
    version = doc.get("baseline_schema_version")
    if version != BASELINE_SCHEMA_VERSION or isinstance(version, bool):
        shown = "none" if version is None else repr(version) if isinstance(version, str) else _preview(version)
        kind = " (a string; the version is a number)" if isinstance(version, str) else ""
        raise ConfigError(
            f"baseline {path} has baseline_schema_version {shown}{kind}, this bench reads {BASELINE_SCHEMA_VERSION}: {fix}"
        )
    arrays = _read_npz(samples_path(path), fix)
    entries = doc.get("entries")
    if not isinstance(entries, list):
        raise ConfigError(f"baseline {path} is malformed (entries must be a list): {fix}")
    try:
        return [Entry.from_json(e, arrays) for e in entries]
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ConfigError(f"baseline {path} is malformed ({type(e).__name__}: {e}): {fix}") from e


def _read_npz(path: Path, fix: str) -> dict[str, Any] | None:
    """The baseline's per-sample arrays (None when it has none), read whole: the file is closed on return."""
    if not path.is_file():
        return None
    import zipfile

    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
        raise ConfigError(f"cannot read baseline arrays {path} ({type(e).__name__}: {e}): {fix}") from e


# ---------------------------------------------------------------------------------------------
# comparison


@dataclass
class Row:
    """One line of the report: a baseline entry and/or a current result, and what became of it."""

    verdict: str
    key: dict[str, str]
    base: Figures | None = None
    now: Figures | None = None
    right_to_wrong: int | None = None  # top-1 restricted flips, matched by sample index
    wrong_to_right: int | None = None
    p_value: float | None = None
    predictions_changed: dict[str, int] | None = None
    reasons: list[str] = field(default_factory=list)  # why worse / improved / not comparable
    changes: list[str] = field(default_factory=list)  # what changed without breaking comparability

    @property
    def note(self) -> str:
        return "; ".join(self.reasons + self.changes)

    def delta(self, name: str) -> float | None:
        b, n = _get(self.base, name), _get(self.now, name)
        return None if b is None or n is None else round(n - b, 4)

    def nll_rel(self) -> float | None:
        b, n = _get(self.base, "nll"), _get(self.now, "nll")
        return None if b is None or n is None or b <= 0 else (n - b) / b

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "key": self.key,
            "base": None if self.base is None else asdict(self.base),
            "now": None if self.now is None else asdict(self.now),
            "delta_pp": {k: self.delta(k) for k in ("top1", "top5", "top1_full", "top5_full")},
            "nll_rel": _round(self.nll_rel(), 6),
            "flips": {
                "right_to_wrong": self.right_to_wrong,
                "wrong_to_right": self.wrong_to_right,
                "mcnemar_p": _round(self.p_value, 6),
            },
            "predictions_changed": self.predictions_changed,
            "reasons": self.reasons,
            "changes": self.changes,
            "note": self.note,
        }


def _get(fig: Figures | None, name: str) -> float | None:
    return None if fig is None else getattr(fig, name)


def _round(v: float | None, nd: int) -> float | None:
    return None if v is None else round(v, nd)


@dataclass
class Report:
    """The verdicts of one check; `exit_code` is what CI gates on."""

    baseline: str
    results_dir: str
    tolerance: float
    nll_tolerance: float
    rows: list[Row]

    def counts(self) -> dict[str, int]:
        return {v: n for v in ORDER if (n := sum(r.verdict == v for r in self.rows))}

    @property
    def exit_code(self) -> int:
        return 1 if any(r.verdict in FAILING for r in self.rows) else 0

    def summary(self) -> str:
        counts = ", ".join(f"{n} {v}" for v, n in self.counts().items()) or "nothing to compare"
        head = f"{len(self.rows)} {'entry' if len(self.rows) == 1 else 'entries'}: {counts} (tolerance {self.tolerance:g} pp, NLL {100 * self.nll_tolerance:g}%)"
        if self.exit_code == 0:
            return f"{head} -- OK"
        return (
            f"{head} -- FAIL (exit 1): if the change is intended, update the baseline with "
            f"`bench check --update --baseline {self.baseline} --results-dir {self.results_dir}`"
        )

    def format(self) -> str:
        headers = [
            "verdict",
            "model",
            "dataset/split",
            "top-1 base → now",
            "Δ",
            "top-5 base → now",
            "Δ",
            "NLL base → now",
            "flips −/+",
            "McNemar p",
            "note",
        ]
        # no wrapping of the note: one line per entry keeps CI logs greppable
        table = F.terminal_table(headers, [_cells(r) for r in self.rows])
        return f"{table}\n{self.summary()}"

    def to_json(self) -> str:
        return json.dumps(
            {
                "baseline": self.baseline,
                "results_dir": self.results_dir,
                "tolerance_pp": self.tolerance,
                "nll_tolerance": self.nll_tolerance,
                "counts": self.counts(),
                "exit_code": self.exit_code,
                "summary": self.summary(),
                "rows": [r.to_json() for r in self.rows],
            },
            indent=1,
        )


def _cells(r: Row) -> list[str]:
    k = r.key
    model = k["model"] + (
        "" if (k["weights"], k["transform"]) == ("pretrained", "model") else f" [{k['weights']}, {k['transform']}]"
    )
    flips = F.DASH if r.right_to_wrong is None else f"{r.right_to_wrong}/{r.wrong_to_right}"
    rel = r.nll_rel()
    nll = _arrow(_get(r.base, "nll"), _get(r.now, "nll"), ".4f") + ("" if rel is None else f" ({_pct(rel)})")
    return [
        r.verdict,
        model,
        f"{k['dataset']}/{k['split']}",
        _arrow(_get(r.base, "top1"), _get(r.now, "top1")),
        F.formatted(r.delta("top1"), "+.2f"),
        _arrow(_get(r.base, "top5"), _get(r.now, "top5")),
        F.formatted(r.delta("top5"), "+.2f"),
        nll,
        flips,
        F.formatted(r.p_value, ".3g"),
        r.note,
    ]


def _arrow(b: float | None, n: float | None, spec: str = ".2f") -> str:
    return f"{F.formatted(b, spec)} → {F.formatted(n, spec)}"


def _pct(rel: float) -> str:
    """Relative change in percent; float noise of 1e-7 reads +0.0%, not a worrying -0.0%."""
    return f"{100 * rel:+.1f}%" if abs(rel) >= 0.0005 else "+0.0%"


def check(
    baseline: str | Path, results_dir: str | Path, tolerance: float = 0.1, nll_tolerance: float = 0.01, alpha: float = ALPHA
) -> Report:
    """Compare every baseline entry with the current results under `results_dir`."""
    base_entries = read_baseline(baseline)
    base_transfer = _read_transfer(baseline)
    if not base_entries and not base_transfer:  # a gate with nothing to check must not pass
        raise ConfigError(
            f"baseline {baseline} has no entries: regenerate it with `bench check --update --baseline {baseline}` from results you trust"
        )
    current = _entries_from_results(results_dir)
    pairs, new = _pair(base_entries, current)
    rows = [_compare(b, c, tolerance, nll_tolerance, alpha) for b, c in pairs]
    rows += [Row(NEW, c.key, now=c.figures, reasons=["not in the baseline"]) for c in new]
    rows += _transfer_rows(base_transfer, _transfer_entries(results_dir), tolerance)
    return Report(str(baseline), str(results_dir), tolerance, nll_tolerance, rows)


def _pair(base: list[Entry], current: list[Entry]) -> tuple[list[tuple[Entry, Entry | None]], list[Entry]]:
    """Match by full key; then a leftover baseline entry takes the one leftover result of the same
    model (a run on another split or dataset), so the row says why instead of `missing` + `new`."""
    by_ident = {c.ident: c for c in current}
    pairs: list[tuple[Entry, Entry | None]] = [(b, by_ident.pop(b.ident, None)) for b in base]
    for i, (b, c) in enumerate(pairs):
        if c is None:
            same_model = [x for x in by_ident.values() if x.model_ident == b.model_ident]
            unclaimed = [p for p in pairs if p[1] is None and p[0].model_ident == b.model_ident]
            if len(same_model) == 1 and len(unclaimed) == 1:
                pairs[i] = (b, by_ident.pop(same_model[0].ident))
    return pairs, list(by_ident.values())


def _compare(base: Entry, cur: Entry | None, tolerance: float, nll_tolerance: float, alpha: float) -> Row:
    if cur is None:
        return Row(MISSING, base.key, base=base.figures, reasons=["in the baseline but not in the results"])
    row = Row(SAME, cur.key, base=base.figures, now=cur.figures, changes=_changes(base, cur))
    incomparable = _incomparable(base, cur)
    if incomparable:
        row.verdict, row.reasons = NOT_COMPARABLE, incomparable
        return row
    _flips(row, base, cur)
    worse, better = _judge(row, tolerance, nll_tolerance, alpha)
    if worse:
        row.verdict, row.reasons = WORSE, worse
    elif better:
        row.verdict, row.reasons = IMPROVED, better
    return row


def _incomparable(base: Entry, cur: Entry) -> list[str]:
    """Why two entries measure different things (empty when they are comparable)."""
    out = []
    for name, b, c in (
        ("dataset", base.key["dataset"], cur.key["dataset"]),
        ("split", base.key["split"], cur.key["split"]),
        ("n", base.figures.n, cur.figures.n),
    ):
        if b != c:
            out.append(f"{name} differs: {b} → {c}")
    for name in ("label_protocols", "dataset_space", "model_space"):
        bp, cp = base.protocol.get(name), cur.protocol.get(name)
        if bp != cp:
            out.append(f"label protocol differs: {name} {_short(bp)} → {_short(cp)}")
    if out:
        return out
    if base.samples is not None and cur.samples is not None:
        bi, ci = base.samples["index"], cur.samples["index"]
        if len(bi) != len(ci) or (bi != ci).any():
            return [f"sample indices differ ({len(set(bi.tolist()) ^ set(ci.tolist()))} not in both)"]
        k = int((base.samples["target"] != cur.samples["target"]).sum())
        if k:
            return [f"labels of {k} sample(s) differ: the dataset changed"]
    if base.protocol.get("indices") != cur.protocol.get("indices"):
        return ["sample indices differ (protocol indices hash)"]
    if base.protocol_hash != cur.protocol_hash:
        return [f"protocol differs: hash {base.protocol_hash} → {cur.protocol_hash}"]
    return []


def _changes(base: Entry, cur: Entry) -> list[str]:
    """What changed without making the runs incomparable: the suspects when accuracy moved."""
    out = []
    diffs = [
        f"{k} {_short(base.transform.get(k))} → {_short(cur.transform.get(k))}"
        for k in sorted(set(base.transform) | set(cur.transform))
        if base.transform.get(k) != cur.transform.get(k)
    ]
    if diffs:
        out.append("transform changed: " + ", ".join(diffs))
    if base.weights_sha256 != cur.weights_sha256:
        out.append(f"weights sha256 {_sha(base.weights_sha256)} → {_sha(cur.weights_sha256)}")
    out += [
        f"{lib} {base.versions.get(lib)} → {cur.versions.get(lib)}"
        for lib in LIBRARIES
        if base.versions.get(lib) != cur.versions.get(lib)
    ]
    if (base.device, base.device_name) != (cur.device, cur.device_name):
        out.append(f"device {base.device} ({base.device_name}) → {cur.device} ({cur.device_name})")
    if base.precision != cur.precision:
        out.append(f"precision {base.precision} → {cur.precision}")
    return out


def _short(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_short(x) for x in v) + "]"
    return str(v)


def _sha(v: str | None) -> str:
    return "none" if not v else v[:12]


def _flips(row: Row, base: Entry, cur: Entry) -> None:
    """Right->wrong and wrong->right top-1 (restricted) flips, samples matched by index."""
    if base.samples is None or cur.samples is None:
        row.changes.append("per-sample predictions missing: flips not computed")
        return
    b, c = base.samples, cur.samples  # same sorted indices and targets (checked by _incomparable)
    b_ok = (b["top1_restricted"] == b["target"]) & (b["target"] >= 0)
    c_ok = (c["top1_restricted"] == c["target"]) & (c["target"] >= 0)
    row.right_to_wrong = int((b_ok & ~c_ok).sum())
    row.wrong_to_right = int((~b_ok & c_ok).sum())
    row.p_value = mcnemar_exact(row.right_to_wrong, row.wrong_to_right)
    row.predictions_changed = {p: int((b[f"top1_{p}"] != c[f"top1_{p}"]).sum()) for p in ("restricted", "full")}


def _judge(row: Row, tolerance: float, nll_tolerance: float, alpha: float) -> tuple[list[str], list[str]]:
    """(reasons it is worse, reasons it is better); the epsilon keeps a drop of exactly the tolerance same."""
    worse, better = [], []
    eps = 1e-9
    for name, label in (("top1", "top-1"), ("top5", "top-5"), ("top1_full", "full top-1"), ("top5_full", "full top-5")):
        d = row.delta(name)
        if d is None:
            continue
        if d < -tolerance - eps:
            worse.append(f"{label} {d:+.2f} pp")
        elif d > tolerance + eps:
            better.append(f"{label} {d:+.2f} pp")
    rel = row.nll_rel()
    if rel is not None and not math.isnan(rel):
        if rel > nll_tolerance + eps:
            worse.append(f"NLL {100 * rel:+.1f}%")
        elif rel < -nll_tolerance - eps:
            better.append(f"NLL {100 * rel:+.1f}%")
    if row.p_value is not None and row.p_value < alpha:
        r2w, w2r = row.right_to_wrong, row.wrong_to_right
        assert r2w is not None and w2r is not None  # _flips sets them with the p-value
        flips = f"flips {r2w}/{w2r} significant (McNemar p={row.p_value:.3g})"
        if r2w > w2r:
            worse.append(flips)
        elif w2r > r2w:
            better.append(flips)
    return worse, better


# ---------------------------------------------------------------------------------------------
# transfer results (bench transfer): matched by their full key, judged on top-1 / top-5 means


def _transfer_entries(results_dir: str | Path) -> list[dict[str, Any]]:
    from ..store import transfer

    out = []
    for r in transfer.read_all(results_dir):
        s = r.summary
        out.append(
            {
                "key_hash": r.key.hash,
                "model": r.key.model,
                "weights": r.key.weights,
                "dataset": r.key.dataset,
                "probe": r.key.probe,
                "shots": r.key.shots,
                "n": r.n.get("test", 0),
                "top1": (s.get("top1") or {}).get("mean"),
                "top5": (s.get("top5") or {}).get("mean"),
                "mean_per_class": (s.get("mean_per_class") or {}).get("mean"),
            }
        )
    return out


def _read_transfer(path: str | Path) -> list[dict[str, Any]]:
    """The transfer entries of a baseline read_baseline has already judged usable (older baselines have none)."""
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    entries = doc.get("transfer") or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) and "key_hash" in e for e in entries):
        raise ConfigError(
            f"baseline {path} has a malformed transfer list: regenerate it with `bench check --update --baseline {path}`"
        )
    return entries


def _transfer_key(e: dict[str, Any]) -> dict[str, str]:
    return {
        "model": e["model"],
        "weights": e.get("weights", "pretrained"),
        "transform": "model",
        "dataset": f"{e['dataset']} [transfer {e['probe']} {e['shots']}]",
        "split": "test",
    }


def _transfer_figures(e: dict[str, Any]) -> Figures:
    return Figures(int(e.get("n") or 0), e.get("top1"), e.get("top5"), None, None, None, None)


def _transfer_rows(base: list[dict[str, Any]], current: list[dict[str, Any]], tolerance: float) -> list[Row]:
    now = {e["key_hash"]: e for e in current}
    rows = []
    for b in base:
        c = now.pop(b["key_hash"], None)
        if c is None:
            rows.append(Row(MISSING, _transfer_key(b), base=_transfer_figures(b), reasons=["no transfer result with this key"]))
            continue
        row = Row(SAME, _transfer_key(b), base=_transfer_figures(b), now=_transfer_figures(c))
        worse, better = _judge(row, tolerance, math.inf, 0.0)
        row.verdict, row.reasons = (WORSE, worse) if worse else (IMPROVED, better) if better else (SAME, [])
        rows.append(row)
    rows += [Row(NEW, _transfer_key(c), now=_transfer_figures(c), reasons=["not in the baseline"]) for c in now.values()]
    return rows
