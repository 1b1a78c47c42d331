"""Packing the teacher-forced target segments of every position of a history into one causal pass.

Sequence-level training (``training.train_examples: sequence``) scores a target after every history position. When the
model reads a few target-side tokens after the history (TIGER's ``<bos> c^1 .. c^{L-1}``, ComeIR's prefix feedback or
NEZHA placeholders), the window is packed as ``[history tokens; segment_0; ..; segment_{T-1}]`` with an explicit
attention pattern (the mechanism of :mod:`hf_genrec.generation.tree_decoding`: a 4-D mask and position ids):

* history tokens are causal among themselves (over the valid ones);
* segment ``j`` sees the valid history tokens up to its *anchor* (the last token of history item ``j``) and itself
  causally; no token sees another segment;
* segment ``j``'s position ids continue after its anchor's (``prompt_positions`` of the history + 1, + 2, ...).

Every segment therefore gets exactly the states of the prefix example ``history[: j + 1] + segment``.
"""

from __future__ import annotations

import functools
import inspect
from typing import Optional, Tuple

import torch

from .backbones import prompt_positions


def packed_target_layout(mask: torch.Tensor, anchors: torch.Tensor, segment_length: int
                         ) -> Tuple[torch.Tensor, torch.Tensor]:
    """The attention pattern ``allowed [B, P + T*S, P + T*S]`` (bool, query row reads key column) and position ids
    ``[B, P + T*S]`` of ``P`` history tokens (valid ones in ``mask [B, P]``) followed by ``T`` segments of ``S`` tokens,
    segment ``j`` anchored at history token ``anchors[:, j]``.

    Padded history tokens read only themselves (so no query row is empty: a softmax stays finite); a segment whose
    anchor is padding reads only its own tokens (plus any valid history before the anchor); its outputs are unused."""
    mask = mask.bool()
    B, P = mask.shape
    T, S = anchors.shape[1], segment_length
    device = mask.device
    index = torch.arange(P, device=device)
    history = (index[None, :] <= index[:, None])[None] & mask[:, None, :]  # [B, P, P] causal over valid keys
    history = history | torch.eye(P, dtype=torch.bool, device=device)[None]
    allowed = torch.zeros(B, P + T * S, P + T * S, dtype=torch.bool, device=device)
    allowed[:, :P, :P] = history
    positions = prompt_positions(mask)
    if T and S:
        reads = (index[None, None, :] <= anchors[..., None]) & mask[:, None, :]  # [B, T, P]
        allowed[:, P:, :P] = reads.repeat_interleave(S, dim=1)
        within = torch.ones(S, S, dtype=torch.bool, device=device).tril()
        allowed[:, P:, P:] = torch.block_diag(*([within] * T))[None]
        start = positions.gather(1, anchors) + 1  # [B, T]
        segment = start[..., None] + torch.arange(S, device=device)
        positions = torch.cat([positions, segment.flatten(1)], 1)
    return allowed, positions


def cache_argument(backbone) -> str:
    """The name of a causal LM's key/value cache argument: ``cache`` (transformers >= 5.25; ``past_key_values`` is
    deprecated there) or ``past_key_values`` (earlier 5.x releases)."""
    base = backbone.get_base_model() if hasattr(backbone, "get_base_model") else backbone  # peft passes kwargs on
    return _cache_argument_of(type(base))


@functools.lru_cache(maxsize=None)
def _cache_argument_of(cls) -> str:
    return "cache" if "cache" in inspect.signature(cls.forward).parameters else "past_key_values"


def returned_cache(output):
    """The key/value cache of a causal LM's output, under either name."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values


def causal_lm_states(backbone, inputs_embeds: torch.Tensor, allowed: torch.Tensor, position_ids: torch.Tensor,
                     past_key_values=None):
    """A Hugging Face causal LM's output under an explicit attention pattern ``allowed [B, Q, K]`` (bool; ``K`` counts
    the cached slots too) and position ids ``[B, Q]``; with ``past_key_values`` (a cache) the new keys/values are
    appended (:func:`returned_cache` reads it back)."""
    if past_key_values is None:
        return backbone(inputs_embeds=inputs_embeds, attention_mask=allowed[:, None], position_ids=position_ids,
                        use_cache=False)
    return backbone(inputs_embeds=inputs_embeds, attention_mask=allowed[:, None], position_ids=position_ids,
                    use_cache=True, **{cache_argument(backbone): past_key_values})


def packed_target_states(backbone, history_embeds: torch.Tensor, history_mask: torch.Tensor, anchors: torch.Tensor,
                         segment_embeds: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """One causal-LM pass over a history ``[B, P, d]`` and its per-position segments ``segment_embeds [B, T, S, d]``
    (see :func:`packed_target_layout`): the history's hidden states ``[B, P, d']`` and the segments' ``[B, T, S, d']``."""
    B, P = history_mask.shape
    T, S = segment_embeds.shape[1:3]
    allowed, positions = packed_target_layout(history_mask, anchors, S)
    sequence = torch.cat([history_embeds, segment_embeds.flatten(1, 2).to(history_embeds.dtype)], 1)
    hidden = causal_lm_states(backbone, sequence, allowed, positions).last_hidden_state
    return hidden[:, :P], hidden[:, P:].reshape(B, T, S, hidden.shape[-1])


def item_anchors(num_items: int, tokens_per_item: int, batch_size: int, offset: int = 0,
                 device: Optional[torch.device] = None) -> torch.Tensor:
    """``[B, T]`` index of the last token of each history item when every item takes ``tokens_per_item`` consecutive
    tokens after ``offset`` leading tokens (e.g. a user token)."""
    last = offset + (torch.arange(num_items, device=device) + 1) * tokens_per_item - 1
    return last[None].expand(batch_size, num_items)
