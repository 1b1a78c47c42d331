"""DECOR's embedding blocks (arXiv 2509.10468, Sec. 3.2-3.4): decomposed embedding fusion (Eq. 9-11), the
attention-pooled user context (Eq. 13-15) and the contextual composition over a token region (Eq. 16-17), used for
the target tokens and for the learnable BOS queries (Eq. 19)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn


class DecomposedEmbeddingFusion(nn.Module):
    """Eq. 10-11: ``e_fused = W_fuse [LN(W_pre e_pre) || LN(W_collab e_collab)]``, one set of weights for every level.

    ``e_pre`` is the frozen codeword of the token (Eq. 9; zero for tokens without one: special tokens and the
    collision level), ``e_collab`` its learnable collaborative row."""

    def __init__(self, codebook_dim: int, hidden_size: int, projection_dim: int, bias: bool = False):
        super().__init__()
        self.pretrained_projection = nn.Linear(codebook_dim, projection_dim, bias=bias)  # W_pre
        self.collab_projection = nn.Linear(hidden_size, projection_dim, bias=bias)  # W_collab
        self.pretrained_norm = nn.LayerNorm(projection_dim)
        self.collab_norm = nn.LayerNorm(projection_dim)
        self.fuse = nn.Linear(2 * projection_dim, hidden_size, bias=bias)  # W_fuse

    def forward(self, pretrained: torch.Tensor, collab: torch.Tensor) -> torch.Tensor:
        """Fused rows ``[V, d]`` from the pretrained ``[V, d_cb]`` and collaborative ``[V, d]`` rows."""
        pre = self.pretrained_norm(self.pretrained_projection(pretrained.to(collab.dtype)))  # Eq. 10
        col = self.collab_norm(self.collab_projection(collab))
        return self.fuse(torch.cat([pre, col], -1))  # Eq. 11


@dataclass
class PooledContext:
    """Running sums of the attention pooling (Eq. 15) over the tokens seen so far, stable in floating point:
    ``weighted = sum exp(s - top) h`` ``[..., d]``, ``total = sum exp(s - top)`` ``[...]``, ``top`` the largest ``s``."""

    top: torch.Tensor
    total: torch.Tensor
    weighted: torch.Tensor


class AttentionPooledContext(nn.Module):
    """Eq. 13-15: ``u = MLP_ctx(sum_l softmax_l(s)_l h_l)``, ``s_l = w^T tanh(W h_l + b)``, padding masked.

    ``MLP_ctx`` is not specified: ``num_layers`` linear layers ``d -> d`` with ReLU between them (2 by default)."""

    def __init__(self, hidden_size: int, projection_dim: int, num_layers: int = 2):
        super().__init__()
        self.score_projection = nn.Linear(hidden_size, projection_dim)  # W, b
        self.score_vector = nn.Linear(projection_dim, 1, bias=False)  # w
        layers = []
        for index in range(num_layers):
            layers.append(nn.Linear(hidden_size, hidden_size))
            if index + 1 < num_layers:
                layers.append(nn.ReLU())
        self.mlp = nn.Sequential(*layers)

    def scores(self, tokens: torch.Tensor) -> torch.Tensor:
        """``s_l`` ``[..., S]`` of token embeddings ``[..., S, d]`` (Eq. 14)."""
        return self.score_vector(torch.tanh(self.score_projection(tokens))).squeeze(-1).float()

    def summarize(self, tokens: torch.Tensor, mask: torch.Tensor) -> PooledContext:
        """The pooling sums over ``tokens [B, S, d]`` where ``mask [B, S]`` (every row needs one real token)."""
        scores = self.scores(tokens).masked_fill(~mask.bool(), float("-inf"))
        top = scores.amax(-1)
        weights = torch.exp(scores - top[..., None])
        return PooledContext(top, weights.sum(-1), torch.einsum("bs,bsd->bd", weights, tokens.float()))

    def extend(self, context: PooledContext, tokens: torch.Tensor, mask: torch.Tensor) -> PooledContext:
        """``context`` (leading shape ``[B]``) extended by ``tokens [B, *Q, P, d]`` where ``mask [B, *Q, P]``:
        one context per ``Q`` entry (a decoder position, a beam)."""
        extra = tokens.dim() - 3  # the Q axes
        shape = (tokens.shape[0],) + (1,) * extra
        top, total = context.top.view(shape), context.total.view(shape)
        weighted = context.weighted.view(*shape, -1)
        if tokens.shape[-2] == 0:
            target = tokens.shape[:-2]
            return PooledContext(top.expand(target), total.expand(target), weighted.expand(*target, -1))
        scores = self.scores(tokens).masked_fill(~mask.bool(), float("-inf"))
        new_top = torch.maximum(top, scores.amax(-1))
        keep = torch.exp(top - new_top)
        weights = torch.exp(scores - new_top[..., None])
        return PooledContext(new_top, total * keep + weights.sum(-1),
                             weighted * keep[..., None] + (weights[..., None] * tokens.float()).sum(-2))

    def read(self, context: PooledContext) -> torch.Tensor:
        """``u = MLP_ctx(weighted / total)`` (Eq. 13)."""
        pooled = context.weighted / context.total[..., None]
        return self.mlp(pooled.to(self.mlp[0].weight.dtype))

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.read(self.summarize(tokens, mask))


class TokenComposition(nn.Module):
    """Eq. 16-17: ``a = softmax_c' <W_q u, W_k e_c'>`` over a candidate set, ``e~ = sum_c' a_c' e_c'`` (the values are
    the raw candidate embeddings). ``scale``: ``"none"`` (as printed) or ``"sqrt_d"``."""

    def __init__(self, hidden_size: int, bias: bool = False, scale: str = "none"):
        super().__init__()
        self.query = nn.Linear(hidden_size, hidden_size, bias=bias)  # W_q
        self.key = nn.Linear(hidden_size, hidden_size, bias=bias)  # W_k
        self.scale = hidden_size ** -0.5 if scale == "sqrt_d" else 1.0

    def weights(self, context: torch.Tensor, candidates: torch.Tensor,
                keys: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``a`` ``[..., K]`` of contexts ``u [..., d]`` over ``candidates [K, d]`` (``keys``: their ``W_k e``)."""
        keys = self.key(candidates) if keys is None else keys
        return torch.softmax((self.query(context) @ keys.t()).float() * self.scale, dim=-1)

    def forward(self, context: torch.Tensor, candidates: torch.Tensor,
                keys: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.weights(context, candidates, keys).to(candidates.dtype) @ candidates
