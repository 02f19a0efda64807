#!/usr/bin/env bash
# What a GPU machine must show, in one go and in under 8 minutes, each figure printed:
#   1. the device, and that torch sees it
#   2. the fast test tier (Lightning's accelerator "auto" takes the GPU wherever a test
#      does not name one; the DDP tests name the CPU)
#   3. members_speed.py and epoch_speed.py on the GPU (their Trainers use "auto" too)
#   4. the whole suite on one GPU (--trainer.accelerator gpu), its time and exit code
# Each step has its own time limit, so one slow step still leaves the others their say.
#
#     bash benchmarks/gpu_check.sh            # from the repository root, after `make setup`
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python3
logdir=$(mktemp -d)
trap 'rm -rf "$logdir"' EXIT

step() {  # step NAME SECONDS COMMAND...: run it under a time limit, print its time and code
  local name=$1 limit=$2; shift 2
  echo "=== $name (limit ${limit} s)"
  local started=$SECONDS
  timeout "$limit" "$@"
  local code=$?
  echo "=== $name: exit $code in $((SECONDS - started)) s"
}

step device 30 bash -c "nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; \
  $PYTHON -c 'import torch; print(\"torch\", torch.__version__, \"cuda\", torch.version.cuda, \
  \"available\", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else \"\")'"
step "fast tests" 120 "$PYTHON" -m pytest -q -m "not slow" -x -p no:cacheprovider
step members_speed 60 "$PYTHON" benchmarks/members_speed.py --repeats 1 --epochs 30
step epoch_speed 45 "$PYTHON" benchmarks/epoch_speed.py --epochs 2
step "suite on one GPU" 220 "$PYTHON" experiments/run.py --logdir "$logdir" \
  --trainer.accelerator gpu --trainer.enable_progress_bar false
[ -f "$logdir/index.md" ] && cat "$logdir/index.md"
