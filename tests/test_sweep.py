"""`bench run --shard I/N`: an exact, stable, cost-balanced partition of the model list; resumable shards."""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from bench import sweep
from bench.cli import main
from bench.errors import ConfigError


def _dry_run(capsys, *args: str) -> list[str]:
    assert main(["run", "--dry-run", *args]) == 0
    return capsys.readouterr().out.splitlines()


def test_resnet_glob_shards_are_disjoint_and_their_union_is_the_unsharded_list(capsys, monkeypatch):
    """The issue's done-when, in process: `bench run --models 'resnet*' --shard I/3 --dry-run` for I = 0, 1, 2."""
    for var in ("SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"):
        monkeypatch.delenv(var, raising=False)
    everything = _dry_run(capsys, "--models", "resnet*")
    shards = [_dry_run(capsys, "--models", "resnet*", "--shard", f"{i}/3") for i in range(3)]
    assert len(everything) == len(set(everything)) > 30
    assert all(shards)  # nobody idles
    assert sum(len(s) for s in shards) == len(everything)
    assert set().union(*map(set, shards)) == set(everything)
    for a, b in itertools.combinations(shards, 2):
        assert not set(a) & set(b)
    for s in shards:  # a shard keeps the order the models were given
        assert s == [m for m in everything if m in set(s)]


def test_shards_are_the_same_in_processes_with_different_hash_seeds(capsys):
    args = ["-m", "bench", "run", "--models", "resnet1*,tv:efficientnet*,tv:vit_b*", "--shard", "1/3", "--dry-run"]
    base = {k: v for k, v in os.environ.items() if k not in ("SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX")}
    procs = [
        subprocess.Popen(
            [sys.executable, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(base, PYTHONHASHSEED=seed),
        )
        for seed in ("0", "987654321")
    ]
    done = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], done
    outs = [out.splitlines() for out, _ in done]
    assert outs[0] == outs[1] and outs[0]
    assert outs[0] == _dry_run(capsys, *args[3:-1])  # and the same as in this process


def test_partition_is_exact_and_independent_of_input_order():
    rng = random.Random(7)
    for _ in range(50):
        items = [(f"m{k:03d}", round(rng.uniform(0.1, 50), 3)) for k in range(rng.randint(1, 40))]
        n = rng.randint(1, 9)
        bins = sweep.partition(items, n)
        flat = [k for b in bins for k in b]
        assert len(bins) == n and sorted(flat) == sorted(k for k, _ in items) and len(flat) == len(set(flat))
        shuffled = items[:]
        rng.shuffle(shuffled)
        assert sweep.partition(shuffled, n) == bins


def test_equal_costs_are_dealt_by_id_to_the_lowest_bin():
    assert sweep.partition([("d", 1.0), ("b", 1.0), ("a", 1.0), ("c", 1.0), ("e", 1.0)], 2) == [["a", "c", "e"], ["b", "d"]]
    assert sweep.partition([("x", 5.0), ("a", 1.0)], 3) == [["x"], ["a"], []]


def _makespan(items, bins) -> float:
    cost = dict(items)
    return max(sum(cost[k] for k in b) for b in bins)


def _optimum(costs: list[float], n: int) -> float:
    """Brute force over every assignment (small instances only): the independent oracle for the LPT bound."""
    best = float("inf")
    for assign in itertools.product(range(n), repeat=len(costs) - 1):
        loads = [0.0] * n
        loads[0] = costs[0]  # symmetry: the first item in bin 0
        for c, b in zip(costs[1:], assign):
            loads[b] += c
        best = min(best, max(loads))
    return best


def test_lpt_is_within_grahams_bound_of_the_optimum():
    """Stated bound 1: max bin <= (4/3 - 1/(3N)) x the optimal makespan (Graham 1969, LPT)."""
    rng = random.Random(11)
    worst = 0.0
    for _ in range(60):
        n = rng.choice([2, 3, 4])
        items = [(f"m{k}", round(rng.uniform(1, 20), 2)) for k in range(rng.randint(n + 1, 8))]
        got, opt = _makespan(items, sweep.partition(items, n)), _optimum([c for _, c in items], n)
        assert got <= (4 / 3 - 1 / (3 * n)) * opt + 1e-9
        worst = max(worst, got / opt)
    assert worst > 1.0  # the instances were hard enough for LPT to miss the optimum sometimes


def test_zoo_costs_are_balanced_within_the_list_scheduling_bound():
    """Stated bound 2 (any instance): max bin <= total/N + (1 - 1/N) x the largest cost, checked on resnet*'s estimates."""
    from bench import models as M

    specs = M.expand(["resnet*"])
    costs = sweep.costs(specs)
    total, largest = sum(costs.values()), max(costs.values())
    for n in range(2, 9):
        bins = sweep.partition(list(costs.items()), n)
        assert _makespan(costs.items(), bins) <= total / n + (1 - 1 / n) * largest + 1e-9


def test_costs_use_reported_gmacs_else_the_params_proxy():
    import timm
    import torchvision.models as tvm

    from bench import models as M
    from bench.models.cost import GMACS_PER_MPARAM_224, estimate

    tv = estimate(M.resolve("tv:resnet50.IMAGENET1K_V2"))
    assert (tv.gmacs, tv.how) == (tvm.ResNet50_Weights.IMAGENET1K_V2.meta["_ops"], "reported")
    spec = M.resolve("timm:resnet18d.ra2_in1k")  # timm reports params (at test size 288), no GMACs: the proxy
    est = estimate(spec)
    assert est.how == "params" and spec.pretrained_cfg["test_input_size"] == (3, 288, 288)
    assert est.gmacs == pytest.approx(spec.reference["params"] / 1e6 * GMACS_PER_MPARAM_224 * 288 * 288 / 224**2, rel=1e-6)
    spec = M.resolve("timm:cpubone_b1_dwnorm.timm_r256_in1k")  # nothing reported: parameters counted on the meta device
    real = sum(p.numel() for p in timm.create_model("cpubone_b1_dwnorm", pretrained=False).parameters())
    est = estimate(spec)
    assert est.how == "meta-params" and spec.reference.get("params") is None
    assert est.gmacs == pytest.approx(real / 1e6 * GMACS_PER_MPARAM_224 * 256 * 256 / 224**2, rel=1e-6)


@pytest.mark.parametrize(
    "env,expected",
    [
        ({"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "4"}, (2, 4)),
        ({"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "3"}, (2, 4)),  # --array=3-6
        (
            {
                "SLURM_ARRAY_TASK_ID": "14",
                "SLURM_ARRAY_TASK_COUNT": "4",
                "SLURM_ARRAY_TASK_MIN": "10",
                "SLURM_ARRAY_TASK_STEP": "2",
            },
            (2, 4),
        ),
        ({"JOB_COMPLETION_INDEX": "3", "BENCH_SHARD_COUNT": "8"}, (3, 8)),
        (
            {"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "2", "JOB_COMPLETION_INDEX": "0", "BENCH_SHARD_COUNT": "5"},
            (1, 2),
        ),
        ({"PATH": "/usr/bin"}, None),
    ],
)
def test_scheduler_variables_give_the_shard(env, expected):
    shard = sweep.from_env(env)
    assert (None if shard is None else (shard.index, shard.count)) == expected


def test_explicit_shard_wins_over_the_scheduler():
    env = {"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "2"}
    assert (sweep.resolve_shard("0/3", env).index, sweep.resolve_shard("0/3", env).count) == (0, 3)
    assert sweep.resolve_shard(None, env).origin.startswith("SLURM_ARRAY_TASK_ID=1")


@pytest.mark.parametrize(
    "env,match",
    [
        ({"SLURM_ARRAY_TASK_ID": "1"}, "SLURM_ARRAY_TASK_COUNT is not"),
        ({"SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_COUNT": "4"}, "out of range"),
        ({"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_STEP": "2"}, "not on the array's"),
        ({"JOB_COMPLETION_INDEX": "0"}, "BENCH_SHARD_COUNT is not"),
        ({"JOB_COMPLETION_INDEX": "x", "BENCH_SHARD_COUNT": "2"}, "not an integer"),
    ],
)
def test_bad_scheduler_variables_are_usage_errors(env, match):
    with pytest.raises(ConfigError, match=match):
        sweep.from_env(env)


@pytest.mark.parametrize("text", ["3/3", "1", "a/b", "-1/2", "0/0"])
def test_bad_shard_flag_exits_2_with_one_line(capsys, text):
    assert main(["run", "--models", "tf_efficientnet_lite0", f"--shard={text}", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "--shard" in err and "I/N" in err and len(err.strip().splitlines()) == 1


def test_environment_shard_reaches_the_cli(capsys, monkeypatch):
    models = "tf_efficientnet_lite0,tf_efficientnet_lite1,tf_efficientnet_lite2"
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "1")
    monkeypatch.setenv("BENCH_SHARD_COUNT", "2")
    from_k8s = _dry_run(capsys, "--models", models)
    monkeypatch.delenv("JOB_COMPLETION_INDEX")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "1")
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "2")
    from_slurm = _dry_run(capsys, "--models", models)
    explicit = _dry_run(capsys, "--models", models, "--shard", "1/2")
    # LPT by hand on the estimates 1.31 (lite2), 1.00 (lite1), 0.74 (lite0): lite2 alone, lite1 + lite0 together
    assert from_k8s == from_slurm == explicit == ["timm:tf_efficientnet_lite0.in1k", "timm:tf_efficientnet_lite1.in1k"]
    assert _dry_run(capsys, "--models", models, "--shard", "0/2") == ["timm:tf_efficientnet_lite2.in1k"]


@pytest.mark.slow
def test_a_killed_shard_reruns_only_what_is_missing_and_the_leaderboard_shows_the_union(tmp_path):
    results, pages = tmp_path / "results", tmp_path / "leaderboards"
    env = {k: v for k, v in os.environ.items() if k not in ("SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX", "WORLD_SIZE")}
    base = [
        sys.executable,
        "-m",
        "bench",
        "run",
        "--models",
        "tf_efficientnet_lite0,tf_efficientnet_lite1,tf_efficientnet_lite2",
        "--dataset",
        "samples",
        "--no-efficiency",
        "--no-progress",
        "--device",
        "cpu",
        "--results-dir",
        str(results),
    ]
    shard1 = base + ["--shard", "1/2"]  # lite0 then lite1 (see test_environment_shard_reaches_the_cli)
    proc = subprocess.Popen(shard1, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    split_dir = results / "samples" / "val"

    def lite0_written():  # file names carry the key's hash: lite0's is the one JSON named after it
        return (
            next(iter(split_dir.glob("timm-tf_efficientnet_lite0.in1k__pretrained__*.json")), None)
            if split_dir.is_dir()
            else None
        )

    deadline = time.time() + 240
    while lite0_written() is None and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    first = lite0_written()
    assert first is not None, proc.communicate()[1][-2000:]
    proc.send_signal(signal.SIGKILL)  # as a scheduler's preemption or OOM kill: no handler runs
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    done = sorted(p.name for p in results.rglob("*.json"))
    assert done == [first.name]
    rerun = subprocess.run(shard1, capture_output=True, text=True, env=env, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "1 written, 1 skipped" in rerun.stdout
    rows = {line.split()[0]: line for line in rerun.stdout.splitlines() if line.startswith("timm:")}
    assert "written" in rows["timm:tf_efficientnet_lite1.in1k"]  # only the missing one was run
    assert "skipped" in rows["timm:tf_efficientnet_lite0.in1k"]
    other = subprocess.run(base + ["--shard", "0/2"], capture_output=True, text=True, env=env, timeout=600)
    assert other.returncode == 0 and "1 written, 0 skipped" in other.stdout
    json.loads(first.read_text())  # the killed run's finished result is intact
    assert main(["leaderboard", "--results-dir", str(results), "--out", str(pages)]) == 0
    page = (
        (pages / "samples.md").read_text()
        if (pages / "samples.md").exists()
        else "".join(p.read_text() for p in pages.glob("*.md"))
    )
    for m in ("tf_efficientnet_lite0", "tf_efficientnet_lite1", "tf_efficientnet_lite2"):
        assert m in page


def test_dry_run_loads_no_data_and_no_weights(capsys, tmp_path, monkeypatch):
    """alexnet's weights are not cached in the test run and the data dir is empty: a dry run needs neither."""
    import torch.hub

    monkeypatch.delenv("SLURM_ARRAY_TASK_ID", raising=False)
    monkeypatch.delenv("JOB_COMPLETION_INDEX", raising=False)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", lambda *a, **k: pytest.fail("a dry run loaded weights"))
    (tmp_path / "empty").mkdir()  # an empty copy: loading it would exit 2, a dry run never looks
    out = _dry_run(
        capsys, "--models", "alexnet", "--dataset", "imagenet-1k", "--data-dir", str(tmp_path / "empty"), "--shard", "0/1"
    )
    assert out == ["tv:alexnet.IMAGENET1K_V1"] and [p.name for p in tmp_path.iterdir()] == ["empty"]
    assert not list((tmp_path / "empty").iterdir())
