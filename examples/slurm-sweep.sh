#!/bin/bash
# A zoo sweep as a SLURM array job: array task i runs shard i of the model list.
#
# `bench run` reads SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_MIN, SLURM_ARRAY_TASK_STEP and SLURM_ARRAY_TASK_COUNT
# and keeps its part of a deterministic, cost-balanced partition (bench/sweep.py): the scheduler distributes,
# there is no coordinator. Every task writes into the same results directory and skips what is already there,
# so a failed or preempted task is simply run again (`--requeue`, or resubmit that index: sbatch --array=7 ...).
#
#   sbatch --array=0-15 examples/slurm-sweep.sh                          # 16 tasks, one GPU each
#   MODELS='convnext*' sbatch --array=0-3 examples/slurm-sweep.sh        # a smaller sweep
#   sbatch --array=0-3 --gpus-per-task=4 --cpus-per-task=32 examples/slurm-sweep.sh   # torchrun over 4 GPUs per task
#   SLURM_ARRAY_TASK_ID=0 SLURM_ARRAY_TASK_COUNT=16 bash examples/slurm-sweep.sh --dry-run  # what task 0 would run
#   bench leaderboard --results-dir results                              # afterwards: the union of every task
#
# Environment: MODELS (default: every model, '*'), DATASET (imagenet-1k), DATA_DIR (a shared local copy; empty:
# the HF hub, of which only the split is fetched, once, into the shared HF_HOME), STREAMING=1 (no local copy),
# RESULTS (shared results directory), PYTHON. Extra arguments go to `bench run`.
#
#SBATCH --job-name=bench-sweep
#SBATCH --array=0-15
#SBATCH --ntasks=1
#SBATCH --gpus-per-task=1
#SBATCH --cpus-per-task=8
#SBATCH --mem=64G
#SBATCH --time=12:00:00
#SBATCH --requeue
#SBATCH --output=bench-sweep-%A_%a.out
set -euo pipefail

SUBMIT_DIR=${SLURM_SUBMIT_DIR:-$PWD}
MODELS=${MODELS:-'*'}
DATASET=${DATASET:-imagenet-1k}
DATA_DIR=${DATA_DIR:-}
RESULTS=${RESULTS:-$SUBMIT_DIR/results}
PYTHON=${PYTHON:-python}
GPUS=${SLURM_GPUS_PER_TASK:-1}
export HF_HOME=${HF_HOME:-$SUBMIT_DIR/.cache/huggingface}  # shared: the split is downloaded once for all tasks

args=(run --models "$MODELS" --dataset "$DATASET" --device cuda --results-dir "$RESULTS" --no-progress)
if [[ -n "$DATA_DIR" ]]; then
  args+=(--data-dir "$DATA_DIR")
fi
if [[ -n "${STREAMING:-}" ]]; then
  args+=(--streaming)
fi

if (( GPUS > 1 )); then
  # one task, several GPUs: torchrun splits each model's samples across them; rank 0 writes
  exec "$PYTHON" -m torch.distributed.run --standalone --nproc-per-node "$GPUS" -m bench "${args[@]}" "$@"
fi
exec "$PYTHON" -m bench "${args[@]}" "$@"
