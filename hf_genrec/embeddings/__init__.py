"""Item embeddings: text embeddings from a sentence-transformers encoder (cached on disk as safetensors) and
LightGCN collaborative embeddings of the training graph (cached in the prepared folder)."""

from .encoder import (DEFAULT_ENCODER, ItemEncoder, default_cache_dir, load_item_embeddings, resolve_model_path,
                      save_item_embeddings)
from .lightgcn import (COLLAB_EMBEDDINGS_FILE, InteractionGraph, LightGCN, LightGCNResult, collab_embeddings,
                       interaction_graph, load_collab_embeddings, train_lightgcn)

__all__ = ["COLLAB_EMBEDDINGS_FILE", "DEFAULT_ENCODER", "InteractionGraph", "ItemEncoder", "LightGCN", "LightGCNResult",
           "collab_embeddings", "default_cache_dir", "interaction_graph", "load_collab_embeddings",
           "load_item_embeddings", "resolve_model_path", "save_item_embeddings", "train_lightgcn"]
