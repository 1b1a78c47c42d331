"""A self-contained model folder: everything needed to load, decode and display recommendations.

``save_model_folder(model, tokenizer, folder)`` writes (atomically) the weights and config
(``save_pretrained``), the tokenizer, the catalog trie as safetensors, ``items.json`` (ids and titles),
``metrics.json``, ``training_config.json``, ``data_license.json`` (whether the training data may be
redistributed) and the model card ``README.md``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from ..utils.io import atomic_output_dir, atomic_write_json, atomic_write_text, read_json_file

ITEMS_FILE = "items.json"
DATA_LICENSE_FILE = "data_license.json"
TRIE_FILE = "catalog_trie.safetensors"


def _set_default_mode(folder: Path, mode: Optional[str]) -> None:
    """The saved tokenizer encodes histories the way the model reads them (``flat`` or ``item``), so
    ``AutoTokenizer.from_pretrained(folder)(histories)`` needs no ``mode`` argument."""
    path = folder / "tokenizer_config.json"
    if mode is None or not path.exists():
        return
    config = read_json_file(path)
    config["default_mode"] = mode
    atomic_write_json(path, config)


def save_model_folder(model, tokenizer, folder: str | os.PathLike, metrics: Optional[Dict[str, Any]] = None,
                      training: Optional[Dict[str, Any]] = None, item_titles: Optional[Sequence[str]] = None,
                      dataset_name: Optional[str] = None, overwrite: bool = True, remote_code: bool = False,
                      sid_quality: Optional[Dict[str, Any]] = None, redistribution_restricted: bool = False,
                      license_note: Optional[str] = None) -> Path:
    """Write the folder; ``remote_code=True`` also bundles the modeling code (``trust_remote_code`` loading).

    ``redistribution_restricted`` (the training data's licence restricts redistribution, e.g. Yelp: the folder
    holds every item's id and title) is recorded in ``data_license.json``; pushing such a folder is refused."""
    from .cards import render_model_card

    model.check_tokenizer(tokenizer)
    folder = Path(folder)
    with atomic_output_dir(folder, overwrite=overwrite, command="model folder") as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        _set_default_mode(tmp, getattr(model.config, "input_mode", None))
        model.catalog_trie().save(tmp / TRIE_FILE)
        keys = tokenizer.item_keys or [str(i) for i in range(tokenizer.num_items)]
        titles = list(item_titles) if item_titles is not None else [""] * len(keys)
        atomic_write_json(tmp / ITEMS_FILE, {"item_ids": list(keys), "titles": titles})
        atomic_write_json(tmp / "metrics.json", metrics or {})
        atomic_write_json(tmp / "training_config.json", training or {})
        atomic_write_json(tmp / DATA_LICENSE_FILE, {"dataset": dataset_name,
                                                    "redistribution_restricted": bool(redistribution_restricted),
                                                    "license_note": license_note})
        atomic_write_text(tmp / "README.md", render_model_card(model, metrics or {}, training or {}, dataset_name,
                                                               sid_quality=sid_quality))
        if remote_code:
            from .remote_code import export_remote_code

            export_remote_code(tmp)
    return folder


def load_items(folder: str | os.PathLike) -> Dict[str, Any]:

    path = Path(folder) / ITEMS_FILE
    if not path.exists():
        return {}
    return read_json_file(path)
