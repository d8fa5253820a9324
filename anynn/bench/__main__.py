"""The worker of ``anynn bench --ranks`` (started under mpiexec): ``python -m anynn.bench --worker ...``."""
import sys

from anynn.bench.ranks import ranks_worker

if len(sys.argv) == 7 and sys.argv[1] == "--worker":
    ranks_worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
else:
    raise SystemExit("usage: mpiexec -n N python -m anynn.bench --worker MODEL BACKEND IMAGES BATCH EPOCHS")
