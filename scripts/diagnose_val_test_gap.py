"""Why does a model's validation Recall@10 overstate its test Recall@10 more than the item-transition baseline's?

Ranks every user of the validation and test splits with a saved model and with the transition and most-popular
baselines, then prints, per user segment (history length, target popularity, same-day targets, targets the
transition model can know, repeats; ``hf_genrec.evaluation.breakdown``), each ranker's Recall@10 / NDCG@10 on both
splits, next to the metric on the trainer's random validation subset. The ranked lists are saved as ``.npy`` under
``--out`` and reused on a rerun (``--reuse``), so only the first run decodes.

``--keep-last K`` shows every ranker only the last K history items (the transition model reads only the last one
anyway), and ``--known-only`` ranks only the users whose target is transition-known: together they ask whether a
model's drop on those targets comes from the older history, which a validation user's training sequence contains
and a test user's does not in full (its last item, the validation target, was never in its training sequence).

Usage: .venv/bin/python scripts/diagnose_val_test_gap.py MODEL_DIR PREPARED_DIR --out DIR [--subset 3000]
       [--num-beams N] [--batch-size 128] [--keep-last K] [--known-only] [--reuse]
"""

import argparse
import json
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("prepared")
    parser.add_argument("--out", required=True)
    parser.add_argument("--subset", type=int, default=3000, help="size of the trainer's random validation subset")
    parser.add_argument("--subset-seed", type=int, default=0)
    parser.add_argument("--num-beams", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--keep-last", type=int, default=None, help="truncate every history to its last K items")
    parser.add_argument("--known-only", action="store_true", help="rank only users with a transition-known target")
    parser.add_argument("--reuse", action="store_true", help="reuse the ranked lists saved under --out")
    args = parser.parse_args()

    import numpy as np

    from hf_genrec.commands.evaluate import load_model_and_tokenizer
    from hf_genrec.data import PreparedDataset
    from hf_genrec.evaluation import Evaluator, MostPopular, TransitionBaseline
    from hf_genrec.evaluation.breakdown import segment_table, user_segments
    from hf_genrec.evaluation.metrics import rank_metrics
    from hf_genrec.utils.io import atomic_write_json

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    prepared = PreparedDataset.load(args.prepared)
    train = prepared.splits["train"]
    transition = TransitionBaseline(prepared.num_items).fit(train["history"], train["target"])
    popular = MostPopular(prepared.num_items).fit(train["history"], train["target"])
    model = tokenizer = None
    if args.keep_last is not None and args.keep_last < 1:
        parser.error(f"--keep-last must be at least 1, got {args.keep_last}")
    report = {"model": args.model, "prepared": args.prepared, "keep_last": args.keep_last,
              "known_only": args.known_only, "splits": {}}
    for split in ("validation", "test"):
        rows = prepared.splits[split]
        if args.known_only:  # the breakdown's own segment: the target followed the last history item in training
            known = user_segments(rows["history"], rows["target"], prepared.items["train_count"],
                                  transition.next_counts)["transition-known target"]
            rows = rows.select(np.flatnonzero(known))
        if args.keep_last is not None:
            k = args.keep_last
            rows = rows.map(lambda row: {"history": row["history"][-k:],
                                         "history_timestamps": row["history_timestamps"][-k:]})
        path = out / f"ranked_model_{split}.npy"
        if args.reuse and path.exists():
            ranked_model = np.load(path)
        else:
            if model is None:
                model, tokenizer = load_model_and_tokenizer(args.model)
            evaluator = Evaluator(tokenizer, (5, 10, 20), args.num_beams, args.batch_size)
            model.eval()
            ranked_model, _, _ = evaluator.rank(model, rows)
            partial = path.with_suffix(".partial.npy")
            np.save(partial, ranked_model)
            partial.replace(path)  # never a half-written cache
        histories, targets = rows["history"], np.asarray(rows["target"], dtype=np.int64)
        ranked = {"model": ranked_model, "transition": transition.recommend(histories, 20),
                  "popular": popular.recommend(histories, 20)}
        segments = user_segments(histories, targets, prepared.items["train_count"], transition.next_counts,
                                 rows["history_timestamps"], rows["target_timestamp"])
        if split == "validation" and args.subset < len(rows) and not args.known_only:
            chosen = np.zeros(len(rows), dtype=bool)
            chosen[np.random.default_rng(args.subset_seed).choice(len(rows), args.subset, replace=False)] = True
            segments = {"trainer's random subset": chosen, **segments}
        report["splits"][split] = {"metrics": {name: rank_metrics(items, targets) for name, items in ranked.items()},
                                   "segments": segment_table(ranked, targets, segments)}
    atomic_write_json(out / "val_test_gap.json", report)

    val, test = report["splits"]["validation"]["segments"], report["splits"]["test"]["segments"]
    print("| segment | val users | test users | model R@10 val / test | transition R@10 val / test "
          "| model N@10 val / test | transition N@10 val / test |")
    print("|---|---|---|---|---|---|---|")
    for segment in val:
        v, t = val[segment], test.get(segment)
        cell = lambda key: f"{v[key]:.4f} / {t[key]:.4f}" if t else f"{v[key]:.4f} / -"  # noqa: E731
        print(f"| {segment} | {v['users']} ({v['share']:.1%}) | "
              f"{(str(t['users']) + ' (' + format(t['share'], '.1%') + ')') if t else '-'} | "
              f"{cell('model recall@10')} | {cell('transition recall@10')} | {cell('model ndcg@10')} | "
              f"{cell('transition ndcg@10')} |")
    print(json.dumps({"wrote": str(out / "val_test_gap.json")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
