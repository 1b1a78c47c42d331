"""Registration with the transformers Auto classes, run once by ``import hf_genrec``.

After it, ``AutoTokenizer.from_pretrained(folder)`` returns a :class:`SIDTokenizer` and (as model
types land) ``AutoConfig`` / ``AutoModel`` resolve every hf_genrec ``model_type``.
"""

from __future__ import annotations

_REGISTERED = False


def register_auto_classes() -> None:
    global _REGISTERED
    if _REGISTERED:
        return
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    from .configuration_utils import GenRecConfig
    from .models import MODEL_TYPES
    from .tokenization import SIDTokenizer

    AutoConfig.register(GenRecConfig.model_type, GenRecConfig, exist_ok=True)
    AutoTokenizer.register(GenRecConfig, tokenizer_class=SIDTokenizer, exist_ok=True)
    for config_class, model_class in MODEL_TYPES.values():
        AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
        AutoModel.register(config_class, model_class, exist_ok=True)
        AutoTokenizer.register(config_class, tokenizer_class=SIDTokenizer, exist_ok=True)
    _REGISTERED = True
