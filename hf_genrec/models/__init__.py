"""Method implementations; each folder holds ``configuration_<method>.py`` and ``modeling_<method>.py``.

:data:`MODEL_TYPES` is the registry: ``import hf_genrec`` registers every entry with the transformers Auto
classes, the CLI and the run configs name models by its keys, and the common model test suite
(``tests/models/test_common.py``) runs on every entry. :func:`build_model` creates any registered method
for a tokenizer's catalog: ``build_model("tiger", tokenizer, hidden_size=128)``.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Dict, Tuple, Type

from .comeir import ComeIRConfig, ComeIRForGenerativeRecommendation
from .decor import DecorConfig, DecorForGenerativeRecommendation
from .intrr import IntRRConfig, IntRRForGenerativeRecommendation
from .prism import PrismConfig, PrismForGenerativeRecommendation
from .sasrec import SASRecConfig, SASRecForSequentialRecommendation
from .tiger import TigerConfig, TigerForGenerativeRecommendation

MODEL_TYPES: Dict[str, Tuple[Type, Type]] = {
    model_class.config_class.model_type: (model_class.config_class, model_class)
    for model_class in (TigerForGenerativeRecommendation, IntRRForGenerativeRecommendation,
                        ComeIRForGenerativeRecommendation, SASRecForSequentialRecommendation,
                        PrismForGenerativeRecommendation, DecorForGenerativeRecommendation)
}


def model_classes(model_type: str) -> Tuple[Type, Type]:
    """``(config class, model class)`` of a registered model type, with a clear error for unknown ones."""
    if model_type not in MODEL_TYPES:
        raise ValueError(f"unknown model type {model_type!r}; available: {sorted(MODEL_TYPES)}")
    return MODEL_TYPES[model_type]


def config_options(config_class: Type) -> set:
    """Every option a config class takes: its ``__init__`` parameters along the class hierarchy, the field aliases
    (``d_model``, ...) and transformers' own config fields."""
    names = set(config_class.attribute_map)
    for cls in config_class.__mro__:
        if "__init__" in vars(cls):
            names |= {name for name, p in inspect.signature(cls.__init__).parameters.items()
                      if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and name != "self"}
        if dataclasses.is_dataclass(cls):
            names |= {field.name for field in dataclasses.fields(cls)}
    return names


def check_model_options(model_type: str, options: Dict[str, Any]) -> None:
    """An option that no config field takes (a typo such as ``d_modle``) is an error naming it."""
    config_class, model_class = model_classes(model_type)
    known = config_options(config_class) | {feature.name for feature in model_class.item_features}
    unknown = sorted(set(options) - known - {"codebook_sizes", "num_items"})
    if unknown:
        raise ValueError(f"unknown {model_type} model option(s) {unknown}; see {config_class.__name__} "
                         f"({config_class.__module__})")


def build_model(model_type: str, tokenizer, **options: Any):
    """A freshly initialised model of ``model_type`` for the tokenizer's SIDs, with its catalog installed.

    ``options`` are config fields, plus the cached item features the model declares, by name (ComeIR:
    ``item_embeddings [num_items, d]`` and ``codebooks``, one ``[K_l, d_l]`` per level): their widths go into the
    config and their values into the model. ``backbone_name_or_path`` (decoder-only backbones) loads pretrained
    backbone weights once.
    """
    config_class, model_class = model_classes(model_type)
    check_model_options(model_type, options)
    options = dict(options)
    features = {}
    for feature in model_class.item_features:
        value = options.pop(feature.name, None)
        if value is not None:
            features[feature.name] = value
            if options.get(feature.width_field) is None:
                options[feature.width_field] = feature.width_of(value)
            for field, derived in (feature.derive(value) if feature.derive else {}).items():
                if options.get(field) is None:
                    options[field] = derived
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


__all__ = ["ComeIRConfig", "ComeIRForGenerativeRecommendation", "DecorConfig", "DecorForGenerativeRecommendation",
           "IntRRConfig", "IntRRForGenerativeRecommendation",
           "MODEL_TYPES", "PrismConfig", "PrismForGenerativeRecommendation", "SASRecConfig", "SASRecForSequentialRecommendation", "TigerConfig", "TigerForGenerativeRecommendation", "build_model", "check_model_options",
           "model_classes"]
