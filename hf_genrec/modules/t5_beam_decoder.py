"""Beam decoding with a Hugging Face T5 decoder that shares each user's encoder states across beams.

``transformers``' beam search repeats the encoder output once per beam, computes the cross-attention
keys/values of every copy, and re-orders (copies) the whole cache - cross-attention part included -
after every step. Here:

* the cross-attention keys and values of every decoder layer are computed once per user,
  ``[B, heads, S, d_kv]``; the queries of the user's ``W`` beams are folded into the query-length axis
  (``[B, heads, W, d_kv]``), so one plain batched matmul serves all beams and nothing is copied;
* the decoder self-attention cache holds only the ``<= L`` generated positions per beam
  (``[B, W, heads, t, d_kv]``) and is re-ordered by the parents with one small gather.

The arithmetic mirrors ``T5Stack`` in eval mode exactly (relative position bias of the first layer,
RMS layer norms, ReLU or gated feed-forward, optional output rescaling), which the tests check against
``T5ForConditionalGeneration``'s own logits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

import torch


@dataclass
class EncoderMemory:
    keys: List[torch.Tensor]  # per decoder layer [B, h, S, d_kv]
    values: List[torch.Tensor]
    mask_bias: torch.Tensor  # [B, 1, 1, S] additive


@dataclass
class DecoderCache:
    """Self-attention keys/values of the generated positions of every beam.

    All layers live in one tensor ``[B * W, layers, h, capacity, d_kv]`` (beams first, so a re-order copies
    whole rows) with room for every decoding step: a step writes its slot in place, and a beam re-order is
    one row ``index_select`` into a spare buffer that is swapped in (no fresh allocation per step)."""

    keys: torch.Tensor
    values: torch.Tensor
    beams: int  # W
    length: int  # filled positions
    spare_keys: Optional[torch.Tensor] = None
    spare_values: Optional[torch.Tensor] = None

    @torch.no_grad()
    def select(self, parent: torch.Tensor) -> "DecoderCache":
        """Keep the rows of the chosen parents: ``parent [B, W']`` indexes the current ``W`` beams of each user."""
        B, width = parent.shape
        flat = (parent + torch.arange(B, device=parent.device)[:, None] * self.beams).reshape(-1)
        n, tail = len(flat), self.keys.shape[1:]
        spare_keys, spare_values = self.spare_keys, self.spare_values
        if spare_keys is None or spare_keys.shape[0] < n:
            spare_keys, spare_values = self.keys.new_empty((n, *tail)), self.values.new_empty((n, *tail))
        keys, values = spare_keys[:n], spare_values[:n]
        # 2-D row selection: the N-D index_select kernel is several times slower
        torch.index_select(self.keys.reshape(self.keys.shape[0], -1), 0, flat, out=keys.view(n, -1))
        torch.index_select(self.values.reshape(self.values.shape[0], -1), 0, flat, out=values.view(n, -1))
        return DecoderCache(keys, values, width, self.length, self.keys, self.values)


class T5BeamDecoder:
    """Wraps the ``decoder``, ``lm_head`` and config of a ``T5ForConditionalGeneration``."""

    def __init__(self, t5):
        self.t5 = t5
        self.decoder = t5.decoder
        self.config = t5.config
        self.heads = t5.config.num_heads
        self.d_kv = t5.config.d_kv
        # q, k, v of each self-attention fused into one projection (one matmul instead of three per layer)
        self.qkv = [torch.cat([b.layer[0].SelfAttention.q.weight, b.layer[0].SelfAttention.k.weight,
                               b.layer[0].SelfAttention.v.weight]) for b in self.decoder.block]
        self._position_bias = {}

    @staticmethod
    def _norm(layer_norm, x: torch.Tensor) -> torch.Tensor:
        """T5LayerNorm (RMS norm without mean or bias) as one fused op."""
        return torch.nn.functional.rms_norm(x, (x.shape[-1],), layer_norm.weight, layer_norm.variance_epsilon)

    def encoder_memory(self, encoder_hidden: torch.Tensor, encoder_mask: torch.Tensor) -> EncoderMemory:
        """Cross-attention keys/values of every decoder layer, once per user."""
        B, S, _ = encoder_hidden.shape
        keys, values = [], []
        for block in self.decoder.block:
            attention = block.layer[1].EncDecAttention
            keys.append(attention.k(encoder_hidden).view(B, S, self.heads, self.d_kv).transpose(1, 2))
            values.append(attention.v(encoder_hidden).view(B, S, self.heads, self.d_kv).transpose(1, 2))
        minimum = torch.finfo(encoder_hidden.dtype).min
        bias = (1.0 - encoder_mask.to(encoder_hidden.dtype)) * minimum
        return EncoderMemory(keys, values, bias[:, None, None, :])

    def _bias(self, past: int, device) -> torch.Tensor:
        if past not in self._position_bias:
            first = self.decoder.block[0].layer[0].SelfAttention
            self._position_bias[past] = first.compute_bias(1, past + 1, device=device, past_seen_tokens=past)
        return self._position_bias[past]  # [1, h, 1, past + 1]

    def step(self, tokens: torch.Tensor, memory: EncoderMemory, cache: Optional[DecoderCache] = None,
             capacity: int = 8) -> Tuple[torch.Tensor, DecoderCache]:
        """Feed the next token of every beam (``tokens [B, W, 1]``); return its final state ``[B, W, d]`` and
        the cache extended by it. ``cache`` must already be re-ordered to the same ``W`` beams; a new cache
        gets room for ``capacity`` positions."""
        B, W, _ = tokens.shape
        N, h, dk = B * W, self.heads, self.d_kv
        hidden = self.decoder.embed_tokens(tokens.reshape(N))  # [N, d]
        if cache is None:
            layers = len(self.decoder.block)
            shape = (N, layers, h, capacity, dk)
            cache = DecoderCache(hidden.new_empty(shape), hidden.new_empty(shape), W, 0)
        past = cache.length
        if past >= cache.keys.shape[3]:
            raise ValueError(f"decoder cache full ({past} positions); create it with a larger capacity")
        position_bias = self._bias(past, tokens.device).to(hidden.dtype)
        for index, block in enumerate(self.decoder.block):
            sa = block.layer[0]
            q, k, v = torch.nn.functional.linear(self._norm(sa.layer_norm, hidden), self.qkv[index]).view(N, 3, h, dk).unbind(1)
            cache.keys[:, index, :, past] = k
            cache.values[:, index, :, past] = v
            keys, values = cache.keys[:, index, :, :past + 1], cache.values[:, index, :, :past + 1]  # [N, h, t, dk]
            attended = torch.nn.functional.scaled_dot_product_attention(q[:, :, None], keys, values, attn_mask=position_bias, scale=1.0)
            hidden = hidden + sa.SelfAttention.o(attended.reshape(N, h * dk))
            ca = block.layer[1]
            q = ca.EncDecAttention.q(self._norm(ca.layer_norm, hidden)).view(B, W, h, dk).transpose(1, 2)
            attended = torch.nn.functional.scaled_dot_product_attention(q, memory.keys[index], memory.values[index], attn_mask=memory.mask_bias, scale=1.0)
            hidden = hidden + ca.EncDecAttention.o(attended.transpose(1, 2).reshape(N, h * dk))
            ff = block.layer[-1]
            hidden = hidden + ff.DenseReluDense(self._norm(ff.layer_norm, hidden))
        hidden = self._norm(self.decoder.final_layer_norm, hidden).view(B, W, -1)
        cache.length = past + 1
        return hidden, cache

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        if getattr(self.config, "scale_decoder_outputs", False):
            hidden = hidden * (self.config.d_model ** -0.5)
        return self.t5.lm_head(hidden)
