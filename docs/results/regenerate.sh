#!/usr/bin/env bash
# Regenerates the logs in docs/results/ from the current code: every figure in the README's Results and
# Performance sections comes from one of these commands.
#
#   bash docs/results/regenerate.sh                 # everything (about 45 minutes on 2 cores)
#   bash docs/results/regenerate.sh bench_small counts overhead   # some targets
#   bash docs/results/regenerate.sh --quick ...     # tiny sizes into $OUT (default /tmp): checks the commands
#
# Targets: softmax mlp lenet5_bn vgg_small (training runs); bench_small bench_small_without_numba bench_vgg
# bench_vgg_without_numba bench_resnet bench_batch1 bench_batch8 (epoch timings against PyTorch, interleaved);
# counts (launches, host syncs and uploads per step); overhead (autograd cost per op against PyTorch);
# bench_kernels_conv (the per-op conv benchmarks). Timings are only as quiet as the machine: each log starts
# with anynn bench's load warning when it was busy.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PY=${PYTHON:-$ROOT/.venv/bin/python}
QUICK=0
if [ "${1:-}" = "--quick" ]; then QUICK=1; shift; fi
OUT=$HERE
[ "$QUICK" = 1 ] && OUT=${OUT_DIR:-/tmp/anynn_results_quick} && mkdir -p "$OUT"
ALL=(softmax mlp lenet5_bn vgg_small bench_small bench_small_without_numba bench_vgg bench_vgg_without_numba
     bench_resnet bench_batch1 bench_batch8 counts overhead bench_kernels_conv)
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=("${ALL[@]}")

anynn() { "$PY" -m anynn "$@"; }
train() {  # train MODEL ARGS...: the README's Results command (quick: one epoch on 512 images)
    local model=$1; shift
    if [ "$QUICK" = 1 ]; then set -- "$@" --epochs 1 --limit 512; fi
    anynn train --model "$model" --no-progress "$@" --plot "$OUT/$model.png"
}
bench() {  # bench ARGS...: anynn bench (quick: 1 epoch of 512 images)
    if [ "$QUICK" = 1 ]; then set -- "$@" --epochs 1 --images 512; fi
    anynn bench "$@"
}

run() {
    case $1 in
        softmax) train softmax_regression --epochs 10 --optimizer momentum --lr 0.01 --batch-size 128 --schedule cosine ;;
        mlp) train mlp --hidden 256 --epochs 30 --optimizer momentum --lr 0.05 --batch-size 128 --schedule cosine ;;
        lenet5_bn) train lenet5_bn --epochs 15 --optimizer momentum --lr 0.05 --batch-size 128 --schedule cosine ;;
        vgg_small) train vgg_small --epochs 24 --augment --optimizer momentum --lr 0.05 --weight-decay 5e-4 \
                       --batch-size 128 --schedule cosine ;;
        bench_small) bench --models mlp,lenet5 --backends numpy,torch --compare-torch --epochs 3 ;;
        bench_small_without_numba) ANYNN_NUMBA=0 bench --models lenet5 --backends numpy --compare-torch --epochs 3 ;;
        bench_vgg) bench --models vgg_small --backends numpy --compare-torch --epochs 3 --images 5120 ;;
        bench_vgg_without_numba) ANYNN_NUMBA=0 bench --models vgg_small --backends numpy --compare-torch --epochs 3 \
                                     --images 5120 ;;
        bench_resnet) bench --models resnet18 --backends numpy --compare-torch --epochs 2 --images 1024 ;;
        bench_batch1) bench --models mlp,lenet5,vgg_small --backends numpy --compare-torch --batch-size 1 \
                          --images 300 --epochs 5 ;;
        bench_batch8) bench --models mlp,lenet5,vgg_small --backends numpy --compare-torch --batch-size 8 \
                          --images 2400 --epochs 5 ;;
        counts) anynn bench --count --models mlp,lenet5,vgg_small,resnet18 --backends cupy,numpy --compare-torch ;;
        overhead) "$PY" "$ROOT/benchmarks/op_overhead_vs_torch.py" "$([ "$QUICK" = 1 ] && echo 1 || echo 7)" ;;
        bench_kernels_conv) (cd "$ROOT" && "$PY" -m pytest benchmarks/test_kernels.py -k conv2d --benchmark-enable \
                                 -q -p no:cacheprovider $([ "$QUICK" = 1 ] && echo "--benchmark-disable")) ;;
        *) echo "unknown target $1; choose from: ${ALL[*]}" >&2; return 2 ;;
    esac
}

status=0
for target in "${TARGETS[@]}"; do
    echo "== $target -> $OUT/$target.log"
    if [ "$QUICK" = 1 ] && [ "$target" = bench_kernels_conv ]; then export ANYNN_BENCH_QUICK=1; fi
    run "$target" > "$OUT/$target.log" 2>&1 || { echo "   FAILED (see the log)"; status=1; }
done
exit $status
