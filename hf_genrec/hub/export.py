"""A self-contained model folder: everything needed to load, decode and display recommendations.

``save_model_folder(model, tokenizer, folder)`` writes (atomically) the weights and config, the tokenizer, the
catalog trie as safetensors, ``items.json`` (ids and titles), ``metrics.json``, ``training_config.json``,
``data_license.json`` (whether the training data may be redistributed) and the model card ``README.md``. It attaches
the tokenizer and the rest to the model (:func:`~hf_genrec.hub.model_files.attach_model_files`) and calls
``model.save_pretrained``, which writes them all (:mod:`hf_genrec.hub.model_files`), so a later
``model.save_pretrained`` or ``model.push_to_hub`` gives the same folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from ..utils.io import atomic_output_dir
from .items import ITEMS_FILE, load_items  # noqa: F401 (load_items: re-exported)
from .model_files import DATA_LICENSE_FILE, attach_model_files  # noqa: F401 (DATA_LICENSE_FILE: re-exported)


def save_model_folder(model, tokenizer, folder: str | os.PathLike, metrics: Optional[Dict[str, Any]] = None,
                      training: Optional[Dict[str, Any]] = None, item_titles: Optional[Sequence[str]] = None,
                      dataset_name: Optional[str] = None, overwrite: bool = True, remote_code: bool = False,
                      sid_quality: Optional[Dict[str, Any]] = None, redistribution_restricted: bool = False,
                      license_note: Optional[str] = None, license: Optional[str] = None,
                      dataset_id: Optional[str] = None) -> Path:
    """Write the folder; ``remote_code=True`` also bundles the modeling code (``trust_remote_code`` loading).

    ``redistribution_restricted`` (the training data's licence restricts redistribution, e.g. Yelp: the folder
    holds every item's id and title) is recorded in ``data_license.json``; pushing such a folder is refused.
    ``license`` is the card's licence (default: :func:`~hf_genrec.hub.cards.model_license`), ``dataset_id`` the
    training data's Hub repository."""
    attach_model_files(model, tokenizer, item_titles=item_titles, metrics=metrics, training=training,
                       dataset_name=dataset_name, dataset_id=dataset_id, sid_quality=sid_quality,
                       redistribution_restricted=bool(redistribution_restricted), license_note=license_note,
                       license=license)
    folder = Path(folder)
    with atomic_output_dir(folder, overwrite=overwrite, command="model folder") as tmp:
        model.save_pretrained(tmp)  # weights, config and every file of hf_genrec.hub.model_files
        if remote_code:
            from .remote_code import export_remote_code

            export_remote_code(tmp)
    return folder
