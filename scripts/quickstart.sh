#!/usr/bin/env bash
# The main job on the embedded default: synthetic catalog -> prepared DatasetDict -> item embeddings
# -> reference baselines. Usage: scripts/quickstart.sh [--out runs/quickstart] [--data FOLDER]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_env.sh
ensure_env
"$VENV/bin/hf-genrec" quickstart "$@"
