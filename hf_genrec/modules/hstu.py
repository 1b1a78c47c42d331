"""HSTU (Hierarchical Sequential Transduction Units, Zhai et al. 2024, "Actions Speak Louder than Words").

Each layer (paper Eq. 1-3)::

    U, V, Q, K = split(SiLU(f1(LayerNorm(X))))
    A(X)V(X)   = SiLU(Q K^T + rab^{p,t}) V / n          (pointwise aggregated attention, causal)
    Y          = X + f2(LayerNorm(A(X)V(X)) * U)

``rab^{p,t}`` is a learned relative attention bias from the bucketed position difference ``j - i`` and
the log-bucketed time difference ``|t_j - t_i|`` (bucket ``floor(log(max(dt, 1)) / 0.301)``, i.e. base ~2),
shared by the heads of a layer. ``n`` normalises the pointwise attention; we take, for each query, the number of
valid (non-padding) positions it attends to: for the last position that is the sequence's valid length (the
paper's reading), and no position depends on the tokens after it, so a decoder trained on whole sequences
scores a prefix exactly as it does while generating. As in the paper there is no softmax and no ``1/sqrt(d)``
scaling unless ``attention_scale`` is set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Tuple

import torch
from torch import nn
from torch.nn import functional as F


class RelativeTimePositionBias(nn.Module):
    def __init__(self, max_positions: int, time_buckets: int = 128, use_time: bool = True):
        super().__init__()
        self.max_positions = max_positions
        self.time_buckets = time_buckets
        self.use_time = use_time
        self.position = nn.Parameter(torch.zeros(2 * max_positions - 1))
        self.time = nn.Parameter(torch.zeros(time_buckets + 1)) if use_time else None

    def forward(self, length: int, timestamps: Optional[torch.Tensor] = None,
                positions: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``[1 or B, T, T]`` bias of key ``j`` for query ``i``; the position difference is ``j - i`` of the sequence
        indices, or of ``positions [B, T]`` when given (packed sequences whose tokens are not in position order)."""
        if positions is None:
            index = torch.arange(length, device=self.position.device)
            relative = (index[None, :] - index[:, None])[None]
        else:
            relative = positions[:, None, :] - positions[:, :, None]
        bias = self._position_bias(relative)  # [1 or B, T, T]
        if self.use_time and timestamps is not None:
            delta = (timestamps[:, None, :] - timestamps[:, :, None]).abs().float().clamp(min=1.0)
            buckets = (torch.log(delta) / 0.301).long().clamp(0, self.time_buckets)
            bias = bias + self.time[buckets]
        return bias

    def _position_bias(self, relative: torch.Tensor) -> torch.Tensor:
        relative = relative.clamp(-(self.max_positions - 1), self.max_positions - 1)
        return self.position[relative + self.max_positions - 1]

    def query_row(self, query: int) -> torch.Tensor:
        """``[query + 1]``: the bias of keys ``0 .. query`` for the query at sequence index ``query`` (decoding,
        no timestamps): the last row of :meth:`forward`'s matrix."""
        return self._position_bias(torch.arange(query + 1, device=self.position.device) - query)


class HSTULayer(nn.Module):
    def __init__(self, dim: int, heads: int, attention_dim: int, linear_dim: int, dropout: float = 0.1,
                 attention_scale: Optional[float] = None):
        super().__init__()
        self.heads, self.attention_dim, self.linear_dim = heads, attention_dim, linear_dim
        self.attention_scale = attention_scale
        self.norm_input = nn.LayerNorm(dim)
        self.uvqk = nn.Linear(dim, heads * (2 * linear_dim + 2 * attention_dim))
        self.norm_attention = nn.LayerNorm(heads * linear_dim)
        self.output = nn.Linear(heads * linear_dim, dim)
        self.dropout = nn.Dropout(dropout)

    def _project(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """``U, V, Q, K`` of Eq. 1 as ``[..., H, l or a]``."""
        H, a, l = self.heads, self.attention_dim, self.linear_dim
        u, v, q, k = F.silu(self.uvqk(self.norm_input(x))).split([H * l, H * l, H * a, H * a], dim=-1)
        shape = x.shape[:-1]
        return u, v.view(*shape, H, l), q.view(*shape, H, a), k.view(*shape, H, a)

    def _combine(self, x: torch.Tensor, attended: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Eq. 3: ``X + f2(LayerNorm(A(X)V(X)) * U)``."""
        return x + self.dropout(self.output(self.norm_attention(attended) * u))

    def forward(self, x: torch.Tensor, mask: torch.Tensor, bias: torch.Tensor,
                allowed: Optional[torch.Tensor] = None, return_key_values: bool = False):
        """``allowed [B, T, T]`` (query row may read key column) replaces the causal pattern; keys must also be valid
        in ``mask``, and ``n`` stays the number of allowed valid keys of each query. With ``return_key_values`` also
        the layer's keys ``[B, H, T, a]`` and values ``[B, H, T, l]`` (the prompt of :class:`HSTUDecodingCache`)."""
        B, T, _ = x.shape
        H, l = self.heads, self.linear_dim
        u, v, q, k = self._project(x)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        scores = q @ k.transpose(-1, -2)
        if self.attention_scale is not None:
            scores = scores * self.attention_scale
        if allowed is None:
            allowed = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()[None, None] & mask[:, None, None, :]
        else:
            allowed = allowed.bool()[:, None] & mask[:, None, None, :]
        n = allowed.sum(-1, keepdim=True).clamp(min=1).to(x.dtype)  # valid positions each query attends to
        weights = F.silu(scores + bias[:, None]) * allowed / n
        attended = (self.dropout(weights) @ v).transpose(1, 2).reshape(B, T, H * l)
        out = self._combine(x, attended, u)
        return (out, k, v) if return_key_values else out

    def step(self, x: torch.Tensor, cache: "HSTULayerCache", bias: torch.Tensor) -> torch.Tensor:
        """One new token per beam, ``x [B, W, d]``, attending to the valid prompt keys, its beam's generated keys and
        itself (the causal pattern of :meth:`forward` for the last position, without re-running the prefix).
        ``bias [P + s + 1]`` is the relative bias of the new token's query. Appends the token's key/value to
        ``cache`` in place and returns the layer output ``[B, W, d]``."""
        B, W, _ = x.shape
        H, l = self.heads, self.linear_dim
        u, v, q, k = self._project(x)  # [B, W, H, .]
        cache.generated_keys = torch.cat([cache.generated_keys, k[:, :, :, None]], 3)  # [B, W, H, s + 1, a]
        cache.generated_values = torch.cat([cache.generated_values, v[:, :, :, None]], 3)
        prompt_scores = torch.einsum("bwha,bhpa->bwhp", q, cache.prompt_keys)
        generated_scores = torch.einsum("bwha,bwhsa->bwhs", q, cache.generated_keys)
        scores = torch.cat([prompt_scores, generated_scores], -1)
        if self.attention_scale is not None:
            scores = scores * self.attention_scale
        P, s = cache.prompt_keys.shape[2], cache.generated_keys.shape[3]
        allowed = torch.cat([cache.prompt_mask, cache.prompt_mask.new_ones(B, s)], 1)[:, None, None, :]  # [B,1,1,P+s]
        n = allowed.sum(-1, keepdim=True).clamp(min=1).to(x.dtype)
        weights = F.silu(scores + bias) * allowed / n
        attended = (torch.einsum("bwhp,bhpl->bwhl", weights[..., :P], cache.prompt_values)
                    + torch.einsum("bwhs,bwhsl->bwhl", weights[..., P:], cache.generated_values))
        return self._combine(x, attended.reshape(B, W, H * l), u)


@dataclass
class HSTULayerCache:
    """One layer's keys and values while decoding: the prompt's once per user, the generated tokens' per beam."""
    prompt_keys: torch.Tensor  # [B, H, P, a]
    prompt_values: torch.Tensor  # [B, H, P, l]
    prompt_mask: torch.Tensor  # [B, P] bool
    generated_keys: torch.Tensor  # [B, W, H, s, a]
    generated_values: torch.Tensor  # [B, W, H, s, l]

    def select(self, parent: torch.Tensor) -> "HSTULayerCache":
        """Keep the beams ``parent [B, W']`` (indices of the previous beams of each user)."""
        def pick(t: torch.Tensor) -> torch.Tensor:
            return t.gather(1, parent.view(*parent.shape, 1, 1, 1).expand(-1, -1, *t.shape[2:]))
        return HSTULayerCache(self.prompt_keys, self.prompt_values, self.prompt_mask,
                              pick(self.generated_keys), pick(self.generated_values))


@dataclass
class HSTUDecodingCache:
    """Key/value cache of a decoding :class:`HSTU` (:meth:`HSTU.start_decoding`, :meth:`HSTU.extend_decoding`).

    The prompt (history + ``<bos>``) runs once per user; each decoding step runs only the new token of each beam
    through every layer. The outputs equal re-running every beam's whole sequence (tested)."""
    layers: List[HSTULayerCache]
    hidden: torch.Tensor  # [B, W, d] final (normed) state of each beam's last token: the next prediction's input

    @property
    def length(self) -> int:
        """Sequence index of the next token (prompt length + generated tokens)."""
        return self.layers[0].prompt_keys.shape[2] + self.layers[0].generated_keys.shape[3]

    def select(self, parent: torch.Tensor) -> "HSTUDecodingCache":
        hidden = self.hidden.gather(1, parent[..., None].expand(-1, -1, self.hidden.shape[-1]))
        return HSTUDecodingCache([layer.select(parent) for layer in self.layers], hidden)


class HSTU(nn.Module):
    """A causal HSTU stack over item embeddings ``[B, T, d]`` (left-padded), returning ``[B, T, d]``."""

    def __init__(self, dim: int = 128, num_layers: int = 4, num_heads: int = 4, attention_dim: Optional[int] = None,
                 linear_dim: Optional[int] = None, dropout: float = 0.2, max_positions: int = 256,
                 time_buckets: int = 128, use_time: bool = True, attention_scale: Optional[float] = None):
        super().__init__()
        per_head = dim // num_heads
        self.dim = dim
        self.input_dropout = nn.Dropout(dropout)
        self.biases = nn.ModuleList([RelativeTimePositionBias(max_positions, time_buckets, use_time)
                                     for _ in range(num_layers)])
        self.layers = nn.ModuleList([HSTULayer(dim, num_heads, attention_dim or per_head, linear_dim or per_head, dropout,
                                               attention_scale) for _ in range(num_layers)])
        self.norm = nn.LayerNorm(dim)

    def forward(self, embeds: torch.Tensor, mask: torch.Tensor, timestamps: Optional[torch.Tensor] = None,
                allowed: Optional[torch.Tensor] = None, positions: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Causal over the valid positions of ``mask [B, T]``; or over the explicit pattern ``allowed [B, T, T]``, with
        the relative position bias taken from ``positions [B, T]`` (packed sequences, see
        :mod:`hf_genrec.modules.packed_targets`)."""
        mask = mask.bool()
        x = self.input_dropout(embeds * math.sqrt(self.dim)) * mask[..., None]
        for bias, layer in zip(self.biases, self.layers):
            x = layer(x, mask, bias(x.shape[1], timestamps, positions), allowed)
        return self.norm(x)

    # ------------------------------------------------------------------ incremental decoding
    def start_decoding(self, embeds: torch.Tensor, mask: torch.Tensor) -> HSTUDecodingCache:
        """Run a left-padded prompt ``[B, P, d]`` once (no timestamps) and keep every layer's keys and values;
        ``hidden`` is the last position's state, one beam per user."""
        mask = mask.bool()
        if not bool(mask[:, -1].all()):
            raise ValueError("HSTU decoding needs left-padded prompts whose last position is a real token")
        x = self.input_dropout(embeds * math.sqrt(self.dim)) * mask[..., None]
        layers = []
        for bias, layer in zip(self.biases, self.layers):
            x, keys, values = layer(x, mask, bias(x.shape[1]), return_key_values=True)
            B, H = keys.shape[:2]
            layers.append(HSTULayerCache(keys, values, mask, keys.new_zeros(B, 1, H, 0, keys.shape[-1]),
                                         values.new_zeros(B, 1, H, 0, values.shape[-1])))
        return HSTUDecodingCache(layers, self.norm(x[:, -1:]))

    def extend_decoding(self, cache: HSTUDecodingCache, embeds: torch.Tensor) -> HSTUDecodingCache:
        """Append one token per beam (``embeds [B, W, d]``, beams already selected with :meth:`HSTUDecodingCache.select`)."""
        x = self.input_dropout(embeds * math.sqrt(self.dim))
        query = cache.length
        for bias, layer, layer_cache in zip(self.biases, self.layers, cache.layers):
            x = layer.step(x, layer_cache, bias.query_row(query))
        cache.hidden = self.norm(x)
        return cache
