"""NEZHA decoding for any hf_genrec model (Wang et al. 2026, arXiv 2511.18793; ComeIR App. B.2.3, Eq. 40-42).

A model opts in with ``config.decoding_architecture = "nezha"``: ``L`` placeholder tokens follow the history, one
backbone pass gives the history state ``h_u`` and the placeholder states ``h_1 .. h_L``, and a light recurrent head
(:class:`~hf_genrec.modules.nezha.NezhaLayerStates`) drafts the SID level by level from ``xi_l = h_u^l + h_l`` without
another backbone call. The shared trie-constrained beam search drives the head (the trie is NEZHA's "model-free
verifier"; ``generate(verifier=...)`` selects how it applies).

:class:`NezhaDecodingMixin` implements the training scores and the decoding protocol from three hooks of the model:

``nezha_backbone_states(**inputs) -> (h_u [B, d], placeholder_states [B, L, d])``
    the single backbone pass over the history and the placeholders;
``nezha_scores(level, xi [..., d]) -> [..., K_l]``
    the level's code logits (the model's own scorer, or NEZHA's separate per-level output layers);
``nezha_transition_input(level, codes [...]) -> [..., d_in]``
    the embedding of a generated code that advances the recurrent state (Eq. 42).

Each level is normalised over its own codes (NEZHA's per-level cross-entropy). The model keeps its head in
``self.nezha`` (a ``NezhaLayerStates``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

import torch
from torch.nn import functional as F


@dataclass
class NezhaDecodingState:
    placeholder_states: torch.Tensor  # [B, L, d]
    recurrent: torch.Tensor  # each beam's recurrent user state h_u^l [B, W, d]


class NezhaDecodingMixin:
    """Teacher-forced NEZHA scores and the NEZHA decoding protocol (see the module docstring)."""

    def nezha_backbone_states(self, **inputs) -> Tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError(f"{type(self).__name__} does not implement nezha_backbone_states")

    def nezha_scores(self, level: int, xi: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement nezha_scores")

    def nezha_transition_input(self, level: int, codes: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement nezha_transition_input")

    # ------------------------------------------------------------------ training
    def nezha_level_log_probs(self, user: torch.Tensor, placeholder_states: torch.Tensor,
                              labels: Optional[torch.Tensor]) -> List[torch.Tensor]:
        """Log-probabilities ``[B, K_l]`` of every level's codes, teacher-forced on the labels' codes (Eq. 41-42);
        only the first level without labels."""
        recurrent = user[:, None]
        levels = self.config.num_levels if labels is not None else 1
        out = []
        for level in range(levels):
            xi = self.nezha.layer_state(recurrent, placeholder_states, level)[:, 0]
            out.append(F.log_softmax(self.nezha_scores(level, xi).float(), dim=-1))
            if level + 1 < levels:
                codes = labels[:, level, None].clamp(min=0)
                recurrent = self.nezha.advance(level, self.nezha_transition_input(level, codes), recurrent)
        return out

    @staticmethod
    def nezha_loss(log_probs: List[torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
        """NEZHA's objective: per-level cross-entropy, averaged over levels and targets (``-100`` ignored)."""
        losses = [F.nll_loss(lp, labels[:, level], ignore_index=-100, reduction="sum")
                  for level, lp in enumerate(log_probs)]
        return torch.stack(losses).sum() / (labels >= 0).sum().clamp(min=1)

    # ------------------------------------------------------------------ decoding protocol
    def nezha_prepare_decoding(self, **inputs) -> NezhaDecodingState:
        user, placeholder_states = self.nezha_backbone_states(**inputs)
        return NezhaDecodingState(placeholder_states=placeholder_states, recurrent=user[:, None])

    def nezha_decode_step(self, state: NezhaDecodingState, level: int, temperature: torch.Tensor) -> torch.Tensor:
        xi = self.nezha.layer_state(state.recurrent, state.placeholder_states, level)
        logits = self.nezha_scores(level, xi).float()
        return F.log_softmax(logits / temperature[..., None], dim=-1)

    def nezha_update_decoding_state(self, state: NezhaDecodingState, level: int, parent: torch.Tensor,
                                    codes: torch.Tensor) -> NezhaDecodingState:
        if level + 1 < self.config.num_levels:  # each kept beam advances its parent's state with its code (Eq. 42)
            recurrent = state.recurrent.gather(1, parent[..., None].expand(-1, -1, state.recurrent.shape[-1]))
            state.recurrent = self.nezha.advance(level, self.nezha_transition_input(level, codes), recurrent)
        return state
