"""Prepared datasets back from the Hub, or from a local copy of their Parquet export.

A dataset pushed by ``hf-genrec push --data`` (:func:`~hf_genrec.hub.datasets.push_dataset`), or exported by
``hf-genrec prepare --export-parquet``, holds everything a :class:`~hf_genrec.data.prepared.PreparedDataset` is made
of: the splits (``data/<split>-*.parquet``), the item table (``items/items-*.parquet``), ``prepared.json`` (name,
statistics, preprocessing settings, source and licence) and, when they were computed, the item embeddings
(``item_embeddings.safetensors``, row = ``item_idx``). :func:`load_prepared_dataset` reads them back and checks
that they agree; ``hf-genrec prepare --data org/name --format hub`` writes the result as a prepared folder.

A dataset loaded from the Hub records where it came from in ``source["hub"]`` (repository and commit), which
:func:`hub_repo_of` reads back so that model cards can link the dataset.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ..data.errors import DataFormatError
from ..data.prepared import PREPARED_FILE, SPLITS, PreparedDataset
from ..utils.io import read_json_file

#: where each part of the export lives (relative to the repository or folder)
SPLIT_PATTERN = "data/{split}-*.parquet"
ITEMS_PATTERN = "items/items-*.parquet"
#: the key of ``PreparedDataset.source`` that records the Hub repository a dataset was loaded from
HUB_SOURCE = "hub"


@dataclass
class LoadedDataset:
    """A prepared dataset read back from its export, with its item embeddings (``None`` when it has none)."""

    prepared: PreparedDataset
    embeddings: Any = None
    embedding_metadata: Dict[str, str] = field(default_factory=dict)
    folder: Optional[Path] = None


def _download(repo_id: str, revision: Optional[str], token, cache_dir, endpoint: Optional[str]) -> Tuple[Path, Dict]:
    """The export's files from a Hub dataset repository (the local cache first); errors say what to do."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (HFValidationError, LocalEntryNotFoundError, RepositoryNotFoundError,
                                        RevisionNotFoundError)

    from ..embeddings.encoder import EMBEDDINGS_FILE

    try:
        path = snapshot_download(repo_id, repo_type="dataset", revision=revision, token=token, cache_dir=cache_dir,
                                 endpoint=endpoint, allow_patterns=[PREPARED_FILE, "data/*.parquet", "items/*.parquet",
                                                                    EMBEDDINGS_FILE])
    except HFValidationError:
        raise FileNotFoundError(f"{repo_id!r} is neither a local folder nor a Hub dataset id (org/name)") from None
    except RepositoryNotFoundError:
        raise FileNotFoundError(f"{repo_id!r} is no local folder, and no dataset repository of that name was found on "
                                f"{endpoint or 'the Hub'} (or your token cannot see it); check the name, or log in "
                                "with `hf auth login`") from None
    except RevisionNotFoundError:
        raise FileNotFoundError(f"dataset repository {repo_id!r} has no revision {revision!r}") from None
    except LocalEntryNotFoundError:
        raise FileNotFoundError(f"{repo_id!r} is no local folder, and no Hub dataset repository of that name is in the "
                                "local Hugging Face cache while the Hub cannot be reached (HF_HUB_OFFLINE=1?); "
                                "download it once while online") from None
    path = Path(path)
    return path, {"repo_id": repo_id, "revision": path.name}


def _read_parquet(folder: Path, pattern: str, what: str):
    """The rows of every Parquet shard matching ``pattern``, in shard order, as a ``datasets.Dataset`` whose features
    are the ones the export stored (the Parquet schema's ``huggingface`` metadata)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets import Dataset

    files = sorted(folder.glob(pattern))
    if not files:
        raise DataFormatError(f"no Parquet file for {what} ({pattern}): not a complete hf_genrec dataset export",
                              folder)
    tables: List[Any] = []
    for path in files:
        try:
            tables.append(pq.read_table(path))
        except (pa.ArrowInvalid, OSError) as error:
            raise DataFormatError(f"not a readable Parquet file ({str(error).splitlines()[0][:200]})", path) from None
    try:
        table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
    except pa.ArrowInvalid as error:
        raise DataFormatError(f"the shards of {what} have different columns ({error})", folder) from None
    return Dataset(table)


def _metadata(folder: Path) -> Dict[str, Any]:
    path = folder / PREPARED_FILE
    if not path.exists():
        raise DataFormatError(f"not an hf_genrec prepared dataset: no {PREPARED_FILE} (push one with `hf-genrec push "
                              "--data`, or export one with `hf-genrec prepare --export-parquet`)", folder)
    meta = read_json_file(path)
    for key in ("statistics", "config"):
        if not isinstance(meta.get(key), dict):
            raise DataFormatError("missing or not an object (was the file written by hf_genrec?)", path, field=key)
    return meta


def _check(prepared: PreparedDataset, folder: Path) -> None:
    """The parts agree with each other and with the recorded statistics; items are in ``item_idx`` order."""
    items = prepared.items
    if "item_idx" not in items.column_names:
        raise DataFormatError("the item table has no item_idx column", folder / ITEMS_PATTERN, field="item_idx")
    if list(items["item_idx"]) != list(range(len(items))):
        raise DataFormatError("the item table is not in item_idx order (row i must be item i)", folder / ITEMS_PATTERN,
                              field="item_idx")
    stats = prepared.statistics
    if "items" in stats and int(stats["items"]) != len(items):
        raise DataFormatError(f"{PREPARED_FILE} records {stats['items']} items but the item table has {len(items)}",
                              folder / ITEMS_PATTERN)
    for split, size in (stats.get("split_sizes") or {}).items():
        if split in prepared.splits and len(prepared.splits[split]) != int(size):
            raise DataFormatError(f"{PREPARED_FILE} records {size} {split} examples but the Parquet files hold "
                                  f"{len(prepared.splits[split])}", folder / SPLIT_PATTERN.format(split=split))


def _embeddings(folder: Path, num_items: int) -> Tuple[Any, Dict[str, str]]:
    from ..embeddings.encoder import EMBEDDINGS_FILE, load_item_embeddings

    path = folder / EMBEDDINGS_FILE
    if not path.exists():
        return None, {}
    embeddings, metadata = load_item_embeddings(path)
    if embeddings.shape[0] != num_items:
        raise DataFormatError(f"{embeddings.shape[0]} embedding rows for {num_items} items", path)
    return embeddings, metadata


def load_prepared_dataset(repo_or_folder: str | os.PathLike, revision: Optional[str] = None, token=None,
                          cache_dir: Optional[str | os.PathLike] = None,
                          endpoint: Optional[str] = None) -> LoadedDataset:
    """Read a prepared dataset back from a Hub dataset repository (``org/name``, at ``revision``) or from a local
    folder holding its Parquet export; see the module docstring."""
    from datasets import DatasetDict

    if Path(repo_or_folder).is_dir():
        folder, origin = Path(repo_or_folder), None
    else:
        folder, origin = _download(os.fspath(repo_or_folder), revision, token, cache_dir, endpoint)
    meta = _metadata(folder)
    if not (folder / "data").is_dir() and (folder / "splits").is_dir():
        raise DataFormatError("this is a prepared folder already (the output of hf-genrec prepare), not a Parquet "
                              "export: use it as it is (PreparedDataset.load, build-sids --data)", folder)
    splits = DatasetDict({split: _read_parquet(folder, SPLIT_PATTERN.format(split=split), f"the {split} split")
                          for split in SPLITS})
    items = _read_parquet(folder, ITEMS_PATTERN, "the item table")
    prepared = PreparedDataset.from_metadata(splits, items, meta, folder.name)
    if origin is not None:
        prepared.source = {**prepared.source, HUB_SOURCE: origin}
    _check(prepared, folder)
    embeddings, metadata = _embeddings(folder, len(items))
    return LoadedDataset(prepared=prepared, embeddings=embeddings, embedding_metadata=metadata, folder=folder)


def hub_repo_of(prepared_folder: str | os.PathLike) -> Optional[str]:
    """The Hub repository a prepared folder was loaded from (``prepare --format hub``); ``None`` otherwise."""
    path = Path(prepared_folder) / PREPARED_FILE
    if not path.is_file():
        return None
    try:
        source = read_json_file(path).get("source") or {}
    except ValueError:
        return None
    return (source.get(HUB_SOURCE) or {}).get("repo_id")
