"""Item embeddings from a sentence-transformers encoder, cached on disk as safetensors."""

from .encoder import (DEFAULT_ENCODER, ItemEncoder, default_cache_dir, load_item_embeddings, resolve_model_path,
                      save_item_embeddings)

__all__ = ["DEFAULT_ENCODER", "ItemEncoder", "default_cache_dir", "load_item_embeddings", "resolve_model_path",
           "save_item_embeddings"]
