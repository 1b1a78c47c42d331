"""Benchmark: ComeIR's inference latency against the flattened baseline, and its Engram table sizes.

1. Latency (ComeIR Table 3 setting: batch 32, beam 20). ComeIR reads one item-level token per history item
   and decodes with the memory-restoring head (normal GR: one backbone pass; NEZHA: one pass with L
   placeholders, then a GRU per level); the flattened baseline reads L tokens per item and, in the normal
   architecture, feeds every generated code back through the backbone (KV-cached tree decoding). Both
   use the same backbone (Qwen3-0.6B's shape by default, random weights), catalog, histories and beam
   search, timed side by side in one process; the medians and the ratio flattened / ComeIR are printed.
   The paper reports about 2.5x on a GPU with Qwen3-0.6B / LLaMA3-1B. The ratio depends on the backbone:
   the head's cost grows with the number of valid candidates and the hidden size, the backbone's with
   its depth and the number of tokens (``--backbone small`` shows the other end).
2. Table sizes: P_S and P_T (Eq. 34, 38) over the paper's scale ranges for L = 3, C = 128, against the
   paper's stated span of the inter table (about 1.4M at s_T = 0.5 to 4.431B at s_T = 4.0).

Writes ``summary.json``, ``latency.png`` and ``table_sizes.png`` to ``--out``.

Usage: .venv/bin/python scripts/bench_comeir.py [--batch 32] [--beam 20] [--backbone qwen3-0.6b | small]
       [--backbone-config path/to/config.json] [--repeats 3] [--device cuda] [--out runs/bench_comeir]
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


from hf_genrec.modules.backbones import BENCHMARK_BACKBONES  # noqa: E402  (Qwen3-0.6B's shape, a small Qwen3)


def table_sizes() -> dict:
    from hf_genrec.models.comeir.engram import inter_table_rows, intra_table_rows, table_parameters

    sizes = [128, 128, 128]
    inter = {s: table_parameters(inter_table_rows(sizes, s, 16, 4), 256)
             for s in (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0, 8.0)}
    intra = {s: table_parameters(intra_table_rows(sizes, s, None, 2), 256) for s in (0.25, 0.5, 0.75, 1.0)}
    return {"codebook_sizes": sizes, "P_T": inter, "P_S": intra,
            "paper_P_T_span": {"0.5": "about 1.4M", "4.0": "4.431B"},
            "matches_paper": round(inter[0.5] / 1e6, 1) == 1.4 and round(inter[4.0] / 1e9, 3) == 4.431}


def plot(out: Path, latency: dict, sizes: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    names = list(latency)
    ax.bar(range(len(names)), [latency[n]["ms"] for n in names], color=["tab:blue", "tab:gray"] * len(names))
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("ms per batch (median)")
    ax.set_title("ComeIR vs flattened input: inference latency")
    fig.tight_layout()
    fig.savefig(out / "latency.png", dpi=120)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for key, label in (("P_T", "inter-item P_T (s_T)"), ("P_S", "intra-item P_S (s_S)")):
        xs = sorted(sizes[key])
        ax.plot(xs, [sizes[key][x] for x in xs], marker="o", label=label)
    ax.set_yscale("log")
    ax.set_xlabel("scale")
    ax.set_ylabel("sparse parameters")
    ax.set_title("Engram table sizes (L = 3, C = 128, d_m = 256)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "table_sizes.png", dpi=120)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--beam", type=int, default=20)
    parser.add_argument("--history", type=int, default=20)
    parser.add_argument("--items", type=int, default=12_000)
    parser.add_argument("--levels", type=int, default=3)
    parser.add_argument("--codebook-size", type=int, default=128)
    parser.add_argument("--backbone", choices=sorted(BENCHMARK_BACKBONES), default="qwen3-0.6b",
                        help="backbone shape (random weights): Qwen3-0.6B's, or a small Qwen3 for quick runs")
    parser.add_argument("--backbone-config", default=None, help="a config.json of any causal LM (overrides --backbone)")
    parser.add_argument("--intra-scale", type=float, default=0.5)
    parser.add_argument("--inter-scale", type=float, default=1.0)
    parser.add_argument("--architectures", default="normal,nezha")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default="runs/bench_comeir")
    args = parser.parse_args()

    import torch

    import hf_genrec  # noqa: F401
    from hf_genrec.models import build_model
    from hf_genrec.tokenization import SIDTokenizer
    from hf_genrec.utils.io import atomic_write_json

    g = torch.Generator().manual_seed(0)
    L, C = args.levels, args.codebook_size
    codes = torch.unique(torch.randint(0, C, (int(args.items * 1.05), L), generator=g), dim=0)
    tok = SIDTokenizer.from_sids(codes[torch.randperm(len(codes), generator=g)[: args.items]], [C] * L)
    histories = torch.randint(0, tok.num_items, (args.batch, args.history), generator=g).tolist()
    item_embeddings = torch.randn(tok.num_items, 384, generator=g)
    codebooks = [torch.randn(C, 32, generator=g) for _ in range(L)]
    config = (json.loads(Path(args.backbone_config).read_text()) if args.backbone_config
              else BENCHMARK_BACKBONES[args.backbone])
    backbone = {"backbone_config": dict(config, vocab_size=8)}  # the word embeddings are never read
    print(f"batch {args.batch}, beam {args.beam}, histories of {args.history} items, L={L}, C={C}, "
          f"{tok.num_items:,} items, device {args.device}, torch threads {torch.get_num_threads()}")
    latency, ratios = {}, {}
    for architecture in args.architectures.split(","):
        for representation in ("comeir", "flatten"):
            torch.manual_seed(0)
            model = build_model("comeir", tok, item_embeddings=item_embeddings, codebooks=codebooks,
                                representation=representation, architecture=architecture, max_history=args.history,
                                intra_scale=args.intra_scale, inter_scale=args.inter_scale, **backbone)
            model = model.to(args.device).eval()
            inputs = {k: v.to(args.device) for k, v in tok(histories, mode="item", return_tensors="pt").items()}
            times = []
            for repeat in range(args.repeats + 1):
                if args.device.startswith("cuda"):
                    torch.cuda.synchronize()
                start = time.perf_counter()
                model.generate(**inputs, num_beams=args.beam)
                if args.device.startswith("cuda"):
                    torch.cuda.synchronize()
                if repeat:  # the first call warms up
                    times.append(1000 * (time.perf_counter() - start))
            name = f"{representation} ({architecture})"
            latency[name] = {"ms": round(statistics.median(times), 2), "runs_ms": [round(t, 2) for t in times],
                             "backbone_tokens_per_user": args.history * (1 if representation == "comeir" else L),
                             "prefix_feedback": model.config.prefix_feedback}
            print(f"{name:<22} {latency[name]['ms']:9.1f} ms per batch")
            del model
        ratios[architecture] = round(latency[f"flatten ({architecture})"]["ms"] / latency[f"comeir ({architecture})"]["ms"], 2)
        print(f"speed-up of ComeIR over the flattened input ({architecture}): {ratios[architecture]:.2f}x "
              f"(paper: about 2.5x)")
    sizes = table_sizes()
    print("P_T (s_T): " + ", ".join(f"{s}: {p:,}" for s, p in sizes["P_T"].items()))
    print("P_S (s_S): " + ", ".join(f"{s}: {p:,}" for s, p in sizes["P_S"].items()))
    print(f"inter-table span matches the paper (1.4M .. 4.431B): {sizes['matches_paper']}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plot(out, latency, sizes)
    atomic_write_json(out / "summary.json", {"command": "bench_comeir", "settings": vars(args), "latency": latency,
                                             "speedup_flatten_over_comeir": ratios, "table_sizes": sizes})
    print(f"results: {out}/summary.json, latency.png, table_sizes.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
