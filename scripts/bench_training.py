"""Benchmark: training throughput (samples/s) and peak memory on this machine.

TIGER (paper size: T5 4+4 layers, d_model 128, d_ff 1024, 6 heads x 64) on a random 12,000-item catalog
with L = 4, K = 256, batch 256, histories of 20 items (80 SID tokens). Each configuration runs in its
own subprocess so that peak memory (max RSS) is measured in isolation; the peak of a matching process
that builds everything but takes no training step is subtracted. Item-level methods join the list as
they land, so all ratios come from one run on one machine.

Usage: .venv/bin/python scripts/bench_training.py [--models tiger,intrr] [--history 30] [--steps 5]
       [--out runs/bench_training.json]
IntRR's comparison (Sec. 4.3.1, N = 30, L = 4): --models tiger,intrr,intrr_hstu --history 30
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

MODELS = {
    # flattened baseline: L tokens per history item (TIGER; the papers' 4 + 4 layer T5, d_model 128)
    "tiger": {"type": "tiger", "hidden_size": 128, "intermediate_size": 1024, "num_layers": 4, "num_decoder_layers": 4,
              "num_heads": 6, "d_kv": 64, "dropout_rate": 0.1},
    # IntRR: one token per item into the same-size T5 stack (4 layers, d 128, 6 heads x 64), RAN on top
    "intrr": {"type": "intrr", "backbone": "t5", "hidden_size": 128, "intermediate_size": 1024, "num_layers": 4, "num_heads": 6,
              "d_kv": 64, "dropout_rate": 0.1},
    "intrr_hstu": {"type": "intrr", "backbone": "hstu", "hidden_size": 128, "num_layers": 4, "num_heads": 4,
                   "dropout_rate": 0.1},
}


def worker(name: str, steps: int, batch: int, history: int, items: int, levels: int, codebook: int) -> dict:
    import torch

    import hf_genrec  # noqa: F401
    from hf_genrec.models import build_model
    from hf_genrec.tokenization import SIDTokenizer
    from hf_genrec.utils.memory import peak_rss_bytes

    g = torch.Generator().manual_seed(0)
    codes = torch.unique(torch.randint(0, codebook, (int(items * 1.05), levels), generator=g), dim=0)[:items]
    tok = SIDTokenizer.from_sids(codes, [codebook] * levels)
    options = dict(MODELS[name])
    model = build_model(options.pop("type"), tok, max_history=history, **options)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    histories = torch.randint(0, items, (batch, history), generator=g).tolist()
    inputs = dict(tok(histories, mode=model.config.input_mode, return_tensors="pt"))
    if model.config.input_mode == "item":
        inputs["timestamps"] = torch.arange(history).repeat(batch, 1) * 86_400
    labels = tok.encode_targets(torch.randint(0, items, (batch,), generator=g))
    model.train()
    times = []
    for step in range(steps + 2 if steps else 0):
        start = time.perf_counter()
        loss = model(**inputs, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step >= 2:
            times.append(time.perf_counter() - start)
    peak_mb = peak_rss_bytes() / 2 ** 20
    return {"model": name, "parameters": sum(p.numel() for p in model.parameters()),
            "samples_per_second": batch / (sum(times) / len(times)) if times else None, "peak_rss_mb": peak_mb}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="tiger")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--history", type=int, default=20)
    parser.add_argument("--items", type=int, default=12_000)
    parser.add_argument("--levels", type=int, default=4)
    parser.add_argument("--codebook-size", type=int, default=256)
    parser.add_argument("--out", default="runs/bench_training.json")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    common = [args.batch, args.history, args.items, args.levels, args.codebook_size]
    if args.worker:
        name, steps = args.worker.split(":")
        print(json.dumps(worker(name, int(steps), *common)))
        return 0
    rows = []
    print(f"batch {args.batch}, history {args.history} items, catalog {args.items:,} items, L={args.levels}, "
          f"K={args.codebook_size}, CPU threads {os.environ.get('OMP_NUM_THREADS', 'default')}")
    for name in args.models.split(","):
        results = {}
        for steps in (0, args.steps):
            command = [sys.executable, __file__, "--worker", f"{name}:{steps}", "--batch", str(args.batch),
                       "--history", str(args.history), "--items", str(args.items), "--levels", str(args.levels),
                       "--codebook-size", str(args.codebook_size)]
            output = subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            results[steps] = json.loads(output)
        row = {**results[args.steps], "training_peak_mb": round(results[args.steps]["peak_rss_mb"] - results[0]["peak_rss_mb"], 1)}
        rows.append(row)
        print(f"{name:<10} {row['parameters'] / 1e6:6.2f}M params  {row['samples_per_second']:8.1f} samples/s  "
              f"training peak memory {row['training_peak_mb']:8.1f} MB (process peak {row['peak_rss_mb']:.0f} MB)")
    base = rows[0]
    for row in rows[1:]:
        print(f"{row['model']} vs {base['model']}: throughput x{row['samples_per_second'] / base['samples_per_second']:.2f}, "
              f"training memory x{row['training_peak_mb'] / max(base['training_peak_mb'], 1e-9):.2f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=2))
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
