"""Benchmark: start-up time of the command line and of ``import hf_genrec``, as ratios measured in one run.

Each case runs in a fresh Python process (best of ``--repeats`` wall-clock times, the cases interleaved so a
slow moment of a shared machine hits all of them):

* reference ``import transformers`` (transformers' lazy top level) and ``from transformers import
  PreTrainedModel, AutoModel`` (its modeling classes);
* ``hf-genrec --help``, ``hf-genrec train --help`` and a mistyped command: target < 1.5x ``import transformers``;
* ``import hf_genrec``: target <= 1.1x the modeling classes' import;
* ``import hf_genrec`` + the first Auto lookup (when the registration of every hf_genrec class happens),
  reported against the modeling classes' import.

Writes JSON (``--out``) and a bar chart next to it.

Usage: .venv/bin/python scripts/bench_startup.py [--repeats 5] [--out runs/bench_startup.json]
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

CLI = [sys.executable, "-m", "hf_genrec.cli"]
CASES = {
    "import transformers": [sys.executable, "-c", "import transformers"],
    "transformers modeling classes": [sys.executable, "-c", "from transformers import PreTrainedModel, AutoModel"],
    "hf-genrec --help": CLI + ["--help"],
    "hf-genrec train --help": CLI + ["train", "--help"],
    "hf-genrec (mistyped command)": CLI + ["trian"],
    "import hf_genrec": [sys.executable, "-c", "import hf_genrec"],
    "import hf_genrec + first Auto lookup": [sys.executable, "-c", "import hf_genrec\nfrom transformers import "
                                             "AutoConfig\nassert type(AutoConfig.for_model('tiger')).__name__ == "
                                             "'TigerConfig'"],
}
TARGETS = {  # case: (reference case, largest ratio)
    "hf-genrec --help": ("import transformers", 1.5),
    "hf-genrec train --help": ("import transformers", 1.5),
    "hf-genrec (mistyped command)": ("import transformers", 1.5),
    "import hf_genrec": ("transformers modeling classes", 1.1),
    "import hf_genrec + first Auto lookup": ("transformers modeling classes", None),
}


def run_once(command) -> float:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="runs/bench_startup.json")
    args = parser.parse_args()

    for command in CASES.values():  # warm the file cache once
        run_once(command)
    times = {name: [] for name in CASES}
    for _ in range(args.repeats):
        for name, command in CASES.items():
            times[name].append(run_once(command))
    best = {name: min(values) for name, values in times.items()}
    rows = []
    print(f"{'case':<40} {'best s':>8} {'ratio':>7}  target")
    for name in CASES:
        reference, limit = TARGETS.get(name, (None, None))
        ratio = best[name] / best[reference] if reference else None
        met = None if limit is None or ratio is None else ratio <= limit
        rows.append({"case": name, "best_s": round(best[name], 4), "all_s": [round(t, 4) for t in times[name]],
                     "reference": reference, "ratio": None if ratio is None else round(ratio, 3), "target": limit,
                     "met": met})
        target = "" if reference is None else (f"<= {limit}x {reference}: {'met' if met else 'NOT met'}" if limit
                                               else f"(vs {reference})")
        print(f"{name:<40} {best[name]:>8.3f} {'' if ratio is None else f'{ratio:.2f}x':>7}  {target}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {"benchmark": "startup", "python": sys.version.split()[0], "cpu_count": os.cpu_count(),
              "repeats": args.repeats, "rows": rows}
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from hf_genrec.utils.io import atomic_write_json

    atomic_write_json(out, result)
    _plot(rows, out.with_suffix(".png"))
    print(f"wrote {out} and {out.with_suffix('.png')}")
    return 0 if all(row["met"] is not False for row in rows) else 1


def _plot(rows, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.8))
    names = [row["case"] for row in rows]
    values = [row["best_s"] for row in rows]
    colors = ["#999999" if row["reference"] is None else "#4c72b0" for row in rows]
    bars = ax.barh(names, values, color=colors)
    for bar, row in zip(bars, rows):
        label = f"{row['best_s']:.2f} s" + (f"  ({row['ratio']:.2f}x)" if row["ratio"] is not None else "")
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, " " + label, va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("seconds (best of repeats, fresh process)")
    ax.set_title("hf_genrec start-up (grey: references)")
    ax.set_xlim(0, max(values) * 1.35)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
