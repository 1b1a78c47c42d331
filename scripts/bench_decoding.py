"""Benchmark: hf_genrec's constrained beam search vs transformers' generate with prefix_allowed_tokens_fn.

One TIGER model (T5, paper size: 4+4 layers, d_model 128, d_ff 1024, 6 heads x 64) with fixed random
weights; a 12,000-item catalog with L = 4 and 256 codes per level; histories of 20 items (80 tokens).
For beam 20 and 50 at batch 1 and batch 16 both decoders run on the same inputs in the same process:
the script checks that they return the same top-K items, prints the speed ratio, and the share of
decode time spent on the catalog constraint (hf_genrec: trie lookups, masking, top-k and bookkeeping;
transformers: inside ``prefix_allowed_tokens_fn`` and its mask construction is not separable, so the
time inside the function is reported). Targets: >= 10x at batch x beam >= 320, >= 5x at batch 1, beam 50.

Usage: .venv/bin/python scripts/bench_decoding.py [--repeats 5] [--out runs/bench_decoding.json] [--device cpu]
"""

import argparse
import json
import statistics
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=12_000)
    parser.add_argument("--levels", type=int, default=4)
    parser.add_argument("--codebook-size", type=int, default=256)
    parser.add_argument("--history", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default="runs/bench_decoding.json")
    args = parser.parse_args()

    import torch

    from hf_genrec.generation.hf_reference import trie_prefix_allowed_tokens_fn

    device = torch.device(args.device)
    model, tok = build(args.items, args.levels, args.codebook_size, 0, device)
    trie = model.catalog_trie()
    g = torch.Generator().manual_seed(1)
    rows = []
    print(f"TIGER {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M params, catalog {args.items:,} items, "
          f"L={args.levels}, K={args.codebook_size}, history {args.history} items, device {device}, "
          f"torch threads {torch.get_num_threads()}")
    print(f"{'batch':>5} {'beam':>5} {'hf_genrec ms':>13} {'transformers ms':>16} {'speed-up':>9} {'same top-K':>10} "
          f"{'constraint share (ours / transformers)':>40}")
    for batch_size, beams in ((1, 20), (1, 50), (16, 20), (16, 50)):
        histories = torch.randint(0, args.items, (batch_size, args.history), generator=g).tolist()
        batch = {k: v.to(device) for k, v in tok(histories, return_tensors="pt").items()}
        ours_times, theirs_times, ours_search, theirs_fn = [], [], [], []
        for repeat in range(args.repeats + 1):  # first round warms up
            timings = {}
            t = time.perf_counter()
            ours = model.generate(**batch, num_beams=beams, num_return_sequences=beams, timings=timings)
            ours_elapsed = time.perf_counter() - t
            fn = trie_prefix_allowed_tokens_fn(trie, tok.level_offsets, tok.eos_token_id)
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
        row = {"batch": batch_size, "beam": beams, "hf_genrec_ms": round(ours_ms, 2), "transformers_ms": round(theirs_ms, 2),
               "speedup": round(theirs_ms / ours_ms, 2), "same_top_k": same,
               "constraint_share_hf_genrec": round(sum(ours_search) / len(ours_search), 3),
               "constraint_share_transformers": round(sum(theirs_fn) / len(theirs_fn), 3)}
        rows.append(row)
        print(f"{batch_size:>5} {beams:>5} {ours_ms:>13.1f} {theirs_ms:>16.1f} {row['speedup']:>8.1f}x {str(same):>10} "
              f"{row['constraint_share_hf_genrec']:>19.1%} / {row['constraint_share_transformers']:.1%}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"device": str(device), "threads": torch.get_num_threads(), "rows": rows}, indent=2))
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
