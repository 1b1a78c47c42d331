"""A model folder's item table (``items.json``: every item's key and display title) and the reading of user
histories written with those keys, titles or item indices.

Shared by ``hf-genrec recommend`` and the ``recommendation`` pipeline. It imports nothing heavy, so the pipeline's
remote-code bundle (:mod:`hf_genrec.hub.remote_code`) carries it as it is.
"""

from __future__ import annotations

import numbers
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from ..utils.io import read_json_file

ITEMS_FILE = "items.json"


def load_items(folder: str | os.PathLike) -> Dict[str, Any]:
    """``{"item_ids": [...], "titles": [...]}`` of a local model folder; ``{}`` when it has no ``items.json``."""
    path = Path(folder) / ITEMS_FILE
    if not path.exists():
        return {}
    return read_json_file(path)


def model_items(name_or_path: str | os.PathLike, revision: Optional[str] = None) -> Dict[str, Any]:
    """The item table of a local model folder or of a Hub repo (its ``items.json`` at ``revision``); ``{}`` when
    there is none: a model without display titles still recommends by index."""
    if Path(name_or_path).is_dir():
        return load_items(name_or_path)
    from huggingface_hub import hf_hub_download

    try:
        return read_json_file(hf_hub_download(os.fspath(name_or_path), ITEMS_FILE, revision=revision))
    except Exception:  # no such file, repo or network: recommendations still come back, without titles
        return {}


def resolve_items(entries: Sequence[Union[int, str]], items: Dict[str, Any], num_items: int) -> List[int]:
    """Item indices of a history given as item indices (ints) and item ids or exact titles (strings).

    A string is an item id if some item has it as its id, else a title (case-insensitive), else (all digits) an
    item index. A string that is both one item's id and another item's index is ambiguous: write ``id:<id>`` or
    ``idx:<index>``. An entry that is none of these is an error naming it."""
    ids = items.get("item_ids") or []
    titles = items.get("titles") or []
    by_key = {str(k): i for i, k in enumerate(ids)}
    by_title = {str(t).strip().lower(): i for i, t in enumerate(titles) if t}
    resolved = []
    for entry in entries:
        if isinstance(entry, numbers.Integral) and not isinstance(entry, bool):
            if not 0 <= int(entry) < num_items:
                raise ValueError(f"history item {int(entry)} is not an item index of this model (0..{num_items - 1})")
            resolved.append(int(entry))
            continue
        if not isinstance(entry, str):
            raise TypeError(f"history item {entry!r} is a {type(entry).__name__}; give item indices (int) or item "
                            "ids / titles (str)")
        token = entry.strip()
        if token.startswith("id:") and token[3:] in by_key:
            resolved.append(by_key[token[3:]])
        elif token.startswith("idx:") and token[4:].isdigit() and int(token[4:]) < num_items:
            resolved.append(int(token[4:]))
        elif token in by_key:
            if token.isdigit() and int(token) < num_items and by_key[token] != int(token):
                raise ValueError(f"history item {token!r} is the id of item {by_key[token]} and the index of another "
                                 f"item: write id:{token} or idx:{token}")
            resolved.append(by_key[token])
        elif token.lower() in by_title:
            resolved.append(by_title[token.lower()])
        elif token.isdigit() and int(token) < num_items:
            resolved.append(int(token))
        else:
            raise ValueError(f"history item {token!r} is neither an item id, a title nor an item index (0.."
                             f"{num_items - 1}) of this model")
    if not resolved:
        raise ValueError("the history is empty")
    return resolved


def resolve_history(history: str, items: Dict[str, Any], num_items: int) -> List[int]:
    """Item indices from a comma- or ``|``-separated list of item ids, exact titles or item indices (the rules of
    :func:`resolve_items`)."""
    separator = "|" if "|" in history else ","
    return resolve_items([t for t in (t.strip() for t in history.split(separator)) if t], items, num_items)
