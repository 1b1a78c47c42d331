"""``hf-genrec build-sids``: fit a quantizer on the item embeddings; write quantizer, tokenizer and a report."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Dict, Optional

from .._version import __version__
from ..data import PreparedDataset
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


def run_build_sids(prepared_dir: str | os.PathLike, out: str | os.PathLike, quantizer: str = "rqkmeans",
                   levels: int = 3, codebook_size: int = 256, collisions: str = "suffix", seed: int = 0,
                   quantizer_options: Optional[Dict[str, Any]] = None, overwrite: bool = False) -> Dict[str, Any]:
    """Fit a quantizer on a prepared dataset's item embeddings and write quantizer, tokenizer and report.

    ``out/`` receives ``quantizer/``, ``tokenizer/`` (``AutoTokenizer``-loadable), ``sid_quality.png``,
    ``training_loss.png`` (autoencoder quantizers) and ``summary.json``.
    """
    import torch

    from ..embeddings import load_item_embeddings
    from ..quantization import build_semantic_ids, code_usage, sid_quality
    from ..tokenization import SIDTokenizer
    from ..utils.plots import plot_code_usage, plot_quantizer_history

    out = Path(out)
    with writing(out, overwrite, inputs=[prepared_dir]):
        started = now()
        prepared = PreparedDataset.load(prepared_dir)
        embeddings, embedding_meta = load_item_embeddings(prepared_dir)
        if len(embeddings) != prepared.num_items:
            raise ValueError(f"{prepared_dir}: {len(embeddings)} embeddings for {prepared.num_items} items; re-run prepare")
        t = time.perf_counter()
        fitted, sids = build_semantic_ids(embeddings, quantizer, levels=levels, codebook_size=codebook_size,
                                          collisions=collisions, seed=seed, quantizer_options=quantizer_options)
        seconds = round(time.perf_counter() - t, 3)
        tokenizer = SIDTokenizer.from_sids(sids.codes, sids.codebook_sizes, collisions=collisions,
                                           item_keys=prepared.items["item_id"])
        round_trip = None
        if collisions != "none":
            decoded = tokenizer.codes_to_items(tokenizer.item_codes(torch.arange(tokenizer.num_items)))
            round_trip = all(items == [i] for i, items in enumerate(decoded))
        published = reference_sid_tables(prepared.items)
        summary: Dict[str, Any] = {
            "command": "build-sids", "hf_genrec_version": __version__, "started": started,
            "inputs": {"prepared": os.fspath(prepared_dir), "embedding_model": embedding_meta.get("model"),
                       "items": prepared.num_items, "embedding_dim": int(embeddings.shape[1])},
            "quantizer": fitted.config.to_dict(), "seconds": seconds, **sids.summary(),
            "round_trip_ok": round_trip,
            "reference_sids": {name: sid_quality(codes, sizes) for name, (codes, sizes) in published.items()},
        }
        with atomic_output_dir(out, overwrite, inputs=[prepared_dir], command="build-sids") as tmp:
            fitted.save_pretrained(tmp / "quantizer")
            tokenizer.save_pretrained(tmp / "tokenizer")
            tables = {f"{quantizer} (raw)": (sids.raw_codes, fitted.codebook_sizes),
                      f"{quantizer} + {collisions}": (sids.codes, sids.codebook_sizes)}
            tables.update({f"published {name}": table for name, table in published.items()})
            plot_code_usage({name: code_usage(codes, sizes) for name, (codes, sizes) in tables.items()},
                            tmp / "sid_quality.png", title=f"code usage per level - {prepared.name}")
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
