"""Method implementations; each folder holds ``configuration_<method>.py`` and ``modeling_<method>.py``.

:func:`build_model` creates any registered method for a tokenizer's catalog:
``build_model("tiger", tokenizer, d_model=128)``.
"""

from __future__ import annotations

from typing import Any, Dict, Tuple, Type

from .comeir import ComeIRConfig, ComeIRForGenerativeRecommendation
from .intrr import IntRRConfig, IntRRForGenerativeRecommendation
from .tiger import TigerConfig, TigerForGenerativeRecommendation

MODEL_TYPES: Dict[str, Tuple[Type, Type]] = {
    "tiger": (TigerConfig, TigerForGenerativeRecommendation),
    "intrr": (IntRRConfig, IntRRForGenerativeRecommendation),
    "comeir": (ComeIRConfig, ComeIRForGenerativeRecommendation),
}


def build_model(model_type: str, tokenizer, item_embeddings=None, codebooks=None, **options: Any):
    """A freshly initialised model of ``model_type`` for the tokenizer's SIDs, with its catalog installed.

    ``backbone_name_or_path`` (decoder-only backbones) loads pretrained backbone weights once. Models that
    read cached item features (ComeIR: the item embeddings that produced the SIDs and the quantizer's
    codebooks) get them from ``item_embeddings [num_items, d]`` and ``codebooks`` (one ``[K_l, d_l]`` per level).
    """
    if model_type not in MODEL_TYPES:
        raise ValueError(f"unknown model type {model_type!r}; available: {sorted(MODEL_TYPES)}")
    config_class, model_class = MODEL_TYPES[model_type]
    options = dict(options)
    takes_features = hasattr(model_class, "set_item_features")
    if takes_features and item_embeddings is not None:
        options.setdefault("item_embedding_dim", int(item_embeddings.shape[1]))
    if takes_features and codebooks:
        options.setdefault("codebook_embedding_dim", max(int(book.shape[1]) for book in codebooks))
    name = options.pop("backbone_name_or_path", None)
    if name and hasattr(model_class, "from_backbone"):
        model = model_class.from_backbone(name, tokenizer.codebook_sizes, tokenizer.num_items, **options)
    else:
        config = config_class(codebook_sizes=tokenizer.codebook_sizes, num_items=tokenizer.num_items, **options)
        model = model_class(config)
    model.set_catalog(tokenizer)
    if takes_features:
        model.set_item_features(item_embeddings, codebooks)
    return model


__all__ = ["ComeIRConfig", "ComeIRForGenerativeRecommendation", "IntRRConfig", "IntRRForGenerativeRecommendation", "MODEL_TYPES", "TigerConfig",
           "TigerForGenerativeRecommendation", "build_model"]
