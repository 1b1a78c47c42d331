"""Hierarchical category tags for PRISM's Hierarchical Semantic Anchoring (HSA, arXiv 2601.16556 §3.3, Eq. 6-7).

PRISM anchors SID level ``l`` to the item's category tag at depth ``l`` below the store root (e.g. Beauty:
Makeup > Eyes > Eyebrows); ``specs/prism.md`` §1.1 ("tags") and §5.3 item 2 record how the authors' code builds
them:

* the root (e.g. "Beauty") is skipped, so SID level ``l`` <-> the tag at depth ``l + 1`` of the raw path.
  hf_genrec's ``category_path`` already has the root dropped (readers of Amazon 2014 data and the two-file
  layout), so level ``l`` here is simply entry ``l`` of ``category_path``;
* an item with a shorter path gets PAD (class 0) at the missing levels;
* classes are numbered per level ``1..n_l`` in the order of their sorted unique texts (deterministic), 0 = PAD.
  A class is a text: the same text under two parents is one class, as in the official code;
* every tag text is encoded with the same sentence encoder as the item content (:func:`encode_tags`).

:func:`save_tags` / :func:`load_tags` keep the hierarchy (and optionally its embeddings) in a prepared folder as
``tags.safetensors`` (tensors) + ``tags.json`` (vocabularies, counts, source).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..utils.io import atomic_write_bytes, atomic_write_json, read_json_file, sha256_of_strings
from ..utils.logging import get_logger

logger = get_logger(__name__)

TAGS_FILE = "tags.safetensors"
TAGS_METADATA_FILE = "tags.json"
PAD = 0


@dataclass
class TagHierarchy:
    """Per-item tag classes and per-level vocabularies.

    ``labels[i, l]`` is item ``i``'s class at level ``l`` (0 = PAD, else ``1..n_l``); ``vocab[l][c - 1]`` is the
    text of class ``c`` at level ``l``; ``counts[l][c - 1]`` how many items carry it.
    """

    labels: torch.Tensor
    vocab: List[List[str]]
    counts: List[List[int]]
    source: str = "category_path"

    @property
    def levels(self) -> int:
        return int(self.labels.shape[1])

    @property
    def num_items(self) -> int:
        return int(self.labels.shape[0])

    @property
    def num_classes(self) -> List[int]:
        """``n_l`` per level (PAD not counted)."""
        return [len(level) for level in self.vocab]

    def text_of(self, level: int, label: int) -> Optional[str]:
        """The tag text of class ``label`` at ``level`` (``None`` for PAD)."""
        return None if label == PAD else self.vocab[level][label - 1]

    def metadata(self) -> Dict[str, Any]:
        return {"source": self.source, "levels": self.levels, "num_items": self.num_items,
                "num_classes": self.num_classes, "vocab": self.vocab, "counts": self.counts,
                "vocab_sha256": vocab_hash(self.vocab)}


def vocab_hash(vocab: Sequence[Sequence[str]]) -> str:
    return sha256_of_strings([json.dumps(list(level), ensure_ascii=False) for level in vocab], prefix="tags|")


def _column(items, source: str) -> List[Any]:
    """The ``source`` column of a ``datasets.Dataset``, a DataFrame or a mapping, or ``items`` itself if a list."""
    if isinstance(items, (list, tuple)):
        return list(items)
    try:
        return list(items[source])
    except (KeyError, ValueError):
        names = getattr(items, "column_names", None) or list(getattr(items, "columns", []))
        raise ValueError(f"the item table has no '{source}' column (columns: {list(names)})") from None


def _path(value: Any, index: int, source: str) -> List[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, str) or not isinstance(value, (list, tuple, np.ndarray)):
        raise ValueError(f"item {index}: field '{source}' must be a list of category names (coarse to fine), got "
                         f"{type(value).__name__} {value!r:.80}")
    return [str(token).strip() for token in value if token is not None and str(token).strip()]


def build_tag_hierarchy(items, levels: int = 3, source: str = "category_path", drop_root: bool = False) -> TagHierarchy:
    """Tag classes ``[N, levels]`` from each item's category path (spec §1.1 "tags", §5.3 item 2).

    ``items`` is a prepared item table (``datasets.Dataset``, DataFrame, mapping of columns) whose ``source``
    column holds one coarse-to-fine list of names per item (row ``i`` = ``item_idx`` ``i``), or that list of
    paths itself. ``drop_root`` drops the first name of every path, for sources that still start at the store
    (e.g. the ``categories`` union of Amazon 2014 items, which mimics the official flattening of all paths).
    """
    if not isinstance(levels, int) or levels < 1:
        raise ValueError(f"levels must be an integer >= 1, got {levels!r}")
    paths = [_path(value, index, source) for index, value in enumerate(_column(items, source))]
    if drop_root:
        paths = [path[1:] for path in paths]
    paths = [path[:levels] for path in paths]
    if not any(paths):
        raise ValueError(f"no item has a tag in '{source}'{' below the root' if drop_root else ''}: PRISM's tags need "
                         "category paths (Amazon category_path / category_tokens)")
    labels = np.zeros((len(paths), levels), dtype=np.int64)
    vocab: List[List[str]] = []
    counts: List[List[int]] = []
    for level in range(levels):
        texts = [path[level] if len(path) > level else None for path in paths]
        level_vocab = sorted({text for text in texts if text is not None})
        ids = {text: index + 1 for index, text in enumerate(level_vocab)}
        labels[:, level] = [ids[text] if text is not None else PAD for text in texts]
        vocab.append(level_vocab)
        counts.append(np.bincount(labels[:, level], minlength=len(level_vocab) + 1)[1:].tolist())
        if not level_vocab:
            logger.warning(f"tag level {level} has no class: no item's '{source}' is {level + 1} names deep")
    return TagHierarchy(labels=torch.from_numpy(labels), vocab=vocab, counts=counts, source=source)


def encode_tags(hierarchy: TagHierarchy, encoder) -> List[torch.Tensor]:
    """Embed every level's tag texts: a float32 ``[n_l, d]`` tensor per level, row ``c - 1`` = class ``c``.

    ``encoder`` is an :class:`~hf_genrec.embeddings.ItemEncoder` (use the one that embedded the item content, as
    PRISM does) or a model name for one. All texts go through one cached call.
    """
    from ..embeddings import ItemEncoder

    if isinstance(encoder, (str, os.PathLike)):
        encoder = ItemEncoder(os.fspath(encoder))
    texts = sorted({text for level in hierarchy.vocab for text in level})
    if not texts:
        raise ValueError("the tag hierarchy has no tag text to encode")
    table, _ = encoder.encode(texts)
    table = torch.from_numpy(np.asarray(table, dtype=np.float32))
    row = {text: index for index, text in enumerate(texts)}
    return [table[torch.tensor([row[text] for text in level], dtype=torch.long)] if level
            else table.new_zeros((0, table.shape[1])) for level in hierarchy.vocab]


def save_tags(folder: str | os.PathLike, hierarchy: TagHierarchy, embeddings: Optional[Sequence[torch.Tensor]] = None,
              encoder_name: Optional[str] = None) -> Path:
    """Write ``tags.safetensors`` (``labels`` + ``embeddings_<l>`` per level) and ``tags.json`` into ``folder``."""
    from safetensors.torch import save

    tensors = {"labels": hierarchy.labels.to(torch.int64).contiguous()}
    if embeddings is not None:
        if len(embeddings) != hierarchy.levels:
            raise ValueError(f"expected {hierarchy.levels} tag embedding tables, one per level, got {len(embeddings)}")
        for level, (table, size) in enumerate(zip(embeddings, hierarchy.num_classes)):
            if table.ndim != 2 or table.shape[0] != size:
                raise ValueError(f"tag embeddings of level {level} must be [{size}, dim], got {tuple(table.shape)}")
            tensors[f"embeddings_{level}"] = table.detach().to(torch.float32).cpu().contiguous()
    metadata = hierarchy.metadata()
    metadata.update({"encoder": encoder_name, "has_embeddings": embeddings is not None})
    folder = Path(folder)
    atomic_write_bytes(folder / TAGS_FILE, save(tensors, metadata={"vocab_sha256": metadata["vocab_sha256"]}))
    atomic_write_json(folder / TAGS_METADATA_FILE, metadata)
    return folder


def load_tags(folder: str | os.PathLike) -> Tuple[TagHierarchy, Optional[List[torch.Tensor]]]:
    """Read what :func:`save_tags` wrote: ``(hierarchy, per-level embeddings or None)``."""
    from safetensors import safe_open

    folder = Path(folder)
    path, meta_path = folder / TAGS_FILE, folder / TAGS_METADATA_FILE
    if not path.exists() or not meta_path.exists():
        raise FileNotFoundError(f"no category tags in {folder} ({TAGS_FILE} + {TAGS_METADATA_FILE}); make them with "
                                "hf_genrec.data.tags.build_tag_hierarchy and save_tags")
    metadata = read_json_file(meta_path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            stored_hash = (handle.metadata() or {}).get("vocab_sha256")
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    except Exception as error:  # safetensors raises its own error types for every kind of damage
        raise ValueError(f"{path} is not a readable tag file ({str(error).splitlines()[0][:200]})") from None
    vocab = metadata.get("vocab")
    if stored_hash != metadata.get("vocab_sha256") or vocab is None or vocab_hash(vocab) != stored_hash:
        raise ValueError(f"{path} and {meta_path} do not belong together (vocab_sha256 differs); save the tags again")
    hierarchy = TagHierarchy(labels=tensors["labels"], vocab=vocab, counts=metadata["counts"],
                             source=metadata.get("source", "category_path"))
    if hierarchy.labels.ndim != 2 or hierarchy.labels.shape[1] != len(vocab):
        raise ValueError(f"{path}: 'labels' must be [items, {len(vocab)}], got {tuple(hierarchy.labels.shape)}")
    if int(hierarchy.labels.min()) < 0 or any(int(hierarchy.labels[:, level].max()) > len(names)
                                              for level, names in enumerate(vocab)):
        raise ValueError(f"{path}: a label is outside its level's classes 0..n_l")
    if not metadata.get("has_embeddings"):
        return hierarchy, None
    return hierarchy, [tensors[f"embeddings_{level}"] for level in range(hierarchy.levels)]
