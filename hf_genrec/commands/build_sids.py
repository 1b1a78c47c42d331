"""``hf-genrec build-sids``: fit a quantizer on the item embeddings; write quantizer, tokenizer and a report."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Dict, Optional

from .._version import __version__
from ..data import PreparedDataset
from ..defaults import EMBEDDING_SOURCES
from ..utils.io import atomic_output_dir, atomic_write_json
from .common import SUMMARY_FILE, now, writing


def reference_sid_tables(items) -> Dict[str, Any]:
    """Published SIDs shipped with a dataset (e.g. Beauty's ``letter_sid``), parsed for comparison."""
    from ..quantization import parse_sid_tokens

    tables = {}
    for column in items.column_names:
        if column.endswith("_sid"):
            values = items[column]
            if all(v for v in values):
                codes, sizes = parse_sid_tokens(values)
                tables[column[: -len("_sid")]] = (codes, sizes)
    return tables


def sid_round_trip(tokenizer) -> bool:
    """Whether every item's SID decodes back to that item alone (no SID shared)."""
    import torch

    decoded = tokenizer.codes_to_items(tokenizer.item_codes(torch.arange(tokenizer.num_items)))
    return all(items == [i] for i, items in enumerate(decoded))


def plot_sid_tables(tables: Dict[str, Any], path, title: str) -> Path:
    """``sid_quality.png``: code usage per level of each SID table ``{name: (codes, codebook sizes)}``, annotated
    with its quality numbers (:func:`~hf_genrec.quantization.sid_quality`)."""
    from ..quantization import code_usage, sid_quality
    from ..utils.plots import plot_code_usage

    usage = {name: code_usage(codes, sizes) for name, (codes, sizes) in tables.items()}
    quality = {name: sid_quality(codes, sizes) for name, (codes, sizes) in tables.items()}
    return plot_code_usage(usage, path, title=title, quality=quality)


def popularity_scores(train_counts) -> "torch.Tensor":
    """PRISM's item popularity ``p_v`` (Eq. 4): ``log1p`` of the training interactions, min-max scaled to [0, 1]
    (training counts only, no validation or test targets: ../shared/specs/prism.md Sec. 6)."""
    import torch

    logs = torch.log1p(torch.as_tensor(list(train_counts), dtype=torch.float32))
    span = float(logs.max() - logs.min()) if len(logs) else 0.0
    return (logs - logs.min()) / span if span > 0 else torch.zeros_like(logs)


def pop_lightgcn_options(options: Dict[str, Any]) -> Dict[str, Any]:
    """Remove and return the :func:`~hf_genrec.embeddings.train_lightgcn` options of a quantizer-options dict: a
    ``lightgcn`` dict and flat ``lightgcn_<name>`` keys (as in a reproduction recipe)."""
    lightgcn = dict(options.pop("lightgcn", {}))
    lightgcn.update({key[len("lightgcn_"):]: options.pop(key) for key in list(options) if key.startswith("lightgcn_")})
    return lightgcn


def sid_input_embeddings(prepared_dir, content, source: str, lightgcn: Dict[str, Any]):
    """The vectors a quantizer encodes: ``content`` (the prepared text embeddings, the papers' choice), ``collab``
    (LightGCN item embeddings of the training split, trained once and cached in the prepared folder: items that are
    bought together get nearby vectors, hence shared SID prefixes) or ``content+collab`` (each row L2-normalised,
    then concatenated, so both halves weigh the same). Returns ``(embeddings [N, d], report)``. hf_genrec's option,
    not a paper's method: TIGER, IntRR, ComeIR and DECOR quantize content embeddings."""
    import torch

    from ..embeddings import collab_embeddings, load_collab_embeddings

    if source not in EMBEDDING_SOURCES:
        raise ValueError(f"quantizer option embeddings must be one of {EMBEDDING_SOURCES}, got {source!r}")
    content = torch.as_tensor(content, dtype=torch.float32)
    if source == "content":
        return content, {"source": source}
    collab = collab_embeddings(prepared_dir, **lightgcn).float()
    meta = load_collab_embeddings(prepared_dir)[1]
    report = {"source": source, "lightgcn": {key: meta.get(key) for key in (
        "best_validation_recall@20", "best_epoch", "epochs_run", "stopped", "options") if key in meta}}
    if source == "collab":
        return collab, report
    unit = lambda x: torch.nn.functional.normalize(x, dim=1)  # noqa: E731
    return torch.cat([unit(content), unit(collab)], 1), report


def prism_inputs(prepared_dir, prepared, content, encoder_name: str, levels: int,
                 options: Dict[str, Any]) -> Dict[str, Any]:
    """What PRISM's Purified Semantic Quantizer reads besides the content embeddings (Sec. 3.3): LightGCN
    collaborative embeddings (trained once, cached in the prepared folder; ``options["lightgcn"]`` are
    :func:`~hf_genrec.embeddings.train_lightgcn` options), popularity from the training counts, and the category
    tags of each level with their text embeddings (the content encoder). Returns the quantizer input
    ``concat(e_cont, e_collab)``, the quantizer options (preset applied) and the fit inputs."""
    import torch

    from ..data.tags import build_tag_hierarchy, encode_tags
    from ..embeddings import collab_embeddings, load_collab_embeddings
    from ..quantization.prism import PRESETS

    options = dict(options)
    preset = options.pop("preset", "paper")
    if preset not in PRESETS:
        raise ValueError(f"PRISM quantizer preset must be one of {sorted(PRESETS)}, got {preset!r}")
    lightgcn = pop_lightgcn_options(options)
    collab = collab_embeddings(prepared_dir, **lightgcn)
    collab_meta = load_collab_embeddings(prepared_dir)[1]
    content = torch.as_tensor(content, dtype=torch.float32)
    tags = build_tag_hierarchy(prepared.items, levels=levels)
    if not any(int(n) for n in tags.num_classes):
        raise ValueError(f"{prepared_dir}: no item has a category_path, so PRISM's tags (HSA, Eq. 6-7) are empty; "
                         "pass quantizer option use_hsa=False for a dataset without categories")
    quantizer_options = {**PRESETS[preset], **options, "content_dim": int(content.shape[1]),
                         "collab_dim": int(collab.shape[1])}
    return {"embeddings": torch.cat([content, collab.float()], 1), "quantizer_options": quantizer_options,
            "fit_options": {"popularity": popularity_scores(prepared.items["train_count"]),
                            "tag_labels": tags.labels, "tag_embeddings": encode_tags(tags, encoder_name)},
            "tags": tags, "report": {"preset": preset, "lightgcn": {k: collab_meta.get(k) for k in (
                "validation_recall@20", "best_validation_recall@20", "best_epoch", "epochs_run", "stopped", "options") if k in collab_meta},
                "tag_classes": [int(n) for n in tags.num_classes]}}


def run_build_sids(prepared_dir: str | os.PathLike, out: str | os.PathLike, quantizer: str = "rqkmeans",
                   levels: int = 3, codebook_size: int = 256, collisions: str = "suffix", seed: int = 0,
                   quantizer_options: Optional[Dict[str, Any]] = None, overwrite: bool = False) -> Dict[str, Any]:
    """Fit a quantizer on a prepared dataset's item embeddings and write quantizer, tokenizer and report.

    ``out/`` receives ``quantizer/``, ``tokenizer/`` (``AutoTokenizer``-loadable), ``sid_quality.png``,
    ``training_loss.png`` (autoencoder quantizers) and ``summary.json``.
    """
    from ..embeddings import load_item_embeddings
    from ..data.tags import save_tags
    from ..quantization import build_semantic_ids, prism_table3, sid_quality
    from ..quantization.autoencoder import collapse_message
    from ..tokenization import SIDTokenizer
    from ..utils.plots import plot_quantizer_history

    out = Path(out)
    with writing(out, overwrite, inputs=[prepared_dir]):
        started = now()
        prepared = PreparedDataset.load(prepared_dir)
        embeddings, embedding_meta = load_item_embeddings(prepared_dir)
        if len(embeddings) != prepared.num_items:
            raise ValueError(f"{prepared_dir}: {len(embeddings)} embeddings for {prepared.num_items} items; re-run prepare")
        fit_options, prism = None, None
        quantizer_options = dict(quantizer_options or {})
        source = quantizer_options.pop("embeddings", "content")
        if source != "content" and quantizer == "prism":
            raise ValueError("quantizer option embeddings is for quantizers other than prism: PRISM's quantizer "
                             "reads the content and LightGCN embeddings itself (Sec. 3.3)")
        embeddings, embedding_source = sid_input_embeddings(
            prepared_dir, embeddings, source, pop_lightgcn_options(quantizer_options) if source != "content" else {})
        if quantizer == "prism":  # content + LightGCN + popularity + tags (PRISM Sec. 3.3)
            prism = prism_inputs(prepared_dir, prepared, embeddings, embedding_meta.get("model"), levels,
                                 quantizer_options or {})
            embeddings, quantizer_options, fit_options = (prism["embeddings"], prism["quantizer_options"],
                                                          prism["fit_options"])
        t = time.perf_counter()
        fitted, sids = build_semantic_ids(embeddings, quantizer, levels=levels, codebook_size=codebook_size,
                                          collisions=collisions, seed=seed, quantizer_options=quantizer_options,
                                          fit_options=fit_options)
        seconds = round(time.perf_counter() - t, 3)
        tokenizer = SIDTokenizer.from_sids(sids.codes, sids.codebook_sizes, collisions=collisions,
                                           item_keys=prepared.items["item_id"])
        round_trip = sid_round_trip(tokenizer) if collisions != "none" else None
        published = reference_sid_tables(prepared.items)
        summary: Dict[str, Any] = {
            "command": "build-sids", "hf_genrec_version": __version__, "started": started,
            "inputs": {"prepared": os.fspath(prepared_dir), "embedding_model": embedding_meta.get("model"),
                       "items": prepared.num_items, "embedding_dim": int(embeddings.shape[1]),
                       "embeddings": embedding_source},
            "quantizer": fitted.config.to_dict(), "seconds": seconds, **sids.summary(),
            "round_trip_ok": round_trip,
            "reference_sids": {name: sid_quality(codes, sizes) for name, (codes, sizes) in published.items()},
            "prism_table3": prism_table3(sids.raw_codes, fitted.codebook_sizes),  # PRISM Table 3, before dedup
        }
        if prism is not None:
            summary["prism"] = prism["report"]
        collapse = collapse_message(summary["prism_table3"]["perplexity_per_level"], fitted.codebook_sizes)
        if collapse:
            summary["warnings"] = [collapse]
        with atomic_output_dir(out, overwrite, inputs=[prepared_dir], command="build-sids") as tmp:
            fitted.save_pretrained(tmp / "quantizer")
            if prism is not None:  # the tags the recommender's SSA classifies (Eq. 15)
                save_tags(tmp / "tags", prism["tags"], prism["fit_options"]["tag_embeddings"],
                          embedding_meta.get("model"))
            tokenizer.save_pretrained(tmp / "tokenizer")
            tables = {f"{quantizer} (raw)": (sids.raw_codes, fitted.codebook_sizes),
                      f"{quantizer} + {collisions}": (sids.codes, sids.codebook_sizes)}
            tables.update({f"published {name}": table for name, table in published.items()})
            plot_sid_tables(tables, tmp / "sid_quality.png", title=f"code usage per level - {prepared.name}")
            outputs = {"quantizer": str(out / "quantizer"), "tokenizer": str(out / "tokenizer"),
                       "plot": str(out / "sid_quality.png")}
            history = sids.fit_report.get("history")
            if history:
                plot_quantizer_history(history, tmp / "training_loss.png", title=f"{quantizer} training")
                atomic_write_json(tmp / "training_history.json", history)
                outputs["training_plot"] = str(out / "training_loss.png")
            summary.update({"outputs": outputs, "finished": now()})
            atomic_write_json(tmp / SUMMARY_FILE, summary)
        return summary
