#!/usr/bin/env bash
# Run the test suite (offline, single-threaded). Extra arguments go to pytest, e.g. --runslow or -k readers.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_env.sh
ensure_env
export OMP_NUM_THREADS=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_GENREC_DISABLE_PROGRESS=1
exec "$VENV/bin/python" -m pytest -ra "$@"
