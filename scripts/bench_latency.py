"""Benchmark: inference latency (ms per batch) of item-level IntRR vs the flattened baseline across beam widths.

IntRR's Table 3 setting: histories of 32 items, L = 4 levels of K = 128 codes, beams W in {10, 20, 50}.
Both models use the same T5 stack size (4 layers, d_model 128, 6 heads x 64, d_ff 1024); the flattened
baseline (TIGER) feeds 4 x 32 = 128 tokens to its encoder and decodes with its T5 decoder, IntRR feeds 32
item tokens once and decodes with the RAN. Random weights, a random 12,000-item catalog, the same
histories for both, medians of repeated runs in one process.

Usage: .venv/bin/python scripts/bench_latency.py [--batch 32] [--beams 10,20,50] [--out runs/bench_latency.json]
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

MODELS = {
    "tiger (flattened)": {"type": "tiger", "hidden_size": 128, "intermediate_size": 1024, "num_layers": 4, "num_decoder_layers": 4,
                          "num_heads": 6, "d_kv": 64},
    "intrr": {"type": "intrr", "backbone": "t5", "hidden_size": 128, "intermediate_size": 1024, "num_layers": 4, "num_heads": 6,
              "d_kv": 64},
    "intrr (hstu)": {"type": "intrr", "backbone": "hstu", "hidden_size": 128, "num_layers": 4, "num_heads": 4},
}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--history", type=int, default=32)
    parser.add_argument("--beams", default="10,20,50")
    parser.add_argument("--items", type=int, default=12_000)
    parser.add_argument("--levels", type=int, default=4)
    parser.add_argument("--codebook-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--out", default="runs/bench_latency.json")
    args = parser.parse_args()

    import torch

    import hf_genrec  # noqa: F401
    from hf_genrec.models import build_model
    from hf_genrec.tokenization import SIDTokenizer

    g = torch.Generator().manual_seed(0)
    codes = torch.unique(torch.randint(0, args.codebook_size, (int(args.items * 1.05), args.levels), generator=g), dim=0)
    tok = SIDTokenizer.from_sids(codes[torch.randperm(len(codes), generator=g)[:args.items]], [args.codebook_size] * args.levels)
    histories = torch.randint(0, args.items, (args.batch, args.history), generator=g).tolist()
    beams = [int(b) for b in args.beams.split(",")]
    rows = {}
    print(f"batch {args.batch}, histories of {args.history} items, L={args.levels}, K={args.codebook_size}, "
          f"{args.items:,} items, torch threads {torch.get_num_threads()}")
    for name in args.models.split(","):
        options = dict(MODELS[name])
        torch.manual_seed(0)
        model = build_model(options.pop("type"), tok, max_history=args.history, **options).eval()
        inputs = dict(tok(histories, mode=model.config.input_mode, return_tensors="pt"))
        rows[name] = {}
        for beam in beams:
            times = []
            for repeat in range(args.repeats + 1):
                start = time.perf_counter()
                model.generate(**inputs, num_beams=beam)
                if repeat:
                    times.append(1000 * (time.perf_counter() - start))
            rows[name][beam] = round(statistics.median(times), 2)
        print(f"{name:<18} " + "  ".join(f"W={b}: {rows[name][b]:8.1f} ms" for b in beams))
    base = next(iter(rows))
    for name in list(rows)[1:]:
        print(f"speed-up of {name} over {base}: " + "  ".join(f"W={b}: {rows[base][b] / rows[name][b]:.2f}x" for b in beams))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"batch": args.batch, "history": args.history, "latency_ms": rows}, indent=2))
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
