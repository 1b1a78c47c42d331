"""DECOR Table 3: embedding utilisation per SID level of a trained DECOR model folder, next to the paper's numbers.

For each level: ``assigned`` (the share of codes some catalog item uses: everything TIGER's embedding table trains),
``composed`` (the share that gets more than uniform composition weight, a > 1/K, for at least one user of the split)
and ``active`` (either: what DECOR trains). See ``DecorForGenerativeRecommendation.composition_usage``.

Usage: .venv/bin/python scripts/decor_composition_usage.py --model runs/.../model --data runs/.../prepared
                                                          [--split validation] [--max-users 5000] [--out usage.json]
"""

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

#: DECOR Table 3 (layers 1 / 2 / 3, %), from hf_genrec/reproduce/published.json
PAPER = {"scientific": {"TIGER": [26.6, 99.07, 99.87], "DECOR": [51.06, 99.97, 100.0]},
         "instrument": {"TIGER": [27.97, 96.77, 100.0], "DECOR": [100.0, 100.0, 100.0]},
         "game": {"TIGER": [25.67, 99.61, 100.0], "DECOR": [100.0, 100.0, 100.0]}}


def batches(model, tokenizer, rows, batch_size: int = 256):
    from hf_genrec.data.collator import GenRecCollator

    collator = GenRecCollator(tokenizer, mode=model.config.input_mode, max_history=model.config.max_history,
                              with_labels=False)
    for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        yield collator([dict(zip(chunk, values)) for values in zip(*chunk.values())])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True, help="the prepared dataset folder")
    parser.add_argument("--split", default="validation")
    parser.add_argument("--max-users", type=int, default=None)
    parser.add_argument("--out", default=None, help="JSON path (default: <model>/composition_usage.json)")
    args = parser.parse_args()

    import numpy as np

    from hf_genrec.commands.evaluate import load_model_and_tokenizer
    from hf_genrec.data.prepared import PreparedDataset
    from hf_genrec.utils.io import atomic_write_json

    model, tokenizer = load_model_and_tokenizer(args.model)
    if not hasattr(model, "composition_usage"):
        raise SystemExit(f"{args.model} holds a {type(model).__name__}, not a DECOR model")
    rows = PreparedDataset.load(args.data).splits[args.split]
    if args.max_users and args.max_users < len(rows):
        rows = rows.select(np.sort(np.random.default_rng(0).choice(len(rows), args.max_users, replace=False)).tolist())
    usage = model.composition_usage(batches(model, tokenizer, rows))
    usage.update(model=str(args.model), split=args.split, paper_table3_pct=PAPER)
    for row in usage["levels"]:
        print(f"level {row['level'] + 1}: {row['codes']} codes, assigned {100 * row['assigned']:.2f} %, "
              f"composed {100 * row['composed']:.2f} %, active {100 * row['active']:.2f} %")
    out = Path(args.out or Path(args.model) / "composition_usage.json")
    atomic_write_json(out, usage)
    plot(usage, out.with_suffix(".png"))
    print(f"wrote {out} and {out.with_suffix('.png')}")
    return 0


def plot(usage: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = usage["levels"]
    x = range(len(levels))
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar([i - 0.2 for i in x], [100 * row["assigned"] for row in levels], 0.4, label="assigned to items (TIGER)")
    ax.bar([i + 0.2 for i in x], [100 * row["active"] for row in levels], 0.4, label="assigned or composed (DECOR)")
    ax.set_xticks(list(x), [f"level {row['level'] + 1}" for row in levels])
    ax.set_ylabel("codes trained (%)")
    ax.set_title(f"Embedding utilisation ({usage['users']} {usage['split']} users)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    sys.exit(main())
