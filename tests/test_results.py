"""Results store: schema, atomic writes, skip-if-done, DataFrame view."""

from __future__ import annotations

import os

import numpy as np
import pytest

from bench.store import results as R
from bench.errors import ResultsError


def _result(model="tv:alexnet.IMAGENET1K_V1", top1=50.0):
    key = R.ResultKey("samples", "val", model, "pretrained", "model")
    return {
        "schema_version": R.SCHEMA_VERSION,
        "key": key.as_dict(),
        "model": {"source": "torchvision", "arch": "alexnet", "tag": "IMAGENET1K_V1", "weights": {"sha256": "ab"}, "reference": {"top1": 56.522}},
        "accuracy": {"n": 4, "n_failed": 0, "restricted": {"top1": top1, "top5": 100.0, "top1_ci95": [1.0, 2.0], "nll": 1.5},
                     "full": {"top1": top1, "top5": 100.0, "nll": 1.5}},
        "efficiency": {"params": 61100840, "gmacs": 0.714, "throughput_img_s": 10.0, "device_name": "cpu"},
        "run": {"started": "2026-11-23T18:00:00+00:00"},
        "protocol_hash": "abc",
    }, key


def test_write_read_and_load(tmp_path):
    result, key = _result()
    samples = {"target": np.arange(4, dtype=np.int32)}
    path = R.write(result, samples, tmp_path)
    assert path == tmp_path / "samples" / "val" / "tv-alexnet.IMAGENET1K_V1__pretrained__model.json"
    assert R.is_done(key, tmp_path)
    back = R.read(path)
    assert back["samples_file"] == "tv-alexnet.IMAGENET1K_V1__pretrained__model.samples.npz"
    np.testing.assert_array_equal(R.read_samples(back)["target"], np.arange(4))
    df = R.load(tmp_path)
    assert len(df) == 1
    row = df.iloc[0]
    assert row["top1"] == 50.0 and row["params"] == 61100840 and row["ref_top1"] == 56.522 and row["date"] == "2026-11-23"
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]  # no temp files left


def test_json_without_samples_is_not_done(tmp_path):
    result, key = _result()
    path = R.write(result, {"target": np.zeros(1)}, tmp_path)
    path.with_name(path.stem + R.SAMPLES_SUFFIX).unlink()
    assert not R.is_done(key, tmp_path)


def test_wrong_schema_version_names_the_fix(tmp_path):
    result, _ = _result()
    path = R.write({**result, "schema_version": 99}, None, tmp_path)
    with pytest.raises(ResultsError, match="--force"):
        R.read(path)
    path.write_text("{not json")
    with pytest.raises(ResultsError, match="cannot read"):
        R.read(path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_results_dir(tmp_path):
    result, _ = _result()
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(ResultsError, match="--results-dir"):
            R.write(result, None, tmp_path / "sub")
    finally:
        tmp_path.chmod(0o700)


def test_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    result, key = _result()

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(ResultsError, match="No space left"):
        R.write(result, None, tmp_path)
    assert list((tmp_path / "samples" / "val").iterdir()) == []


def test_empty_dir_loads_empty_frame(tmp_path):
    df = R.load(tmp_path)
    assert len(df) == 0 and "top1" in df.columns
