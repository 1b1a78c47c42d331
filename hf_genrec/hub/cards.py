"""Cards for the Hub, rendered from the templates in ``hf_genrec/hub/templates/``.

Templates use ``string.Template`` placeholders (``$name``) so no template engine is needed and no
code in a template is ever evaluated.
"""

from __future__ import annotations

import string
from importlib import resources
from typing import Any, Dict, Optional, Sequence

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


def render_dataset_card(prepared: Any, repo_id: Optional[str] = None, embedding_model: Optional[str] = None) -> str:
    """Dataset card of a :class:`~hf_genrec.data.prepared.PreparedDataset` (YAML configs + statistics);
    ``embedding_model``: the encoder of the item embeddings that come with it (``None``: none do)."""
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
        embeddings=(f"* `item_embeddings.safetensors`: the item text embeddings (`{embedding_model}`), row = "
                    "`item_idx`.\n" if embedding_model else ""),
        license=prepared.license_note or "See the licence of the source data.")


#: licence of a model card when none is given and the training data carries no terms of its own (hf_genrec's)
DEFAULT_MODEL_LICENSE = "apache-2.0"
SPLITS_REPORTED = ("test", "validation")
METRIC_NAMES = {"recall": "Recall", "ndcg": "NDCG", "hit": "Hit", "hr": "HR", "mrr": "MRR"}


def _split_metrics(metrics: Dict[str, Any], split: str) -> Dict[str, float]:
    """The ranking metrics (``recall@10``, ...) of one split of ``metrics.json`` (a result, a history row or a list
    of rows, the last one counting), ordered by name and cut-off."""
    result = metrics.get(split)
    if isinstance(result, list):
        result = result[-1] if result else None
    if not isinstance(result, dict):
        return {}
    values = result.get("metrics", result)
    ranked = {k: float(v) for k, v in values.items() if "@" in k and k.split("@")[1].isdigit()}
    return {k: ranked[k] for k in sorted(ranked, key=_metric_order)}


def _metric_order(key: str):
    """``recall@5, ndcg@5, recall@10, ...``: by cut-off, then recall before ndcg before the rest."""
    name, k = key.split("@")
    return int(k), list(METRIC_NAMES).index(name) if name in METRIC_NAMES else len(METRIC_NAMES), name


def _metric_name(key: str) -> str:
    name, k = key.split("@")
    return f"{METRIC_NAMES.get(name.lower(), name)}@{k}"


def _metrics_table(metrics: Dict[str, Any]) -> str:
    rows = [(split, _split_metrics(metrics, split)) for split in ("validation", "test")]
    rows = [(split, values) for split, values in rows if values]
    if not rows:
        return "Not evaluated yet."
    keys = sorted({k for _, values in rows for k in values}, key=_metric_order)
    header = "| split | " + " | ".join(_metric_name(k) for k in keys) + " |\n|---|" + "---|" * len(keys)
    lines = [f"| {split} | " + " | ".join(f"{values[k]:.4f}" if k in values else "-" for k in keys) + " |"
             for split, values in rows]
    return header + "\n" + "\n".join(lines)


def model_index(model_name: str, metrics: Dict[str, Any], dataset_name: Optional[str],
                dataset_id: Optional[str] = None) -> list:
    """The Hub's ``model-index``: one result per evaluated split (test, then validation), each with its task, its
    dataset (``type``: the Hub id of the prepared dataset when known, else its name; ``split``) and its metrics."""
    results = []
    for split in SPLITS_REPORTED:
        values = _split_metrics(metrics, split)
        if not values:
            continue
        dataset = {"name": dataset_name or dataset_id or "unknown", "type": dataset_id or dataset_name or "unknown",
                   "split": split}
        results.append({"task": {"type": "other", "name": "Sequential recommendation"}, "dataset": dataset,
                        "metrics": [{"type": k, "value": round(v, 6), "name": f"{_metric_name(k)} ({split})"}
                                    for k, v in values.items()]})
    return [{"name": model_name, "results": results}] if results else []


def model_license(license: Optional[str] = None, redistribution_restricted: bool = False,
                  license_note: Optional[str] = None) -> str:
    """The card's ``license``: the one given, else ``other`` when the training data has terms of its own (they bind
    a model that holds every item's id and title), else :data:`DEFAULT_MODEL_LICENSE`."""
    if license:
        return license
    return "other" if (redistribution_restricted or license_note) else DEFAULT_MODEL_LICENSE


def _data_section(dataset_name: Optional[str], dataset_id: Optional[str], metrics: Dict[str, Any]) -> str:
    if dataset_id:
        where = f"[`{dataset_id}`](https://huggingface.co/datasets/{dataset_id})"
        where += f" (`{dataset_name}`)" if dataset_name and dataset_name != dataset_id else ""
    else:
        where = f"`{dataset_name}`" if dataset_name else "not recorded"
    evaluated = [split for split in ("validation", "test") if _split_metrics(metrics, split)]
    return "\n".join([
        f"* dataset: {where}",
        "* splits (leave-one-out per user): `train` (every earlier item as a target), `validation` (the second-to-last "
        "item; selects the checkpoint), `test` (the last item)",
        (f"* results above: the {' and '.join(f'`{split}`' for split in evaluated)} split{'s' * (len(evaluated) > 1)}, "
         "full ranking over the whole catalog" if evaluated else "* results: none recorded yet")])


def _license_section(license: str, license_note: Optional[str], redistribution_restricted: bool) -> str:
    text = f"`{license}`."
    if license_note:
        text += f" The training data comes with its own terms: {license_note}"
    if redistribution_restricted:
        text += " Its licence restricts redistribution, and this folder holds every item's id and title."
    return text


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
                      repo_id: Optional[str] = None, sid_quality: Optional[Dict[str, Any]] = None,
                      license: Optional[str] = None, license_note: Optional[str] = None,
                      redistribution_restricted: bool = False, dataset_id: Optional[str] = None,
                      tags: Sequence[str] = ()) -> str:
    """Model card: YAML front matter (library, licence, tags, datasets, base_model, ``model-index``) and sections on
    use, evaluation, data, training, SIDs, licence and citation (BibTeX, :mod:`~hf_genrec.hub.citations`).

    ``dataset_name`` is the prepared dataset's name, ``dataset_id`` its Hub repository when it came from one."""
    from .citations import citations_for

    config = model.config
    method = config.model_type
    license = model_license(license, redistribution_restricted, license_note)
    metadata: Dict[str, Any] = {"library_name": "hf_genrec", "license": license, "pipeline_tag": "other",
                                "tags": list(dict.fromkeys(["recommendation", "generative-recommendation",
                                                            "semantic-ids", method, *tags]))}
    if dataset_id or dataset_name:
        metadata["datasets"] = [dataset_id or dataset_name]
    base_model = getattr(config, "backbone_name_or_path", None)
    if base_model:
        metadata["base_model"] = base_model
    index = model_index(f"{method}-{dataset_name or 'model'}", metrics, dataset_name, dataset_id)
    if index:
        metadata["model-index"] = index
    interesting = {k: v for k, v in training.items() if k in (
        "learning_rate", "batch_size", "num_epochs", "max_steps", "scheduler", "warmup_steps", "weight_decay",
        "optimizer", "mixed_precision", "seed", "finetuning", "lora")}
    training_text = "\n".join(f"* `{k}`: {v}" for k, v in interesting.items()) or "See `training_config.json`."
    citations = citations_for(config)
    return load_template("model_card.md").substitute(
        yaml=yaml.safe_dump(metadata, sort_keys=False).strip(), title=f"{method} ({dataset_name or 'hf_genrec'})",
        method=method, version=__version__, num_items=config.num_items, levels=config.num_levels,
        codebook_sizes=config.codebook_sizes, repo_hint=repo_id or f"<user>/{method}-{dataset_name or 'model'}",
        metrics=_metrics_table(metrics), data=_data_section(dataset_name, dataset_id, metrics), training=training_text,
        sid_quality=_sid_section(sid_quality),
        license=_license_section(license, license_note, redistribution_restricted),
        citation="```bibtex\n" + "\n\n".join(citations) + "\n```" if citations else "")


def card_metadata(card: str) -> Dict[str, Any]:
    """The YAML front matter of a card (``---`` ... ``---``) as a dict."""
    if not card.startswith("---\n") or "\n---" not in card[4:]:
        raise ValueError("the card has no YAML front matter (--- ... --- at its top)")
    return yaml.safe_load(card[4:card.index("\n---", 4)]) or {}


def add_card_tags(card: str, tags: Sequence[str]) -> str:
    """``card`` with ``tags`` added to the ``tags`` of its front matter (kept in order, without repeats)."""
    if not tags:
        return card
    metadata = card_metadata(card)
    metadata["tags"] = list(dict.fromkeys([*(metadata.get("tags") or []), *tags]))
    body = card[card.index("\n---", 4) + len("\n---"):]
    return "---\n" + yaml.safe_dump(metadata, sort_keys=False).strip() + "\n---" + body
