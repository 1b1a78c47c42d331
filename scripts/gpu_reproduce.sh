#!/usr/bin/env bash
# The GPU tier of the reproduction harness, sized for under 9 minutes on one H200: the Beauty rows of IntRR's
# Table 1 (SASRec, TIGER at the papers' size, IntRR with HSTU, the IntRR-aligned flattened Transformer and HSTU
# baselines), each trained with the paper settings for as many epochs as fit in MINUTES_PER_RUN (default 0.8),
# validated on 3000 random users, and evaluated on the full test split. Each experiment runs on its own, so one
# failure does not stop the others; a last call writes the table of every finished run.
#
# Usage: scripts/gpu_reproduce.sh OUT_DIR [SHARED_DIR] [MINUTES_PER_RUN]
#   OUT_DIR      where intrr-1-beauty-gpu/ (results.json / .md / .png and every run) goes; data and SIDs are
#                built in (or read from) OUT_DIR/data
#   SHARED_DIR   the folder holding datasets/amazon-beauty-2014 (default ../shared; unused when OUT_DIR/data
#                already holds the prepared recipes)
# Environment: HF_GENREC_PYTHON, a Python that already has the dependencies (e.g. on a machine without network);
#   otherwise .venv is created as scripts/test.sh does. HF_GENREC_EXPERIMENTS, a space-separated subset.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:?usage: scripts/gpu_reproduce.sh OUT_DIR [SHARED_DIR] [MINUTES_PER_RUN]}"
shared="${2:-../shared}"
minutes="${3:-0.8}"
if [ -n "${HF_GENREC_PYTHON:-}" ]; then
  py="$HF_GENREC_PYTHON"
  export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
else
  source scripts/_env.sh
  ensure_env
  py="$VENV/bin/python"
fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || echo "no nvidia-smi: running on $(nproc) CPU cores"
read -r -a experiments <<< "${HF_GENREC_EXPERIMENTS:-sasrec-beauty tiger-beauty intrr-hstu-beauty tiger-intrr-aligned-beauty hstu-flattened-beauty}"

reproduce() {
  "$py" -m hf_genrec.cli reproduce --paper intrr --table 1 --dataset beauty --tier gpu --shared "$shared" \
      --out "$out/intrr-1-beauty-gpu" "$@" "training.max_minutes=$minutes" training.eval_batch_size=1024 \
      training.eval_max_users=3000
}

finished=()
for key in "${experiments[@]}"; do
  echo "=== $key ($(date +%T))"
  if reproduce --only "$key"; then finished+=("$key"); else echo "=== FAILED: $key" >&2; fi
done
[ ${#finished[@]} -gt 0 ] || exit 1
reproduce --only "$(IFS=,; echo "${finished[*]}")"
