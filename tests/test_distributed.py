"""torchrun: two gloo processes on CPU give exactly the single-process n and predictions."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.measure import distributed as dist

BIN = Path(sys.executable).parent


def test_shards_are_disjoint_and_cover_everything():
    indices = list(range(11))
    shards = [dist.shard(indices, dist.DistInfo(r, 3)) for r in range(3)]
    assert sorted(sum(shards, [])) == indices and [len(s) for s in shards] == [4, 4, 3]


def _env():
    env = dict(os.environ)
    env.pop("WORLD_SIZE", None)
    return env


@pytest.mark.slow
def test_two_process_gloo_equals_single_process(tmp_path):
    torchrun = shutil.which("torchrun", path=str(BIN))
    assert torchrun, "torchrun comes with torch"
    args = ["-m", "bench", "run", "--models", "tf_efficientnet_lite0", "--dataset", "samples",  # 5 images: odd for 2 ranks
            "--no-efficiency", "--no-progress", "--device", "cpu"]
    single = subprocess.run([sys.executable, *args, "--results-dir", str(tmp_path / "one")], capture_output=True, text=True, env=_env())
    assert single.returncode == 0, single.stderr
    multi = subprocess.run([torchrun, "--standalone", "--nproc-per-node", "2", *args, "--results-dir", str(tmp_path / "two")],
                           capture_output=True, text=True, env=_env(), timeout=300)
    assert multi.returncode == 0, multi.stderr[-3000:]
    assert multi.stdout.count("1 written") == 1  # rank 0 alone reports and writes
    one = json.loads(next((tmp_path / "one").rglob("*.json")).read_text())
    two = json.loads(next((tmp_path / "two").rglob("*.json")).read_text())
    assert one["accuracy"]["n"] == two["accuracy"]["n"] == 5
    for protocol in ("restricted", "full"):
        for k in ("top1", "top5", "correct1", "correct5"):
            assert one["accuracy"][protocol][k] == two["accuracy"][protocol][k]
    assert two["run"]["world_size"] == 2 and one["protocol_hash"] == two["protocol_hash"]
    a = np.load(next((tmp_path / "one").rglob("*.npz")))
    b = np.load(next((tmp_path / "two").rglob("*.npz")))
    for k in ("index", "target", "full_top5", "restricted_top5"):
        np.testing.assert_array_equal(a[k], b[k])
    # batch composition differs between the runs, so float sums differ in the last bits only
    np.testing.assert_allclose(a["nll_full"], b["nll_full"], rtol=1e-4)
