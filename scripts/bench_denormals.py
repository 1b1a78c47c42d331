"""Benchmark: decoding a trained model on CPU with and without flushing subnormal floats to zero.

``GenRecPreTrainedModel.generate`` flushes subnormals while it decodes on CPU (``hf_genrec/utils/numerics.py``).
This script decodes the same users of a prepared split twice per repeat, once as hf_genrec does and once with the
flush switched off, in one process, and prints the median of the paired speed ratios and whether both rankings
agree. Found on decoder-only TIGER (small Qwen3) trained on Beauty: 16.8 s against 2.4 s per 256 test users with the
same rankings; a model whose activations stay normal shows a ratio near 1.

With ``--threads 2`` or more a third side flushes on the calling thread only (``torch.set_flush_denormal`` alone, what
hf_genrec did before it also set PyTorch's OpenMP threads): the flags belong to each thread, so that side still pays
for the subnormals the other threads meet.

Usage: .venv/bin/python scripts/bench_denormals.py MODEL_FOLDER PREPARED_FOLDER SIDS_FOLDER [--users 256]
       [--repeats 3] [--num-beams 20] [--threads 1] [--out runs/bench_denormals.json]
"""

import argparse
import contextlib
import statistics
import time
from pathlib import Path

import torch

import hf_genrec  # noqa: F401
from hf_genrec import modeling_utils
from hf_genrec.data import PreparedDataset
from hf_genrec.evaluation.evaluator import Evaluator
from hf_genrec.tokenization import SIDTokenizer
from hf_genrec.utils.io import atomic_write_json
from hf_genrec.utils.numerics import flush_denormals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("prepared")
    parser.add_argument("sids")
    parser.add_argument("--users", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--num-beams", type=int, default=20)
    parser.add_argument("--split", default="test")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads for every side")
    parser.add_argument("--out", default="runs/bench_denormals.json")
    args = parser.parse_args()

    from transformers import AutoModel

    torch.set_num_threads(args.threads)

    model = AutoModel.from_pretrained(args.model).eval()
    tokenizer = SIDTokenizer.from_pretrained(Path(args.sids) / "tokenizer")
    split = PreparedDataset.load(args.prepared).splits[args.split]
    evaluator = Evaluator(tokenizer, num_beams=args.num_beams, max_users=args.users, batch_size=128,
                          show_progress=False)

    @contextlib.contextmanager
    def calling_thread_only(enabled=True):
        """What generate did before: ``torch.set_flush_denormal`` on the calling thread alone."""
        supported = torch.set_flush_denormal(True)
        try:
            yield supported
        finally:
            torch.set_flush_denormal(False)

    sides = {"without flushing": lambda enabled=True: contextlib.nullcontext(False),
             "every thread (hf_genrec)": flush_denormals}
    if args.threads > 1:
        sides["calling thread only"] = calling_thread_only

    def decode(side: str):
        modeling_utils.flush_denormals = sides[side]  # what generate enters while it decodes
        try:
            start = time.perf_counter()
            result = evaluator.evaluate(model, split)
            return time.perf_counter() - start, result.metrics
        finally:
            modeling_utils.flush_denormals = flush_denormals

    seconds = {side: [] for side in sides}
    metrics = {}
    for repeat in range(args.repeats):
        for side in sides:
            elapsed, metrics[side] = decode(side)
            seconds[side].append(elapsed)
        print(f"repeat {repeat}: " + ", ".join(f"{side} {times[-1]:.2f} s" for side, times in seconds.items()),
              flush=True)
    baseline = seconds["without flushing"]
    speedups = {side: statistics.median(a / b for a, b in zip(baseline, times))
                for side, times in seconds.items() if side != "without flushing"}
    same = all(m == metrics["without flushing"] for m in metrics.values())
    print(f"median speed-up over no flushing ({args.repeats} repeats, {args.users} users, beam {args.num_beams}, "
          f"{args.threads} thread(s)): " + ", ".join(f"{side} {ratio:.2f}x" for side, ratio in speedups.items())
          + f"; same metrics: {same}")
    atomic_write_json(Path(args.out), {"model": args.model, "users": args.users, "num_beams": args.num_beams,
                                       "threads": torch.get_num_threads(), "seconds": seconds,
                                       "median_speedup": speedups, "same_metrics": same})


if __name__ == "__main__":
    main()
