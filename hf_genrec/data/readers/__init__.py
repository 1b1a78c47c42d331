"""Readers: every supported source becomes an :class:`~hf_genrec.data.schema.InteractionLog`.

:func:`read_dataset` picks the reader from the path (or an explicit ``format``):

=================  ============================================================================
``two-file``       folder with ``interactions.tsv`` (+ ``items.jsonl``), the layout of ``../shared/datasets``
``amazon2014``     ``reviews_<Category>_5.json.gz`` (+ ``meta_<Category>.json.gz`` beside it)
``amazon2023``     ``<Category>.jsonl`` review file (+ ``meta_<Category>.jsonl`` beside it)
``amazon2023-hub`` a config/category name of ``McAuley-Lab/Amazon-Reviews-2023`` (downloads)
``yelp``           folder with ``yelp_academic_dataset_review.json`` (+ ``..._business.json``)
``table``          any CSV/TSV/JSONL/Parquet interaction table (+ item table) with a column mapping
=================  ============================================================================
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from ...defaults import READER_FORMATS
from ..errors import DataFormatError
from ..schema import InteractionLog
from .amazon import load_amazon2023_from_hub, read_amazon2014, read_amazon2023
from .dates import keep_dates
from .table import InteractionColumns, ItemColumns, read_table_pair, read_two_file
from .yelp import read_yelp

FORMATS = READER_FORMATS

YELP_REVIEWS = "yelp_academic_dataset_review.json"
YELP_BUSINESS = "yelp_academic_dataset_business.json"


def _single(folder: Path, pattern: str) -> Optional[Path]:
    matches = sorted(folder.glob(pattern))
    if len(matches) > 1:
        raise DataFormatError(f"several files match {pattern!r}: {[m.name for m in matches]}; pass the file itself",
                              folder)
    return matches[0] if matches else None


def detect_format(path: str | os.PathLike) -> str:
    """Guess the source format of a file or folder."""
    path = Path(path)
    if path.is_dir():
        if (path / "interactions.tsv").exists():
            return "two-file"
        if (path / YELP_REVIEWS).exists():
            return "yelp"
        if list(path.glob("reviews_*.json*")):
            return "amazon2014"
        if list(path.glob("meta_*.jsonl*")):
            return "amazon2023"
        raise DataFormatError("cannot tell the dataset format of this folder (expected interactions.tsv, "
                              f"{YELP_REVIEWS}, reviews_*.json.gz or <Category>.jsonl + meta_<Category>.jsonl)", path)
    if not path.exists():
        raise DataFormatError("file or folder not found", path)
    name = path.name
    if name.startswith("reviews_") and ".json" in name:
        return "amazon2014"
    if name.startswith("yelp_academic_dataset_review"):
        return "yelp"
    if name.endswith((".jsonl", ".jsonl.gz")) and (path.parent / f"meta_{name}").exists():
        return "amazon2023"
    return "table"


def read_dataset(data: str | os.PathLike, format: str = "auto", items: Optional[str | os.PathLike] = None,
                 interaction_columns: Optional[InteractionColumns] = None,
                 item_columns: Optional[ItemColumns] = None, name: Optional[str] = None, **options) -> InteractionLog:
    """Read any supported source. ``items`` overrides the item/meta file found beside ``data``.

    ``date_from`` / ``date_to`` (inclusive ISO dates) keep the interactions of a time window, for every format.
    Other ``options`` go to the specific reader.
    """
    date_from, date_to = options.pop("date_from", None), options.pop("date_to", None)
    log = _read(data, format, items, interaction_columns, item_columns, name, **options)
    if date_from is not None or date_to is not None:
        log.interactions = keep_dates(log.interactions, date_from, date_to, log.source.get("interactions"))
        log.source.update(date_from=date_from, date_to=date_to)
    return log


def _read(data, format, items, interaction_columns, item_columns, name, **options) -> InteractionLog:
    if format == "amazon2023-hub":
        return load_amazon2023_from_hub(os.fspath(data), **options)
    if format == "hub":
        raise ValueError(f"{os.fspath(data)}: format 'hub' is a dataset hf_genrec already prepared, not a raw log; load "
                         "it with hf_genrec.hub.load_prepared_dataset (hf-genrec prepare --format hub does)")
    if format == "auto":
        format = detect_format(data)
    if format not in FORMATS:
        raise ValueError(f"unknown dataset format {format!r}; choose from {FORMATS}")
    path = Path(data)
    if format == "two-file":
        return read_two_file(path, name=name)
    if format == "yelp":
        folder = path if path.is_dir() else path.parent
        reviews = folder / YELP_REVIEWS if path.is_dir() else path
        business = Path(items) if items else folder / YELP_BUSINESS
        return read_yelp(reviews, business if business.exists() else None, name=name or "yelp", **options)
    if format == "amazon2014":
        reviews = _single(path, "reviews_*.json*") if path.is_dir() else path
        if reviews is None:
            raise DataFormatError("no reviews_*.json(.gz) file in this folder", path)
        meta = Path(items) if items else _single(reviews.parent, "meta_*.json*")
        return read_amazon2014(reviews, meta, name=name, **options)
    if format == "amazon2023":
        if path.is_dir():
            metas = sorted(path.glob("meta_*.jsonl*"))
            if len(metas) != 1:
                raise DataFormatError(f"expected one meta_<Category>.jsonl file, found {[m.name for m in metas]}", path)
            meta = metas[0]
            reviews = path / meta.name[len("meta_"):]
        else:
            reviews, meta = path, (Path(items) if items else path.parent / f"meta_{path.name}")
        return read_amazon2023(reviews, meta if meta.exists() else None, name=name, **options)
    return read_table_pair(path, items, interaction_columns, item_columns, name=name, **options)


__all__ = [
    "FORMATS", "InteractionColumns", "ItemColumns", "detect_format", "load_amazon2023_from_hub", "read_amazon2014",
    "read_amazon2023", "read_dataset", "read_table_pair", "read_two_file", "read_yelp",
]
