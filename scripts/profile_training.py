"""Where the CPU time of one training step goes (issue [4/8]): per model and variant, side by side in one run.

Each model is built from its example config exactly as ``hf-genrec train`` builds it
(:func:`hf_genrec.commands.train.build_trainer`: tokenizer, item features, model, optimizer, collator, training
rows as ``training.train_examples`` says) on a prepared dataset given on the command line (e.g. Beauty with
histories of 30 and RQ-KMeans 3 x 128 SIDs, as ``hf-genrec reproduce`` prepares it). Batches are drawn at random
from the training rows. Every (model, variant) runs in its own subprocess, so threads, compile caches and peak
memory do not leak between them.

Per step it times: collate (rows -> tensors), forward, backward (with clipping), optimizer step; and, in extra
profiled steps, splits the operator time with ``torch.profiler`` into categories (matrix products, attention and
softmax, embedding / indexing / scatter, element-wise and norms, copies and layout, optimizer) plus the time that
no operator accounts for (Python, dispatch, autograd bookkeeping). Variants:

* ``eager``      fp32, random batches (what training does by default)
* ``bucketed``   fp32, each batch drawn from rows of similar history length (less padding)
* ``bf16``       ``torch.autocast("cpu", torch.bfloat16)`` around forward and backward (``training.mixed_precision``)
* ``compile``    ``torch.compile(model, dynamic=True)``; its compile time is reported apart from the step time

Usage: .venv/bin/python scripts/profile_training.py --prepared P --sids S [--models intrr_hstu,tiger_t5,...]
       [--variants eager,bucketed,bf16,compile] [--steps 6] [--before CHECKOUT] [--out runs/profile]
  --before: git worktree add /tmp/before COMMIT, then the eager step of that commit runs as variant "before"
Writes profile.json and profile.md (the table that docs/performance.md quotes).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_GENREC_DISABLE_PROGRESS", "1")

ROOT = Path(__file__).resolve().parents[1]
# name -> (example config, overrides). ComeIR's paper backbone (Qwen3-0.6B) cannot be downloaded offline: the
# small-backbone setting of the CPU tier (comeir_beauty_small.yaml) is profiled instead.
MODELS = {
    "intrr_hstu": ("intrr_beauty_hstu.yaml", {}),
    "tiger_t5": ("tiger_beauty.yaml", {}),
    "tiger_hstu_flattened": ("tiger_beauty_hstu_flattened.yaml", {}),
    "comeir_small": ("comeir_beauty_small.yaml", {}),
    "sasrec": ("sasrec_beauty.yaml", {}),
}
VARIANTS = ("eager", "bucketed", "bf16", "compile")  # and "before" with --before
CATEGORIES = {
    "matrix products": ("mm", "addmm", "bmm", "baddbmm", "matmul", "linear", "_addmm_activation", "einsum"),
    "attention / softmax": ("softmax", "_softmax", "log_softmax", "_log_softmax", "scaled_dot_product",
                            "_softmax_backward_data", "_log_softmax_backward_data", "nll_loss", "cross_entropy"),
    "embedding / indexing": ("embedding", "index", "index_select", "gather", "scatter", "index_add", "index_put",
                             "masked_fill", "masked_select", "nonzero", "take", "embedding_dense_backward",
                             "embedding_backward", "where", "searchsorted", "sort", "topk"),
    "copies / layout": ("copy_", "to", "_to_copy", "contiguous", "clone", "cat", "stack", "fill_", "zero_", "zeros",
                        "empty", "empty_strided", "full", "ones", "arange", "view", "reshape", "permute",
                        "transpose", "expand", "repeat", "pad", "constant_pad_nd", "as_strided", "unsqueeze",
                        "split", "narrow", "slice", "select", "t"),
}


def categorize(name: str) -> str:
    if "Optimizer" in name or "_foreach" in name or name.startswith("aten::addcdiv") or name.startswith(
            "aten::addcmul") or name.startswith("aten::lerp") or name.startswith("aten::sqrt"):
        return "optimizer / element-wise"
    op = name.split("::")[-1].split(".")[0]
    for category, ops in CATEGORIES.items():
        if op in ops:
            return category
    return "element-wise / norms / other"


def _load_config(name: str, prepared: str, sids: str, output_dir: str):
    from hf_genrec.commands.train import load_yaml_config

    config_file, overrides = MODELS[name]
    config = load_yaml_config(ROOT / "examples" / "configs" / config_file)
    for dotted, value in overrides.items():
        section, key = dotted.split(".", 1)
        if value is None:
            config.setdefault(section, {}).pop(key, None)
        else:
            config.setdefault(section, {})[key] = value
    config["data"] = {"prepared": prepared, "sids": sids}
    training = config.setdefault("training", {})
    training.update(output_dir=output_dir, report_to=[], show_progress=False)
    training["mixed_precision"] = "no"  # bf16 is applied below with torch.autocast, around the timed phases only
    return config


def _batches(rows, batch_size: int, count: int, bucketed: bool, seed: int = 0):
    """``count`` batches drawn at random; ``bucketed`` sorts a pool of 8 batches by history length first."""
    import numpy as np

    rng = np.random.default_rng(seed)
    lengths = np.array([len(h) for h in rows["history"]])
    batches = []
    while len(batches) < count:
        pool = rng.choice(len(rows), size=batch_size * (8 if bucketed else 1), replace=False)
        if bucketed:
            pool = pool[np.argsort(lengths[pool], kind="stable")]
        for start in range(0, len(pool), batch_size):
            batches.append([int(i) for i in pool[start:start + batch_size]])
        if bucketed:  # buckets of one pool would otherwise be visited in length order
            rng.shuffle(batches)
    return batches[:count]


def worker(name: str, variant: str, prepared: str, sids: str, steps: int, threads: int) -> dict:
    import torch

    import hf_genrec  # noqa: F401
    from hf_genrec.commands.train import build_trainer
    from hf_genrec.training.sparse_optim import clip_grad_norm_

    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        config = _load_config(name, prepared, sids, tmp)
        trainer = build_trainer(config)
        rows = trainer.training_rows()
        collator = trainer.get_collator()
        model = trainer.model
        optimizer = trainer.create_optimizer()
        batch_size = int(config["training"].get("batch_size", 256))
        max_norm = float(config["training"].get("max_grad_norm", 1.0) or 0.0)
        plan = _batches(rows, batch_size, steps + 4, bucketed=variant == "bucketed")
        import hf_genrec as package  # which checkout runs (the 'before' variant: an earlier commit's)
        source = str(Path(package.__file__).resolve().parents[1])
        forward_model = model
        compile_seconds = None
        if variant == "compile":
            forward_model = torch.compile(model, dynamic=True)
        autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=variant == "bf16")
        model.train()
        phases = {"collate": [], "forward": [], "backward": [], "optimizer": []}
        padded, real, targets = 0, 0, 0

        def one_step(indices, timed: bool):
            nonlocal padded, real, targets
            t0 = time.perf_counter()
            batch = collator([rows[i] for i in indices])
            t1 = time.perf_counter()
            with autocast:
                loss = forward_model(**batch).loss
            t2 = time.perf_counter()
            loss.backward()
            if max_norm:
                clip_grad_norm_(model.parameters(), max_norm)  # dense and sparse (Engram) gradients, as the trainer
            t3 = time.perf_counter()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            t4 = time.perf_counter()
            if timed:
                for key, value in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                    phases[key].append(value)
                mask = batch.get("attention_mask")
                if mask is not None:
                    padded += int(mask.numel())
                    real += int(mask.sum())
                labels = batch["labels"]
                targets += int((labels[..., 0] != -100).sum()) if labels.dim() == 3 else len(labels)
            return batch

        start = time.perf_counter()
        for indices in plan[:2]:  # warm-up (and, for `compile`, compilation)
            one_step(indices, timed=False)
        if variant == "compile":
            compile_seconds = time.perf_counter() - start
        for indices in plan[2:2 + steps]:
            one_step(indices, timed=True)
        # operator split over two more steps under the profiler
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            wall = time.perf_counter()
            for indices in plan[2 + steps:4 + steps]:
                one_step(indices, timed=False)
            wall = time.perf_counter() - wall
        events = prof.key_averages()
        split, calls, top = {}, 0, []
        for event in events:
            if event.key.startswith(("ProfilerStep", "Optimizer.step", "Optimizer.zero_grad", "autograd::engine")):
                continue  # wrappers: their operators are counted themselves
            self_us = event.self_cpu_time_total
            split[categorize(event.key)] = split.get(categorize(event.key), 0.0) + self_us
            calls += event.count
            top.append((self_us, event.key, event.count))
        top.sort(reverse=True)
        op_seconds = sum(split.values()) / 1e6
        split = {k: round(v / 1e6 / wall, 4) for k, v in sorted(split.items(), key=lambda kv: -kv[1])}
        split["outside operators (Python, dispatch, autograd)"] = round(max(0.0, 1 - op_seconds / wall), 4)
        step_seconds = sum(sum(v) for v in phases.values()) / steps
        return {"model": name, "variant": variant, "config": MODELS[name][0], "threads": threads, "source": source,
                "train_examples": config["training"].get("train_examples", "prefix"), "batch_size": batch_size,
                "parameters": sum(p.numel() for p in model.parameters()),
                "steps": steps, "step_seconds": step_seconds,
                "samples_per_second": batch_size / step_seconds, "targets_per_second": targets / steps / step_seconds,
                "phase_seconds": {k: sum(v) / steps for k, v in phases.items()},
                "padding_share": round(1 - real / padded, 4) if padded else None,
                "compile_seconds": compile_seconds, "operator_share": split,
                "operator_calls_per_step": calls // 2,
                "top_operators": [{"op": key, "self_ms_per_step": round(us / 2e3, 2), "calls_per_step": count // 2}
                                  for us, key, count in top[:8]]}


def render(results) -> str:
    lines = ["| model | variant | examples | samples/s | targets/s | step s | collate | forward | backward | "
             "optimizer | padding | ops/step | largest share (profiled) | outside operators |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['variant']} | failed: {r['error'][:120]} |" + " |" * 11)
            continue
        p = r["phase_seconds"]
        total = r["step_seconds"]
        shares = {k: v for k, v in r["operator_share"].items() if not k.startswith("outside")}
        largest = max(shares, key=shares.get) if shares else "-"
        padding = "-" if r["padding_share"] is None else f"{r['padding_share']:.0%}"
        lines.append(
            f"| {r['model']} | {r['variant']}" + (f" (+{r['compile_seconds']:.0f} s compile)" if r.get('compile_seconds')
                                                  else "")
            + f" | {r['train_examples']} | {r['samples_per_second']:.0f} | {r['targets_per_second']:.0f} | "
            f"{total:.3f} | {p['collate'] / total:.0%} | {p['forward'] / total:.0%} | {p['backward'] / total:.0%} | "
            f"{p['optimizer'] / total:.0%} | {padding} | "
            f"{r['operator_calls_per_step']} | {largest} {shares.get(largest, 0):.0%} | "
            f"{r['operator_share']['outside operators (Python, dispatch, autograd)']:.0%} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prepared", required=True)
    parser.add_argument("--sids", required=True)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", 0) or os.cpu_count()))
    parser.add_argument("--out", default="runs/profile")
    parser.add_argument("--before", default=None,
                        help="a checkout of an earlier commit (git worktree add PATH COMMIT): its hf_genrec runs the "
                             "'eager' variant once more as 'before', in the same run, for a before/after ratio")
    parser.add_argument("--worker", nargs=2, metavar=("MODEL", "VARIANT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker, args.prepared, args.sids, args.steps, args.threads)))
        return
    unknown = [m for m in args.models.split(",") if m not in MODELS] + [
        v for v in args.variants.split(",") if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown models/variants {unknown}; models: {list(MODELS)}, variants: {list(VARIANTS)}")
    results = []
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        def tqdm(x, **_):
            return x
    variants = args.variants.split(",") + (["before"] if args.before else [])
    jobs = [(m, v) for m in args.models.split(",") for v in variants]
    for model, variant in tqdm(jobs, desc="profiling", unit="run"):
        env = dict(os.environ)
        if variant == "before":  # the earlier checkout's package first on the path; the eager step otherwise
            env["PYTHONPATH"] = str(Path(args.before).resolve()) + os.pathsep + env.get("PYTHONPATH", "")
        command = [sys.executable, __file__, "--prepared", args.prepared, "--sids", args.sids, "--steps",
                   str(args.steps), "--threads", str(args.threads), "--worker", model, variant]
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            results.append({"model": model, "variant": variant, "error": done.stderr.strip().splitlines()[-1]
                            if done.stderr.strip() else f"exit {done.returncode}"})
        else:
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        write(Path(args.out), args, results)  # after every run, so that a long profile can be read as it goes
    print(render(results))


def write(out: Path, args, results) -> None:
    out.mkdir(parents=True, exist_ok=True)
    summary = {"command": "profile_training", "threads": args.threads, "cpu_count": os.cpu_count(),
               "steps": args.steps, "prepared": args.prepared, "sids": args.sids, "before": args.before,
               "results": results}
    for file, text in (("profile.json", json.dumps(summary, indent=2)), ("profile.md", render(results))):
        tmp = out / (file + ".tmp")
        tmp.write_text(text)
        tmp.replace(out / file)


if __name__ == "__main__":
    main()
