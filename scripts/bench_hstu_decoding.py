"""Benchmark: decoder-only TIGER on HSTU, beam search with the HSTU key/value cache against re-running every beam.

One flattened-SID HSTU model at the IntRR-aligned Beauty size (hidden 128, 4 layers, 4 heads; L = 4 levels of 128
codes; a 12,000-item random catalog) with fixed random weights, histories of 30 items (120 tokens + ``<bos>``).
Both decoders run the same trie-constrained beam search on the same inputs in one process:

* ``cache``: ``model.generate`` (the prompt runs once per user; each step runs one token per beam through every
  layer, :meth:`hf_genrec.modules.hstu.HSTU.extend_decoding`);
* ``recompute``: what hf_genrec did before, every step re-runs each beam's whole sequence (``W x (P + s)`` tokens
  through the pointwise attention).

The script checks that both return the same items (scores within float tolerance), and prints the paired speed
ratio (median over repeats) for each batch size. Writes the JSON and a bar chart next to it.

Usage: .venv/bin/python scripts/bench_hstu_decoding.py [--batches 16,64] [--beams 20] [--repeats 3]
       [--out runs/bench_hstu_decoding.json]
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


class RecomputeDecoder:
    """The decoding protocol without a cache: each step runs ``prompt + generated tokens`` for every beam."""

    def __init__(self, model):
        self.model = model

    def prepare_decoding(self, input_ids, attention_mask, **_):
        import torch

        m = self.model
        embeds, mask = m._history(input_ids, attention_mask, None)
        bos = torch.full((input_ids.shape[0], 1), m.config.bos_token_id, dtype=torch.long)
        prompt = torch.cat([embeds, m._embed(bos)], 1)
        return {"prompt": prompt, "mask": torch.cat([mask, torch.ones_like(mask[:, :1])], 1),
                "generated": prompt.new_zeros(prompt.shape[0], 1, 0, prompt.shape[-1])}

    def decode_step(self, state, level, valid_mask, temperature):
        import torch

        B, W = valid_mask.shape[:2]
        P, d = state["prompt"].shape[1:]
        s = state["generated"].shape[2]
        sequence = torch.cat([state["prompt"][:, None].expand(B, W, P, d), state["generated"]], 2)
        mask = torch.cat([state["mask"][:, None].expand(B, W, P), state["mask"].new_ones(B, W, s)], 2)
        hidden = self.model.backbone(sequence.reshape(B * W, P + s, d), mask.reshape(B * W, -1).bool())
        logits = self.model._logits(hidden[:, -1].view(B, W, d))
        return self.model.vocab_log_probs(logits / temperature[..., None], level)

    def update_decoding_state(self, state, level, parent, codes):
        generated = state["generated"]
        index = parent[..., None, None].expand(-1, -1, *generated.shape[2:])
        tokens = self.model._embed(codes + self.model.token_offset_list[level])
        state["generated"] = __import__("torch").cat([generated.gather(1, index), tokens[:, :, None]], 2)
        return state


def build(num_items: int, levels: int, codebook: int, seed: int):
    import torch

    import hf_genrec  # noqa: F401
    from hf_genrec.models.tiger import TigerConfig, TigerForGenerativeRecommendation

    g = torch.Generator().manual_seed(seed)
    codes = torch.unique(torch.randint(0, codebook, (int(num_items * 1.05), levels), generator=g), dim=0)
    codes = codes[torch.randperm(len(codes), generator=g)[:num_items]]
    torch.manual_seed(seed)
    config = TigerConfig(architecture="decoder_only", decoder_backbone="hstu", codebook_sizes=[codebook] * levels,
                         num_items=num_items, hidden_size=128, num_layers=4, num_heads=4, dropout_rate=0.1,
                         max_history=30)
    model = TigerForGenerativeRecommendation(config).eval()
    model.set_catalog(codes)
    return model, codes


def plot(rows, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    x = range(len(rows))
    ax.bar([i - 0.2 for i in x], [r["recompute_s"] for r in rows], 0.4, label="re-run every beam")
    ax.bar([i + 0.2 for i in x], [r["cache_s"] for r in rows], 0.4, label="HSTU key/value cache")
    ax.set_xticks(list(x), [f"batch {r['batch']} x beam {r['beam']}\n{r['speedup']:.1f}x" for r in rows])
    ax.set_ylabel("seconds per batch (median)")
    ax.set_title("Decoder-only TIGER on HSTU: beam search on CPU")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=12_000)
    parser.add_argument("--levels", type=int, default=4)
    parser.add_argument("--codebook-size", type=int, default=128)
    parser.add_argument("--history", type=int, default=30)
    parser.add_argument("--batches", default="16,64")
    parser.add_argument("--beams", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="runs/bench_hstu_decoding.json")
    args = parser.parse_args()

    import torch

    from hf_genrec.generation.beam_search import constrained_beam_search
    from hf_genrec.utils.io import atomic_write_json
    from hf_genrec.tokenization import SIDTokenizer

    model, codes = build(args.items, args.levels, args.codebook_size, seed=0)
    tokenizer = SIDTokenizer.from_sids(codes, [args.codebook_size] * args.levels)
    reference = RecomputeDecoder(model)
    rows = []
    for batch in [int(b) for b in args.batches.split(",")]:
        g = torch.Generator().manual_seed(batch)
        histories = [torch.randint(0, args.items, (args.history,), generator=g).tolist() for _ in range(batch)]
        inputs = tokenizer(histories, return_tensors="pt")
        inputs = {"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"]}

        def run_cache():
            with torch.no_grad():
                return model.generate(**inputs, num_beams=args.beams, num_return_sequences=args.beams)

        def run_recompute():
            with torch.no_grad():
                state = reference.prepare_decoding(**inputs)
                return constrained_beam_search(reference, state, batch, model.catalog_trie(), num_beams=args.beams)

        cache_out, recompute_out = run_cache(), run_recompute()  # warm-up, and the equality check
        same = bool(torch.equal(cache_out.items, recompute_out.items))
        max_score_gap = float((cache_out.scores - recompute_out.scores).abs().max())
        if not same and max_score_gap > 1e-3:
            raise SystemExit(f"batch {batch}: the cached decoder returned other items (score gap {max_score_gap})")
        cache_times, recompute_times = [], []
        for _ in range(args.repeats):
            for fn, times in ((run_cache, cache_times), (run_recompute, recompute_times)):
                start = time.perf_counter()
                fn()
                times.append(time.perf_counter() - start)
        ratios = [r / c for r, c in zip(recompute_times, cache_times)]
        row = {"batch": batch, "beam": args.beams, "cache_s": statistics.median(cache_times),
               "recompute_s": statistics.median(recompute_times), "speedup": statistics.median(ratios),
               "same_items": same, "max_score_gap": max_score_gap}
        rows.append(row)
        print(f"batch {batch:4d} x beam {args.beams}: cache {row['cache_s']:.3f} s, re-run {row['recompute_s']:.3f} s, "
              f"speed-up {row['speedup']:.1f}x (same items: {same}, max score gap {max_score_gap:.1e})", flush=True)
    out = Path(args.out)
    atomic_write_json(out, {"items": args.items, "levels": args.levels, "codebook_size": args.codebook_size,
                            "history": args.history, "threads": torch.get_num_threads(), "rows": rows})
    plot(rows, out.with_suffix(".png"))
    print(f"wrote {out} and {out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
