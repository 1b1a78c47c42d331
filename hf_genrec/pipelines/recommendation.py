"""The ``recommendation`` pipeline: user histories in, ranked catalog items out.

Usage::

    import hf_genrec  # registers the task
    from transformers import pipeline

    recommend = pipeline("recommendation", model="path/to/model-folder")  # or "org/name" on the Hub
    recommend(["I3", "Title 7", 12], top_k=5)  # one history: item ids, titles or item indices
    # [{"item_id": 4, "item": "I4", "title": "Title 4", "sid": [1, 0, 2], "score": -1.23}, ...]
    recommend([[3, 7], ["I1"]], batch_size=2)  # several histories: one list of recommendations each

A history is a list of entries, each an item index (``int``) or an item id or exact title (``str``, the folder's
``items.json``; rules of :func:`hf_genrec.hub.items.resolve_items`), or one string of them separated by commas or
``|``. Only its last ``config.max_history`` items are read. Each result is ranked best first: ``item_id`` is the
item index, ``item`` its key, ``sid`` its semantic ID codes and ``score`` the beam search's log-probability.

Parameters (at construction or per call): ``top_k`` (default 10) results per history and ``num_beams`` (default:
the model's ``generation_config``, widened to ``top_k`` if narrower). The histories of a batch (``batch_size``)
go through one ``model.generate`` call.

This module is also bundled into remote-code exports (:mod:`hf_genrec.hub.remote_code`), so it imports nothing
from hf_genrec but the light :mod:`hf_genrec.hub.items`, relatively.
"""

from __future__ import annotations

import numbers
import os
from pathlib import Path
from typing import Any, Dict, List, Optional

from transformers import Pipeline

from ..hub.items import ITEMS_FILE, model_items, resolve_history, resolve_items
from ..utils.io import atomic_write_json

DEFAULT_TOP_K = 10


def _is_entry(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, numbers.Integral) and not isinstance(value, bool))


def _is_one_history(inputs: Any) -> bool:
    """A string, or a non-empty list / tuple of entries (not of histories)."""
    return isinstance(inputs, str) or (isinstance(inputs, (list, tuple)) and len(inputs) > 0
                                       and all(_is_entry(entry) for entry in inputs))


class RecommendationPipeline(Pipeline):
    """Top-K recommendations of an hf_genrec model for one history or a batch of histories (module docstring).

    ``items`` (optional, at construction): the item table ``{"item_ids": [...], "titles": [...]}``; by default the
    model folder's ``items.json`` (local folder or Hub repo), else the tokenizer's item keys without titles."""

    _load_tokenizer = True
    _load_processor = False
    _load_image_processor = False
    _load_video_processor = False
    _load_feature_extractor = False
    _pipeline_calls_generate = False  # hf_genrec's generate is a catalog beam search: top_k / num_beams are ours

    def __init__(self, *args, items: Optional[Dict[str, Any]] = None, **kwargs):
        super().__init__(*args, **kwargs)
        if not hasattr(self.model, "check_tokenizer") or not hasattr(self.model, "item_sids"):
            raise ValueError(f"the recommendation pipeline needs an hf_genrec model, not a {type(self.model).__name__}")
        if self.tokenizer is None:
            raise ValueError("the recommendation pipeline needs the model's SID tokenizer (tokenizer=...)")
        self.model.check_tokenizer(self.tokenizer)
        if items is None:
            where = getattr(self.model, "name_or_path", "") or ""
            items = model_items(where, revision=getattr(self.model.config, "_commit_hash", None)) if where else {}
        self.items = dict(items)
        if not self.items.get("item_ids") and getattr(self.tokenizer, "item_keys", None):
            self.items["item_ids"] = list(self.tokenizer.item_keys)

    # ------------------------------------------------------------------ parameters
    def _sanitize_parameters(self, top_k: Optional[int] = None, num_beams: Optional[int] = None, **unknown):
        if unknown:
            raise TypeError(f"the recommendation pipeline takes top_k and num_beams, not {sorted(unknown)}")
        forward = {}
        if top_k is not None:
            if not isinstance(top_k, numbers.Integral) or top_k < 1:
                raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
            forward["top_k"] = int(top_k)
        if num_beams is not None:
            if not isinstance(num_beams, numbers.Integral) or num_beams < 1:
                raise ValueError(f"num_beams must be a positive integer, got {num_beams!r}")
            forward["num_beams"] = int(num_beams)
        return {}, forward, {}

    def __call__(self, inputs, *args, **kwargs):
        """One history -> its list of recommendations; a list of histories -> one such list each."""
        if hasattr(inputs, "tolist") and not isinstance(inputs, (list, tuple, str)):
            inputs = inputs.tolist()  # a tensor or array of item indices
        if _is_one_history(inputs):
            return super().__call__([inputs], *args, **kwargs)[0]
        if isinstance(inputs, tuple):
            inputs = list(inputs)
        if isinstance(inputs, list) and not inputs:
            return []
        return super().__call__(inputs, *args, **kwargs)

    # ------------------------------------------------------------------ steps
    def preprocess(self, history) -> Dict[str, List[int]]:
        if hasattr(history, "tolist") and not isinstance(history, (list, tuple, str)):
            history = history.tolist()
        num_items = self.model.config.num_items
        if isinstance(history, str):
            resolved = resolve_history(history, self.items, num_items)
        elif isinstance(history, (list, tuple)):
            resolved = resolve_items(history, self.items, num_items)
        else:
            raise TypeError(f"a history is a list of item indices, ids or titles, or one string of them; got "
                            f"{type(history).__name__}")
        return {"history": resolved[-self.model.config.max_history:]}

    def _forward(self, model_inputs, top_k: int = DEFAULT_TOP_K, num_beams: Optional[int] = None):
        histories = model_inputs["history"]  # one history (batch_size 1) or the batch's histories (collated)
        if histories and not isinstance(histories[0], (list, tuple)):
            histories = [histories]
        batch = self.tokenizer([list(h) for h in histories], mode=self.model.config.input_mode, return_tensors="pt")
        batch = {key: value.to(self.device) for key, value in batch.items()}
        beams = max(num_beams or self.model.default_num_beams(), top_k)
        output = self.model.generate(**batch, num_beams=beams, num_return_sequences=top_k)
        sids = output.sids if output.sids is not None else self.model.item_sids[output.items.clamp(min=0)]
        return {"items": output.items, "scores": output.scores, "sids": sids}

    def postprocess(self, model_outputs) -> List[Dict[str, Any]]:
        keys, titles = self.items.get("item_ids") or [], self.items.get("titles") or []
        results = []
        for item, score, sid in zip(model_outputs["items"][0].tolist(), model_outputs["scores"][0].tolist(),
                                    model_outputs["sids"][0].tolist()):
            if item < 0:  # fewer catalog items than top_k
                continue
            results.append({"item_id": item, "item": str(keys[item]) if item < len(keys) else str(item),
                            "title": (titles[item] or "") if item < len(titles) else "", "sid": sid,
                            "score": float(score)})
        return results

    # ------------------------------------------------------------------ saving
    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs):
        """Save the model, its tokenizer and the item table (``items.json``): ``pipeline("recommendation",
        model=save_directory)`` loads it back where hf_genrec is installed.

        transformers' default would also copy this module for ``trust_remote_code``, without the modules it imports;
        to share the pipeline as remote code, export with hf_genrec instead (``save_model_folder(...,
        remote_code=True)``, ``hf-genrec push --remote-code``), which bundles it with the modeling code. A pipeline
        loaded from such a bundle keeps its bundled files (pipeline and tokenizer; the model copies its own)."""
        if os.path.isfile(save_directory):
            raise ValueError(f"{save_directory} is a file; pass a folder")
        os.makedirs(save_directory, exist_ok=True)
        self.model.save_pretrained(save_directory, **kwargs)
        self.tokenizer.save_pretrained(save_directory, **kwargs)
        if self.items:
            atomic_write_json(Path(save_directory) / ITEMS_FILE, self.items)
        from transformers.dynamic_module_utils import custom_object_save

        for part in (self, self.tokenizer):  # bundled copies (their imports are siblings) keep their files
            if type(part).__module__.startswith("transformers_modules"):
                custom_object_save(part, save_directory)
