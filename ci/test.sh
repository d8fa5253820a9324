#!/usr/bin/env bash
# The README's test command: makes its own virtual environment, installs anynn with the test extras and
# PyTorch CPU (the oracle and a backend), checks the code with ruff, then runs the whole suite on every backend
# that can run here.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${ANYNN_VENV:-.venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
# torch==2.13.0 is a local CPU wheel on this machine kind; a bare "torch" would pull a multi-GB CUDA build.
"$VENV/bin/python" -m pip install -q "torch==2.13.0"
"$VENV/bin/python" -m pip install -q -e ".[test,plot,fast,mpi]"  # mpi: the distributed tests run, not skip
bash ci/ensure_fashion_mnist.sh  # the real-data tests skip (saying why) where it cannot be had
export ANYNN_TEST_BACKENDS=${ANYNN_TEST_BACKENDS:-numpy,array_api_strict,torch,cupy}
# Numba's compiled kernels are cached outside the clone, so a fresh checkout does not compile them all again
export NUMBA_CACHE_DIR=${NUMBA_CACHE_DIR:-$HOME/.cache/anynn/numba}
mkdir -p "$NUMBA_CACHE_DIR"
"$VENV/bin/ruff" check anynn tests benchmarks examples  # pyproject.toml's [tool.ruff]: seconds, before the suite
exec "$VENV/bin/python" -m pytest "$@"
