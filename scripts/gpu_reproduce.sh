#!/usr/bin/env bash
# The GPU tier of the reproduction harness, sized for under 9 minutes on one H200: the Beauty rows of IntRR's
# Table 1 (SASRec, the IntRR-aligned flattened Transformer, IntRR with HSTU, TIGER at the papers' size), each
# trained with the paper settings for as many epochs as fit in --minutes (default 1.5) and evaluated on the full
# test split. Data, SIDs and item embeddings are built on the GPU first (about a minute).
#
# Usage: scripts/gpu_reproduce.sh OUT_DIR [SHARED_DIR] [MINUTES_PER_RUN]
#   OUT_DIR      where results.json / results.md / results.png and every run go
#   SHARED_DIR   the folder holding datasets/amazon-beauty-2014 (default ../shared)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:?usage: scripts/gpu_reproduce.sh OUT_DIR [SHARED_DIR] [MINUTES_PER_RUN]}"
shared="${2:-../shared}"
minutes="${3:-1.5}"
source scripts/_env.sh
ensure_env
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || echo "no nvidia-smi: running on $(nproc) CPU cores"
"$VENV/bin/hf-genrec" reproduce --paper intrr --table 1 --dataset beauty --tier gpu \
    --only sasrec-beauty,tiger-intrr-aligned-beauty,hstu-flattened-beauty,intrr-hstu-beauty,tiger-beauty \
    --shared "$shared" --out "$out/intrr-1-beauty-gpu" \
    "training.max_minutes=$minutes" training.eval_batch_size=1024
