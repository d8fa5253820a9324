#!/usr/bin/env bash
# Download (here, with network) the pure-Python wheels benchmarks/gpu_check.sh needs on a GPU machine whose
# image lacks them and which has no network: array-api-compat and array-api-strict, for Python 3.12, into
# benchmarks/wheels/. gpu_check.sh installs them from there with `pip install --no-index` only if they are
# missing. Pass versions to pin them, e.g.: bash benchmarks/fetch_gpu_wheels.sh "array-api-compat==1.16.0"
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
[ $# -gt 0 ] || set -- array-api-compat array-api-strict
mkdir -p wheels
"$PY" -m pip download --only-binary=:all: --python-version 3.12 --no-deps -d wheels "$@"
ls -l wheels
