#!/usr/bin/env bash
# Run the test suite (offline, one thread per process). Extra arguments go to pytest, e.g. --runslow or -k readers.
# Tests run in HF_GENREC_TEST_WORKERS processes (pytest-xdist, default 2: the 2 cores of CI; 0 runs them in this one).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_env.sh
ensure_env
export OMP_NUM_THREADS=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_GENREC_DISABLE_PROGRESS=1
workers="${HF_GENREC_TEST_WORKERS:-2}"
parallel=()
if [ "$workers" != "0" ] && "$VENV/bin/python" -c "import xdist" 2>/dev/null; then
  parallel=(-n "$workers" --dist loadfile)  # a module's tests share one process (and its module fixtures)
fi
exec "$VENV/bin/python" -m pytest -ra "${parallel[@]}" "$@"
