#!/usr/bin/env bash
# One command for a short GPU loan (bare machine, NVIDIA GPU, no network), at most ~8 minutes:
#
#   bash benchmarks/gpu_check.sh            # on the GPU machine
#   bash benchmarks/gpu_check.sh --dry-run  # anywhere: every step on numpy with tiny sizes in ~40 s (CI runs it)
#
# Steps, each under its own `timeout` carved from one overall budget, each logged to its own file; a step that
# fails or times out is recorded in steps.tsv and the script goes on:
#   env          nvidia-smi, python/cupy/torch/numpy versions, GPU names, TF32 settings -> env.txt, env.json
#   wheels       array-api-compat / array-api-strict from benchmarks/wheels/ if the image lacks them
#                (no index, installed into a scratch --target folder; fetch them beforehand with
#                benchmarks/fetch_gpu_wheels.sh)
#   bench_cupy   anynn bench on cupy with --compare-torch (PyTorch on the same CUDA device), one run per
#                model -> bench_cupy_<model>.json
#   cuda_graphs  whole-step CUDA graphs: captured vs eager trajectories and step times per model
#                (benchmarks/cuda_graph_check.py; dry run: the replay backend) -> cuda_graphs.json
#   cudnn        cuDNN convolutions (ANYNN_CUDNN=1) against anynn's im2col and PyTorch per layer shape
#                (benchmarks/cudnn_check.py; nvidia-cudnn-frontend from benchmarks/wheels if the image lacks it;
#                dry run: im2col vs PyTorch on numpy) -> cudnn_check.json
#   tests        the suite on the cupy backend, pytest-xdist workers, per-test timeouts -> tests.log, tests.xml
#   counts       launches, host syncs and uploads per step as cupy makes them, beside PyTorch's op count
#                (anynn bench --count, on the CPU) -> counts.json
#   bench_numpy  the same models on numpy (the CPU reference) -> bench_numpy_<model>.json
#   summary      summary.txt
# The bench runs first: its numbers are what a loan is for, and the suite may use whatever time is left.
#
# Output: $OUT if set, else runs/gpu_check/<timestamp>. anynn is not installed: the checkout goes on PYTHONPATH
# (anynn[cuda] would pull a second CuPy wheel). Exit status 0 when every step passed, 1 otherwise.
#
# Knobs (environment): PYTHON (default python3), GPU_CHECK_BUDGET (seconds, default 450; dry run 110),
# GPU_CHECK_MODELS, GPU_CHECK_IMAGES, GPU_CHECK_WORKERS (pytest -n, default 8), GPU_CHECK_TESTS (pytest args),
# GPU_CHECK_DRY_RUN=1 (same as --dry-run).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DRY=${GPU_CHECK_DRY_RUN:-0}
STEP=
while [ $# -gt 0 ]; do
    case $1 in
        --dry-run) DRY=1 ;;
        --step) STEP=$2; shift ;;  # internal: run one step's function (under the caller's timeout)
        *) echo "usage: $0 [--dry-run]" >&2; exit 2 ;;
    esac
    shift
done
export GPU_CHECK_DRY_RUN=$DRY
PY=${PYTHON:-python3}
export PYTHON=$PY
if [ -z "$STEP" ]; then
    OUT=${OUT:-$ROOT/runs/gpu_check/$(date +%Y%m%d-%H%M%S)}
    mkdir -p "$OUT"
    export OUT=$(cd "$OUT" && pwd)
    export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1
unset ANYNN_BACKEND ANYNN_DEVICE

if [ "$DRY" = 1 ]; then
    BUDGET=${GPU_CHECK_BUDGET:-110}
    GPU=numpy                                  # the backend that stands in for cupy
    MODELS=${GPU_CHECK_MODELS:-mlp}
    IMAGES=${GPU_CHECK_IMAGES:-64}
    BENCH_EXTRA=(--batch-size 32)
    WORKERS=${GPU_CHECK_WORKERS:-2}
    TEST_ARGS=${GPU_CHECK_TESTS:-tests/backends/test_cupy_backend.py -k erf_keeps}
    GRAPHS=replay GRAPH_EXTRA=(--models mlp --steps 2 --timed 1 --batch-size 4)
    CUDNN_EXTRA=(--backend numpy --layers 1 --repeats 1)
    SHARES=(env:20 wheels:5 bench_cupy:25 cuda_graphs:10 cudnn:10 counts:20 tests:20 bench_numpy:15)  # slack for load
else
    BUDGET=${GPU_CHECK_BUDGET:-450}
    GPU=cupy
    MODELS=${GPU_CHECK_MODELS:-mlp,lenet5,vgg_small,resnet18}
    IMAGES=${GPU_CHECK_IMAGES:-1024}
    BENCH_EXTRA=()
    WORKERS=${GPU_CHECK_WORKERS:-8}
    TEST_ARGS=${GPU_CHECK_TESTS:-tests --ignore=tests/test_gpu_check.py}  # (its dry runs are CPU work)
    GRAPHS=cupy GRAPH_EXTRA=(--models "$MODELS")
    CUDNN_EXTRA=(--backend cupy --repeats 5)
    SHARES=(env:20 wheels:20 bench_cupy:150 cuda_graphs:40 cudnn:30 counts:40 tests:110 bench_numpy:40)
fi
# ------------------------------------------------------------------ the steps (each runs in its own process)
env_step() {
    echo "== date: $(date -Is)  host: $(hostname)"
    echo "== git: $(git -C "$ROOT" log -1 --format='%h %s' 2>/dev/null || echo 'no git')"
    if command -v nvidia-smi >/dev/null; then
        nvidia-smi
        nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit --format=csv
    else
        echo "nvidia-smi: not found"
    fi
    "$PY" "$ROOT/benchmarks/gpu_check.py" env "$OUT"
}

wheels_step() {  # array-api-compat / array-api-strict from the carried wheels, if the image lacks them
    if "$PY" -c "import array_api_compat, array_api_strict" 2>/dev/null; then
        echo "array-api-compat and array-api-strict already importable"
        return 0
    fi
    if ! ls "$ROOT"/benchmarks/wheels/*.whl >/dev/null 2>&1; then
        echo "missing packages and no wheels in benchmarks/wheels (run benchmarks/fetch_gpu_wheels.sh beforehand)"
        return 1
    fi
    "$PY" -m pip install --no-index --no-deps --find-links "$ROOT/benchmarks/wheels" --target "$SITE" \
        array-api-compat array-api-strict &&
        PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$SITE" "$PY" -c "import array_api_compat, array_api_strict" &&
        echo "installed into $SITE (on PYTHONPATH for the next steps)"
}

bench() {  # bench LABEL BACKEND [more flags]: one anynn bench run per model -> bench_LABEL_MODEL.json
    local label=$1 backend=$2 model rc=0  # (one run each, so a timeout keeps the models done)
    shift 2
    for model in ${MODELS//,/ }; do
        "$PY" -m anynn bench --models "$model" --backends "$backend" "$@" --epochs 1 --images "$IMAGES" \
            "${BENCH_EXTRA[@]}" --json "$OUT/bench_${label}_$model.json" || rc=$?
    done
    return $rc
}
counts_step() {  # launches, host syncs and uploads per step as cupy makes them (counted on the CPU), and PyTorch's
    "$PY" -m anynn bench --count --models "$MODELS" --backends cupy,numpy --compare-torch --verbose \
        --json "$OUT/counts.json"
}
bench_cupy_step() { bench cupy "$GPU" --compare-torch; }
bench_numpy_step() { bench numpy numpy; }
cuda_graphs_step() { "$PY" "$ROOT/benchmarks/cuda_graph_check.py" --backend "$GRAPHS" "${GRAPH_EXTRA[@]}" --out "$OUT"; }
cudnn_step() {  # the frontend from the carried wheels if the image lacks it (a missing one is reported, not fatal)
    if ! "$PY" -c "import cudnn" 2>/dev/null && ls "$ROOT"/benchmarks/wheels/nvidia_cudnn_frontend-*.whl >/dev/null 2>&1
    then
        "$PY" -m pip install --no-index --no-deps --find-links "$ROOT/benchmarks/wheels" --target "$SITE" \
            nvidia-cudnn-frontend
    fi
    PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$SITE" ANYNN_CUDNN=1 "$PY" "$ROOT/benchmarks/cudnn_check.py" \
        "${CUDNN_EXTRA[@]}" --out "$OUT"
}

tests_step() {
    local args=(-q -p no:cacheprovider -rfE --junitxml "$OUT/tests.xml")
    "$PY" -c "import xdist" 2>/dev/null && args+=(-n "$WORKERS")
    "$PY" -c "import pytest_timeout" 2>/dev/null && args+=(--timeout 120)
    # shellcheck disable=SC2086  # TEST_ARGS is a list of words
    cd "$ROOT" && ANYNN_TEST_BACKENDS=$GPU "$PY" -m pytest "${args[@]}" $TEST_ARGS
}

SITE=${TMPDIR:-/tmp}/anynn_gpu_check_site  # where carried wheels are installed (--target), put on PYTHONPATH
if [ -n "$STEP" ]; then
    [ -d "$SITE" ] && export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$SITE"
    "${STEP}_step"
    exit $?
fi

# ------------------------------------------------------------------ the driver
START=$(date +%s)
: > "$OUT/steps.tsv"
echo "gpu_check: output in $OUT (dry run: $DRY, budget ${BUDGET}s)" | tee "$OUT/gpu_check.log"

share() {  # the seconds allotted to step $1, never more than what the overall budget has left (5 s kept back)
    local name=$1 item want=0 left
    for item in "${SHARES[@]}"; do [ "${item%%:*}" = "$name" ] && want=${item#*:}; done
    left=$(( BUDGET - ($(date +%s) - START) - 5 ))
    [ "$want" -gt "$left" ] && want=$left
    echo "$want"
}

step() {  # step NAME: run one step under timeout (which kills its whole process group), log it, record rc and
    local name=$1 log="$OUT/$1.log" secs began rc  # seconds; a failure never stops the script
    [ "$name" = env ] && log="$OUT/env.txt"
    secs=$(share "$name")
    if [ "$secs" -lt 3 ]; then
        printf '%s\tskipped\t0\tno time left in the %ss budget\n' "$name" "$BUDGET" >> "$OUT/steps.tsv"
        echo "gpu_check: $name skipped: no time left" | tee -a "$OUT/gpu_check.log"
        return 0
    fi
    echo "gpu_check: $name (up to ${secs}s) -> $(basename "$log")" | tee -a "$OUT/gpu_check.log"
    began=$(date +%s)
    timeout -k 10 "$secs" bash "$0" --step "$name" >> "$log" 2>&1
    rc=$?
    printf '%s\t%s\t%s\tlog: %s\n' "$name" "$rc" "$(( $(date +%s) - began ))" "$(basename "$log")" >> "$OUT/steps.tsv"
    echo "gpu_check: $name finished with rc $rc" | tee -a "$OUT/gpu_check.log"
    return 0
}

# The bench first: its numbers are what a loan is for; the suite gets what is left, the CPU reference last.
for name in env wheels bench_cupy cuda_graphs cudnn counts tests bench_numpy; do
    step "$name"
done
echo "gpu_check: done in $(( $(date +%s) - START ))s" | tee -a "$OUT/gpu_check.log"
"$PY" "$ROOT/benchmarks/gpu_check.py" summary "$OUT" | tee -a "$OUT/gpu_check.log"
exit "${PIPESTATUS[0]}"
