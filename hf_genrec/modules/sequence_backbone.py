"""Item-level sequence backbones: one position per history item, the user state from the last position.

``kind``:

* ``"t5"`` - a T5 encoder stack (relative position bias), the "T5-based Transformer" of IntRR;
* ``"hstu"`` - :class:`~hf_genrec.modules.hstu.HSTU` (causal, time-aware);
* ``"causal_lm"`` - any Hugging Face causal LM body (Qwen3, LLaMA) from ``backbone_config`` (a dict with
  ``model_type``); a model's ``from_backbone`` loads pretrained weights into ``body`` once, and they are saved
  with the model.

Inputs are left-padded (the tokenizer's default), so the user state is the last position.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import torch
from torch import nn

from .backbones import backbone_hidden_size, build_backbone, config_from_dict, prompt_positions
from .hstu import HSTU

KINDS = ("t5", "hstu", "causal_lm")


class SequenceBackbone(nn.Module):
    def __init__(self, kind: str, dim: int, num_layers: int = 4, num_heads: int = 4, d_kv: int = 64,
                 intermediate_size: int = 1024, dropout: float = 0.1, backbone_config: Optional[Dict[str, Any]] = None,
                 max_positions: int = 256, hstu_use_time: bool = True):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"backbone must be one of {KINDS}, got {kind!r}")
        self.kind = kind
        if kind == "t5":
            from transformers import T5EncoderModel

            config = config_from_dict({"model_type": "t5", "vocab_size": 8, "d_model": dim, "d_ff": intermediate_size,
                                       "num_layers": num_layers, "num_heads": num_heads, "d_kv": d_kv,
                                       "dropout_rate": dropout, "feed_forward_proj": "relu",
                                       **(backbone_config or {})})
            self.body = T5EncoderModel(config)
            self.body.get_input_embeddings().weight.requires_grad_(False)  # fed inputs_embeds: never used
            self.hidden_size = config.d_model
        elif kind == "hstu":
            self.body = HSTU(dim, num_layers, num_heads, dropout=dropout, max_positions=max_positions,
                             use_time=hstu_use_time)
            self.hidden_size = dim
        else:
            if not backbone_config:
                raise ValueError("backbone 'causal_lm' needs backbone_config (a dict with model_type) or a name/path")
            self.body = build_backbone(backbone_config)
            self.hidden_size = backbone_hidden_size(self.body.config)
        # item representations live in ``dim``; a causal LM may be wider
        self.project_in = nn.Identity() if self.hidden_size == dim else nn.Linear(dim, self.hidden_size)
        self.project_out = nn.Identity() if self.hidden_size == dim else nn.Linear(self.hidden_size, dim)

    @property
    def all_tied_weights_keys(self) -> Dict[str, str]:
        """The body's tied weights (T5's token table) under this module's names, so that the model that holds this
        backbone saves them once and ties them again on load (transformers reads it from direct children)."""
        tied = getattr(self.body, "all_tied_weights_keys", None) or {}
        return {f"body.{target}": f"body.{source}" for target, source in tied.items()}

    def forward(self, embeds: torch.Tensor, mask: torch.Tensor, timestamps: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Hidden states ``[B, T, dim]`` of item embeddings ``[B, T, dim]`` with ``mask [B, T]``."""
        x = self.project_in(embeds)
        if self.kind == "t5":
            hidden = self.body(inputs_embeds=x, attention_mask=mask.long()).last_hidden_state
        elif self.kind == "hstu":
            hidden = self.body(x, mask, timestamps)
        else:
            hidden = self.body(inputs_embeds=x, attention_mask=mask.long(), position_ids=prompt_positions(mask)).last_hidden_state
        return self.project_out(hidden)

    def user_state(self, embeds: torch.Tensor, mask: torch.Tensor, timestamps: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``h_u [B, dim]``: the hidden state of the last (most recent) position."""
        return self(embeds, mask, timestamps)[:, -1]
