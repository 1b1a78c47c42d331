"""Readers for the raw Amazon review dumps of 2014 (McAuley et al.) and 2023 (Hou et al.).

* 2014: ``reviews_<Category>_5.json.gz`` (one JSON review per line: ``reviewerID``, ``asin``,
  ``unixReviewTime``) and ``meta_<Category>.json.gz`` (one *Python-literal* dict per line, parsed with
  ``ast.literal_eval``, never ``eval``: ``asin``, ``title``, ``brand``, ``categories`` as a list of
  category paths, ``description``).
* 2023: review JSONL (``user_id``, ``parent_asin``, ``timestamp`` in milliseconds) and meta JSONL
  (``parent_asin``, ``title``, ``store``, ``categories`` path, ``main_category``, ``description`` list,
  ``features`` list). :func:`load_amazon2023_from_hub` fetches both files of a category from the Hub
  dataset ``McAuley-Lab/Amazon-Reviews-2023`` (needs network, or the files in the local HF cache).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Dict, List, Optional

from ..schema import InteractionLog, empty_item_table
from ._lines import collect_fields, iter_jsonl, iter_python_literals, iter_records, parse_json_or_literal
from .table import InteractionColumns, ItemColumns, build_interactions, build_item_table, to_string_list, to_text

AMAZON_2014_LICENSE = ("Amazon review data (McAuley lab, UCSD), released for research use; cite He & McAuley "
                       "(WWW 2016) and McAuley et al. (SIGIR 2015).")
AMAZON_2023_LICENSE = "Amazon Reviews 2023 (McAuley lab, UCSD), research use; cite Hou et al. (2024), 'Bridging Language and Items'."
AMAZON_2023_REPO = "McAuley-Lab/Amazon-Reviews-2023"


def _category_from_filename(path: str | os.PathLike) -> Optional[str]:
    match = re.match(r"(?:reviews|meta)_(.+?)(?:_5)?\.json(?:\.gz)?$", Path(path).name)
    return match.group(1) if match else None


def _flatten_unique(paths: List[List[str]]) -> List[str]:
    out: List[str] = []
    for token in (t for path in paths for t in path):
        if token not in out:
            out.append(token)
    return out


def read_amazon2014(reviews: str | os.PathLike, meta: Optional[str | os.PathLike] = None,
                    name: Optional[str] = None, drop_root_category: bool = True) -> InteractionLog:
    """Read an Amazon 2014 review file (+ optional metadata file) into an :class:`InteractionLog`.

    ``category_path`` is the item's first category path; with ``drop_root_category`` its first token
    (the store, e.g. "Beauty") is dropped, as in the P5/S3-Rec data. ``categories`` is the de-duplicated
    union of all its paths.
    """
    records = iter_records(reviews, parse_json_or_literal, "review")
    columns, lines = collect_fields(records, ["reviewerID", "asin", "unixReviewTime"])
    frame = build_interactions(columns, lines,
                               InteractionColumns(user="reviewerID", item="asin", timestamp="unixReviewTime",
                                                  timestamp_unit="s"), reviews)
    items = empty_item_table()
    if meta is not None:
        meta_columns, meta_lines = collect_fields(iter_python_literals(meta),
                                                  ["asin", "title", "brand", "categories", "description", "price"])
        paths = [[to_string_list(p) for p in (value or []) if isinstance(p, (list, tuple))]
                 for value in meta_columns.pop("categories")]
        meta_columns["categories"] = [_flatten_unique(p) for p in paths]
        meta_columns["category_path"] = [(p[0][1:] if drop_root_category else p[0]) if p else [] for p in paths]
        items = build_item_table(meta_columns, meta_lines, ItemColumns(item="asin"), meta)
    category = _category_from_filename(reviews)
    return InteractionLog(interactions=frame, items=items, name=name or (f"amazon2014-{category}" if category else "amazon2014"),
                          source={"format": "amazon2014", "interactions": os.fspath(reviews),
                                  "items": os.fspath(meta) if meta is not None else None},
                          license_note=AMAZON_2014_LICENSE)


def read_amazon2023(reviews: str | os.PathLike, meta: Optional[str | os.PathLike] = None,
                    name: Optional[str] = None, item_key: str = "parent_asin") -> InteractionLog:
    """Read Amazon Reviews 2023 review/meta JSONL files (``.jsonl`` or ``.jsonl.gz``).

    Items are keyed by ``parent_asin`` (the convention of the 2023 benchmarks); timestamps are
    milliseconds in the files and become unix seconds. The description is the meta ``description``
    list followed by the ``features`` list.
    """
    columns, lines = collect_fields(iter_jsonl(reviews), ["user_id", item_key, "timestamp"])
    frame = build_interactions(columns, lines, InteractionColumns(user="user_id", item=item_key, timestamp="timestamp",
                                                                  timestamp_unit="ms"), reviews)
    items = empty_item_table()
    if meta is not None:
        fields = ["title", "store", "categories", "main_category", "description", "features",
                  "average_rating", "rating_number"]
        meta_columns, meta_lines = collect_fields(iter_jsonl(meta), ["parent_asin", *fields])
        descriptions = meta_columns.pop("description")
        features = meta_columns.pop("features")
        meta_columns["description"] = [" ".join(t for t in (to_text(d), to_text(f)) if t)
                                       for d, f in zip(descriptions, features)]
        meta_columns["category_path"] = [to_string_list(c) for c in meta_columns["categories"]]
        items = build_item_table(meta_columns, meta_lines,
                                 ItemColumns(item="parent_asin", brand="store", category_path="category_path"), meta)
    return InteractionLog(interactions=frame, items=items, name=name or Path(reviews).name.split(".")[0],
                          source={"format": "amazon2023", "interactions": os.fspath(reviews),
                                  "items": os.fspath(meta) if meta is not None else None},
                          license_note=AMAZON_2023_LICENSE)


def amazon2023_category(config_or_category: str) -> str:
    """``"raw_review_All_Beauty"``, ``"raw_meta_All_Beauty"`` or ``"All_Beauty"`` -> ``"All_Beauty"``."""
    return re.sub(r"^raw_(review|meta)_", "", config_or_category)


def amazon2023_hub_files(category: str) -> Dict[str, str]:
    """Paths of a category's raw files inside the Hub dataset repository."""
    return {"reviews": f"raw/review_categories/{category}.jsonl",
            "meta": f"raw/meta_categories/meta_{category}.jsonl"}


def load_amazon2023_from_hub(config_name: str, repo_id: str = AMAZON_2023_REPO, revision: Optional[str] = None,
                             cache_dir: Optional[str] = None, token: Optional[str] = None,
                             with_meta: bool = True) -> InteractionLog:
    """Download one category of ``McAuley-Lab/Amazon-Reviews-2023`` and read it.

    ``config_name`` is the Hub config (``raw_review_All_Beauty``) or just the category (``All_Beauty``).
    The raw JSONL files are fetched with ``hf_hub_download`` (the repository's loading script is not
    used: ``datasets`` no longer runs scripts). Offline, this works when the files are already in the
    Hugging Face cache and raises ``huggingface_hub``'s offline error otherwise.
    """
    from huggingface_hub import hf_hub_download

    category = amazon2023_category(config_name)
    files = amazon2023_hub_files(category)
    kwargs = dict(repo_id=repo_id, repo_type="dataset", revision=revision, cache_dir=cache_dir, token=token)
    reviews = hf_hub_download(filename=files["reviews"], **kwargs)
    meta = hf_hub_download(filename=files["meta"], **kwargs) if with_meta else None
    log = read_amazon2023(reviews, meta, name=f"amazon2023-{category}")
    log.source.update({"hub_repo": repo_id, "hub_config": f"raw_review_{category}", "revision": revision})
    return log
