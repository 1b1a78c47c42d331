"""The Recursive-Assignment Network (RAN) of IntRR (Sec. 3.2, Eq. 4-6).

``L`` trainable codebooks ``V_l`` (``K_l x d``). For a guidance signal ``x`` (a UID embedding on the
item side, the user state ``h_u`` on the user side), level by level:

* hidden-state fusion (Eq. 4): ``h_1 = x``; ``h_l = MLP_l[x || z_<l]`` for ``l > 1``;
* token assignment (Eq. 5): ``p_l = softmax(h_l V_l^T)``;
* contextual aggregation, switchable: *redistribution* (soft, Eq. 6) ``z_l = sum_k p_l(k) V_l(k)``, or
  *teacher forcing* (hard) ``z_l = V_l(c_l)`` for the given code ``c_l``.

``z_<l`` - "the semantic context propagated from preceding levels" - is taken as the concatenation
``[z_1 || ... || z_{l-1}]`` (IntRR's teacher forcing uses "a hard lookup of the previous codebooks";
plural). ``context="sum"`` (``z_1 + ... + z_{l-1}``) and ``context="last"`` (``z_{l-1}``) are available.
The layer-specific MLP is Linear -> GELU -> Linear back to ``d``.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.nn import functional as F

CONTEXTS = ("concat", "sum", "last")


class RecursiveAssignmentNetwork(nn.Module):
    def __init__(self, codebook_sizes: Sequence[int], dim: int, context: str = "concat", mlp_hidden: Optional[int] = None,
                 dropout: float = 0.0, init_std: Optional[float] = None):
        super().__init__()
        if context not in CONTEXTS:
            raise ValueError(f"context must be one of {CONTEXTS}, got {context!r}")
        self.codebook_sizes = [int(k) for k in codebook_sizes]
        self.dim = dim
        self.context = context
        std = init_std if init_std is not None else dim ** -0.5  # logits h.V of order one for unit-scale h
        self.codebooks = nn.ParameterList([nn.Parameter(torch.randn(k, dim) * std) for k in self.codebook_sizes])
        hidden = mlp_hidden or dim
        self.mlps = nn.ModuleList([nn.Identity()])  # level 1: h_1 = x
        for level in range(1, len(self.codebook_sizes)):
            width = dim * (1 + (level if context == "concat" else 1))
            self.mlps.append(nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim)))

    @property
    def levels(self) -> int:
        return len(self.codebook_sizes)

    def fuse(self, x: torch.Tensor, contexts: List[torch.Tensor], level: int) -> torch.Tensor:
        """Eq. 4: the level-``level`` hidden state from the signal and the previous levels' contexts."""
        if level == 0:
            return x
        if self.context == "concat":
            previous = torch.cat(contexts[:level], dim=-1)
        elif self.context == "sum":
            previous = torch.stack(contexts[:level]).sum(0)
        else:
            previous = contexts[level - 1]
        return self.mlps[level](torch.cat([x.expand(*previous.shape[:-1], -1), previous], dim=-1))

    def logits(self, hidden: torch.Tensor, level: int) -> torch.Tensor:
        """Eq. 5 before the softmax: similarity of the hidden state to every codeword of the level."""
        return hidden @ self.codebooks[level].T

    def forward(self, x: torch.Tensor, codes: Optional[torch.Tensor] = None, soft: bool = True
                ) -> Tuple[torch.Tensor, List[torch.Tensor], List[torch.Tensor]]:
        """Run all levels for signals ``x [..., d]``.

        ``soft=True``: redistribution (Eq. 6); ``soft=False``: teacher forcing with ``codes [..., L]``.
        Returns ``(logits [..., L, K_max] padded with -inf, per-level logits, per-level contexts z_l)``.
        """
        if not soft and codes is None:
            raise ValueError("teacher forcing needs the codes")
        contexts: List[torch.Tensor] = []
        per_level: List[torch.Tensor] = []
        for level in range(self.levels):
            logits = self.logits(self.fuse(x, contexts, level), level)
            per_level.append(logits)
            if soft:
                contexts.append(F.softmax(logits, dim=-1) @ self.codebooks[level])
            else:
                contexts.append(self.codebooks[level][codes[..., level]])
        width = max(self.codebook_sizes)
        stacked = torch.stack([F.pad(l, (0, width - l.shape[-1]), value=float("-inf")) for l in per_level], dim=-2)
        return stacked, per_level, contexts

    def code_log_likelihood(self, per_level: List[torch.Tensor], codes: torch.Tensor) -> torch.Tensor:
        """``sum_l log p_l(c_l)`` for each signal (Eq. 8 / Eq. 10 without the sign)."""
        return sum(F.log_softmax(l.float(), dim=-1).gather(-1, codes[..., i:i + 1]).squeeze(-1)
                   for i, l in enumerate(per_level))
