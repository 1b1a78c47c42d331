"""Prepared datasets on the Hub: the dataset card, the Parquet export in the Hub layout, and the push.

``export_dataset_folder(prepared, folder)`` writes Parquet shards under ``data/`` and ``items/`` with a
``README.md`` whose YAML declares two configs (``default`` with train/validation/test, and ``items``), so
``load_dataset(repo_or_folder)`` and ``load_dataset(repo_or_folder, "items")`` both work. Beside them lie
``prepared.json`` (statistics, preprocessing settings, source, licence) and, when given, the item embeddings
(``item_embeddings.safetensors``, row = ``item_idx``), so the export loads back as a prepared dataset
(:func:`~hf_genrec.hub.dataset_loading.load_prepared_dataset`, ``hf-genrec prepare --format hub``).
``push_dataset(prepared, repo_id)`` pushes that export as one commit.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Optional

from ..data.prepared import PREPARED_FILE, SPLITS, PreparedDataset
from ..utils.io import atomic_write_json, atomic_write_text
from .cards import render_dataset_card

CARD_FILE = "README.md"


def write_dataset_card(prepared: PreparedDataset, folder: str | os.PathLike,
                       embedding_model: Optional[str] = None) -> Path:
    """The dataset card (statistics, protocol, licence) as ``folder/README.md``."""
    return atomic_write_text(Path(folder) / CARD_FILE, render_dataset_card(prepared, embedding_model=embedding_model))


def _copy_item_embeddings(item_embeddings: str | os.PathLike, num_items: int, folder: Path) -> Optional[str]:
    """Re-write the item embeddings of a prepared folder (or an embeddings file) into ``folder`` as safetensors,
    checked to be a finite ``[num_items, dim]`` table; returns their encoder's name. A prepared folder without
    embeddings adds none (``None``)."""
    from ..embeddings.encoder import EMBEDDINGS_FILE, load_item_embeddings, save_item_embeddings

    source = Path(item_embeddings)
    if source.is_dir():
        source = source / EMBEDDINGS_FILE
        if not source.exists():
            return None
    embeddings, metadata = load_item_embeddings(source)
    if embeddings.shape[0] != num_items:
        raise ValueError(f"{source}: {embeddings.shape[0]} embedding rows for the dataset's {num_items} items; "
                         "these embeddings belong to another prepared dataset")
    save_item_embeddings(folder / EMBEDDINGS_FILE, embeddings, metadata)
    return metadata.get("model") or "unknown"


def export_dataset_folder(prepared: PreparedDataset, folder: str | os.PathLike,
                          item_embeddings: Optional[str | os.PathLike] = None) -> Path:
    """Write the Hub dataset layout of ``prepared`` into ``folder`` (see the module docstring); ``item_embeddings``
    (a prepared folder or an ``item_embeddings.safetensors`` file) adds its item embeddings."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    embedding_model = None if item_embeddings is None else _copy_item_embeddings(item_embeddings,
                                                                                  prepared.num_items, folder)
    for split in SPLITS:
        path = folder / "data" / f"{split}-00000-of-00001.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        prepared.splits[split].to_parquet(str(path))
    items_path = folder / "items" / "items-00000-of-00001.parquet"
    items_path.parent.mkdir(parents=True, exist_ok=True)
    prepared.items.to_parquet(str(items_path))
    write_dataset_card(prepared, folder, embedding_model)
    atomic_write_json(folder / PREPARED_FILE, prepared.metadata())
    return folder


def push_dataset(prepared: PreparedDataset, repo_id: str, token: Optional[str] = None, private: Optional[bool] = None,
                 revision: Optional[str] = None, commit_message: str = "Upload prepared dataset with hf_genrec",
                 allow_restricted: bool = False, endpoint: Optional[str] = None,
                 item_embeddings: Optional[str | os.PathLike] = None) -> str:
    """Push the Parquet export and dataset card as a dataset repository (with the item embeddings of
    ``item_embeddings``, a prepared folder or embeddings file, when given); returns the commit URL.

    Data whose licence restricts redistribution (Yelp) is refused unless ``allow_restricted=True``
    (for a private repository you are entitled to hold, say).
    """
    if prepared.redistribution_restricted and not allow_restricted:
        raise PermissionError(f"dataset '{prepared.name}' comes from a source whose licence restricts redistribution "
                              f"({prepared.license_note or 'see its SOURCE'}); refusing to push it. "
                              "Pass allow_restricted=True only for a private repository you are entitled to use.")
    from .push import push_folder

    with tempfile.TemporaryDirectory() as tmp:
        export_dataset_folder(prepared, tmp, item_embeddings)
        return push_folder(tmp, repo_id, "dataset", token=token, private=private, revision=revision,
                           commit_message=commit_message, endpoint=endpoint)
