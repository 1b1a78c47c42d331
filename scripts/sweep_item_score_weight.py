"""Choose TIGER's decoding-time ``item_score_weight`` on validation and report it on test.

A decoder-only TIGER trained with ``item_id_loss_weight`` also scores every catalog item from its ``<bos>`` state.
With ``item_score_weight`` ``a`` the items of the beam search are reranked by SID log-likelihood + ``a`` times that
item log-probability (:func:`hf_genrec.generation.beam_search.rescore_items`). This script decodes every user of the
validation and test splits once (plain beam search, all beams kept, plus the item log-probabilities), reranks the
same lists for every weight of ``--weights``, picks the weight with the best validation Recall@10 (NDCG@10 breaks
ties) and reports every weight's metrics on both splits next to the item-transition baseline, so the test number of
the chosen weight is read, not chosen. The item scores alone (top items over the whole catalog, no SID decoder) are
reported beside them. Writes ``summary.json``, ``sweep.md`` and ``sweep.png`` under ``--out``;
``--save-model DIR`` also saves the model with the chosen weight in its config (``hf-genrec evaluate`` then uses it).

Usage: .venv/bin/python scripts/sweep_item_score_weight.py MODEL_DIR PREPARED_DIR --out DIR
       [--weights 0,0.1,0.25,0.5,1,2] [--num-beams N] [--batch-size 64] [--max-users N] [--save-model DIR]
"""

import argparse
import sys
import time
from pathlib import Path


def decode_split(model, tokenizer, rows, num_beams: int, batch_size: int, weights, k: int = 20):
    """Every row's top-``k`` items for every weight ``[len(weights), N, k]``, the top-``k`` of the item scores alone
    over the whole catalog ``[N, k]`` (what the auxiliary head learned, without the SID decoder) and the targets
    ``[N]``."""
    import numpy as np
    import torch

    from hf_genrec.evaluation import Evaluator
    from hf_genrec.generation import BeamSearchResult, rescore_items

    trie = model.catalog_trie(model.item_sids.device)
    ranked = [[] for _ in weights]
    item_head, targets = [], []
    for batch, batch_rows in Evaluator(tokenizer, batch_size=batch_size).batches(model, rows):
        plain = model.generate(**batch, num_beams=num_beams, num_return_sequences=num_beams)
        log_probs = model.item_log_probs(**batch)
        result = BeamSearchResult(items=plain.items, sids=plain.sids, scores=plain.scores,
                                  beam_sids=plain.sids, beam_scores=plain.scores)
        for index, weight in enumerate(weights):
            items = rescore_items(result, trie, log_probs, weight, k).items  # weight 0: the beam's own order
            ranked[index].append(torch.nn.functional.pad(items, (0, max(0, k - items.shape[1])), value=-1).numpy())
        item_head.append(log_probs.topk(k, dim=-1).indices.numpy())
        targets.extend(row["target"] for row in batch_rows)
    return (np.stack([np.concatenate(lists) for lists in ranked]), np.concatenate(item_head),
            np.asarray(targets))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("prepared")
    parser.add_argument("--out", required=True)
    parser.add_argument("--weights", default="0,0.1,0.25,0.5,1,2")
    parser.add_argument("--num-beams", type=int, default=None, help="default: the model's generation config")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-users", type=int, default=None, help="a random subset of each split (seed 0)")
    parser.add_argument("--save-model", default=None, help="save the model with the chosen weight here")
    args = parser.parse_args()
    try:
        weights = sorted({float(value) for value in args.weights.split(",") if value.strip()})
    except ValueError:
        parser.error(f"--weights must be comma-separated numbers, got {args.weights!r}")
    if not weights or weights[0] < 0:
        parser.error(f"--weights must be non-negative numbers, got {args.weights!r}")

    import torch

    from hf_genrec.commands.evaluate import load_model_and_tokenizer
    from hf_genrec.data import PreparedDataset
    from hf_genrec.evaluation import Evaluator, TransitionBaseline, evaluate_ranker
    from hf_genrec.evaluation.metrics import rank_metrics
    from hf_genrec.utils.io import atomic_write_json, atomic_write_text
    from hf_genrec.utils.numerics import flush_denormals

    model, tokenizer = load_model_and_tokenizer(args.model)
    if not getattr(model.config, "item_id_loss_weight", 0.0):
        sys.exit(f"{args.model}: not a TIGER trained with item_id_loss_weight; it has no item scores to read")
    model.eval()
    model.config.item_score_weight = 0.0  # the plain lists; every weight is applied to them below
    num_beams = args.num_beams or model.default_num_beams()
    prepared = PreparedDataset.load(args.prepared)
    train = prepared.splits["train"]
    transition = TransitionBaseline(prepared.num_items).fit(train["history"], train["target"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    splits = {}
    started = time.perf_counter()
    for split in ("validation", "test"):
        rows = Evaluator(None, max_users=args.max_users).users(prepared.splits[split])
        with torch.no_grad(), flush_denormals(True):
            ranked, item_head, targets = decode_split(model, tokenizer, rows, num_beams, args.batch_size, weights)
        splits[split] = {"users": len(targets), "item_scores_alone": rank_metrics(item_head, targets),
                         "item_transition": evaluate_ranker(transition, rows["history"], rows["target"]),
                         "weights": {str(w): rank_metrics(ranked[i], targets) for i, w in enumerate(weights)}}
    validation = splits["validation"]["weights"]
    chosen = max(weights, key=lambda w: (validation[str(w)]["recall@10"], validation[str(w)]["ndcg@10"]))
    summary = {"model": args.model, "prepared": args.prepared, "num_beams": num_beams, "weights": weights,
               "chosen_weight": chosen, "chosen_on": "validation recall@10 (ndcg@10 breaks ties)",
               "test_at_chosen": splits["test"]["weights"][str(chosen)], "splits": splits,
               "seconds": round(time.perf_counter() - started, 1)}
    atomic_write_json(out / "summary.json", summary)
    atomic_write_text(out / "sweep.md", _table(summary))
    _plot(summary, out / "sweep.png")
    if args.save_model:
        model.config.item_score_weight = chosen
        model.save_pretrained(args.save_model)
        tokenizer.save_pretrained(args.save_model)
    print(_table(summary))
    return 0


def _table(summary) -> str:
    lines = [f"item_score_weight sweep, {summary['num_beams']} beams; chosen on {summary['chosen_on']}: "
             f"**{summary['chosen_weight']}**", "",
             "| weight | val R@10 | val N@10 | test R@10 | test N@10 | test R@20 |", "|---|---|---|---|---|---|"]
    val, test = summary["splits"]["validation"], summary["splits"]["test"]
    for weight in summary["weights"]:
        v, t = val["weights"][str(weight)], test["weights"][str(weight)]
        lines.append(f"| {weight} | {v['recall@10']:.4f} | {v['ndcg@10']:.4f} | {t['recall@10']:.4f} | "
                     f"{t['ndcg@10']:.4f} | {t['recall@20']:.4f} |")
    v, t = val["item_scores_alone"], test["item_scores_alone"]
    lines.append(f"| item scores alone (whole catalog) | {v['recall@10']:.4f} | {v['ndcg@10']:.4f} | "
                 f"{t['recall@10']:.4f} | {t['ndcg@10']:.4f} | {t['recall@20']:.4f} |")
    v, t = val["item_transition"], test["item_transition"]
    lines.append(f"| item transition | {v['recall@10']:.4f} | {v['ndcg@10']:.4f} | {t['recall@10']:.4f} | "
                 f"{t['ndcg@10']:.4f} | {t['recall@20']:.4f} |")
    return "\n".join(lines) + "\n"


def _plot(summary, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    for split, colour in (("validation", "tab:blue"), ("test", "tab:orange")):
        data = summary["splits"][split]
        axis.plot(summary["weights"], [data["weights"][str(w)]["recall@10"] for w in summary["weights"]], "o-",
                  color=colour, label=f"{split} Recall@10")
        axis.axhline(data["item_transition"]["recall@10"], color=colour, linestyle="--",
                     label=f"item transition ({split})")
    axis.set_xlabel("item_score_weight")
    axis.set_ylabel("Recall@10")
    axis.legend(fontsize=8)
    figure.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    figure.savefig(tmp, dpi=120)
    plt.close(figure)
    tmp.replace(path)


if __name__ == "__main__":
    raise SystemExit(main())
