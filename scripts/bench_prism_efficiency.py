"""Benchmark (PRISM Figure 7): parameters and inference latency per user of PRISM against TIGER, side by side.

Both models at the paper size (T5 4 + 4 layers, d_model 128, d_ff 1024, 6 heads x 64; PRISM adds DSI with 3
experts, top-2, d_moe 256, SSA heads) with fixed random weights, a 12,101-item catalog of random 3 x 256 SIDs,
random 384-d content, 64-d collaborative and 32-d codeword features, and histories of 20 items. Latency is measured
as the paper's script does: one user at a time (batch 1), beam 20, after warm-up runs; the median over users is
reported, with PRISM's and TIGER's runs interleaved user by user so that a busy moment of a shared machine hits both.

"Activated" parameters, as the paper counts them: all parameters minus the SSA heads (training only) minus the
experts the top-K routing leaves idle for a token ((N - K) of N experts).

Usage: .venv/bin/python scripts/bench_prism_efficiency.py [--users 50] [--warmup 5] [--out runs/bench_prism_efficiency.json]
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def build(num_items: int, seed: int = 0):
    import torch

    import hf_genrec  # noqa: F401
    from hf_genrec.models import build_model
    from hf_genrec.tokenization import SIDTokenizer

    g = torch.Generator().manual_seed(seed)
    codes = torch.unique(torch.randint(0, 256, (int(num_items * 1.05), 3), generator=g), dim=0)
    codes = codes[torch.randperm(len(codes), generator=g)[:num_items]]
    tokenizer = SIDTokenizer.from_sids(codes, [256] * 3)
    torch.manual_seed(seed)
    tiger = build_model("tiger", tokenizer, max_history=20).eval()
    features = {"content_embeddings": torch.randn(num_items, 384, generator=g),
                "collab_embeddings": torch.randn(num_items, 64, generator=g),
                "codebooks": [torch.randn(256, 32, generator=g) for _ in range(3)],
                "item_tags": torch.randint(0, 40, (num_items, 3), generator=g)}
    prism = build_model("prism", tokenizer, max_history=20, time_encoding="position", **features).eval()
    return tiger, prism, tokenizer


def parameter_counts(model) -> dict:
    total = sum(p.numel() for p in model.parameters())
    ssa = sum(p.numel() for name, p in model.named_parameters() if name.startswith("ssa_"))
    idle = 0
    if getattr(model, "dsi", None) is not None:
        moe = model.dsi.moe
        per_expert = sum(p.numel() for p in moe.experts[0].parameters())
        idle = per_expert * (len(moe.experts) - moe.top_k)
    return {"total": total, "ssa_heads": ssa, "idle_experts": idle, "activated": total - ssa - idle}


def plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ["TIGER", "PRISM"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.5))
    left.bar(names, [summary[n.lower()]["parameters"]["activated"] / 1e6 for n in names], color=["#888", "#3a7"])
    left.set_ylabel("activated parameters (M)")
    right.bar(names, [summary[n.lower()]["latency_ms"] for n in names], color=["#888", "#3a7"])
    right.set_ylabel("latency per user (ms, batch 1, beam 20)")
    fig.suptitle(f"PRISM vs TIGER on CPU: latency ratio {summary['latency_ratio']:.2f}x")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=12_101)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--beams", type=int, default=20)
    parser.add_argument("--out", default="runs/bench_prism_efficiency.json")
    args = parser.parse_args()

    import torch

    from hf_genrec.utils.io import atomic_write_json

    tiger, prism, tokenizer = build(args.items)
    g = torch.Generator().manual_seed(1)
    histories = [torch.randint(0, args.items, (20,), generator=g).tolist() for _ in range(args.users + args.warmup)]
    times = {"tiger": [], "prism": []}
    with torch.no_grad():
        for index, history in enumerate(histories):
            for name, model in (("tiger", tiger), ("prism", prism)):
                batch = dict(tokenizer([history], mode=model.config.input_mode, return_tensors="pt"))
                start = time.perf_counter()
                model.generate(**batch, num_beams=args.beams)
                if index >= args.warmup:
                    times[name].append(time.perf_counter() - start)
    summary = {"items": args.items, "users": args.users, "beams": args.beams, "threads": torch.get_num_threads()}
    for name, model in (("tiger", tiger), ("prism", prism)):
        summary[name] = {"parameters": parameter_counts(model), "latency_ms": 1000 * statistics.median(times[name])}
    summary["latency_ratio"] = statistics.median(p / t for p, t in zip(times["prism"], times["tiger"]))
    summary["activated_parameter_ratio"] = (summary["prism"]["parameters"]["activated"]
                                            / summary["tiger"]["parameters"]["activated"])
    for name in ("tiger", "prism"):
        counts = summary[name]["parameters"]
        print(f"{name:5s}: {counts['total'] / 1e6:.2f} M parameters, {counts['activated'] / 1e6:.2f} M activated, "
              f"{summary[name]['latency_ms']:.1f} ms per user")
    print(f"PRISM / TIGER: latency {summary['latency_ratio']:.2f}x (median of paired runs), activated parameters "
          f"{summary['activated_parameter_ratio']:.2f}x")
    out = Path(args.out)
    atomic_write_json(out, summary)
    plot(summary, out.with_suffix(".png"))
    print(f"wrote {out} and {out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
