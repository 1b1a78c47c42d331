"""Benchmark: sequence-level against prefix training, same model, data and budget, measured side by side in one run.

For each of ``training.train_examples: prefix`` and ``sequence`` the model of ``--config`` trains for ``--minutes``
of wall-clock time (validation on ``--eval-users`` random validation users every ``--eval-every`` minutes of
training, its time not counted), then reports:

* training targets per second (validation excluded) and the ratio sequence / prefix;
* the validation Recall@10 curve against training minutes, and the minutes each mode needs to reach ``--threshold``
  (default: the item-transition baseline's Recall@10 on the same validation users) and the ratio.

Writes ``<out>/bench_sequence_training.json`` and ``.png`` (both curves, the baseline as a horizontal line).

Usage: .venv/bin/python scripts/bench_sequence_training.py [--config examples/configs/intrr_beauty_hstu.yaml]
       [--prepared runs/beauty30/prepared --sids runs/beauty30/sids-rqkmeans] [--minutes 10] [--eval-users 2000]
       [--eval-every 1.5] [--out runs/bench_sequence_training]
"""

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_GENREC_DISABLE_PROGRESS", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MODES = ("prefix", "sequence")


def transition_on_validation_subset(prepared_dir: str, users: int, seed: int) -> float:
    """The item-transition baseline's Recall@10 on the validation users the trainer validates on."""
    from hf_genrec.data import PreparedDataset
    from hf_genrec.evaluation import Evaluator, TransitionBaseline, evaluate_ranker

    prepared = PreparedDataset.load(prepared_dir)
    train = prepared.splits["train"]
    ranker = TransitionBaseline(prepared.num_items).fit(train["history"], train["target"])
    rows = Evaluator(None, max_users=users, subset_seed=seed).users(prepared.splits["validation"])
    return float(evaluate_ranker(ranker, rows["history"], rows["target"])["recall@10"])


def steps_per_minute_estimate(config: dict, mode: str) -> int:
    """Validation every ``--eval-every`` minutes needs a step interval; a 20-step timing run estimates it."""
    import copy

    from hf_genrec.commands.train import run_train

    probe = copy.deepcopy(config)
    probe["training"].update(train_examples=mode, max_steps=20, final_test=False, eval_steps=10_000,
                             output_dir=str(Path(config["training"]["output_dir"]) / f"probe-{mode}"),
                             overwrite_output_dir=True, early_stopping_patience=0)
    summary = run_train(probe)
    seconds = summary["seconds"] - summary.get("validation_seconds", 0.0)
    return max(1, int(20 / max(seconds, 1e-6) * 60))


def minutes_to(curve, threshold):
    for point in curve:
        if point["recall@10"] >= threshold:
            return point["training_minutes"]
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(REPO / "examples" / "configs" / "intrr_beauty_hstu.yaml"))
    parser.add_argument("--prepared", default=None, help="default: the config's data.prepared")
    parser.add_argument("--sids", default=None, help="default: the config's data.sids")
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget per mode")
    parser.add_argument("--eval-users", type=int, default=2000)
    parser.add_argument("--eval-every", type=float, default=1.5, help="minutes of training between validations")
    parser.add_argument("--threshold", type=float, default=None, help="default: the transition baseline")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", default="runs/bench_sequence_training")
    parser.add_argument("overrides", nargs="*", help="section.key=value overrides of the config")
    args = parser.parse_args()

    from hf_genrec.commands.train import load_yaml_config, run_train
    from hf_genrec.utils.io import atomic_write_json

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    base = load_yaml_config(args.config, args.overrides)
    if args.prepared:
        base["data"]["prepared"] = args.prepared
    if args.sids:
        base["data"]["sids"] = args.sids
    subset_seed = int(base["training"].get("eval_subset_seed", 0))
    threshold = args.threshold
    if threshold is None:
        threshold = transition_on_validation_subset(base["data"]["prepared"], args.eval_users, subset_seed)
    results = {"config": args.config, "data": base["data"], "minutes": args.minutes, "eval_users": args.eval_users,
               "threshold": threshold, "threshold_source": "item transition on the same validation users"
               if args.threshold is None else "--threshold", "cpu_threads": int(os.environ.get("OMP_NUM_THREADS", 0))
               or os.cpu_count(), "modes": {}}
    for mode in MODES:
        config = json.loads(json.dumps(base))
        config["training"].update(output_dir=str(out / mode), seed=args.seed, report_to=[], show_progress=False,
                                  overwrite_output_dir=True, early_stopping_patience=0, final_test=False,
                                  eval_max_users=args.eval_users, eval_subset_seed=subset_seed,
                                  metric_for_best_model="recall@10")
        interval = max(1, int(steps_per_minute_estimate(config, mode) * args.eval_every))
        config["training"].update(train_examples=mode, max_minutes=args.minutes, eval_steps=interval,
                                  num_epochs=10_000)
        summary = run_train(config)
        history = json.loads((out / mode / "training_history.json").read_text())
        curve = [{"step": r["step"], "training_minutes": r["training_minutes"], "recall@10": r["recall@10"],
                  "ndcg@10": r["ndcg@10"]} for r in history["validation"]]
        results["modes"][mode] = {"targets_per_second": summary["targets_per_second"],
                                  "samples_per_second": summary["samples_per_second"], "steps": summary["global_step"],
                                  "eval_steps": interval, "curve": curve, "best_recall@10": summary["best_validation"],
                                  "minutes_to_threshold": minutes_to(curve, threshold)}
        print(f"{mode}: {summary['targets_per_second']:.0f} targets/s, best validation R@10 "
              f"{summary['best_validation']:.4f}, threshold {threshold:.4f} reached after "
              f"{results['modes'][mode]['minutes_to_threshold']} training minutes", flush=True)
    prefix, sequence = results["modes"]["prefix"], results["modes"]["sequence"]
    results["targets_per_second_ratio"] = round(sequence["targets_per_second"] / prefix["targets_per_second"], 2)
    if prefix["minutes_to_threshold"] and sequence["minutes_to_threshold"]:
        results["time_to_threshold_ratio"] = round(prefix["minutes_to_threshold"] / sequence["minutes_to_threshold"], 2)
    atomic_write_json(out / "bench_sequence_training.json", results)
    plot(results, out / "bench_sequence_training.png")
    print(json.dumps({k: v for k, v in results.items() if k != "modes"}, indent=1))


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for mode, result in results["modes"].items():
        curve = result["curve"]
        ax.plot([p["training_minutes"] for p in curve], [p["recall@10"] for p in curve], marker="o",
                label=f"{mode} ({result['targets_per_second']:.0f} targets/s)")
    ax.axhline(results["threshold"], color="gray", linestyle="--", label="item transition")
    ax.set_xlabel("training minutes (validation excluded)")
    ax.set_ylabel(f"validation Recall@10 ({results['eval_users']} users)")
    ax.set_title(Path(results["config"]).stem)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
