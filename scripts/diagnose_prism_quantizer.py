"""Which setting makes PRISM's quantizer collapse? Fit the Purified Semantic Quantizer for a few minutes with one
option changed from the paper preset at a time and print PRISM's Table 3 numbers of each (docs/results.md), the
latent spread and a trace of the per-epoch code perplexity.

Reads a prepared folder whose LightGCN embeddings are cached (``lightgcn_max_minutes`` must match the cached run).

Usage: .venv/bin/python scripts/diagnose_prism_quantizer.py PREPARED [--variants paper,mean,official] [--minutes 4]
       [--lightgcn-max-minutes 10]
"""

import argparse
import sys
import time

VARIANTS = {"paper": {}, "detach": {"detach_collab_target": True}, "dead_code_reset": {"dead_code_reset": True},
            "fusion_norm": {"fusion_norm": True}, "mean": {"norm_reduction": "mean"},
            "cosine": {"recon_loss": "cosine"}, "official": {"preset": "official"},
            "no_hsa": {"use_hsa": False}, "official_no_hsa": {"preset": "official", "use_hsa": False}}


def latent_spread(quantizer, embeddings) -> float:
    """Mean over latent dimensions of the across-item standard deviation of ``z`` (eval mode): near 0 when every
    item encodes to (almost) the same point."""
    import torch

    with torch.no_grad():
        return float(quantizer.latent(quantizer._as_input(embeddings)).std(0).mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("prepared")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--lightgcn-max-minutes", type=float, default=10.0)
    args = parser.parse_args()

    from hf_genrec.commands.build_sids import prism_inputs
    from hf_genrec.data import PreparedDataset
    from hf_genrec.embeddings import load_item_embeddings
    from hf_genrec.quantization import build_quantizer, prism_table3

    prepared = PreparedDataset.load(args.prepared)
    content, meta = load_item_embeddings(args.prepared)
    for name in args.variants.split(","):
        if name not in VARIANTS:
            raise SystemExit(f"unknown variant {name!r}; known: {sorted(VARIANTS)}")
        options = {"max_minutes": args.minutes, "lightgcn_max_minutes": args.lightgcn_max_minutes, **VARIANTS[name]}
        inputs = prism_inputs(args.prepared, prepared, content, meta.get("model"), 3, options)
        quantizer = build_quantizer("prism", input_dim=int(inputs["embeddings"].shape[1]), levels=3,
                                    codebook_size=256, seed=0, **inputs["quantizer_options"])
        start = time.time()
        report = quantizer.fit(inputs["embeddings"], **inputs["fit_options"])
        table = prism_table3(quantizer.encode(inputs["embeddings"]), [256] * 3)
        history = report["history"]
        trace = [(row["epoch"], row["code_perplexity"], round(row["commitment"], 5))
                 for row in history[:: max(1, len(history) // 6)] + history[-1:]]
        print(f"{name}: {len(history)} epochs in {time.time() - start:.0f} s: {table}; latent spread (std of z) "
              f"{latent_spread(quantizer, inputs['embeddings']):.5f}; (epoch, code perplexity, commitment): {trace}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
