"""Benchmark: time to build semantic IDs for Amazon Beauty (12,101 items) on this machine.

Prepares ../shared/datasets/amazon-beauty-2014 (item embeddings cached after the first run), then
compares hf_genrec's k-means with scikit-learn's (inertia ratio on the item embeddings, one start each), then
builds SIDs with every quantizer and collision mode side by side and prints seconds, collision
rates before/after, and the published LETTER SIDs' numbers for comparison.

Usage: .venv/bin/python scripts/bench_sids.py [--shared ../shared] [--out runs/bench_sids] [--epochs 100]
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def kmeans_vs_sklearn(prepared, k: int, seeds=(0, 1), iterations: int = 50):
    """Inertia of hf_genrec's k-means and scikit-learn's ``KMeans(n_init=1)`` on the item embeddings, and their ratio
    (below 1: ours is better); ``None`` without scikit-learn."""
    try:
        from sklearn.cluster import KMeans
    except ImportError:
        print("scikit-learn is not installed: no k-means comparison")
        return None
    import torch

    from hf_genrec.embeddings import load_item_embeddings
    from hf_genrec.quantization import kmeans

    x = torch.as_tensor(load_item_embeddings(prepared)[0], dtype=torch.float32)
    rows = []
    for seed in seeds:
        t = time.perf_counter()
        centroids, assignment = kmeans(x, k, iterations, seed=seed)
        ours_seconds = time.perf_counter() - t
        ours = float((x - centroids[assignment]).pow(2).sum())
        t = time.perf_counter()
        reference = KMeans(k, n_init=1, max_iter=iterations, random_state=seed).fit(x.numpy())
        rows.append({"k": k, "seed": seed, "inertia": round(ours, 3), "seconds": round(ours_seconds, 2),
                     "sklearn_inertia": round(float(reference.inertia_), 3),
                     "sklearn_seconds": round(time.perf_counter() - t, 2),
                     "ratio": round(ours / float(reference.inertia_), 4)})
        print(f"k-means k={k} seed {seed}: inertia {ours:.2f} ({rows[-1]['seconds']:.1f} s) vs scikit-learn "
              f"{reference.inertia_:.2f} ({rows[-1]['sklearn_seconds']:.1f} s): ratio {rows[-1]['ratio']:.4f}")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", default=str(Path(__file__).resolve().parents[1].parent / "shared"))
    parser.add_argument("--out", default="runs/bench_sids")
    parser.add_argument("--epochs", type=int, default=100, help="RQ-VAE / VQ-VAE epochs")
    parser.add_argument("--levels", type=int, default=3)
    parser.add_argument("--codebook-size", type=int, default=256)
    args = parser.parse_args()

    from hf_genrec.commands.build_sids import run_build_sids
    from hf_genrec.commands.prepare import run_prepare
    from hf_genrec.embeddings.encoder import default_cache_dir

    data = Path(args.shared) / "datasets" / "amazon-beauty-2014"
    if not data.is_dir():
        print(f"no benchmark data at {data}", file=sys.stderr)
        return 1
    out = Path(args.out)
    prepared = out / "prepared"
    if not (prepared / "prepared.json").exists():
        t = time.perf_counter()
        run_prepare(data, prepared, cache_dir=str(default_cache_dir()), overwrite=True)
        print(f"prepare + embed: {time.perf_counter() - t:.1f} s")
    kmeans_rows = kmeans_vs_sklearn(prepared, args.codebook_size)
    rows = []
    for quantizer in ("rqkmeans", "rqvae", "vqvae"):
        for collisions in ("suffix", "sinkhorn"):
            options = {"epochs": args.epochs} if quantizer != "rqkmeans" else {}
            if quantizer == "vqvae":
                options["latent_dim"] = 16 * args.levels
            t = time.perf_counter()
            summary = run_build_sids(prepared, out / f"{quantizer}-{collisions}", quantizer, args.levels,
                                     args.codebook_size, collisions, quantizer_options=options, overwrite=True)
            rows.append({"quantizer": quantizer, "collisions": collisions, "seconds": round(time.perf_counter() - t, 1),
                         "before": summary["quality_before_collision_handling"]["collision_rate_per_level"],
                         "after": summary["quality"]["collision_rate"], "round_trip": summary["round_trip_ok"],
                         "letter": summary["reference_sids"].get("letter", {}).get("collision_rate_per_level")})
            print(f"{quantizer:9s} {collisions:9s} {rows[-1]['seconds']:7.1f} s   collisions per level before "
                  + ", ".join(f"{r:.4f}" for r in rows[-1]["before"]) + f"   after {rows[-1]['after']:.4f}")
    if rows[0]["letter"]:
        print("published LETTER SIDs (4 levels): collisions per level " + ", ".join(f"{r:.4f}" for r in rows[0]["letter"]))
    (out / "bench_sids.json").write_text(json.dumps({"kmeans_vs_sklearn": kmeans_rows, "sids": rows}, indent=2))
    print(f"results: {out / 'bench_sids.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
