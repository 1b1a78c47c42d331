"""The files of an hf_genrec model folder beside the weights and config, written by ``model.save_pretrained``.

``GenRecPreTrainedModel.save_pretrained`` calls :func:`write_model_files` after transformers has written
``config.json`` and the weights, so ``model.save_pretrained(folder)``, ``model.push_to_hub(repo)``, the checkpoints of
``transformers.Trainer`` and :func:`~hf_genrec.hub.export.save_model_folder` all give the same self-contained folder:

* the SID tokenizer (``tokenizer_config.json`` + ``semantic_ids.json``), its ``default_mode`` the model's
  ``input_mode``, so ``AutoTokenizer.from_pretrained(folder)(histories)`` encodes what the model reads;
* ``catalog_trie.safetensors``, ``items.json`` (item ids and titles), ``metrics.json``, ``training_config.json``,
  ``data_license.json`` and the model card ``README.md`` (:func:`~hf_genrec.hub.cards.render_model_card`).

What a folder says beyond the weights comes from :class:`ModelFiles`, attached to the model by
:func:`attach_model_files` (``save_model_folder`` and ``hf-genrec train`` do it). A model without one takes the
tokenizer, titles and data licence of the folder it was loaded from (``model.name_or_path``) when they fit its
catalog - not its metrics, which further training would make stale - and otherwise a tokenizer rebuilt from its own
catalog (the ``item_sids`` buffer; item ids are then the item indices).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from ..utils.io import atomic_write_json, atomic_write_text, read_json_file
from ..utils.logging import get_logger
from .items import ITEMS_FILE, load_items

logger = get_logger(__name__)

#: the attribute of a model that holds its :class:`ModelFiles`
ATTRIBUTE = "_hf_genrec_model_files"
DATA_LICENSE_FILE = "data_license.json"
METRICS_FILE = "metrics.json"
TRAINING_FILE = "training_config.json"
CARD_FILE = "README.md"


@dataclass
class ModelFiles:
    """What a saved folder holds beside the weights: the tokenizer (``None``: rebuilt from the model's catalog), item
    titles, evaluation results, training settings, the SIDs' quality report, the training data's name (and Hub id) and
    licence terms, and the card's ``license`` (``None``: :func:`~hf_genrec.hub.cards.model_license` decides)."""

    tokenizer: Any = None
    item_titles: Optional[List[str]] = None
    metrics: Dict[str, Any] = field(default_factory=dict)
    training: Dict[str, Any] = field(default_factory=dict)
    dataset_name: Optional[str] = None
    dataset_id: Optional[str] = None
    sid_quality: Optional[Dict[str, Any]] = None
    redistribution_restricted: bool = False
    license_note: Optional[str] = None
    license: Optional[str] = None


def attach_model_files(model, tokenizer=None, item_titles: Optional[Sequence[str]] = None, **fields) -> ModelFiles:
    """Attach what ``model.save_pretrained`` writes beside the weights (the fields of :class:`ModelFiles`); the
    tokenizer must give every item the SID of the model's catalog."""
    if tokenizer is not None:
        model.check_tokenizer(tokenizer)
    titles = None if item_titles is None else [str(t) if t is not None else "" for t in item_titles]
    if titles is not None and len(titles) != model.config.num_items:
        raise ValueError(f"item_titles has {len(titles)} titles for the model's {model.config.num_items} items")
    fields.update(metrics=dict(fields.get("metrics") or {}), training=dict(fields.get("training") or {}))
    files = ModelFiles(tokenizer=tokenizer, item_titles=titles, **fields)
    model.__dict__[ATTRIBUTE] = files  # a plain attribute: not a submodule, parameter or buffer
    return files


def _from_loaded_folder(model) -> ModelFiles:
    """Tokenizer, titles and data licence of the local folder the model was loaded from, when they fit its catalog."""
    from ..tokenization import SIDTokenizer
    from ..tokenization.tokenization_sid import SID_FILE

    name = getattr(model, "name_or_path", "") or ""
    folder = Path(name)
    if not name or not (folder / SID_FILE).is_file():
        return ModelFiles()
    try:
        tokenizer = SIDTokenizer(sid_file=str(folder / SID_FILE))
        model.check_tokenizer(tokenizer, where=f"the tokenizer in {folder}")
    except (OSError, ValueError, KeyError) as error:
        logger.warning(f"not reusing the tokenizer of {folder} ({error}); saving one rebuilt from the model's catalog")
        return ModelFiles()
    titles = load_items(folder).get("titles")
    terms = read_json_file(folder / DATA_LICENSE_FILE) if (folder / DATA_LICENSE_FILE).exists() else {}
    return ModelFiles(tokenizer=tokenizer,
                      item_titles=titles if titles and len(titles) == model.config.num_items else None,
                      dataset_name=terms.get("dataset"), dataset_id=terms.get("dataset_id"),
                      redistribution_restricted=bool(terms.get("redistribution_restricted")),
                      license_note=terms.get("license_note"))


def model_files(model) -> ModelFiles:
    """The model's attached :class:`ModelFiles`, else those of the folder it was loaded from, else empty ones."""
    files = model.__dict__.get(ATTRIBUTE)
    return files if files is not None else _from_loaded_folder(model)


def catalog_tokenizer(model):
    """An ``SIDTokenizer`` of the model's own catalog (``item_sids``) in its input layout."""
    from ..tokenization import SIDTokenizer

    config = model.config
    return SIDTokenizer.from_sids(model.item_sids.detach().cpu(), config.codebook_sizes,
                                  default_mode=getattr(config, "input_mode", "flat"))


def _dataset_id(files: ModelFiles) -> Optional[str]:
    """The Hub id of the training data: given, or recorded by ``prepare --format hub`` in the prepared folder that
    ``training_config.json`` names."""
    if files.dataset_id:
        return files.dataset_id
    prepared = (files.training.get("data") or {}).get("prepared") if isinstance(files.training, dict) else None
    if not prepared:
        return None
    from .dataset_loading import hub_repo_of

    return hub_repo_of(prepared)


def write_model_files(model, folder: str | os.PathLike) -> None:
    """Write everything but the weights and config into ``folder`` (which already holds ``config.json``)."""
    from ..tokenization.trie import TRIE_FILE
    from .cards import render_model_card

    folder = Path(folder)
    files = model_files(model)
    tokenizer = files.tokenizer if files.tokenizer is not None else catalog_tokenizer(model)
    model.check_tokenizer(tokenizer, where="the tokenizer attached to the model (attach_model_files)")
    tokenizer.save_pretrained(folder)  # its default_mode follows config.json's input_mode
    model.catalog_trie().save(folder / TRIE_FILE)
    keys = tokenizer.item_keys or [str(i) for i in range(tokenizer.num_items)]
    titles = files.item_titles if files.item_titles is not None else [""] * len(keys)
    atomic_write_json(folder / ITEMS_FILE, {"item_ids": list(keys), "titles": list(titles)})
    atomic_write_json(folder / METRICS_FILE, files.metrics or {})
    atomic_write_json(folder / TRAINING_FILE, files.training or {})
    dataset_id = _dataset_id(files)
    atomic_write_json(folder / DATA_LICENSE_FILE, {
        "dataset": files.dataset_name, "dataset_id": dataset_id,
        "redistribution_restricted": bool(files.redistribution_restricted), "license_note": files.license_note})
    atomic_write_text(folder / CARD_FILE, render_model_card(
        model, files.metrics or {}, files.training or {}, files.dataset_name, sid_quality=files.sid_quality,
        license=files.license, license_note=files.license_note,
        redistribution_restricted=files.redistribution_restricted, dataset_id=dataset_id,
        tags=list(getattr(model, "model_tags", None) or [])))


def push_model(model, repo_id: str, *, commit_message: Optional[str] = None, commit_description: Optional[str] = None,
               private: Optional[bool] = None, token=None, revision: Optional[str] = None, create_pr: bool = False,
               max_shard_size="50GB", tags: Optional[Sequence[str]] = None, allow_restricted: bool = False,
               endpoint: Optional[str] = None) -> str:
    """``model.push_to_hub``: the whole folder of ``model.save_pretrained`` in one commit, with hf_genrec's card (not
    transformers' generic one). A model trained on data whose licence restricts redistribution is refused unless
    ``allow_restricted``. Returns the commit URL."""
    from .cards import add_card_tags
    from .push import push_model_folder

    with tempfile.TemporaryDirectory(prefix="hf-genrec-push-") as tmp:
        model.save_pretrained(tmp, max_shard_size=max_shard_size)
        if tags:
            card = Path(tmp) / CARD_FILE
            atomic_write_text(card, add_card_tags(card.read_text(encoding="utf-8"), [tags] if isinstance(tags, str)
                                                  else list(tags)))
        return push_model_folder(tmp, repo_id, allow_restricted=allow_restricted, token=token, private=private,
                                 revision=revision, commit_message=commit_message or "Upload model with hf_genrec",
                                 commit_description=commit_description, create_pr=create_pr, endpoint=endpoint)
