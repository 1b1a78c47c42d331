"""Method implementations; each folder holds ``configuration_<method>.py`` and ``modeling_<method>.py``.

:data:`MODEL_TYPES` is the registry: ``import hf_genrec`` registers every entry with the transformers Auto
classes, the CLI and the run configs name models by its keys, and the common model test suite
(``tests/models/test_common.py``) runs on every entry. :func:`build_model` creates any registered method
for a tokenizer's catalog: ``build_model("tiger", tokenizer, hidden_size=128)``.
"""

from __future__ import annotations

from typing import Any, Dict, Tuple, Type

from .comeir import ComeIRConfig, ComeIRForGenerativeRecommendation
from .intrr import IntRRConfig, IntRRForGenerativeRecommendation
from .tiger import TigerConfig, TigerForGenerativeRecommendation

MODEL_TYPES: Dict[str, Tuple[Type, Type]] = {
    model_class.config_class.model_type: (model_class.config_class, model_class)
    for model_class in (TigerForGenerativeRecommendation, IntRRForGenerativeRecommendation,
                        ComeIRForGenerativeRecommendation)
}


def model_classes(model_type: str) -> Tuple[Type, Type]:
    """``(config class, model class)`` of a registered model type, with a clear error for unknown ones."""
    if model_type not in MODEL_TYPES:
        raise ValueError(f"unknown model type {model_type!r}; available: {sorted(MODEL_TYPES)}")
    return MODEL_TYPES[model_type]


def build_model(model_type: str, tokenizer, **options: Any):
    """A freshly initialised model of ``model_type`` for the tokenizer's SIDs, with its catalog installed.

    ``options`` are config fields, plus the cached item features the model declares, by name (ComeIR:
    ``item_embeddings [num_items, d]`` and ``codebooks``, one ``[K_l, d_l]`` per level): their widths go into the
    config and their values into the model. ``backbone_name_or_path`` (decoder-only backbones) loads pretrained
    backbone weights once.
    """
    config_class, model_class = model_classes(model_type)
    options = dict(options)
    features = {}
    for feature in model_class.item_features:
        value = options.pop(feature.name, None)
        if value is not None:
            features[feature.name] = value
            if options.get(feature.width_field) is None:
                options[feature.width_field] = feature.width_of(value)
    name = options.pop("backbone_name_or_path", None)
    if name:
        model = model_class.from_backbone(name, tokenizer.codebook_sizes, tokenizer.num_items, **options)
    else:
        config = config_class(codebook_sizes=tokenizer.codebook_sizes, num_items=tokenizer.num_items, **options)
        model = model_class(config)
    model.set_catalog(tokenizer)
    if features:
        model.set_item_features(**features)
    return model


__all__ = ["ComeIRConfig", "ComeIRForGenerativeRecommendation", "IntRRConfig", "IntRRForGenerativeRecommendation",
           "MODEL_TYPES", "TigerConfig", "TigerForGenerativeRecommendation", "build_model", "model_classes"]
