"""Benchmark: DECOR's decoding latency and parameters against TIGER's, side by side (issue [6/8]: within 1.1x at beam 50).

Both models at the paper size (T5 4 + 4 layers, d_model 128, d_ff 1024, 6 heads x 64) with fixed random weights on a
Beauty-size catalog (12,101 items, random 3 x 256 SIDs plus a collision level of 8), histories of 20 items, beam 50.
DECOR (full: fusion, composition with the history context, 32 BOS queries) computes its fused table, the user
context and every level's composed term once per batch (``prepare_decoding``); each step then adds one composed
vector to each beam's static embedding. ``history_and_prefix`` (one context per beam and step) is measured too.
Runs are interleaved batch by batch so that a busy moment of a shared machine hits every model; the median ratio of
paired runs is reported.

Usage: .venv/bin/python scripts/bench_decor_decoding.py [--batches 20] [--batch-sizes 1 32] [--beams 50]
                                                        [--out runs/bench_decor_decoding.json]
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SIZES = [256, 256, 256, 8]


def build(num_items: int, seed: int = 0):
    import torch

    import hf_genrec  # noqa: F401
    from hf_genrec.models import build_model
    from hf_genrec.tokenization import SIDTokenizer

    g = torch.Generator().manual_seed(seed)
    codes = torch.unique(torch.stack([torch.randint(0, s, (int(num_items * 1.05),), generator=g) for s in SIZES], 1),
                         dim=0)
    codes = codes[torch.randperm(len(codes), generator=g)[:num_items]]
    tokenizer = SIDTokenizer.from_sids(codes, SIZES)
    books = [torch.randn(256, 128, generator=g) for _ in range(3)]
    models = {}
    torch.manual_seed(seed)
    models["tiger"] = build_model("tiger", tokenizer, max_history=20).eval()
    torch.manual_seed(seed)
    models["decor"] = build_model("decor", tokenizer, max_history=20, codebooks=books).eval()
    torch.manual_seed(seed)
    models["decor_prefix_context"] = build_model("decor", tokenizer, max_history=20, codebooks=books,
                                                 context="history_and_prefix").eval()
    return models, tokenizer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=12_101)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--beams", type=int, default=50)
    parser.add_argument("--out", default="runs/bench_decor_decoding.json")
    args = parser.parse_args()

    import torch

    from hf_genrec.utils.io import atomic_write_json

    models, tokenizer = build(args.items)
    g = torch.Generator().manual_seed(1)
    summary = {"items": args.items, "beams": args.beams, "threads": torch.get_num_threads(), "batch_sizes": {},
               "parameters": {name: sum(p.numel() for p in model.parameters()) for name, model in models.items()}}
    for batch_size in args.batch_sizes:
        times = {name: [] for name in models}
        with torch.no_grad():
            for index in range(args.batches + args.warmup):
                histories = [torch.randint(0, args.items, (20,), generator=g).tolist() for _ in range(batch_size)]
                batch = dict(tokenizer(histories, return_tensors="pt"))
                for name, model in models.items():
                    start = time.perf_counter()
                    model.generate(**batch, num_beams=args.beams)
                    if index >= args.warmup:
                        times[name].append(time.perf_counter() - start)
        row = {name: {"ms_per_batch": 1000 * statistics.median(values),
                      "ms_per_user": 1000 * statistics.median(values) / batch_size} for name, values in times.items()}
        for name in models:
            if name != "tiger":
                row[name]["ratio_to_tiger"] = statistics.median(d / t for d, t in zip(times[name], times["tiger"]))
        summary["batch_sizes"][str(batch_size)] = row
        print(f"batch {batch_size:3d}, beam {args.beams}: " + ", ".join(
            f"{name} {values['ms_per_batch']:.1f} ms" + (f" ({values['ratio_to_tiger']:.2f}x TIGER)"
                                                         if "ratio_to_tiger" in values else "")
            for name, values in row.items()))
    print("parameters: " + ", ".join(f"{name} {count / 1e6:.2f} M" for name, count in summary["parameters"].items()))
    out = Path(args.out)
    atomic_write_json(out, summary)
    plot(summary, out.with_suffix(".png"))
    print(f"wrote {out} and {out.with_suffix('.png')}")
    return 0


def plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = list(summary["batch_sizes"])
    names = list(next(iter(summary["batch_sizes"].values())))
    fig, ax = plt.subplots(figsize=(6, 3.5))
    width = 0.8 / len(names)
    for offset, name in enumerate(names):
        ax.bar([i + offset * width for i in range(len(sizes))],
               [summary["batch_sizes"][s][name]["ms_per_user"] for s in sizes], width, label=name)
    ax.set_xticks([i + width * (len(names) - 1) / 2 for i in range(len(sizes))], [f"batch {s}" for s in sizes])
    ax.set_ylabel(f"ms per user (beam {summary['beams']})")
    ax.set_title("DECOR vs TIGER decoding on CPU")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    sys.exit(main())
