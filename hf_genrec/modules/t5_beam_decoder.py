"""Beam decoding with a Hugging Face T5 decoder that shares each user's encoder states across beams.

``transformers``' beam search copies the encoder output (and its cross-attention keys/values) once per
beam. Here the cross-attention keys and values of every decoder layer are computed once per user,
``[B, heads, S, d_kv]``, and the queries of all ``W`` beams of that user attend to them through
broadcasting matmuls (``[B, W, heads, t, d_kv] @ [B, 1, heads, d_kv, S]``) - nothing is copied per beam.
The decoder prefixes are only ``L + 1`` tokens long, so each step re-runs them (no self-attention cache).

The arithmetic mirrors ``T5Stack`` in eval mode exactly (relative position bias of the first layer,
RMS layer norms, ReLU or gated feed-forward, optional output rescaling), which the tests check against
``T5ForConditionalGeneration``'s own logits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Tuple

import torch


@dataclass
class EncoderMemory:
    keys: List[torch.Tensor]  # per decoder layer [B, 1, h, S, d_kv]
    values: List[torch.Tensor]
    mask_bias: torch.Tensor  # [B, 1, 1, 1, S] additive


class T5BeamDecoder:
    """Wraps the ``decoder``, ``lm_head`` and config of a ``T5ForConditionalGeneration``."""

    def __init__(self, t5):
        self.t5 = t5
        self.decoder = t5.decoder
        self.config = t5.config
        self.heads = t5.config.num_heads
        self.d_kv = t5.config.d_kv

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        """``[..., t, h*d] -> [..., h, t, d]``."""
        *lead, t, _ = x.shape
        return x.view(*lead, t, self.heads, self.d_kv).transpose(-3, -2)

    def _merge(self, x: torch.Tensor) -> torch.Tensor:
        *lead, h, t, d = x.shape
        return x.transpose(-3, -2).reshape(*lead, t, h * d)

    def encoder_memory(self, encoder_hidden: torch.Tensor, encoder_mask: torch.Tensor) -> EncoderMemory:
        """Cross-attention keys/values of every decoder layer, once per user."""
        keys, values = [], []
        for block in self.decoder.block:
            attention = block.layer[1].EncDecAttention
            keys.append(self._split(attention.k(encoder_hidden))[:, None])
            values.append(self._split(attention.v(encoder_hidden))[:, None])
        minimum = torch.finfo(encoder_hidden.dtype).min
        bias = (1.0 - encoder_mask.to(encoder_hidden.dtype)) * minimum
        return EncoderMemory(keys, values, bias[:, None, None, None, :])

    def hidden_states(self, tokens: torch.Tensor, memory: EncoderMemory) -> torch.Tensor:
        """Final decoder states ``[B, W, t, d]`` for decoder inputs ``tokens [B, W, t]``."""
        t = tokens.shape[-1]
        hidden = self.decoder.embed_tokens(tokens)
        first = self.decoder.block[0].layer[0].SelfAttention
        position_bias = first.compute_bias(t, t, device=tokens.device)[:, None]  # [1, 1, h, t, t]
        causal = torch.full((t, t), torch.finfo(hidden.dtype).min, device=tokens.device).triu(1)
        self_bias = position_bias + causal
        for index, block in enumerate(self.decoder.block):
            sa = block.layer[0]
            normed = sa.layer_norm(hidden)
            q, k, v = (self._split(proj(normed)) for proj in (sa.SelfAttention.q, sa.SelfAttention.k, sa.SelfAttention.v))
            weights = torch.softmax(q @ k.transpose(-1, -2) + self_bias, dim=-1)
            hidden = hidden + sa.SelfAttention.o(self._merge(weights @ v))
            ca = block.layer[1]
            q = self._split(ca.EncDecAttention.q(ca.layer_norm(hidden)))
            weights = torch.softmax(q @ memory.keys[index].transpose(-1, -2) + memory.mask_bias, dim=-1)
            hidden = hidden + ca.EncDecAttention.o(self._merge(weights @ memory.values[index]))
            ff = block.layer[-1]
            hidden = hidden + ff.DenseReluDense(ff.layer_norm(hidden))
        return self.decoder.final_layer_norm(hidden)

    def last_logits(self, tokens: torch.Tensor, memory: EncoderMemory) -> torch.Tensor:
        """LM-head logits of the last decoder position of every beam, ``[B, W, V]``."""
        hidden = self.hidden_states(tokens, memory)[..., -1, :]
        if getattr(self.config, "scale_decoder_outputs", False):
            hidden = hidden * (self.config.d_model ** -0.5)
        return self.t5.lm_head(hidden)
