"""PRISM's Table 3 (SID quality before deduplication) for SID folders built by ``hf-genrec build-sids``, next to the
paper's rows.

Each folder's ``summary.json`` holds ``prism_table3``: the collision rate ``1 - #unique prefixes / N`` at level 2 and
at the last level, and the perplexity ``exp(H)`` of each level's code usage with their mean (PRISM Sec. 4.3; the
paper does not define its perplexity, ../shared/specs/prism.md Sec. 3.3). Writes a markdown table and a JSON.

Usage: .venv/bin/python scripts/sid_quality_table.py "RQ-VAE=runs/.../sids" "PRISM=runs/.../prism-sids" \
       [--out runs/prism_table3]
"""

import argparse
import json
import sys
from pathlib import Path


def published_rows():
    from hf_genrec.reproduce.registry import find_published

    return [(f"{row.method} (paper)", row.metrics.get("collision_rate_layer2_pct"),
             row.metrics.get("collision_rate_final_pct"), row.metrics.get("perplexity"), None)
            for row in find_published("prism", "3", "beauty")]


def measured_row(label: str, folder: Path):
    summary_path = folder / "summary.json"
    if not summary_path.exists():
        raise SystemExit(f"{summary_path} is missing: build the SIDs with hf-genrec build-sids first")
    summary = json.loads(summary_path.read_text())
    table = summary.get("prism_table3")
    if table is None:
        raise SystemExit(f"{summary_path} has no prism_table3 (built by an older hf_genrec: rebuild it)")
    percent = [None if v is None else round(100 * v, 2) for v in (table["cr_layer_2"], table["cr_final"])]
    return (label, *percent, table["perplexity"], table["perplexity_per_level"])


def markdown(rows) -> str:
    def cell(value):
        return "" if value is None else (f"{value:.2f}" if isinstance(value, float) else str(value))

    lines = ["| SIDs | CR layer 2 (%, lower is better) | CR final (%) | perplexity (mean exp H) | per level |",
             "|---|---|---|---|---|"]
    for label, cr2, crf, ppl, per_level in rows:
        levels = "" if per_level is None else " / ".join(f"{p:.1f}" for p in per_level)
        lines.append(f"| {label} | {cell(cr2)} | {cell(crf)} | {cell(ppl)} | {levels} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", help="LABEL=SIDS_FOLDER")
    parser.add_argument("--out", default="runs/prism_table3")
    args = parser.parse_args()

    from hf_genrec.utils.io import atomic_write_json, atomic_write_text

    rows = []
    for spec in args.folders:
        if "=" not in spec:
            raise SystemExit(f"{spec!r}: expected LABEL=SIDS_FOLDER")
        label, folder = spec.split("=", 1)
        rows.append(measured_row(label, Path(folder)))
    rows += published_rows()
    text = markdown(rows)
    print(text)
    out = Path(args.out)
    atomic_write_text(out.with_suffix(".md"), text)
    atomic_write_json(out.with_suffix(".json"), [dict(zip(("label", "cr_layer_2_pct", "cr_final_pct", "perplexity",
                                                           "perplexity_per_level"), row)) for row in rows])
    return 0


if __name__ == "__main__":
    sys.exit(main())
