#!/usr/bin/env bash
# Prepare the real benchmarks read from ../shared/datasets (never copied into the repository).
# Usage: examples/prepare_benchmarks.sh [OUT_ROOT]   (default runs/benchmarks)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-runs/benchmarks}"
SHARED="${HF_GENREC_SHARED:-../shared}"
for name in amazon-beauty-2014 amazon-sports-2014 amazon-toys-2014 yelp-2019; do
  .venv/bin/hf-genrec prepare --data "$SHARED/datasets/$name" --out "$OUT/$name" --overwrite
done
