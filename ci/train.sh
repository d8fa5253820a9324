#!/usr/bin/env bash
# The README's main job: makes its own virtual environment, installs anynn, finds (or installs) Fashion-MNIST,
# and trains LeNet-5 with BatchNorm, printing test accuracy and seconds per epoch.
# Extra arguments go to `anynn train` (e.g. --epochs 3, --backend cupy).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${ANYNN_VENV:-.venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
"$VENV/bin/python" -m pip install -q -e ".[plot,fast]"
bash ci/ensure_fashion_mnist.sh
mkdir -p runs
exec "$VENV/bin/anynn" train --model lenet5_bn --dataset fashion-mnist --epochs 15 --batch-size 128 \
  --optimizer momentum --lr 0.05 --schedule cosine --plot runs/lenet5_bn.png --checkpoint runs/lenet5_bn.anynn "$@"
