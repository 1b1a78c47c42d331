"""Benchmark: hf_genrec's constrained beam search vs transformers' generate with prefix_allowed_tokens_fn.

One TIGER model (T5, paper size: 4+4 layers, d_model 128, d_ff 1024, 6 heads x 64) with fixed random
weights; a 12,000-item catalog with L = 4 and 256 codes per level; histories of 20 items (80 tokens).
For beam 20 and 50 at batch 1 and batch 16 both decoders run on the same inputs in the same process:
the script checks that they return the same top-K items, prints the speed ratio, and the share of
decode time spent on the catalog constraint (hf_genrec: trie lookups, masking, top-k and bookkeeping;
transformers: inside ``prefix_allowed_tokens_fn`` and its mask construction is not separable, so the
time inside the function is reported). Targets: >= 10x at batch x beam >= 320, >= 5x at batch 1, beam 50.

The allocator matters on CPU: with glibc's defaults transformers' beam search spends about half of its
time page-faulting freshly allocated memory, which hf_genrec avoids by reusing buffers. Run with
``GLIBC_TUNABLES=glibc.malloc.mmap_threshold=268435456:glibc.malloc.trim_threshold=1073741824`` to
compare against transformers with that cost removed (recorded as ``glibc_tunables`` in the JSON).

Each repeat runs both decoders back to back; the speed-up is the median over repeats of these paired
ratios (a slow moment of a shared machine then hits both sides of a pair), and the ratio of the fastest
runs is printed next to it. Writes the JSON and a bar chart (``.png`` next to it).

Usage: .venv/bin/python scripts/bench_decoding.py [--repeats 7] [--out runs/bench_decoding.json] [--device cpu]
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # helpers.hf_reference: the reference path


def build(num_items: int, levels: int, codebook: int, seed: int, device):
    import torch

    import hf_genrec  # noqa: F401
    from hf_genrec.models.tiger import TigerConfig, TigerForGenerativeRecommendation
    from hf_genrec.tokenization import SIDTokenizer

    g = torch.Generator().manual_seed(seed)
    codes = torch.unique(torch.randint(0, codebook, (int(num_items * 1.05), levels), generator=g), dim=0)
    codes = codes[torch.randperm(len(codes), generator=g)[:num_items]]
    torch.manual_seed(seed)
    config = TigerConfig(codebook_sizes=[codebook] * levels, num_items=num_items, max_history=20)
    model = TigerForGenerativeRecommendation(config).eval().to(device)
    model.set_catalog(codes)
    return model, SIDTokenizer.from_sids(codes, [codebook] * levels)


def plot(rows, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['batch']} x {r['beam']}" for r in rows]
    x = range(len(rows))
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.bar([i - 0.2 for i in x], [r["hf_genrec_ms"] for r in rows], 0.4, label="hf_genrec")
    left.bar([i + 0.2 for i in x], [r["transformers_ms"] for r in rows], 0.4, label="transformers + prefix_allowed_tokens_fn")
    left.set_yscale("log"), left.set_ylabel("ms per batch (median)"), left.set_xticks(list(x), labels)
    left.set_xlabel("batch x beam"), left.legend(fontsize=8)
    right.bar(list(x), [r["speedup"] for r in rows], color="tab:green")
    for i, r in enumerate(rows):
        if "target" in r:
            right.hlines(r["target"], i - 0.4, i + 0.4, colors="black", linestyles="dashed")
    right.set_ylabel("speed-up (dashed: target)"), right.set_xticks(list(x), labels), right.set_xlabel("batch x beam")
    fig.suptitle("Trie-constrained beam search, TIGER (T5) on CPU")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=12_000)
    parser.add_argument("--levels", type=int, default=4)
    parser.add_argument("--codebook-size", type=int, default=256)
    parser.add_argument("--history", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default="runs/bench_decoding.json")
    args = parser.parse_args()

    import torch

    from hf_genrec.utils.io import atomic_write_json
    from helpers.hf_reference import trie_prefix_allowed_tokens_fn

    device = torch.device(args.device)
    model, tok = build(args.items, args.levels, args.codebook_size, 0, device)
    trie = model.catalog_trie()
    g = torch.Generator().manual_seed(1)
    rows = []
    print(f"TIGER {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M params, catalog {args.items:,} items, "
          f"L={args.levels}, K={args.codebook_size}, history {args.history} items, device {device}, "
          f"torch threads {torch.get_num_threads()}, GLIBC_TUNABLES={os.environ.get('GLIBC_TUNABLES', '(default)')}")
    print(f"{'batch':>5} {'beam':>5} {'hf_genrec ms':>13} {'transformers ms':>16} {'speed-up':>9} {'(fastest)':>9} "
          f"{'same top-K':>10} {'constraint share (ours / transformers)':>40}")
    for batch_size, beams in ((1, 20), (1, 50), (16, 20), (16, 50)):
        histories = torch.randint(0, args.items, (batch_size, args.history), generator=g).tolist()
        batch = {k: v.to(device) for k, v in tok(histories, return_tensors="pt").items()}
        ours_times, theirs_times, ours_search, theirs_fn = [], [], [], []
        for repeat in range(args.repeats + 1):  # first round warms up
            timings = {}
            t = time.perf_counter()
            ours = model.generate(**batch, num_beams=beams, num_return_sequences=beams, timings=timings)
            ours_elapsed = time.perf_counter() - t
            fn = trie_prefix_allowed_tokens_fn(trie, tok.token_offsets, tok.eos_token_id)
            fn_time = [0.0]

            def timed(batch_id, input_ids, fn=fn, fn_time=fn_time):
                start = time.perf_counter()
                result = fn(batch_id, input_ids)
                fn_time[0] += time.perf_counter() - start
                return result

            t = time.perf_counter()
            with torch.no_grad():
                theirs = model.backbone.generate(**batch, num_beams=beams, num_return_sequences=beams,
                                                 max_new_tokens=args.levels, prefix_allowed_tokens_fn=timed,
                                                 do_sample=False, decoder_start_token_id=tok.bos_token_id,
                                                 length_penalty=0.0, early_stopping=True)
            theirs_elapsed = time.perf_counter() - t
            if repeat:
                ours_times.append(ours_elapsed)
                theirs_times.append(theirs_elapsed)
                ours_search.append(timings.get("search_s", 0.0) / ours_elapsed)
                theirs_fn.append(fn_time[0] / theirs_elapsed)
        their_items = torch.tensor([items[0] if items else -1 for items in
                                    tok.decode_items(theirs[:, 1:args.levels + 1].cpu())]).view(batch_size, beams)
        same = bool(torch.equal(their_items, ours.items.cpu()))
        ours_ms, theirs_ms = 1000 * statistics.median(ours_times), 1000 * statistics.median(theirs_times)
        paired = statistics.median(t / o for t, o in zip(theirs_times, ours_times))
        row = {"batch": batch_size, "beam": beams, "hf_genrec_ms": round(ours_ms, 2), "transformers_ms": round(theirs_ms, 2),
               "speedup": round(paired, 2), "speedup_fastest_runs": round(min(theirs_times) / min(ours_times), 2),
               "same_top_k": same,
               "constraint_share_hf_genrec": round(sum(ours_search) / len(ours_search), 3),
               "constraint_share_transformers": round(sum(theirs_fn) / len(theirs_fn), 3)}
        target = 10.0 if batch_size * beams >= 320 else 5.0 if (batch_size, beams) == (1, 50) else None
        if target is not None:
            row["target"], row["target_met"] = target, paired >= target
        rows.append(row)
        print(f"{batch_size:>5} {beams:>5} {ours_ms:>13.1f} {theirs_ms:>16.1f} {row['speedup']:>8.1f}x "
              f"{row['speedup_fastest_runs']:>8.1f}x {str(same):>10} "
              f"{row['constraint_share_hf_genrec']:>19.1%} / {row['constraint_share_transformers']:.1%}"
              + (f"   target {target:.0f}x: {'met' if row['target_met'] else 'NOT met'}" if target else ""))
    out = Path(args.out)
    atomic_write_json(out, {"device": str(device), "threads": torch.get_num_threads(), "repeats": args.repeats,
                            "glibc_tunables": os.environ.get("GLIBC_TUNABLES", ""), "rows": rows})
    plot(rows, out.with_suffix(".png"))
    print(f"results: {out}, {out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
