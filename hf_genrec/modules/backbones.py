"""Building Hugging Face backbones from a config dict, a model name or a local path.

Models keep the *full* backbone config in their own config (``backbone_config``), so a saved
hf_genrec model rebuilds its backbone offline; pretrained weights are loaded once, when a model is
created from a named backbone (:func:`load_pretrained_backbone`), and are saved with the model after.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import torch.nn.functional as F
from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig


#: Backbone shapes for benchmarks with random weights: Qwen/Qwen3-0.6B's config.json, and a small Qwen3 for CPUs
BENCHMARK_BACKBONES: Dict[str, Dict[str, Any]] = {
    "qwen3-0.6b": {"model_type": "qwen3", "hidden_size": 1024, "intermediate_size": 3072, "num_hidden_layers": 28,
                   "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128, "rope_theta": 1000000.0,
                   "max_position_embeddings": 40960, "rms_norm_eps": 1e-6},
    "small": {"model_type": "qwen3", "hidden_size": 256, "intermediate_size": 1024, "num_hidden_layers": 4,
              "num_attention_heads": 4, "num_key_value_heads": 4, "head_dim": 64, "max_position_embeddings": 4096},
}


def config_from_dict(backbone_config: Dict[str, Any]) -> PretrainedConfig:
    """A transformers config from a plain dict that names its ``model_type``."""
    data = dict(backbone_config)
    model_type = data.pop("model_type", None)
    if not model_type:
        raise ValueError("backbone_config needs a 'model_type' (e.g. 'qwen3', 'llama', 't5')")
    return AutoConfig.for_model(model_type, **data)


def backbone_config_dict(name_or_path: str, **kwargs) -> Dict[str, Any]:
    """The config of a named or local backbone as a dict (to store inside an hf_genrec config)."""
    return AutoConfig.from_pretrained(name_or_path, trust_remote_code=False, **kwargs).to_dict()


def build_backbone(backbone_config: Dict[str, Any]):
    """A randomly initialised base model (no LM head) from a config dict, e.g. a tiny Qwen3 for tests.

    hf_genrec feeds the backbone ``inputs_embeds`` (its own SID / item embeddings), so the word-embedding
    table is frozen: it never receives a gradient (DDP requires every trainable parameter to get one) and
    needs no optimizer state (155M parameters for Qwen3-0.6B). Its weights are still loaded and saved.
    """
    model = AutoModel.from_config(config_from_dict(backbone_config))
    embeddings = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    if embeddings is not None:
        embeddings.weight.requires_grad_(False)
    return model


def load_pretrained_backbone(name_or_path: str, **kwargs):
    """Pretrained base model by Hub id (``"Qwen/Qwen3-0.6B"``, ``"meta-llama/Llama-3.2-1B"``) or local folder: weights
    from safetensors only (never a pickled ``.bin``), no remote code."""
    return AutoModel.from_pretrained(name_or_path, use_safetensors=True, trust_remote_code=False, **kwargs)


def default_decoder_config(hidden_size: int = 128, num_layers: int = 4, num_heads: int = 4,
                           intermediate_size: Optional[int] = None, max_positions: int = 4096) -> Dict[str, Any]:
    """A small Qwen3-architecture config for the lightweight decoder-only setting."""
    if hidden_size % num_heads:
        raise ValueError(f"hidden_size {hidden_size} must be divisible by num_heads {num_heads}")
    return {"model_type": "qwen3", "vocab_size": 16, "hidden_size": hidden_size, "num_hidden_layers": num_layers,
            "num_attention_heads": num_heads, "num_key_value_heads": num_heads, "head_dim": hidden_size // num_heads,
            "intermediate_size": intermediate_size or 4 * hidden_size, "max_position_embeddings": max_positions,
            "tie_word_embeddings": False}


def add_residual_dropout(backbone: nn.Module, rate: float) -> int:
    """Dropout on the output of every attention and MLP sublayer of a causal LM's decoder layers, before it is added
    to the residual stream (the residual dropout of Vaswani et al. 2017, Sec. 5.4, that T5 and SASRec apply and that
    Qwen3 / LLaMA leave out: their only dropout is ``attention_dropout``). An hf_genrec option, not a paper's method.

    Implemented as forward hooks on each layer's ``self_attn`` and ``mlp`` modules (the layout of Qwen3, LLaMA,
    Mistral), so the backbone's own code and weights are unchanged; the hooks drop only in training mode. Returns the
    number of sublayers hooked; raises when ``rate`` > 0 and the backbone has no such layers.
    """
    if not 0.0 <= float(rate) < 1.0:
        raise ValueError(f"residual_dropout must be in [0, 1), got {rate}")
    if not rate:
        return 0

    def drop_output(module, inputs, output):
        if isinstance(output, tuple):  # attention returns (states, weights)
            return (F.dropout(output[0], rate, module.training), *output[1:])
        return F.dropout(output, rate, module.training)

    hooked = 0
    for layer in backbone.modules():
        children = dict(layer.named_children())
        if isinstance(children.get("self_attn"), nn.Module) and isinstance(children.get("mlp"), nn.Module):
            for sublayer in (children["self_attn"], children["mlp"]):
                sublayer.register_forward_hook(drop_output)
                hooked += 1
    if not hooked:
        raise ValueError(f"residual_dropout: {type(backbone).__name__} has no decoder layers with 'self_attn' and "
                         "'mlp' sublayers (the Qwen3 / LLaMA layout)")
    return hooked


def prompt_positions(mask):
    """Position ids of a left-padded sequence: 0 at its first real token, counting only real tokens."""
    return (mask.long().cumsum(-1) - 1).clamp(min=0)


def backbone_hidden_size(config: PretrainedConfig) -> int:
    for name in ("hidden_size", "d_model", "n_embd"):
        if hasattr(config, name):
            return int(getattr(config, name))
    raise ValueError(f"cannot find the hidden size of {type(config).__name__}")


def effective_linear_weight(linear):
    """The weight a ``nn.Linear`` applies, LoRA adapters included (peft ``lora.Linear`` layers that are not merged).

    Fast inference paths that read ``.weight`` directly use this so that an adapter attached during
    training (evaluation between epochs) is not silently ignored."""
    base = getattr(linear, "base_layer", None)
    if base is None or not hasattr(linear, "get_delta_weight"):
        return linear.weight
    if getattr(linear, "disable_adapters", False):
        if getattr(linear, "merged", False):
            raise ValueError("a LoRA layer has merged adapters but adapters are disabled: unmerge them first")
        return base.weight
    if getattr(linear, "merged", False):  # peft then runs the base layer only
        return base.weight
    weight = base.weight
    for name in linear.active_adapters:
        if name not in linear.lora_A:
            continue
        if getattr(linear, "use_dora", {}).get(name, False):
            raise NotImplementedError("DoRA adapters are not supported by hf_genrec's fast decoding; merge them first "
                                      "(hf_genrec.training.lora.merge_lora)")
        weight = weight + linear.get_delta_weight(name)
    return weight
