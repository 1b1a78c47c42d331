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
from typing import Optional

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
        relative = relative.clamp(-(self.max_positions - 1), self.max_positions - 1)
        bias = self.position[relative + self.max_positions - 1]  # [1 or B, T, T]
        if self.use_time and timestamps is not None:
            delta = (timestamps[:, None, :] - timestamps[:, :, None]).abs().float().clamp(min=1.0)
            buckets = (torch.log(delta) / 0.301).long().clamp(0, self.time_buckets)
            bias = bias + self.time[buckets]
        return bias


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

    def forward(self, x: torch.Tensor, mask: torch.Tensor, bias: torch.Tensor,
                allowed: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``allowed [B, T, T]`` (query row may read key column) replaces the causal pattern; keys must also be valid
        in ``mask``, and ``n`` stays the number of allowed valid keys of each query."""
        B, T, _ = x.shape
        H, a, l = self.heads, self.attention_dim, self.linear_dim
        u, v, q, k = F.silu(self.uvqk(self.norm_input(x))).split([H * l, H * l, H * a, H * a], dim=-1)
        q = q.view(B, T, H, a).transpose(1, 2)
        k = k.view(B, T, H, a).transpose(1, 2)
        v = v.view(B, T, H, l).transpose(1, 2)
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
        return x + self.dropout(self.output(self.norm_attention(attended) * u))


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
