#!/usr/bin/env bash
# Everything a lent GPU should verify, in one go, within BUDGET_S (default 480 s = 8 min) wall:
# each step with its own timeout and log, continuing past failures; writes device_check.json,
# device_check.md and device_check_logs.tar.gz to OUT. docs/gpu.md has the device-tool call.
#
#   bash scripts/device_check.sh                          # OUT=$OUT or ./device-check-out, DEVICE=cuda
#   DEVICE=cpu STEPS="install env measure oom" bash scripts/device_check.sh   # the dry run the tests do
#
# Knobs (environment): DEVICE (cuda), OUT, WORK (scratch: logs, results), WHEELS (.device-wheels, filled
# by `make device-wheels`), PYTHON (python3), BUDGET_S (480), STEPS (all, space-separated names).
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PYTHON=${PYTHON:-python3}
export DEVICE=${DEVICE:-cuda}
OUT=${OUT:-$ROOT/device-check-out}
export WORK=${WORK:-$(mktemp -d /tmp/device-check.XXXXXX)}
WHEELS=${WHEELS:-$ROOT/.device-wheels}
export BUDGET_S=${BUDGET_S:-480}
export DEVICE_CHECK_STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
export PYTHONUNBUFFERED=1
REPORT_RESERVE=15 # seconds kept for the report at the end
mkdir -p "$OUT" "$WORK/logs" "$WORK/figures" "$WORK/site"
: >"$WORK/steps.tsv"
# The carried wheels go to WORK/site, the package runs from this source tree: nothing on the machine is replaced.
export PYTHONPATH="$WORK/site:$ROOT${PYTHONPATH:+:$PYTHONPATH}"
START=$SECONDS
ALL=$($PYTHON scripts/device_check.py steps | cut -f1)
STEPS=${STEPS:-$ALL}

selected() { [[ " $STEPS " == *" $1 "* ]]; }

timeout_of() { $PYTHON scripts/device_check.py steps | awk -F'\t' -v n="$1" '$1 == n {print $2}'; }

# run_step NAME CMD...: its own timeout (the step's, cut to what is left of the budget) and log; never stops the script.
run_step() {
	local name=$1
	shift
	selected "$name" || return 0
	local left=$((BUDGET_S - REPORT_RESERVE - (SECONDS - START)))
	local limit
	limit=$(timeout_of "$name")
	((left < limit)) && limit=$left
	if ((limit < 5)); then
		printf '%s\t\t0\tout of time: %s s budget spent\n' "$name" "$BUDGET_S" >>"$WORK/steps.tsv"
		echo "== $name: skipped (out of time)"
		return 0
	fi
	echo "== $name (timeout ${limit} s)"
	local t0=$SECONDS rc
	timeout -k 5 "$limit" "$@" >"$WORK/logs/$name.log" 2>&1
	rc=$?
	printf '%s\t%s\t%s\t\n' "$name" "$rc" "$((SECONDS - t0))" >>"$WORK/steps.tsv"
	echo "   exit $rc after $((SECONDS - t0)) s"
}


run_step install $PYTHON scripts/device_check.py install --wheels "$WHEELS" --site "$WORK/site"
run_step env $PYTHON scripts/device_check.py env
run_step timer $PYTHON scripts/device_check.py timer
run_step measure $PYTHON scripts/device_check.py measure
run_step oom $PYTHON scripts/device_check.py oom
run_step nvjpeg $PYTHON scripts/device_check.py nvjpeg
run_step pixels $PYTHON scripts/device_check.py pixels
run_step gpu-tests $PYTHON -m pytest -m gpu -q -p no:cacheprovider -o addopts=-ra tests
run_step run-fp32 $PYTHON scripts/device_check.py bench-run --precision fp32 --data-path cpu
run_step run-bf16-gpu $PYTHON scripts/device_check.py bench-run --precision bf16 --data-path gpu
run_step profile $PYTHON benchmarks/profile_vs_timm.py --model resnet50 --device "$DEVICE" --precision bf16 --channels-last --batch-size 256
run_step pipeline $PYTHON benchmarks/pipeline.py --device "$DEVICE" --model resnet50 --images 4096 --precision bf16 --channels-last --repeats 2
run_step compile $PYTHON scripts/device_check.py compile

$PYTHON scripts/device_check.py report --out "$OUT"
echo "report: $OUT/device_check.md ($((SECONDS - START)) s)"
