"""NEZHA's self-drafting layer states (Wang et al. 2026, "NEZHA: Nimble drafting and Efficient verification", arXiv
2511.18793; ComeIR App. B.2.3, Eq. 40-42), shared by ComeIR (``architecture="nezha"``) and TIGER
(``decoding_architecture="nezha"``).

One trainable placeholder per SID level is appended after the history, so a single backbone pass yields ``h_u`` (the
state of the last history position) and the placeholder states ``h_1 .. h_L`` (Eq. 40). Level ``l`` is predicted from
``xi_l = h_u^l + h_l`` (Eq. 41); the recurrent user state starts at ``h_u^1 = h_u`` and advances with a per-level cell
fed the transition input of the generated code (Eq. 42). During beam search every hypothesis carries its own state.

``cell``: ``"gru"`` (ComeIR's reading, the default), ``"rnn"`` (a tanh Elman cell, what NEZHA's published code uses)
or ``"none"`` (no recurrence: ``h_u^l = h_u``). The parameter names (``placeholders``, ``transition.*``, ``cells.*``)
are those of the ComeIR checkpoints saved before this module was shared.
"""

from __future__ import annotations

from typing import Tuple

import torch
from torch import nn

CELLS = ("gru", "rnn", "none")


class NezhaLayerStates(nn.Module):
    def __init__(self, num_levels: int, hidden_size: int, transition_input_size: int, init_std: float = 0.02,
                 cell: str = "gru"):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"unknown NEZHA cell {cell!r}; choose one of {CELLS}")
        self.num_levels = num_levels
        self.cell = cell
        self.placeholders = nn.Parameter(torch.randn(num_levels, hidden_size) * init_std)
        if cell != "none":
            # Delta_l (Eq. 42): the transition input projected to the hidden size, then the level's cell
            self.transition = nn.ModuleList(nn.Linear(transition_input_size, hidden_size)
                                            for _ in range(num_levels - 1))
            make = (lambda: nn.GRUCell(hidden_size, hidden_size)) if cell == "gru" else \
                (lambda: nn.RNNCell(hidden_size, hidden_size, nonlinearity="tanh"))
            self.cells = nn.ModuleList(make() for _ in range(num_levels - 1))

    def append_placeholders(self, embeds: torch.Tensor, mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """``[R; p_1; ...; p_L]`` (Eq. 40) and its attention mask. With left-padded histories the placeholders continue
        the real positions (callers number positions from the mask, ``modules.backbones.prompt_positions``)."""
        B = embeds.shape[0]
        slots = self.placeholders.to(embeds.dtype)[None].expand(B, -1, -1)
        return torch.cat([embeds, slots], 1), torch.cat([mask, mask.new_ones(B, self.num_levels)], 1)

    def split(self, hidden: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """``h_u [B, d]`` (last history position) and the placeholder states ``[B, L, d]``."""
        L = self.num_levels
        return hidden[:, -L - 1], hidden[:, -L:]

    @staticmethod
    def layer_state(recurrent: torch.Tensor, placeholder_states: torch.Tensor, level: int) -> torch.Tensor:
        """``xi_l = h_u^l + h_l`` (Eq. 41) for recurrent states ``[B, W, d]``."""
        return recurrent + placeholder_states[:, level, None, :]

    def advance(self, level: int, transition_input: torch.Tensor, recurrent: torch.Tensor) -> torch.Tensor:
        """``h_u^{l+1} = cell_l(Delta_l(c^l), h_u^l)`` (Eq. 42) for ``[B, W, *]`` inputs (unchanged without a cell)."""
        if self.cell == "none":
            return recurrent
        shape = recurrent.shape
        x = self.transition[level](transition_input).reshape(-1, shape[-1])
        cell = self.cells[level]
        dtype = cell.weight_ih.dtype  # the cell's own precision (autocast does not cover GRUCell / RNNCell)
        h = cell(x.to(dtype), recurrent.reshape(-1, shape[-1]).to(dtype))
        return h.to(recurrent.dtype).view(shape)
