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
    args = [
        "-m",
        "bench",
        "run",
        "--models",
        "tf_efficientnet_lite0",
        "--dataset",
        "samples",  # 5 images: odd for 2 ranks
        "--no-efficiency",
        "--no-progress",
        "--device",
        "cpu",
    ]
    single = subprocess.run(
        [sys.executable, *args, "--results-dir", str(tmp_path / "one")], capture_output=True, text=True, env=_env()
    )
    assert single.returncode == 0, single.stderr
    multi = subprocess.run(
        [torchrun, "--standalone", "--nproc-per-node", "2", *args, "--results-dir", str(tmp_path / "two")],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
    )
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


# Under torchrun, rank 1 is given a store that sees nothing done (as a rank whose look at a shared
# filesystem came before the other run finished would). If ranks decided for themselves, rank 1 would
# evaluate lite0 while rank 0 skips it: the gathers would pair shards of different models, or hang.
RANK1_BLIND = """
import os, sys
if os.environ.get("RANK") == "1":
    from bench.store import results as R
    real = R.lookup
    def blind(key, results_dir, requested, force=False, warn=None):
        plan = real(key, results_dir + "-elsewhere", requested, force)
        return plan
    R.lookup = blind
from bench.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_rank0_decides_what_is_done_and_every_rank_follows(tmp_path):
    torchrun = shutil.which("torchrun", path=str(BIN))
    results = tmp_path / "results"
    args = ["run", "--dataset", "samples", "--no-efficiency", "--no-progress", "--device", "cpu", "--results-dir", str(results)]
    single = subprocess.run(
        [sys.executable, "-m", "bench", *args, "--models", "tf_efficientnet_lite0"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
    )
    assert single.returncode == 0, single.stderr
    (done,) = results.rglob("*.json")
    before = done.read_bytes()
    script = tmp_path / "blind_rank1.py"
    script.write_text(RANK1_BLIND)
    multi = subprocess.run(
        [
            torchrun,
            "--standalone",
            "--nproc-per-node",
            "2",
            str(script),
            *args,
            "--models",
            "tf_efficientnet_lite0,tf_efficientnet_lite1",
        ],
        capture_output=True,
        text=True,
        env={**_env(), "PYTHONPATH": str(Path(__file__).parents[1])},
        timeout=300,
    )
    assert multi.returncode == 0, multi.stderr[-3000:]
    assert multi.stdout.count("1 written, 1 skipped") == 1  # rank 0 alone reports
    assert "timm:tf_efficientnet_lite0.in1k" in multi.stdout and "skipped (already done: accuracy stored)" in multi.stdout
    assert done.read_bytes() == before
    lite1 = next(p for p in results.rglob("*.json") if "lite1" in p.name)
    r = json.loads(lite1.read_text())
    assert r["accuracy"]["n"] == 5 and r["run"]["world_size"] == 2
    alone = subprocess.run(
        [sys.executable, "-m", "bench", *args, "--models", "tf_efficientnet_lite1", "--results-dir", str(tmp_path / "alone")],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
    )
    assert alone.returncode == 0, alone.stderr
    one = json.loads(next((tmp_path / "alone").rglob("*.json")).read_text())
    for protocol in ("restricted", "full"):  # the merged shards are lite1's, as one process measures it
        assert one["accuracy"][protocol]["correct1"] == r["accuracy"][protocol]["correct1"]
        assert one["accuracy"][protocol]["correct5"] == r["accuracy"][protocol]["correct5"]
    np.testing.assert_array_equal(
        np.load(next((tmp_path / "alone").rglob("*.npz")))["full_top5"],
        np.load(lite1.with_name(lite1.stem + ".samples.npz"))["full_top5"],
    )


def test_one_process_never_creates_a_process_group(monkeypatch):
    """`torchrun --nproc-per-node 1` (WORLD_SIZE=1) or no torchrun: no process group, so NCCL is never touched."""
    import torch.distributed

    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setattr(torch.distributed, "init_process_group", lambda **kw: pytest.fail(f"process group created: {kw}"))
    assert dist.init("cuda") == dist.DistInfo() and not dist.DistInfo().active
    assert dist.device_for(dist.DistInfo(), "cuda:0") == "cuda:0"


@pytest.mark.parametrize("device", ["cuda:0", "cuda:1"])
def test_a_numbered_cuda_device_under_torchrun_is_refused_with_the_fix(monkeypatch, device):
    """Only a bare `cuda` maps to cuda:LOCAL_RANK: `cuda:0` used to put every rank on GPU 0."""
    from bench.errors import ConfigError

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    with pytest.raises(ConfigError, match="pass --device cuda") as e:
        dist.init(device)
    assert e.value.exit_code == 2


def test_process_group_waits_longer_than_ranks_take_outside_collectives(monkeypatch):
    """Ranks 1.. wait in the next broadcast while rank 0 measures efficiency and builds the next model: NCCL's
    default timeout (10 min) would end the run on a long model."""
    import datetime

    import torch.distributed
    import torch.distributed.constants

    from bench.errors import ConfigError

    created: list[dict] = []
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: False)
    monkeypatch.setattr(torch.distributed, "init_process_group", lambda **kw: created.append(kw))
    info = dist.init("cpu")
    assert info.active and created == [{"backend": "gloo", "timeout": datetime.timedelta(hours=4)}]
    assert created[0]["timeout"] > torch.distributed.constants.default_pg_nccl_timeout
    monkeypatch.setenv(dist.TIMEOUT_ENV, "60")
    dist.init("cpu")
    assert created[-1]["timeout"] == datetime.timedelta(seconds=60)
    monkeypatch.setenv(dist.TIMEOUT_ENV, "soon")
    with pytest.raises(ConfigError, match="BENCH_DIST_TIMEOUT_S"):
        dist.init("cpu")
