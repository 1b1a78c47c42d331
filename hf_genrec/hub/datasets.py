"""Prepared datasets on the Hub: the dataset card, the Parquet export in the Hub layout, and the push.

``export_dataset_folder(prepared, folder)`` writes Parquet shards under ``data/`` and ``items/`` with a
``README.md`` whose YAML declares two configs (``default`` with train/validation/test, and ``items``), so
``load_dataset(repo_or_folder)`` and ``load_dataset(repo_or_folder, "items")`` both work.
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


def write_dataset_card(prepared: PreparedDataset, folder: str | os.PathLike) -> Path:
    """The dataset card (statistics, protocol, licence) as ``folder/README.md``."""
    return atomic_write_text(Path(folder) / CARD_FILE, render_dataset_card(prepared))


def export_dataset_folder(prepared: PreparedDataset, folder: str | os.PathLike) -> Path:
    """Write the Hub dataset layout of ``prepared`` into ``folder`` (see the module docstring)."""
    folder = Path(folder)
    for split in SPLITS:
        path = folder / "data" / f"{split}-00000-of-00001.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        prepared.splits[split].to_parquet(str(path))
    items_path = folder / "items" / "items-00000-of-00001.parquet"
    items_path.parent.mkdir(parents=True, exist_ok=True)
    prepared.items.to_parquet(str(items_path))
    write_dataset_card(prepared, folder)
    atomic_write_json(folder / PREPARED_FILE, prepared.metadata())
    return folder


def push_dataset(prepared: PreparedDataset, repo_id: str, token: Optional[str] = None, private: Optional[bool] = None,
                 revision: Optional[str] = None, commit_message: str = "Upload prepared dataset with hf_genrec",
                 allow_restricted: bool = False, endpoint: Optional[str] = None) -> str:
    """Push the Parquet export and dataset card as a dataset repository; returns the commit URL.

    Data whose licence restricts redistribution (Yelp) is refused unless ``allow_restricted=True``
    (for a private repository you are entitled to hold, say).
    """
    if prepared.redistribution_restricted and not allow_restricted:
        raise PermissionError(f"dataset '{prepared.name}' comes from a source whose licence restricts redistribution "
                              f"({prepared.license_note or 'see its SOURCE'}); refusing to push it. "
                              "Pass allow_restricted=True only for a private repository you are entitled to use.")
    from .push import push_folder

    with tempfile.TemporaryDirectory() as tmp:
        export_dataset_folder(prepared, tmp)
        return push_folder(tmp, repo_id, "dataset", token=token, private=private, revision=revision,
                           commit_message=commit_message, endpoint=endpoint)
