"""Cards for the Hub, rendered from the templates in ``hf_genrec/hub/templates/``.

Templates use ``string.Template`` placeholders (``$name``) so no template engine is needed and no
code in a template is ever evaluated.
"""

from __future__ import annotations

import string
from importlib import resources
from typing import Any, Dict, Optional

import yaml

from .._version import __version__


def load_template(name: str) -> string.Template:
    text = resources.files("hf_genrec.hub").joinpath("templates", name).read_text(encoding="utf-8")
    return string.Template(text)


def _size_category(n: int) -> str:
    for bound, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                         (10_000_000, "1M<n<10M")):
        if n < bound:
            return label
    return "10M<n<100M"


def render_dataset_card(prepared: Any, repo_id: Optional[str] = None) -> str:
    """Dataset card of a :class:`~hf_genrec.data.prepared.PreparedDataset` (YAML configs + statistics)."""
    stats: Dict[str, Any] = prepared.statistics
    config: Dict[str, Any] = prepared.config
    metadata = {
        "pretty_name": prepared.name,
        "tags": ["recommendation", "sequential-recommendation", "generative-recommendation", "hf_genrec"],
        "task_categories": ["other"],
        "size_categories": [_size_category(int(stats["interactions"]))],
        "configs": [
            {"config_name": "default", "default": True,
             "data_files": [{"split": s, "path": f"data/{s}-*.parquet"} for s in ("train", "validation", "test")]},
            {"config_name": "items", "data_files": [{"split": "train", "path": "items/items-*.parquet"}]},
        ],
    }
    if prepared.redistribution_restricted:
        metadata["license"] = "other"
    rows = [("users", stats["users"]), ("items", stats["items"]), ("interactions", stats["interactions"]),
            ("average sequence length", stats["avg_length"]), ("median sequence length", stats["median_length"]),
            ("sparsity", f"{stats['sparsity']:.4%}")]
    rows += [(f"{split} examples", n) for split, n in stats.get("split_sizes", {}).items()]
    if "time_range" in stats:
        rows.append(("time range", " .. ".join(stats["time_range"])))
    table = "\n".join(f"| {k} | {v:,} |" if isinstance(v, int) else f"| {k} | {v} |" for k, v in rows)
    protocol = (
        f"* {config['min_user_interactions']}-core users / {config['min_item_interactions']}-core items "
        f"(iterative; {stats['kcore']['iterations']} round(s), {stats['kcore']['removed_interactions']:,} "
        "interactions removed)\n"
        f"* chronological order, ties kept in file order; consecutive duplicates "
        f"{'removed' if config['remove_consecutive_duplicates'] else 'kept'}\n"
        "* leave-one-out: last item = test target, second-to-last = validation target\n"
        f"* training examples: {config['train_examples'].replace('_', ' ')}; histories truncated to the "
        f"{config['max_history']} most recent items")
    template = load_template("dataset_card.md")
    return template.substitute(
        yaml=yaml.safe_dump(metadata, sort_keys=False).strip(), title=prepared.name, version=__version__,
        source_format=prepared.source.get("format", "unknown"), stats_table=table, protocol=protocol,
        time_columns=", `history_timestamps`, `target_timestamp` (unix seconds)" if "time_range" in stats else "",
        repo_hint=repo_id or f"<user>/{prepared.name}",
        license=prepared.license_note or "See the licence of the source data.")
