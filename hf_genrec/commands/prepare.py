"""``hf-genrec prepare``: read raw logs, run the preprocessing protocol, embed the items, save atomically.

``--format hub`` reads an already prepared dataset instead - a Hub dataset repository pushed by ``hf-genrec push
--data`` or a local copy of its Parquet export (:func:`~hf_genrec.hub.dataset_loading.load_prepared_dataset`) - and
writes it as a prepared folder with its own splits, statistics and settings, and its item embeddings when it has them.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Dict, Optional

from .._version import __version__
from ..data import PrepareConfig, PreparedDataset, prepare_dataset, read_dataset
from ..data.prepared import item_text_warning
from ..defaults import DEFAULT_ENCODER
from ..embeddings import ItemEncoder, save_item_embeddings
from ..embeddings.encoder import EMBEDDINGS_FILE
from ..hub.datasets import export_dataset_folder, write_dataset_card
from ..utils.io import atomic_output_dir, atomic_write_json
from ..utils.logging import get_logger
from .common import SUMMARY_FILE, now, writing

logger = get_logger(__name__)


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


def _load_prepared(data: str | os.PathLike, config: Optional[PrepareConfig], reader_options: Optional[Dict[str, Any]]):
    """``--format hub``: the prepared dataset of a Hub repository or Parquet export, with its item embeddings."""
    from ..hub.dataset_loading import load_prepared_dataset

    if reader_options:
        raise ValueError(f"{sorted(reader_options)} do not apply to --format hub: the dataset is already prepared")
    loaded = load_prepared_dataset(data)
    if config is not None:
        ignored = sorted(k for k, v in config.to_dict().items() if k in loaded.prepared.config
                         and loaded.prepared.config[k] != v)
        if ignored:
            logger.warning(f"{data} was prepared with its own settings; the preprocessing options {ignored} are "
                           "ignored")
    return loaded


def _hub_embedding_info(loaded) -> Dict[str, Any]:
    meta = loaded.embedding_metadata
    return {"model": meta.get("model", "unknown"), "num_items": int(loaded.embeddings.shape[0]),
            "dim": int(loaded.embeddings.shape[1]), "normalized": meta.get("normalize"), "cache": "dataset",
            "cache_file": None, "seconds": 0.0}


def run_prepare(data: str | os.PathLike, out: str | os.PathLike, format: str = "auto",
                items: Optional[str] = None, config: Optional[PrepareConfig] = None,
                encoder: Optional[str] = DEFAULT_ENCODER, batch_size: int = 64, device: Optional[str] = None,
                cache_dir: Optional[str] = None, use_cache: bool = True, overwrite: bool = False,
                export_parquet: bool = False, reader_options: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Read ``data``, prepare it, embed the items (unless ``encoder`` is ``None``) and save to ``out``.

    ``format="hub"``: ``data`` is an already prepared dataset (see the module docstring); its item embeddings are
    kept and ``encoder`` only embeds the items of one that has none.
    ``out`` is written atomically; ``out/summary.json`` says what was done and measured.
    """
    with writing(out, overwrite, inputs=[data, items]):
        started, timings = now(), {}
        t = time.perf_counter()
        loaded = None
        if format == "hub":
            loaded = _load_prepared(data, config, reader_options)
            prepared, source_format = loaded.prepared, "hub"
            timings["read_s"] = round(time.perf_counter() - t, 3)
        else:
            log = read_dataset(data, format=format, items=items, **(reader_options or {}))
            timings["read_s"] = round(time.perf_counter() - t, 3)
            t = time.perf_counter()
            prepared, source_format = prepare_dataset(log, config or PrepareConfig()), log.source.get("format", format)
            timings["prepare_s"] = round(time.perf_counter() - t, 3)
        embeddings, embedding_info, embedding_meta = (None, None, {})
        if encoder and loaded is not None and loaded.embeddings is not None:
            embeddings, embedding_meta = loaded.embeddings, loaded.embedding_metadata
            embedding_info = _hub_embedding_info(loaded)
        elif encoder:
            embeddings, embedding_info = embed_items(prepared, encoder, batch_size, device, cache_dir, use_cache)
            embedding_meta = {"model": encoder, "normalize": str(embedding_info["normalized"])}
            timings["embed_s"] = embedding_info["seconds"]
        out = Path(out)
        summary: Dict[str, Any] = {
            "command": "prepare", "hf_genrec_version": __version__, "started": started,
            "inputs": {"data": os.fspath(data), "format": source_format, "items": items},
            "dataset": prepared.name, "config": prepared.config, "statistics": prepared.statistics,
            "embeddings": embedding_info, "redistribution_restricted": prepared.redistribution_restricted,
        }
        text_warning = item_text_warning(prepared.statistics, prepared.statistics.get("items", 0),
                                         prepared.config.get("text_fields", ()), prepared.name)
        if text_warning:
            summary["warnings"] = [text_warning]
        t = time.perf_counter()
        with atomic_output_dir(out, overwrite, inputs=[data, items], command="prepare") as tmp:
            prepared.write(tmp)
            write_dataset_card(prepared, tmp, embedding_info["model"] if embedding_info else None)
            outputs = {"prepared": str(out), "splits": str(out / "splits"), "items": str(out / "items"),
                       "card": str(out / "README.md")}
            if prepared.sequence_lengths is not None:  # known right after preprocessing, not for a loaded dataset
                outputs["plot"] = str(out / "statistics.png")
            if embeddings is not None:
                save_item_embeddings(tmp / EMBEDDINGS_FILE, embeddings, embedding_meta)
                outputs["item_embeddings"] = str(out / EMBEDDINGS_FILE)
            if export_parquet:
                export_dataset_folder(prepared, tmp / "parquet", item_embeddings=tmp)
                outputs["parquet"] = str(out / "parquet")
            timings["save_s"] = round(time.perf_counter() - t, 3)
            summary.update({"outputs": outputs, "timings": timings, "finished": now()})
            atomic_write_json(tmp / SUMMARY_FILE, summary)
        return summary
