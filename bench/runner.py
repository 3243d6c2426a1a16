"""`bench run`: for each model, resolve -> build -> transform -> evaluate -> measure -> store.

A model that fails is reported and the others go on; a finished result is on disk before the
next model starts, so an interrupted run keeps it and a rerun skips it -- only when the key (the
whole experiment, store/schema.Identity) is identical and every asked-for section is stored;
missing sections are measured and merged. Under torchrun rank 0 decides per model (done, locked
by another run, to do) and broadcasts it; every rank evaluates a shard and rank 0 writes. The
run ends with a summary table (or JSON) on stdout; progress goes to stderr.
"""

from __future__ import annotations

import datetime as dt
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from . import models
from .config import RunConfig
from .data import datasets, labels, loaders, streaming, transforms
from .errors import BenchError, ConfigError, DatasetUnavailableError, shorten
from .measure import distributed as dist
from .report import tables as F
from .store import results
from .sweep import plan


@dataclass
class Outcome:
    """One model's line of the end-of-run summary: what happened, why, where, and its figures."""

    model: str
    status: str  # written | skipped | failed | interrupted
    why: str = ""  # written: what was measured; skipped / failed: why
    paths: list[str] = field(default_factory=list)
    top1: float | None = None
    top5: float | None = None
    n: int | None = None
    params: int | None = None
    gmacs: float | None = None
    img_s: float | None = None
    run: str | None = None  # the key hash of the record
    exit_code: int = 0

    @classmethod
    def of(cls, model: str, status: str, why: str, record: results.Record | None = None, paths=(), exit_code: int = 0) -> Outcome:
        out = cls(model, status, why, [str(p) for p in paths], exit_code=exit_code)
        if record is not None:
            acc, eff = record.accuracy, record.efficiency
            restricted = acc.restricted if acc is not None else None
            out.top1, out.top5 = (restricted.top1, restricted.top5) if restricted is not None else (None, None)
            out.n = acc.n if acc is not None else None
            if eff is not None:
                out.params, out.gmacs, out.img_s = eff.params, eff.gmacs, eff.throughput_img_s
            out.run = record.key.hash
            if not out.paths and record.path is not None:
                out.paths = [str(record.path)]
        return out

    def cells(self) -> list[str]:
        status = f"{self.status} ({self.why})" if self.why else self.status
        where = self.paths[0] + (f" (+{len(self.paths) - 1} more)" if len(self.paths) > 1 else "") if self.paths else ""
        return [
            self.model,
            F.formatted(self.top1, ".2f"),
            F.formatted(self.top5, ".2f"),
            F.formatted(self.n),
            F.formatted(None if self.params is None else self.params / 1e6, ".2f"),
            F.formatted(self.gmacs, ".3f"),
            F.formatted(self.img_s, ".1f"),
            status.replace("\n", " "),
            where,
        ]


HEADERS = ["model", "top-1", "top-5", "n", "params (M)", "GMACs", "img/s", "status", "file"]


@dataclass
class RunReport:
    """What happened to each model: written, skipped or failed (with why), as a table or JSON."""

    rows: list[Outcome] = field(default_factory=list)
    unreadable_samples: dict[str, list[str]] = field(default_factory=dict)
    interrupted: str | None = None  # the model that was running when Ctrl-C / SIGTERM came
    is_main: bool = True  # under torchrun only rank 0 reports

    def _with(self, status: str) -> list[Outcome]:
        return [r for r in self.rows if r.status == status]

    @property
    def written(self) -> list[str]:
        return [p for r in self._with("written") for p in r.paths]

    @property
    def skipped(self) -> list[str]:
        return [p for r in self._with("skipped") for p in r.paths]

    @property
    def failed(self) -> dict[str, str]:
        return {r.model: r.why for r in self._with("failed")}

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 130
        return max((r.exit_code for r in self._with("failed")), default=0)

    def counts(self) -> str:
        skipped = self._with("skipped")
        hint = " (--force measures again)" if any(r.why.startswith("already done") for r in skipped) else ""
        return f"{len(self._with('written'))} written, {len(skipped)} skipped{hint}, {len(self._with('failed'))} failed"

    def format(self) -> str:
        align = ("left",) + ("right",) * 6 + ("left", "left")
        lines = [F.terminal_table(HEADERS, [r.cells() for r in self.rows], align)] if self.rows else []
        lines.append(self.counts())
        for m, bad in self.unreadable_samples.items():
            shown = ", ".join(bad[:5]) + (f", ... ({len(bad) - 5} more)" if len(bad) > 5 else "")
            lines.append(f"  {m}: {len(bad)} image(s) could not be read and were left out: {shown} (see accuracy.failed)")
        if self.interrupted:
            lines.append(
                f"  INTERRUPTED during {self.interrupted}: its finished sections are stored; rerun the same command to continue"
            )
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {
            "models": [asdict(r) for r in self.rows],
            "summary": self.counts(),
            "unreadable_samples": self.unreadable_samples,
            "interrupted": self.interrupted,
            "exit_code": self.exit_code,
        }


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Interrupted(KeyboardInterrupt):
    """SIGTERM, turned into the same unwinding as Ctrl-C so that nothing half-done is written."""


def _on_sigterm(signum, frame):
    raise Interrupted()


def run(cfg: RunConfig) -> RunReport:
    """Evaluate and measure every model of `cfg`; never raises for one model's failure."""
    specs = plan(cfg)  # expanded (unknown names fail here, exit 2) and cut to this --shard / array task
    _check_heads(cfg, specs)
    if not cfg.dry_run:
        from .store.atomic import check_writable

        check_writable(cfg.results_dir, "--results-dir")  # before any data or weights: not after an hour of compute
    info = dist.init(cfg.resolved_device())
    device = dist.device_for(info, cfg.resolved_device())
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if _main_thread() else None
    from .measure.device import tf32

    try:
        with tf32(cfg.tf32):  # accuracy and efficiency alike: TF32 is part of the key on CUDA
            return _run(cfg, specs, info, device)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        dist.shutdown(info)


def _check_heads(cfg: RunConfig, specs: list[models.ModelSpec]) -> None:
    """--label-space against each head the spec already knows (pretrained or random weights build the spec's
    head; a checkpoint file may carry another): a mismatch is the command's, exit 2, before anything is built."""
    if not cfg.label_space or cfg.weights not in ("pretrained", "random"):
        return
    space = labels.named(cfg.label_space)
    for spec in specs:
        if spec.num_classes and spec.num_classes != len(space):
            raise ConfigError(
                f"--label-space {shorten(cfg.label_space)} has {len(space)} classes but {spec.id} has a {spec.num_classes}-output "
                "head: drop --label-space for it (its own head is known) or pass the label space of that head"
            )


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


@dataclass
class Context:
    """What every model's key shares: the sections asked for, the samples and how they are decoded, the device."""

    requested: tuple[str, ...]
    split: str
    device: str
    device_id: str  # kind:name, the machine efficiency is measured on (Identity.machine)
    images: datasets.Images | None = None
    indices: list[int] | None = None
    samples: str | None = None  # digest of the exact samples
    data_path: str | None = None  # cpu | gpu, resolved


@dataclass
class Decision:
    """Rank 0's verdict on one model, broadcast so that every rank evaluates the same list."""

    status: str  # todo | skipped | failed
    plan: results.Plan | None = None
    outcome: Outcome | None = None


def _run(cfg: RunConfig, specs: list[models.ModelSpec], info: dist.DistInfo, device: str) -> RunReport:
    report = RunReport(is_main=info.is_main)
    ctx = _context(cfg, specs, device)
    for spec in specs:
        lock = prebuilt = None
        try:
            if info.is_main:
                decision, lock, prebuilt = _decide(cfg, spec, ctx)
            else:
                decision = None
            decision = dist.broadcast(decision, info)  # rank 0 decides: done, locked or to do
            if decision.status != "todo":
                report.rows.append(decision.outcome)
                if decision.status == "failed" and info.is_main:  # on stderr too, not only in the table
                    _log(f"   failed: {decision.outcome.why}")
                continue
            report.rows.append(_measure_and_store(cfg, spec, decision.plan, ctx, info, prebuilt, report))
        except BenchError as e:
            report.rows.append(Outcome.of(spec.id, "failed", str(e), exit_code=e.exit_code))
            _log(f"   failed: {e}")
        except KeyboardInterrupt:
            report.interrupted = spec.id
            _log(f"   interrupted: finished results are kept; rerun to continue from {spec.id}")
            break
        except Exception as e:
            report.rows.append(Outcome.of(spec.id, "failed", f"{type(e).__name__}: {e}", exit_code=1))
            _log(f"   failed: {type(e).__name__}: {e}")
        finally:
            if lock is not None:
                lock.release()
    return report


def _context(cfg: RunConfig, specs: list[models.ModelSpec], device: str) -> Context:
    """Load the data (the exact samples are part of every key) once for all models."""
    split = datasets.canonical_split(cfg.dataset, cfg.split)
    requested = tuple(s for s, on in (("accuracy", cfg.accuracy), ("efficiency", cfg.efficiency)) if on)
    ctx = Context(requested, split, device, _device_id(device))
    if cfg.accuracy:
        ctx.images = _load_images(cfg, split, specs)
        ctx.indices = datasets.stratified(ctx.images.labels, cfg.limit)
        content = datasets.content_digest(ctx.images, ctx.indices)
        ctx.samples = results.samples_digest(ctx.indices, ctx.images.labels, content)
        ctx.data_path = loaders.choose(cfg.data_path, device, ctx.images)
    return ctx


def _device_id(device: str) -> str:
    """cuda:NVIDIA H100 80GB HBM3 / cpu:AMD EPYC: the hardware a number was measured on."""
    kind = device.split(":")[0]
    if kind == "cuda":
        import torch

        from .measure.device import cuda_index

        return f"cuda:{torch.cuda.get_device_name(cuda_index(device))}"
    from .measure.env import cpu_name

    return f"{kind}:{cpu_name()}"


def _decide(cfg: RunConfig, spec: models.ModelSpec, ctx: Context):
    """(Decision, the entry's lock when there is work, the model when it had to be built to know its weights)."""
    prebuilt = None
    try:
        digest = _weights_digest(cfg, spec)
        if digest is _UNKNOWN:  # pretrained weights not cached yet: building fetches them, then the file is known
            prebuilt = models.build(spec, cfg.weights)
            digest = _weights_digest(cfg, spec)
            if digest is _UNKNOWN:
                digest = f"state:{prebuilt[1].sha256}"
        key = _identity(cfg, spec, ctx, digest)
        from .store.locks import EntryLock

        lock = EntryLock(key.path(cfg.results_dir))
        if not lock.acquire(wait=False):
            why = f"locked: another bench run (pid {lock.holder}) is computing it; rerun when it is done"
            return Decision("skipped", outcome=Outcome.of(spec.id, "skipped", why, paths=[key.path(cfg.results_dir)])), None, None
        try:
            plan = results.lookup(key, cfg.results_dir, ctx.requested, cfg.force, warn=_warn)
        except BaseException:
            lock.release()
            raise
        if plan.done:
            lock.release()
            stored = plan.existing if plan.stored_in in (None, plan.path) else results.read(plan.stored_in)
            return (
                Decision(
                    "skipped",
                    outcome=Outcome.of(spec.id, "skipped", plan.why_done(), stored, paths=[plan.stored_in or plan.path]),
                ),
                None,
                None,
            )
        return Decision("todo", plan=plan), lock, prebuilt
    except BenchError as e:
        return Decision("failed", outcome=Outcome.of(spec.id, "failed", str(e), exit_code=e.exit_code)), None, None
    except Exception as e:
        return Decision("failed", outcome=Outcome.of(spec.id, "failed", f"{type(e).__name__}: {e}", exit_code=1)), None, None


_UNKNOWN = object()


def _weights_digest(cfg: RunConfig, spec: models.ModelSpec):
    """file:<sha256> of the weights file, None for random weights, _UNKNOWN when the file is not on this machine."""
    from .store.checksums import file_sha256

    if cfg.weights == "random":
        return None
    path = models.weights_file(spec, cfg.weights)
    if path is None or not path.is_file():
        return _UNKNOWN
    return f"file:{file_sha256(path)}"


def _file_or_name(value: str | None) -> str | None:
    """A label-space or classes argument in a key: a file is known by its content, a name by itself."""
    from pathlib import Path

    from .store.checksums import file_sha256

    if value is None:
        return None
    p = Path(value).expanduser()
    return f"{p.stem}@{file_sha256(p)[:16]}" if p.is_file() else value


def _weights_label(weights: str) -> str:
    """The readable weights part of a file name: pretrained, random, or file-<stem> for --weights PATH."""
    from pathlib import Path

    return weights if weights in ("pretrained", "random") else f"file-{Path(weights).stem}"


def _identity(cfg: RunConfig, spec: models.ModelSpec, ctx: Context, digest: str | None) -> results.Identity:
    ts = transforms.resolve(spec, None, cfg.transform, cfg.transform_overrides, use_train_size=cfg.use_train_size)
    return results.Identity(
        model=spec.id,
        weights=_weights_label(cfg.weights),
        weights_digest=digest,
        dataset=cfg.dataset_key,
        split=ctx.split,
        samples=ctx.samples,
        transform=ts.to_dict(),
        precision=cfg.precision,
        label_space=_file_or_name(cfg.label_space),
        classes=_file_or_name(cfg.classes),
        data_path=ctx.data_path,
        batch_size=cfg.batch_size,
        channels_last=cfg.channels_last,
        compile=cfg.compile,
        device=ctx.device.split(":")[0],  # what can change predictions; the machine is efficiency's (machine=)
        corruptions=cfg.corruptions,
        tf32=("on" if cfg.tf32 else "off") if ctx.device.startswith("cuda") else None,
        resize_kernel=None if ctx.data_path is None else loaders.resize_kernel(ctx.data_path, ctx.device),
        machine=ctx.device_id,
    )


def _warn(msg: str) -> None:
    _log(f"   warning: {msg}")


def _measure_and_store(
    cfg: RunConfig, spec: models.ModelSpec, plan: results.Plan, ctx: Context, info: dist.DistInfo, prebuilt, report: RunReport
) -> Outcome:
    """Measure what the plan says on every rank; rank 0 merges it into the store."""
    _log(
        f"== {spec.id} on {plan.key.dataset}/{ctx.split}: {'+'.join(plan.measure) or 'merge'} "
        f"({ctx.device}{f', rank {info.rank}/{info.world_size}' if info.active else ''})"
    )
    if not plan.measure:  # only a stored efficiency to take over: no model needed
        record = _bare_record(cfg, spec, plan)
        paths = results.save(plan, record, None, warn=_warn)
    else:
        store = SectionStore(cfg, spec, plan)
        try:
            record, _ = run_one(cfg, spec, plan, ctx, info, prebuilt if info.is_main else None, store if info.is_main else None)
        except SectionFailed as failed:
            if not info.is_main:
                raise failed.cause from None
            return store.failed(failed)
        if not info.is_main:
            return Outcome.of(spec.id, "written", "")
        paths = store.paths
    if record.accuracy is not None and record.accuracy.failed:
        report.unreadable_samples[spec.id] = [f"{f.get('id', f['index'])} ({f['error']})" for f in record.accuracy.failed]
    what = f"measured {'+'.join(plan.measure)}" if plan.measure else ""
    kept = [s for s in (plan.existing.sections() if plan.existing else ()) if s not in plan.measure]
    notes = [
        w
        for w in (
            what,
            f"kept stored {'+'.join(kept)}" if kept else "",
            f"efficiency taken over from run {plan.adopt.key.hash}" if plan.adopt else "",
            f"efficiency measured again on {ctx.device_id} (the stored one is from {plan.other_machine})"
            if plan.other_machine and "efficiency" in plan.measure
            else "",
        )
        if w
    ]
    return Outcome.of(spec.id, "written", "; ".join(notes), results.read(paths[0]) if paths else None, paths)


class SectionFailed(Exception):
    """A section of `run_one` raised: the record holds the sections finished before it and the failure."""

    def __init__(self, section: str, record: results.Record, cause: Exception):
        super().__init__(f"{section} failed: {type(cause).__name__}: {cause}")
        self.section, self.record, self.cause = section, record, cause


class SectionStore:
    """Rank 0's store of one model's record, section by section: a finished accuracy is on disk before the
    efficiency measurement starts, so a failure there (torch.compile without a compiler, a cuBLAS allocation
    failure) or an interrupt cannot discard it; a failed section is recorded with its reason."""

    def __init__(self, cfg: RunConfig, spec: models.ModelSpec, plan: results.Plan):
        self.cfg, self.spec, self.plan = cfg, spec, plan
        self.paths: list = []
        self.stored: list[str] = []  # sections stored by this run

    def __call__(self, record: results.Record, samples, section: str) -> None:
        plan = self.plan
        if not self.stored and record.key != plan.key:  # the built model resolved another transform: its own key
            _warn(f"{self.spec.id}: the model's transform differs from its pretrained config; stored under key {record.key.hash}")
            plan = results.lookup(record.key, self.cfg.results_dir, plan.measure, force=True, warn=_warn)
        from dataclasses import replace

        step = replace(plan, measure=(section,), adopt=None if self.stored else plan.adopt)
        written = results.save(step, record, samples, warn=_warn)
        self.paths = list(dict.fromkeys([*self.paths, *written]))
        self.stored.append(section)
        existing = results.read(plan.path) if plan.path in written else plan.existing
        self.plan = replace(plan, existing=existing, adopt=None)  # an adopted efficiency went in with the first section

    def failed(self, failed: SectionFailed) -> Outcome:
        """The model's line for a failed section; the failure goes into the stored record when there is one."""
        from dataclasses import replace

        plan, why = self.plan, str(failed)
        code = failed.cause.exit_code if isinstance(failed.cause, BenchError) else 1
        if plan.existing is None or (plan.key.samples is None and plan.targets):
            if not self.stored:
                raise failed.cause  # nothing measured, nothing stored: the model failed as a whole
            return Outcome.of(self.spec.id, "failed", why, paths=self.paths, exit_code=code)
        record = failed.record if failed.record.key == plan.key else replace(failed.record, key=plan.key)
        path = results.save(replace(plan, measure=(), adopt=None), record, None, warn=_warn)[0]
        stored = results.read(path)
        kept = f"; stored {'+'.join(stored.sections())} kept in {path}" if stored.sections() else ""
        _log(f"   failed: {why}{kept}")
        return Outcome.of(self.spec.id, "failed", why + kept, stored, paths=[path], exit_code=code)


def _bare_record(cfg: RunConfig, spec: models.ModelSpec, plan: results.Plan) -> results.Record:
    from .store import schema

    return schema.Record(
        key=plan.key,
        transform=dict(plan.key.transform),
        run=schema.RunRecord(
            started=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            precision=cfg.precision,
            transform_overrides=cfg.transform_overrides or None,
        ),
    )


def _load_images(cfg: RunConfig, split: str, specs) -> datasets.Images:
    try:
        try:
            images = (streaming.load if cfg.streaming else datasets.load)(cfg.dataset, split, cfg.data_dir)
        except (OSError, ValueError) as e:  # pyarrow's ArrowInvalid is a ValueError: a corrupt shard, read at the boundary
            raise datasets.hf_error(e, cfg.data_dir or cfg.dataset, "check the copy") from e
    except DatasetUnavailableError as e:
        hints = [h for spec in specs if cfg.weights == "pretrained" and (h := models.uncached_weights_hint(spec))]
        if hints:
            raise DatasetUnavailableError(f"{e}\nand the weights are not cached either:\n  " + "\n  ".join(hints)) from e
        raise
    if cfg.classes:
        images = images.restrict_classes(labels.named(cfg.classes))
    _log(f"{cfg.dataset}/{split}: {len(images)} images from {images.source}")
    return images


def run_one(
    cfg: RunConfig,
    spec: models.ModelSpec,
    plan: results.Plan,
    ctx: Context,
    info: dist.DistInfo = dist.DistInfo(),
    prebuilt=None,
    on_section: Callable[[results.Record, Any, str], None] | None = None,
):
    """One model, the sections of `plan.measure` in order: returns (Record, per-sample arrays or None); the same
    on every rank but for efficiency, which rank 0 alone measures. `on_section(record, samples, section)` runs
    after each finished section (rank 0 stores it there); a section that raises is recorded in
    `record.run.sections[section].error` and raised as SectionFailed carrying the record."""
    from .measure import env
    from .store import schema

    started = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    model, winfo = prebuilt or models.build(spec, cfg.weights)
    channels_last = models.prefers_channels_last(model) if cfg.channels_last is None else cfg.channels_last
    head = labels.for_head(winfo.num_classes, cfg.label_space)
    ts = transforms.resolve(spec, model, cfg.transform, cfg.transform_overrides, use_train_size=cfg.use_train_size)
    key = plan.key if ts.to_dict() == plan.key.transform else plan.key.replace(transform=ts.to_dict())
    record = schema.Record(
        key=key,
        model=schema.ModelRecord(
            id=spec.id,
            source=spec.source,
            arch=spec.arch,
            tag=spec.tag,
            num_classes=winfo.num_classes,
            label_space=head.name,
            weights=schema.WeightsRecord(winfo.kind, winfo.origin, winfo.sha256),
            reference=spec.reference,
        ),
        transform=ts.to_dict(),
    )
    samples = None
    section_runs: dict[str, schema.SectionRun] = {}
    environment: dict[str, Any] = {}

    def finish(section: str, since: dt.datetime, t: float, error: str | None = None) -> None:
        if not environment:
            environment.update(env.collect(ctx.device))
        section_runs[section] = schema.SectionRun(
            started=since.isoformat(timespec="seconds"),
            wall_s=round(time.perf_counter() - t, 3),
            device=ctx.device,
            world_size=info.world_size,
            bench_version=environment.get("bench_version"),
            git_sha=environment.get("git_sha"),
            error=error,
        )
        record.env = schema.Env.from_json(environment)
        record.run = schema.RunRecord(
            started=started.isoformat(timespec="seconds"),
            wall_s=round(time.perf_counter() - t0, 3),
            device=ctx.device,
            world_size=info.world_size,
            batch_size=cfg.eval_batch_size(ctx.device),
            data_path=ctx.data_path or loaders.choose(cfg.data_path, ctx.device),
            precision=cfg.precision,
            channels_last=channels_last,
            transform_overrides=cfg.transform_overrides or None,
            sections=dict(section_runs),
        )

    def accuracy() -> None:
        nonlocal samples
        images, indices = ctx.images, ctx.indices
        assert images is not None and indices is not None  # `_context` loads them when accuracy is asked for
        projection = labels.project(images.label_space, head)
        if not projection.mapped:
            raise BenchError(
                f"{spec.id} ({head.name}) predicts none of the {len(images.label_space)} {images.label_space.name} classes"
            )
        job = EvalJob(model, images, indices, ts, projection, ctx.device, channels_last)
        evaluation = _evaluate_sharded(cfg, job, info)
        _require_some_read(evaluation.summary, images, len(indices))
        if cfg.corruptions:  # same model, images and transform; each corruption and severity is one more pass
            from dataclasses import replace

            from .measure import corruptions

            corruptions.evaluate_all(
                evaluation, cfg.corruptions, lambda c: _evaluate_sharded(cfg, replace(job, corrupt=c), info), _log
            )
        samples = evaluation.samples
        ids = images.ids()
        if images.name == "imagenet-1k" and images.split == "validation":
            from .measure.evaluate import real_accuracy

            evaluation.summary["real"] = real_accuracy(samples, ids, projection)
        for f in evaluation.summary["failed"]:
            f["id"] = ids[f["index"]]
        record.accuracy = schema.Accuracy.from_json(evaluation.summary)
        record.labels = schema.LabelsRecord.from_json(projection.summary())
        record.dataset = schema.DatasetRecord(
            name=images.name,
            split=images.split,
            source=images.source,
            size=len(images),
            limit=cfg.limit,
            classes=cfg.classes,
            label_space=images.label_space.name,
            num_classes=len(images.label_space),
            streaming=cfg.streaming,
        )
        record.protocol = schema.Protocol(
            dataset=key.dataset,
            split=images.split,
            n=len(indices),
            indices=results.indices_hash(indices),
            label_protocols=["restricted", "full"],
            transform_policy=cfg.transform,
            dataset_space=images.label_space.name,
            model_space=head.name,
        )
        record.protocol_hash = record.protocol.hash

    def efficiency() -> None:  # measured once, on rank 0, and labelled with the world size
        record.efficiency = schema.Efficiency.from_json(
            {**_efficiency(cfg, model, ts, ctx.device, channels_last), "world_size": info.world_size}
        )

    steps = {"accuracy": accuracy, "efficiency": efficiency}
    since, t = started, t0  # the first section's time includes building the model
    for section in plan.measure:
        if section == "efficiency" and not info.is_main:
            continue
        try:
            steps[section]()
        except Exception as e:
            finish(section, since, t, error=f"{type(e).__name__}: {e}")
            raise SectionFailed(section, record, e) from e
        finish(section, since, t)
        if on_section is not None:
            on_section(record, samples if section == "accuracy" else None, section)
        since, t = dt.datetime.now(dt.UTC), time.perf_counter()
    return record, samples


def _require_some_read(summary: dict[str, Any], images: datasets.Images, asked: int) -> None:
    """A run in which no image could be decoded measured nothing: a failure (exit 1), never a stored n = 0 that
    a later run with real images would skip as "already done"."""
    if summary.get("n"):
        return
    failed = summary.get("failed") or []
    first = f" (first: {images.ids()[failed[0]['index']]}: {failed[0]['error']})" if failed else ""
    raise BenchError(
        f"none of the {asked} image(s) could be read and transformed{first}: fix what that error names "
        "(files that are not images, or the preprocessing flags); nothing was stored"
    )


@dataclass
class EvalJob:
    """One model's accuracy evaluation: what is evaluated on which samples, and how."""

    model: Any
    images: datasets.Images  # an ImageSet or a streamed set
    indices: list[int]
    ts: transforms.TransformSpec
    projection: labels.Projection
    device: str
    channels_last: bool
    corrupt: Callable | None = None  # ImageNet-C in the loader workers (bench.measure.corruptions)


def _evaluate_sharded(cfg: RunConfig, job: EvalJob, info: dist.DistInfo):
    """Evaluate this rank's shard, then gather every rank's records (errors too, so no rank hangs)."""
    from dataclasses import replace

    from .measure.evaluate import merge

    try:
        share = job.indices if _streamed(job.images) else dist.shard(job.indices, info)  # a stream shards itself, by position
        part, error = _evaluate_with_backoff(cfg, replace(job, indices=share)), None
    except Exception as e:
        part, error = None, e
    gathered = dist.all_gather((part, None if error is None else f"{type(error).__name__}: {error}"), info)
    if error is not None:
        raise error
    errors = [f"rank {r}: {err}" for r, (_, err) in enumerate(gathered) if err]
    if errors:
        raise BenchError("evaluation failed on " + "; ".join(errors))
    return merge([p for p, _ in gathered], job.projection)


def _evaluate_with_backoff(cfg: RunConfig, job: EvalJob):
    """Evaluate; on CUDA out-of-memory halve the batch and start over (partial batches are not kept).

    The back-off is efficiency's (one owner): it drops the failed attempt's traceback before emptying the cache.
    """
    import torch

    from .measure.device import tf32_flags
    from .measure.efficiency import run_with_oom_backoff
    from .measure.evaluate import evaluate

    def attempt(batch: int):
        images, options = job.images, (job.indices, job.ts, job.device, batch, cfg.workers, cfg.data_path)
        if _streamed(images):
            assert job.corrupt is None  # RunConfig refuses --corruptions with --streaming
            pipe = streaming.build(images, *options)
        else:
            pipe = loaders.build(images, *options, corrupt=job.corrupt)
        ev = evaluate(
            job.model,
            pipe.batches,
            job.projection,
            job.device,
            cfg.precision,
            job.channels_last,
            total=len(job.indices),
            progress=cfg.progress,
            finish=pipe.finish,
        )
        ev.summary.update(
            data_path=pipe.data_path, resize_kernel=pipe.resize_kernel, workers=pipe.workers, batch_size=batch, **tf32_flags()
        )
        return ev

    try:
        ev, _ = run_with_oom_backoff(
            attempt,
            cfg.eval_batch_size(job.device),
            on_retry=lambda b: _log(f"   out of GPU memory: retrying with --batch-size {b}"),
        )
    except torch.cuda.OutOfMemoryError:
        raise BenchError("out of GPU memory even at batch size 1: use a smaller model or --device cpu") from None
    return ev


def _streamed(images: datasets.Images) -> TypeGuard[streaming.StreamedImageSet]:
    return getattr(images, "streamed", False)


def _efficiency(cfg: RunConfig, model, ts: transforms.TransformSpec, device: str, channels_last: bool) -> dict[str, Any]:
    from .measure.efficiency import EfficiencyConfig, measure

    ecfg = EfficiencyConfig(
        device=device,
        batch_size=cfg.batch_size,
        precision=cfg.precision,
        channels_last=channels_last,
        compile=cfg.compile,
        tf32=cfg.tf32,
    )
    c, h, w = ts.input_size
    return measure(model, (c, h, w), ecfg)
