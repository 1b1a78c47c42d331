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


CITATIONS = {
    "tiger": "Rajput et al., *Recommender Systems with Generative Retrieval*, NeurIPS 2023.",
    "intrr": "Wang, Xu, Deng et al., *IntRR: A Framework for Integrating SID Redistribution and Length Reduction*.",
    "comeir": "ComeIR: *Conditional Memory Enhanced Item Representation for Generative Recommendation*, "
              "2026, https://arxiv.org/abs/2605.11447.",
    "prism": "PRISM: *Purified Representation and Integrated Semantic Modeling for Generative Sequential Recommendation*.",
    "decor": "DECOR: *Learning Decomposed Contextual Token Representations from Pretrained and Collaborative Signals*.",
}


def _metrics_table(metrics: Dict[str, Any]) -> str:
    rows = []
    for split in ("validation", "test"):
        result = metrics.get(split)
        if isinstance(result, list):
            result = result[-1] if result else None
        if not result:
            continue
        values = result.get("metrics", result)
        rows.append((split, {k: v for k, v in values.items() if "@" in k}))
    if not rows:
        return "Not evaluated yet."
    keys = sorted({k for _, values in rows for k in values}, key=lambda k: (k.split("@")[0], int(k.split("@")[1])))
    header = "| split | " + " | ".join(keys) + " |\n|---|" + "---|" * len(keys)
    lines = [f"| {split} | " + " | ".join(f"{values.get(k, float('nan')):.4f}" for k in keys) + " |" for split, values in rows]
    return header + "\n" + "\n".join(lines)


def model_index(model_name: str, metrics: Dict[str, Any], dataset_name: Optional[str]) -> list:
    test = metrics.get("test") or {}
    values = test.get("metrics", {}) if isinstance(test, dict) else {}
    if not values:
        return []
    return [{"name": model_name, "results": [{
        "task": {"type": "other", "name": "Sequential recommendation"},
        "dataset": {"name": dataset_name or "unknown", "type": dataset_name or "unknown"},
        "metrics": [{"type": k, "value": round(float(v), 6), "name": k.replace("@", " @ ")} for k, v in values.items()],
    }]}]


def _sid_section(sid_quality: Optional[Dict[str, Any]]) -> str:
    if not sid_quality:
        return "See `semantic_ids.json` for the SID of every item."
    quantizer = sid_quality.get("quantizer", {})
    before = sid_quality.get("quality_before_collision_handling", {})
    after = sid_quality.get("quality", {})
    lines = [f"* quantizer: `{quantizer.get('quantizer_type', '?')}`, {quantizer.get('levels', '?')} levels, "
             f"codebooks {sid_quality.get('codebook_sizes')}",
             f"* collisions: `{sid_quality.get('collisions')}`; collision rate per level before handling: "
             + ", ".join(f"{r:.4f}" for r in before.get("collision_rate_per_level", [])),
             f"* after handling: collision rate {after.get('collision_rate', float('nan')):.4f}, "
             f"{after.get('unique_sids', '?')} unique SIDs",
             "* codebook perplexity per level: " + ", ".join(f"{p:.1f}" for p in before.get("perplexity", [])),
             "* codebook utilization per level: " + ", ".join(f"{u:.3f}" for u in before.get("utilization", []))]
    return "\n".join(lines)


def render_model_card(model: Any, metrics: Dict[str, Any], training: Dict[str, Any], dataset_name: Optional[str] = None,
                      repo_id: Optional[str] = None, sid_quality: Optional[Dict[str, Any]] = None) -> str:
    """Model card: YAML metadata (library, tags, datasets, base_model, model-index) and usage."""
    config = model.config
    method = config.model_type
    metadata: Dict[str, Any] = {"library_name": "hf_genrec", "pipeline_tag": "other",
                                "tags": ["recommendation", "generative-recommendation", "semantic-ids", method]}
    if dataset_name:
        metadata["datasets"] = [dataset_name]
    base_model = getattr(config, "backbone_name_or_path", None)
    if base_model:
        metadata["base_model"] = base_model
    index = model_index(f"{method}-{dataset_name or 'model'}", metrics, dataset_name)
    if index:
        metadata["model-index"] = index
    interesting = {k: v for k, v in training.items() if k in (
        "learning_rate", "batch_size", "num_epochs", "max_steps", "scheduler", "warmup_steps", "weight_decay",
        "optimizer", "mixed_precision", "seed", "finetuning", "lora")}
    training_text = "\n".join(f"* `{k}`: {v}" for k, v in interesting.items()) or "See `training_config.json`."
    return load_template("model_card.md").substitute(
        yaml=yaml.safe_dump(metadata, sort_keys=False).strip(), title=f"{method} ({dataset_name or 'hf_genrec'})",
        method=method, version=__version__, num_items=config.num_items, levels=config.num_levels,
        codebook_sizes=config.codebook_sizes, repo_hint=repo_id or f"<user>/{method}-{dataset_name or 'model'}",
        metrics=_metrics_table(metrics), training=training_text, sid_quality=_sid_section(sid_quality),
        citation=CITATIONS.get(method, ""))
