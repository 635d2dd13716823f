#!/usr/bin/env bash
# The full-scale benchmark on the GPU machine (the `device` tool), as two calls back to back:
# the Polars and XGBoost wheels do not fit in one call's 64 MiB (../shared/GPU.md), and /tmp
# survives between calls while the machine is warm.
#
#   call 1, carry .whl-a (polars, polars-runtime-32):   bash benchmarks/gpu_session.sh generate
#   call 2, carry .whl-b (xgboost-cu13):                bash benchmarks/gpu_session.sh measure
#
# `measure` runs the GPU tests, one fresh end-to-end run on cuda (5 folds, item and None
# models, default configuration), then 50 fixed rounds on cuda and on all CPU cores.
# Logs and JSON lines go to $OUT (fetched back by the device tool). Knobs, as environment
# variables: USERS (default 206209, Instacart's full scale), RUN_LIMIT and ROUNDS_LIMIT
# (seconds each step may take), XGB_ROWS (rows for the 50-round timing; 0 = every labelled row).
set -uo pipefail

phase=${1:?usage: gpu_session.sh generate|measure}
out=${OUT:-/tmp/bc-out}
work=/tmp/bc
users=${USERS:-206209}
mkdir -p "$out" "$work"
export PYTHONPATH=/tmp/site:$PWD/src PYTHONUNBUFFERED=1

install() {
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
        --target /tmp/site "$@"
}

case $phase in
generate)
    install .whl-a/*.whl || exit 1
    python3 benchmarks/full_scale.py --users "$users" --work "$work" --generate 2>&1 |
        tee "$out/generate.log"
    ;;
measure)
    install .whl-b/*.whl || exit 1
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$out/gpu.txt"
    python3 -m pytest -q -p no:cacheprovider tests/model/test_gpu.py 2>&1 | tee "$out/pytest.log"
    timeout "${RUN_LIMIT:-360}" python3 benchmarks/full_scale.py --users "$users" --work "$work" \
        --set 'model.device="cuda"' --results "$out/gpu.jsonl" 2>&1 | tee "$out/run.log"
    echo "end-to-end run: exit ${PIPESTATUS[0]}"
    timeout "${ROUNDS_LIMIT:-200}" python3 benchmarks/full_scale.py --users "$users" \
        --work "$work" --xgb-rounds 50 --xgb-rows "${XGB_ROWS:-0}" --results "$out/gpu.jsonl" \
        2>&1 | tee "$out/rounds.log"
    echo "50 rounds: exit ${PIPESTATUS[0]}"
    ;;
*)
    echo "unknown phase: $phase (generate or measure)" >&2
    exit 2
    ;;
esac
