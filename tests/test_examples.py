"""The sweep examples are valid: the SLURM script parses and shards, the Indexed Job parses and runs `bench run`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from bench.cli import build_parser

EXAMPLES = Path(__file__).parent.parent / "examples"


def test_k8s_indexed_job_parses_and_its_count_matches_completions():
    job = yaml.safe_load((EXAMPLES / "k8s-indexed-job.yaml").read_text())
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "Job")
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    (container,) = spec["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert int(env["BENCH_SHARD_COUNT"]) == spec["completions"]
    assert "JOB_COMPLETION_INDEX" not in env  # Kubernetes sets it per pod
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    command = container["command"]
    assert command[:3] == ["python", "-m", "bench"]
    args = build_parser().parse_args(command[3:])  # bench's own parser accepts the command as written
    assert (
        args.command == "run" and args.results_dir == "/results" and getattr(args, "shard", None) is None
    )  # unset: from the env
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert "/results" in mounts


def test_slurm_script_is_valid_bash_and_an_array_job():
    script = EXAMPLES / "slurm-sweep.sh"
    check = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    text = script.read_text()
    assert "#SBATCH --array=" in text and "#SBATCH --gpus-per-task=1" in text
    assert "torch.distributed.run" in text and "--nproc-per-node" in text  # torchrun for multi-GPU tasks
    assert os.access(script, os.X_OK)


def test_slurm_script_array_tasks_split_the_models(tmp_path):
    """Run the script as two array tasks would (with --dry-run): disjoint shards whose union is the whole list."""
    models = "tf_efficientnet_lite0,tf_efficientnet_lite1,tf_efficientnet_lite2"
    base = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_") and k != "JOB_COMPLETION_INDEX"}
    base.update(MODELS=models, PYTHON=sys.executable, PYTHONPATH=str(EXAMPLES.parent), SLURM_SUBMIT_DIR=str(tmp_path))
    procs = []
    for task in ("4", "5"):  # --array=4-5: task ids 4 and 5 are shards 0 and 1
        env = dict(base, SLURM_ARRAY_TASK_ID=task, SLURM_ARRAY_TASK_MIN="4", SLURM_ARRAY_TASK_COUNT="2")
        procs.append(
            subprocess.Popen(
                ["bash", str(EXAMPLES / "slurm-sweep.sh"), "--dry-run"],
                env=env,
                text=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        )
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    shards = [out.split() for out, _ in outs]
    assert sorted(shards[0] + shards[1]) == sorted(f"timm:{m}.in1k" for m in models.split(","))
    assert not set(shards[0]) & set(shards[1])
    assert "SLURM_ARRAY_TASK_ID=5 of SLURM_ARRAY_TASK_COUNT=2" in outs[1][1]
