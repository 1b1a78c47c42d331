"""PRISM's history-token embeddings (Sec. 3.4.1): the enhanced ID embedding (Eq. 10) and Dynamic Semantic
Integration, a noisy top-K mixture of experts over ID, content, collaborative and codebook vectors (Eq. 11-14).

Every history token is the SID token ``c^l`` of item ``i`` at depth ``l``; the blocks here work on the flattened
``[B, T * L]`` token layout with ``item_position [B, T * L]`` (the item's index ``i``), ``level [T * L]`` and, for
Eq. 10's time term, ``time_bucket [B, T * L]``.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F


def interval_buckets(timestamps: torch.Tensor, mask: torch.Tensor, buckets: int) -> torch.Tensor:
    """Eq. 10's ``Delta t_i`` as a bucket ``[B, T]``: the interval since the previous history item (0 for the first
    item and for padding), log-bucketed ``1 + floor(log2(Delta t))`` for ``Delta t >= 1`` (bucket 0: no interval, or
    under one time unit), capped at ``buckets - 1``."""
    previous = torch.cat([timestamps[:, :1], timestamps[:, :-1]], 1)
    first = mask & ~torch.cat([torch.zeros_like(mask[:, :1]), mask[:, :-1]], 1)
    delta = (timestamps - previous).clamp(min=0).float()
    bucket = torch.where(delta >= 1, 1 + torch.floor(torch.log2(delta.clamp(min=1))), torch.zeros_like(delta)).long()
    return bucket.masked_fill(first | ~mask, 0).clamp(max=buckets - 1)


class EnhancedIdEmbedding(nn.Module):
    """Eq. 10: ``e_id = E_tok[c^l] + P_seq[i] + P_hier[l] + P_time[Delta t_i]``.

    ``mode="additive"`` is the paper's sum. ``mode="official"`` is the authors' code (../shared/specs/prism.md
    Sec. 2.2): ``E_tok + s * (Dropout(LN(E_tok + P_seq + P_hier + P_time)) - E_tok)`` with a learned scalar ``s``.
    ``time`` is ``"delta_t"`` (interval buckets), ``"position"`` (a second learned position table, the code's
    stand-in for the missing timestamps) or ``"none"``."""

    def __init__(self, dim: int, max_items: int, levels: int, time: str = "delta_t", time_buckets: int = 64,
                 mode: str = "additive", dropout: float = 0.1, scale_init: float = 0.1):
        super().__init__()
        self.mode, self.time = mode, time
        self.sequence_position = nn.Embedding(max_items, dim)
        self.depth = nn.Embedding(levels, dim)
        self.time_table = {"delta_t": nn.Embedding(time_buckets, dim), "position": nn.Embedding(max_items, dim),
                           "none": None}[time]
        if mode == "official":
            self.norm = nn.LayerNorm(dim)
            self.dropout = nn.Dropout(dropout)
            self.scale = nn.Parameter(torch.tensor(float(scale_init)))

    def forward(self, token_embeds: torch.Tensor, item_position: torch.Tensor, level: torch.Tensor,
                time_bucket: Optional[torch.Tensor] = None) -> torch.Tensor:
        extra = self.sequence_position(item_position) + self.depth(level)
        if self.time == "delta_t":
            if time_bucket is None:
                raise ValueError("time_encoding='delta_t' (Eq. 10's P_time) needs the histories' timestamps: pass "
                                 "timestamps (the item-mode collator does when the data has them), or set "
                                 "time_encoding='position' or 'none'")
            extra = extra + self.time_table(time_bucket)
        elif self.time == "position":
            extra = extra + self.time_table(item_position)
        if self.mode == "additive":
            return token_embeds + extra
        return token_embeds + self.scale * (self.dropout(self.norm(token_embeds + extra)) - token_embeds)


class DepthProjector(nn.Module):
    """``phi^{(l)}`` of Eq. 11: Linear + LayerNorm, one per SID depth (or one shared by all depths)."""

    def __init__(self, in_dim: int, out_dim: int, levels: int, depth_specific: bool = True):
        super().__init__()
        count = levels if depth_specific else 1
        self.layers = nn.ModuleList([nn.Sequential(nn.Linear(in_dim, out_dim), nn.LayerNorm(out_dim))
                                     for _ in range(count)])

    def forward(self, item_vectors: torch.Tensor, levels: int) -> torch.Tensor:
        """``[B, T, in] -> [B, T * levels, out]``: depth ``l``'s projection for token ``(i, l)``."""
        projected = [self.layers[min(level, len(self.layers) - 1)](item_vectors) for level in range(levels)]
        return torch.stack(projected, 2).flatten(1, 2)


class NoisyTopKMoE(nn.Module):
    """Eq. 12-13: ``G(x) = W_g x + eps`` (eps ~ N(0, noise_std^2) in training only), the experts of the top-``k``
    logits weighted by a softmax over those ``k`` logits. Each expert is ``Linear(in, d_moe) -> ReLU -> Dropout ->
    Linear(d_moe, d_moe)`` (the paper gives only ``d_moe``). Every expert runs on every token (3 small experts:
    gathering would cost more than it saves on these sizes)."""

    def __init__(self, in_dim: int, moe_dim: int, num_experts: int, top_k: int, noise_std: float = 1.0,
                 dropout: float = 0.1):
        super().__init__()
        self.top_k, self.noise_std = top_k, noise_std
        self.router = nn.Linear(in_dim, num_experts, bias=False)
        self.experts = nn.ModuleList([nn.Sequential(nn.Linear(in_dim, moe_dim), nn.ReLU(), nn.Dropout(dropout),
                                                    nn.Linear(moe_dim, moe_dim)) for _ in range(num_experts)])

    def routing_weights(self, x: torch.Tensor) -> torch.Tensor:
        """``[..., N]``: Eq. 13's normalised weights, zero outside the top-``k`` experts."""
        logits = self.router(x)
        if self.training and self.noise_std > 0:
            logits = logits + torch.randn_like(logits) * self.noise_std
        top, index = logits.topk(self.top_k, dim=-1)
        return torch.zeros_like(logits).scatter(-1, index, F.softmax(top, dim=-1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.routing_weights(x)
        outputs = torch.stack([expert(x) for expert in self.experts], -2)  # [..., N, d_moe]
        return (weights[..., None] * outputs).sum(-2)


class DynamicSemanticIntegration(nn.Module):
    """Eq. 11-14: ``x_l = e_id ‖ phi_cont^{(l)}(e_cont) ‖ phi_col^{(l)}(e_collab) ‖ q_l``, the mixture of experts,
    and ``e_fused = e_id + eta * phi_out(h_moe)`` with a learned scalar ``eta``."""

    def __init__(self, dim: int, content_dim: int, collab_dim: int, codebook_dim: int, levels: int,
                 content_proj_dim: int = 256, collab_proj_dim: int = 64, depth_specific: bool = True,
                 num_experts: int = 3, top_k: int = 2, moe_dim: int = 256, noise_std: float = 1.0,
                 eta_init: float = 0.1, dropout: float = 0.1):
        super().__init__()
        self.levels = levels
        self.content = DepthProjector(content_dim, content_proj_dim, levels, depth_specific)
        self.collab = DepthProjector(collab_dim, collab_proj_dim, levels, depth_specific)
        self.moe = NoisyTopKMoE(dim + content_proj_dim + collab_proj_dim + codebook_dim, moe_dim, num_experts, top_k,
                                noise_std, dropout)
        self.out = nn.Linear(moe_dim, dim)
        self.eta = nn.Parameter(torch.tensor(float(eta_init)))

    def composite(self, id_embeds: torch.Tensor, content: torch.Tensor, collab: torch.Tensor,
                  codebook_vectors: torch.Tensor) -> torch.Tensor:
        """Eq. 11 for every token: ``[B, T * L, d + d_cont' + d_col' + d_cb]`` (``content``/``collab`` per item
        ``[B, T, .]``, ``codebook_vectors`` per token)."""
        return torch.cat([id_embeds, self.content(content, self.levels), self.collab(collab, self.levels),
                          codebook_vectors], -1)

    def forward(self, id_embeds: torch.Tensor, content: torch.Tensor, collab: torch.Tensor,
                codebook_vectors: torch.Tensor) -> torch.Tensor:
        x = self.composite(id_embeds, content, collab, codebook_vectors)
        return id_embeds + self.eta * self.out(self.moe(x))

