"""Benchmark: NEZHA decoding against standard trie-constrained beam search on the same model family (issue [7/8]).

1. Latency (random weights, side by side in one process, runs interleaved batch by batch; medians and the ratio
   standard / NEZHA): TIGER decoder-only on a Qwen3 backbone (``--backbone small``: 4 x 256, or ``qwen3-0.6b``: the
   shape of Qwen/Qwen3-0.6B, for a GPU) and TIGER's T5 (4 + 4 layers, d 128), a Beauty-size catalog (12,101 items,
   3 x 256 codes), histories of 20 items; batch 16 and 32, beams 20, 50 and 512. Standard decoding runs the backbone
   once per level (decoder-only: a KV-cached tree over the beams; T5: the fast incremental decoder); NEZHA runs it once
   over history + placeholders and drafts the levels with its recurrent head.
2. Quality (``--prepared`` / ``--sids``, e.g. the quickstart's embedded default): both decoder-only models (small
   Qwen3) trained with the same budget by ``hf-genrec train``; test Recall/NDCG@10 with the verifier (``mask``) and
   the invalid-SID rate without it (``verifier="none"``) on the test users.

Writes ``bench_nezha.json`` and ``bench_nezha.png`` to ``--out``.

Usage: .venv/bin/python scripts/bench_nezha.py [--backbone small|qwen3-0.6b] [--batches 5] [--device cpu]
       [--batch-sizes 16,32] [--beams 20,50,512] [--families decoder_only,t5]
       [--prepared runs/quickstart/prepared --sids runs/quickstart/sids --epochs 5] [--out runs/bench_nezha]
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

SIZES = [256, 256, 256]


def build_pair(family: str, backbone: str, num_items: int, device: str):
    """(standard, NEZHA) TIGER models with the same backbone weights, and the tokenizer."""
    import torch

    import hf_genrec  # noqa: F401
    from hf_genrec.models import build_model
    from hf_genrec.tokenization import SIDTokenizer

    g = torch.Generator().manual_seed(0)
    codes = torch.unique(torch.randint(0, 256, (int(num_items * 1.05), 3), generator=g), dim=0)
    tokenizer = SIDTokenizer.from_sids(codes[torch.randperm(len(codes), generator=g)[:num_items]], SIZES)
    options = dict(max_history=20)
    if family == "decoder_only":
        options.update(architecture="decoder_only", backbone_config=BENCHMARK_BACKBONES[backbone])
    models = []
    for decoding in ("standard", "nezha"):
        torch.manual_seed(0)
        models.append(build_model("tiger", tokenizer, decoding_architecture=decoding, **options).to(device).eval())
    models[1].load_state_dict(models[0].state_dict(), strict=False)  # the same backbone and SID tables
    return models[0], models[1], tokenizer


def latency(args) -> dict:
    import torch

    results = {}
    for family in args.families:
        standard, nezha, tokenizer = build_pair(family, args.backbone, args.items, args.device)
        g = torch.Generator().manual_seed(1)
        for batch_size in args.batch_sizes:
            for beams in args.beams:
                times = {"standard": [], "nezha": []}
                invalid = []
                with torch.no_grad():
                    for index in range(args.batches + 1):  # the first batch warms up
                        histories = [torch.randint(0, args.items, (20,), generator=g).tolist()
                                     for _ in range(batch_size)]
                        batch = {k: v.to(args.device) for k, v in tokenizer(histories, return_tensors="pt").items()}
                        for name, model in (("standard", standard), ("nezha", nezha)):
                            start = time.perf_counter()
                            model.generate(**batch, num_beams=beams)
                            if args.device.startswith("cuda"):
                                torch.cuda.synchronize()
                            if index:
                                times[name].append(time.perf_counter() - start)
                        if index:
                            invalid.append(nezha.generate(**batch, num_beams=beams, verifier="none").invalid_sid_rate)
                key = f"{family}/batch{batch_size}/beam{beams}"
                results[key] = {"standard_ms": 1000 * statistics.median(times["standard"]),
                                "nezha_ms": 1000 * statistics.median(times["nezha"]),
                                "speedup": statistics.median(s / n for s, n in zip(times["standard"], times["nezha"])),
                                "invalid_sid_rate_untrained_without_verifier": statistics.fmean(invalid)}
                row = results[key]
                print(f"{key}: standard {row['standard_ms']:.1f} ms, NEZHA {row['nezha_ms']:.1f} ms, "
                      f"speedup {row['speedup']:.2f}x", flush=True)
    return results


def quality(args) -> dict:
    """Both decoder-only models trained with the same budget; test metrics with and without the verifier."""
    import torch

    from hf_genrec.commands.evaluate import load_model_and_tokenizer
    from hf_genrec.commands.train import run_train
    from hf_genrec.data.collator import GenRecCollator
    from hf_genrec.data.prepared import PreparedDataset

    results = {}
    test = PreparedDataset.load(args.prepared).splits["test"]
    for decoding in ("standard", "nezha"):
        out = Path(args.out) / f"train-{decoding}"
        model = {"type": "tiger", "architecture": "decoder_only", "backbone_config": BENCHMARK_BACKBONES["small"],
                 "max_history": 10, "decoding_architecture": decoding}
        training = {"output_dir": str(out), "learning_rate": 1e-3, "weight_decay": 0.01, "batch_size": 256,
                    "num_epochs": args.epochs, "warmup_steps": 30, "eval_num_beams": 20, "eval_max_users": 500,
                    "early_stopping_patience": 0, "report_to": [], "seed": 0, "show_progress": False,
                    "overwrite_output_dir": True}
        summary = run_train({"data": {"prepared": args.prepared, "sids": args.sids}, "model": model,
                             "training": training})
        trained, tokenizer = load_model_and_tokenizer(out / "model")
        collator = GenRecCollator(tokenizer, mode="flat", max_history=10, with_labels=False)
        rates = []
        with torch.no_grad():
            for start in range(0, len(test), 256):
                chunk = test[start:start + 256]
                rows = [dict(zip(chunk, values)) for values in zip(*chunk.values())]
                rates.append(trained.generate(**collator(rows), num_beams=20, verifier="none").invalid_sid_rate)
        results[decoding] = {"test": summary["test"]["metrics"], "seconds": summary.get("seconds"),
                             "invalid_sid_rate_without_verifier": statistics.fmean(rates)}
        print(f"{decoding}: test recall@10 {summary['test']['metrics']['recall@10']:.4f}, ndcg@10 "
              f"{summary['test']['metrics']['ndcg@10']:.4f}; invalid SIDs without the verifier "
              f"{results[decoding]['invalid_sid_rate_without_verifier']:.3f}", flush=True)
    standard, nezha = results["standard"]["test"], results["nezha"]["test"]
    results["recall@10_relative_difference_pct"] = (nezha["recall@10"] / standard["recall@10"] - 1) * 100
    return results


def plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(summary["latency"])
    fig, ax = plt.subplots(figsize=(9, 3.8))
    ax.bar(range(len(keys)), [summary["latency"][k]["speedup"] for k in keys], color="#3a7")
    ax.axhline(1.0, color="#888", lw=1)
    ax.set_xticks(range(len(keys)), [k.replace("/", "\n") for k in keys], fontsize=7)
    ax.set_ylabel("standard / NEZHA latency")
    ax.set_title(f"NEZHA speedup ({summary['device']}, backbone {summary['backbone']})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def _ints(text: str) -> list:
    return [int(part) for part in text.split(",")]


def _families(text: str) -> list:
    families = text.split(",")
    unknown = sorted(set(families) - {"decoder_only", "t5"})
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown model families {unknown}; choose from decoder_only, t5")
    return families


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", choices=sorted(BENCHMARK_BACKBONES), default="small")
    parser.add_argument("--items", type=int, default=12_101)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--batch-sizes", type=_ints, default=[16, 32], help="comma-separated, default 16,32")
    parser.add_argument("--beams", type=_ints, default=[20, 50, 512], help="comma-separated, default 20,50,512")
    parser.add_argument("--families", type=_families, default=["decoder_only", "t5"],
                        help="comma-separated of decoder_only,t5 (the T5 family ignores --backbone)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--prepared", default=None, help="prepared data for the quality comparison (optional)")
    parser.add_argument("--sids", default=None)
    parser.add_argument("--epochs", type=float, default=5)
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--out", default="runs/bench_nezha")
    args = parser.parse_args()

    import torch

    from hf_genrec.utils.io import atomic_write_json

    summary = {"backbone": args.backbone, "device": args.device, "items": args.items,
               "threads": torch.get_num_threads()}
    if not args.skip_latency:
        summary["latency"] = latency(args)
    if args.prepared:
        summary["quality"] = quality(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "bench_nezha.json", summary)
    if "latency" in summary:
        plot(summary, out / "bench_nezha.png")
    print(json.dumps({k: v for k, v in summary.items() if k not in ("latency",)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
