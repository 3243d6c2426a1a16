"""Results store: the typed record (schema v2), its key, v1 migration, atomic group-readable writes,
what a rerun still has to measure, how sections merge, and the DataFrame view."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from bench.errors import ResultsError, SchemaVersionError
from bench.store import results as R
from bench.store import schema as S

REPO = Path(__file__).resolve().parents[1]
# v1 files as imagenet-bench 0.1 committed them under results/ (kept as test data: results/ now holds v2 records)
COMMITTED = REPO / "tests" / "data" / "v1-results" / "samples" / "val" / "timm-tf_efficientnet_lite0.in1k__pretrained__model.json"
TRANSFORM = {
    "policy": "model",
    "input_size": [3, 224, 224],
    "resize": 256,
    "crop_pct": 0.875,
    "interpolation": "bilinear",
    "mean": [0.485, 0.456, 0.406],
    "std": [0.229, 0.224, 0.225],
    "library": "torchvision",
}


def _key(**changes) -> S.Identity:
    base = dict(
        model="tv:alexnet.IMAGENET1K_V1",
        weights="pretrained",
        weights_digest="file:" + "ab" * 32,
        dataset="samples",
        split="val",
        samples="s" * 64,
        transform=TRANSFORM,
        precision="fp32",
        data_path="cpu",
        compile=False,
        device="cpu",
    )
    return S.Identity(**{**base, **changes})


def _record(
    key: S.Identity | None = None,
    top1: float | None = 50.0,
    params: int | None = 61100840,
    started="2026-11-23T18:00:00+00:00",
    limit=None,
    size=4,
    overrides=None,
) -> S.Record:
    key = key or _key()
    acc = (
        None
        if top1 is None
        else S.Accuracy(
            n=4,
            n_failed=0,
            restricted=S.Figures(top1=top1, top5=100.0, top1_ci95=[1.0, 2.0], nll=1.5),
            full=S.Figures(top1=top1, top5=100.0, nll=1.5),
        )
    )
    eff = None if params is None else S.Efficiency(params=params, gmacs=0.714, throughput_img_s=10.0, device_name="cpu")
    return S.Record(
        key=key,
        model=S.ModelRecord(
            id=key.model,
            source="torchvision",
            arch="alexnet",
            tag="IMAGENET1K_V1",
            weights=S.WeightsRecord("pretrained", None, "ab"),
            reference={"top1": 56.522},
        ),
        transform=dict(key.transform),
        accuracy=acc,
        efficiency=eff,
        dataset=S.DatasetRecord(name="samples", split="val", size=size, limit=limit) if acc else None,
        run=S.RunRecord(started=started, transform_overrides=overrides),
    )


SAMPLES = {"target": np.arange(4, dtype=np.int32)}


# --- the record ---------------------------------------------------------------------------------


def test_write_read_and_load(tmp_path):
    record = _record()
    path = R.write(record, SAMPLES, tmp_path)
    assert path == tmp_path / "samples" / "val" / f"tv-alexnet.IMAGENET1K_V1__pretrained__{record.key.hash}.json"
    back = R.read(path)
    assert back.samples_file == path.stem + ".samples.npz" and back.path == path
    assert back.accuracy.restricted.top1 == 50.0 and back.efficiency.params == 61100840 and back.key == record.key
    np.testing.assert_array_equal(R.read_samples(back)["target"], np.arange(4))
    raw = json.loads(path.read_text())  # the file itself, read without the schema module
    assert (
        raw["schema_version"] == S.SCHEMA_VERSION == 3
        and raw["key"]["weights_digest"] == "file:" + "ab" * 32
        and raw["accuracy"]["n"] == 4
    )
    row = R.load(tmp_path).iloc[0]
    assert row["top1"] == 50.0 and row["params"] == 61100840 and row["ref_top1"] == 56.522 and row["date"] == "2026-11-23"
    assert row["run"] == record.key.hash and bool(row["shown"]) and bool(row["complete"])
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]  # no temp files left


def test_key_hash_is_sha256_of_the_canonical_key_without_nones():
    key = _key(label_space=None)
    fields = {k: v for k, v in json.loads(json.dumps(S.Identity.to_json(key))).items() if v is not None}
    expected = hashlib.sha256(json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:12]
    assert key.hash == expected
    assert _key().hash != _key(precision="bf16").hash != _key(samples="t" * 64).hash
    assert _key(transform={**TRANSFORM, "crop_pct": 0.9}).hash != _key().hash
    assert _key(transform={**TRANSFORM, "crop_mode": "squash"}).hash != _key().hash  # any TransformSpec field counts


def test_unknown_keys_survive_a_round_trip_and_a_new_optional_field_keeps_old_keys():
    raw = json.loads(S.dumps(_record()))
    raw["accuracy"]["sharpness"] = {"ece": 0.031}  # a field a later build adds
    raw["corruptions"] = {"gaussian_noise": {"1": 50.0}}
    record = S.from_json(raw)
    assert record.accuracy.extra == {"sharpness": {"ece": 0.031}} and record.extra == {
        "corruptions": {"gaussian_noise": {"1": 50.0}}
    }
    again = json.loads(S.dumps(record))
    assert again["accuracy"]["sharpness"] == {"ece": 0.031} and again["corruptions"] == raw["corruptions"]
    key_json = raw["key"]
    assert S.Identity.from_json({**key_json, "streaming": None}).hash == record.key.hash  # None: not part of the hash
    assert S.Identity.from_json({**key_json, "streaming": True}).hash != record.key.hash


def test_committed_v1_result_is_read_through_the_migration():
    raw = json.loads(COMMITTED.read_text())
    assert raw["schema_version"] == 1  # the committed files predate v2
    record = R.read(COMMITTED)
    assert record.migrated_from == 1 and record.schema_version == S.SCHEMA_VERSION
    assert record.key.group() == ("samples", "val", "timm:tf_efficientnet_lite0.in1k", "pretrained", "model")
    assert record.key.weights_digest == "state:" + raw["model"]["weights"]["sha256"]
    assert record.key.transform == raw["transform"] and record.key.precision == raw["run"]["precision"]
    assert record.accuracy.restricted.top1 == raw["accuracy"]["restricted"]["top1"] and record.accuracy.n == raw["accuracy"]["n"]
    assert record.efficiency.throughput_img_s == raw["efficiency"]["throughput_img_s"]
    assert record.protocol_hash == raw["protocol_hash"] == R.protocol_hash(raw["protocol"])  # baselines stay comparable
    assert R.read_samples(record)["target"].shape == (raw["accuracy"]["n"],)
    df = R.load(COMMITTED.parents[2])
    assert sorted(df["top1"]) == sorted(
        json.loads(p.read_text())["accuracy"]["restricted"]["top1"] for p in COMMITTED.parent.glob("*.json")
    )


def test_newer_schema_is_refused_with_upgrade_and_exit_2(tmp_path):
    path = R.write(_record(), None, tmp_path)
    raw = json.loads(path.read_text())
    path.write_text(json.dumps({**raw, "schema_version": S.SCHEMA_VERSION + 1}))
    with pytest.raises(SchemaVersionError, match="written by a newer imagenet-bench .*: upgrade imagenet-bench") as e:
        R.read(path)
    assert e.value.exit_code == 2 and "--force" not in str(e.value)
    with pytest.raises(SchemaVersionError):
        R.lookup(_record().key, tmp_path, ["accuracy"], force=True)  # not even --force may overwrite it


def test_corrupt_files_name_the_problem(tmp_path):
    path = R.write(_record(), None, tmp_path)
    path.write_text(path.read_text()[:100])
    with pytest.raises(ResultsError, match="corrupt or truncated"):
        R.read(path)
    path.write_text('{"key": 1}')
    with pytest.raises(ResultsError, match="no valid schema_version"):
        R.read(path)


# --- writing -----------------------------------------------------------------------------------


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_files_get_the_mode_the_umask_gives(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        path = R.write(_record(), SAMPLES, tmp_path)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == mode
    assert path.with_name(path.stem + R.SAMPLES_SUFFIX).stat().st_mode & 0o777 == mode


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_results_dir(tmp_path):
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(ResultsError, match="--results-dir"):
            R.write(_record(), None, tmp_path / "sub")
    finally:
        tmp_path.chmod(0o700)


def test_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(ResultsError, match="No space left"):
        R.write(_record(), None, tmp_path)
    assert list((tmp_path / "samples" / "val").iterdir()) == []


def test_empty_dir_loads_empty_frame(tmp_path):
    df = R.load(tmp_path)
    assert len(df) == 0 and "top1" in df.columns and "run" in df.columns


# --- what a rerun still has to do, and merging ---------------------------------------------------


def test_lookup_skips_only_what_is_stored(tmp_path):
    key = _key()
    assert R.lookup(key, tmp_path, ["accuracy", "efficiency"]).measure == ("accuracy", "efficiency")
    R.write(_record(key, params=None), SAMPLES, tmp_path)  # accuracy only
    plan = R.lookup(key, tmp_path, ["accuracy", "efficiency"])
    assert plan.measure == ("efficiency",) and not plan.done
    assert R.lookup(key, tmp_path, ["accuracy"]).done
    assert R.lookup(key, tmp_path, ["accuracy"], force=True).measure == ("accuracy",)
    assert R.lookup(_key(precision="fp16"), tmp_path, ["accuracy"]).measure == ("accuracy",)  # another experiment


def test_accuracy_without_its_samples_file_is_measured_again(tmp_path):
    key = _key()
    path = R.write(_record(key), SAMPLES, tmp_path)
    path.with_name(path.stem + R.SAMPLES_SUFFIX).write_bytes(b"trunc")
    warnings: list[str] = []
    assert R.lookup(key, tmp_path, ["accuracy"], warn=warnings.append).measure == ("accuracy",)
    assert "missing or corrupt" in warnings[0]


def test_truncated_entry_is_measured_again_with_a_warning(tmp_path):
    key = _key()
    path = R.write(_record(key), SAMPLES, tmp_path)
    path.write_text(path.read_text()[: len(path.read_text()) // 2])
    warnings: list[str] = []
    plan = R.lookup(key, tmp_path, ["accuracy"], warn=warnings.append)
    assert plan.measure == ("accuracy",) and plan.existing is None
    assert "corrupt or truncated" in warnings[0] and "measuring it again" in warnings[0]
    R.save(plan, _record(key, top1=75.0), SAMPLES)
    assert R.read(path).accuracy.restricted.top1 == 75.0


def test_sections_merge_and_never_erase(tmp_path):
    key = _key()
    acc_only, eff_only = _record(key, params=None), _record(key, top1=None)
    R.save(R.lookup(key, tmp_path, ["accuracy"]), acc_only, SAMPLES)
    plan = R.lookup(key, tmp_path, ["efficiency"])
    assert plan.measure == ("efficiency",)
    (path,) = R.save(plan, eff_only, None)
    both = R.read(path)
    assert both.accuracy.restricted.top1 == 50.0 and both.efficiency.params == 61100840
    assert R.read_samples(both) is not None  # the stored per-sample file is still referenced
    # --force on efficiency re-measures it and keeps the accuracy
    (path,) = R.save(R.lookup(key, tmp_path, ["efficiency"], force=True), _record(key, top1=None, params=7), None)
    assert R.read(path).accuracy.restricted.top1 == 50.0 and R.read(path).efficiency.params == 7


def test_efficiency_only_record_is_taken_over_by_the_accuracy_run(tmp_path):
    """--no-accuracy first (no data, so no samples in its key), then --no-efficiency: one record with both."""
    data_key, no_data = _key(), _key(samples=None, data_path=None)
    (eff_path,) = R.save(R.lookup(no_data, tmp_path, ["efficiency"]), _record(no_data, top1=None), None)
    plan = R.lookup(data_key, tmp_path, ["accuracy", "efficiency"])
    assert plan.measure == ("accuracy",) and plan.adopt is not None  # efficiency is stored already
    (path,) = R.save(plan, _record(data_key, params=None), SAMPLES)
    both = R.read(path)
    assert both.efficiency.params == 61100840 and both.accuracy.n == 4 and not eff_path.exists()
    assert R.lookup(no_data, tmp_path, ["efficiency"]).done  # and an efficiency-only rerun skips


def test_efficiency_only_run_adds_to_records_with_data(tmp_path):
    """--no-efficiency first (full and --limit runs), then --no-accuracy: both records get the efficiency."""
    full, limited = _key(), _key(samples="l" * 64)
    for k in (full, limited):
        R.save(R.lookup(k, tmp_path, ["accuracy"]), _record(k, params=None), SAMPLES)
    plan = R.lookup(_key(samples=None, data_path=None), tmp_path, ["efficiency"])
    assert plan.measure == ("efficiency",) and len(plan.targets) == 2
    paths = R.save(plan, _record(_key(samples=None, data_path=None), top1=None), None)
    assert sorted(paths) == sorted(k.path(tmp_path) for k in (full, limited))
    assert all(R.read(p).efficiency.params == 61100840 and R.read(p).accuracy.n == 4 for p in paths)
    assert len(list((tmp_path / "samples" / "val").glob("*.json"))) == 2  # no third, data-less record
    other_batch = _key(samples=None, data_path=None, batch_size=8)  # another efficiency experiment
    assert R.lookup(other_batch, tmp_path, ["efficiency"]).measure == ("efficiency",)


def _measured_on(key: S.Identity, cpu: str, **kw) -> S.Record:
    record = _record(key, **kw)
    if record.efficiency is not None:
        record.efficiency.device, record.efficiency.device_name = "cpu", cpu
    return record


def test_another_cpu_model_finds_the_accuracy_and_measures_only_efficiency(tmp_path):
    """Accuracy is keyed by what can change predictions (device type, ...), efficiency by the machine."""
    epyc, xeon = _key(device="cpu", machine="cpu:AMD EPYC"), _key(device="cpu", machine="cpu:Intel Xeon")
    assert epyc.path(tmp_path) == xeon.path(tmp_path)  # one experiment: the machine is not in the file name
    (path,) = R.save(R.lookup(epyc, tmp_path, ["accuracy", "efficiency"]), _measured_on(epyc, "AMD EPYC"), SAMPLES)
    assert R.lookup(epyc, tmp_path, ["accuracy", "efficiency"]).done
    plan = R.lookup(xeon, tmp_path, ["accuracy", "efficiency"])
    assert plan.measure == ("efficiency",) and plan.other_machine == "cpu:AMD EPYC"
    R.save(plan, _measured_on(xeon, "Intel Xeon", top1=None, params=7), None)
    back = R.read(path)
    assert back.accuracy.restricted.top1 == 50.0 and R.read_samples(back) is not None  # accuracy kept
    assert (back.efficiency.machine, back.efficiency.params) == ("cpu:Intel Xeon", 7)
    assert R.lookup(xeon, tmp_path, ["accuracy", "efficiency"]).done
    # an efficiency-only record of another machine is not taken over either
    no_data = _key(samples=None, data_path=None, device="cpu", machine="cpu:AMD EPYC")
    R.save(R.lookup(no_data, tmp_path, ["efficiency"]), _measured_on(no_data, "AMD EPYC", top1=None), None)
    assert R.lookup(no_data.replace(machine="cpu:Intel Xeon"), tmp_path, ["efficiency"]).measure == ("efficiency",)


def test_v2_record_is_found_under_its_old_file_name_and_moves_when_rewritten(tmp_path):
    """v2 keyed the machine (cpu:AMD EPYC) into the hash: its file keeps that name until a run rewrites it."""
    v2_key = {**_key().to_json(), "device": "cpu:AMD EPYC"}
    v2_hash = hashlib.sha256(
        json.dumps({k: v for k, v in v2_key.items() if v is not None}, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()[:12]
    record = _measured_on(_key(), "AMD EPYC").to_json() | {"schema_version": 2, "key": v2_key}
    old = tmp_path / "samples" / "val" / f"tv-alexnet.IMAGENET1K_V1__pretrained__{v2_hash}.json"
    old.parent.mkdir(parents=True)
    old.write_text(json.dumps({**record, "samples_file": old.stem + R.SAMPLES_SUFFIX}))
    np.savez(old.with_name(old.stem + R.SAMPLES_SUFFIX), **SAMPLES)
    migrated = R.read(old)
    assert migrated.migrated_from == 2 and migrated.key.device == "cpu" and migrated.key.resize_kernel == "pil"
    v3 = _key(device="cpu", resize_kernel="pil")
    assert v3.hash != v2_hash and migrated.key.hash == v3.hash
    plan = R.lookup(v3.replace(machine="cpu:AMD EPYC"), tmp_path, ["accuracy", "efficiency"])
    assert plan.done and plan.stored_in == old  # nothing to measure, nothing written
    plan = R.lookup(v3.replace(machine="cpu:Intel Xeon"), tmp_path, ["accuracy", "efficiency"])
    assert plan.measure == ("efficiency",)
    (path,) = R.save(plan, _measured_on(v3, "Intel Xeon", top1=None), None)
    assert path == v3.path(tmp_path) and not old.exists()
    back = R.read(path)
    assert back.schema_version == S.SCHEMA_VERSION and back.accuracy.n == 4 and R.read_samples(back) is not None


# --- choosing the run a table shows ------------------------------------------------------------


def test_choose_prefers_the_whole_split_then_own_preprocessing_then_sections_then_newest(tmp_path):
    full_old = _record(_key(samples="a" * 64), started="2026-01-01T00:00:00+00:00", params=None)
    limited_new = _record(_key(samples="b" * 64), started="2026-06-01T00:00:00+00:00", limit=3, size=5)
    overridden = _record(
        _key(samples="c" * 64, transform={**TRANSFORM, "crop_pct": 1.0}),
        started="2026-06-02T00:00:00+00:00",
        overrides={"crop_pct": 1.0},
    )
    full_new = _record(_key(samples="d" * 64), started="2026-03-01T00:00:00+00:00", params=None)
    for r in (full_old, limited_new, overridden, full_new):
        R.write(r, None, tmp_path)
    ((best, others),) = R.choose(R.read_all(tmp_path))
    assert best.key == full_new.key and {o.key.samples[0] for o in others} == {"a", "b", "c"}
    both = _record(_key(samples="e" * 64), started="2025-01-01T00:00:00+00:00")  # older, but accuracy + efficiency
    R.write(both, None, tmp_path)
    ((best, _),) = R.choose(R.read_all(tmp_path))
    assert best.key == both.key
    df = R.load(tmp_path)
    assert df["shown"].sum() == 1 and df[df["shown"]]["shown_instead_of"].iloc[0][0].startswith("run ")
    assert any("--limit 3" in d for d in df[df["shown"]]["shown_instead_of"].iloc[0])


# --- hygiene -----------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("git") is None or not (REPO / ".git").exists(), reason="needs the git checkout")
def test_no_lock_file_is_committed_and_git_ignores_them():
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.splitlines()
    assert not [p for p in tracked if p.endswith(".lock")]
    ignored = subprocess.run(["git", "check-ignore", "-q", "results/samples/val/.x__pretrained__0123456789ab.lock"], cwd=REPO)
    assert ignored.returncode == 0
