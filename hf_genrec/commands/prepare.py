"""``hf-genrec prepare``: read raw logs, run the preprocessing protocol, embed the items, save atomically."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Dict, Optional

from .._version import __version__
from ..data import PrepareConfig, PreparedDataset, prepare_dataset, read_dataset
from ..defaults import DEFAULT_ENCODER
from ..embeddings import ItemEncoder, save_item_embeddings
from ..embeddings.encoder import EMBEDDINGS_FILE
from ..hub.datasets import export_dataset_folder, write_dataset_card
from ..utils.io import atomic_output_dir, atomic_write_json
from .common import SUMMARY_FILE, now, writing


def embed_items(prepared: PreparedDataset, encoder: str = DEFAULT_ENCODER, batch_size: int = 64,
                device: Optional[str] = None, cache_dir: Optional[str] = None, use_cache: bool = True):
    """Encode the item texts of a prepared dataset; returns ``(embeddings, info)``."""
    start = time.perf_counter()
    item_encoder = ItemEncoder(encoder, device=device, batch_size=batch_size, cache_dir=cache_dir, use_cache=use_cache)
    embeddings, metadata = item_encoder.encode(prepared.items["text"])
    info = {"model": encoder, "num_items": int(embeddings.shape[0]), "dim": int(embeddings.shape[1]),
            "normalized": item_encoder.normalize, "cache": metadata.get("cache"),
            "cache_file": str(item_encoder.cache_path(prepared.items["text"])) if use_cache else None,
            "seconds": round(time.perf_counter() - start, 3)}
    return embeddings, info


def run_prepare(data: str | os.PathLike, out: str | os.PathLike, format: str = "auto",
                items: Optional[str] = None, config: Optional[PrepareConfig] = None,
                encoder: Optional[str] = DEFAULT_ENCODER, batch_size: int = 64, device: Optional[str] = None,
                cache_dir: Optional[str] = None, use_cache: bool = True, overwrite: bool = False,
                export_parquet: bool = False, reader_options: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Read ``data``, prepare it, embed the items (unless ``encoder`` is ``None``) and save to ``out``.

    ``out`` is written atomically; ``out/summary.json`` says what was done and measured.
    """
    with writing(out, overwrite, inputs=[data, items]):
        config = config or PrepareConfig()
        started, timings = now(), {}
        t = time.perf_counter()
        log = read_dataset(data, format=format, items=items, **(reader_options or {}))
        timings["read_s"] = round(time.perf_counter() - t, 3)
        t = time.perf_counter()
        prepared = prepare_dataset(log, config)
        timings["prepare_s"] = round(time.perf_counter() - t, 3)
        embeddings, embedding_info = (None, None)
        if encoder:
            embeddings, embedding_info = embed_items(prepared, encoder, batch_size, device, cache_dir, use_cache)
            timings["embed_s"] = embedding_info["seconds"]
        out = Path(out)
        summary: Dict[str, Any] = {
            "command": "prepare", "hf_genrec_version": __version__, "started": started,
            "inputs": {"data": os.fspath(data), "format": log.source.get("format", format), "items": items},
            "dataset": prepared.name, "config": prepared.config, "statistics": prepared.statistics,
            "embeddings": embedding_info, "redistribution_restricted": prepared.redistribution_restricted,
        }
        t = time.perf_counter()
        with atomic_output_dir(out, overwrite, inputs=[data, items], command="prepare") as tmp:
            prepared.write(tmp)
            write_dataset_card(prepared, tmp)
            outputs = {"prepared": str(out), "splits": str(out / "splits"), "items": str(out / "items"),
                       "plot": str(out / "statistics.png"), "card": str(out / "README.md")}
            if embeddings is not None:
                save_item_embeddings(tmp / EMBEDDINGS_FILE, embeddings,
                                     {"model": encoder, "normalize": str(embedding_info["normalized"])})
                outputs["item_embeddings"] = str(out / EMBEDDINGS_FILE)
            if export_parquet:
                export_dataset_folder(prepared, tmp / "parquet")
                outputs["parquet"] = str(out / "parquet")
            timings["save_s"] = round(time.perf_counter() - t, 3)
            summary.update({"outputs": outputs, "timings": timings, "finished": now()})
            atomic_write_json(tmp / SUMMARY_FILE, summary)
        return summary
