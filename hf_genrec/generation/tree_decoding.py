"""Beam decoding with any Hugging Face causal LM by tree attention over one shared prompt cache.

The history ("prompt") runs once per user and fills a ``DynamicCache``. Then every decoding step
appends one token per live beam *to the same cache*, as new slots, with a 4-D attention mask in which
each new token sees the valid prompt positions, its own ancestors' slots and itself, and with explicit
position ids (``valid prompt length + step``). No cache entry is copied or reordered when beams are
re-ranked: only the small ``lineage`` table of slot indices follows the parents. The result equals
running every beam's sequence separately (checked by the tests), at the cost of one prompt pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..modules.backbones import prompt_positions
from ..modules.packed_targets import cache_argument, causal_lm_states, returned_cache


@dataclass
class TreeState:
    cache: object  # transformers Cache
    prompt_mask: torch.Tensor  # [B, P] bool
    valid_length: torch.Tensor  # [B] number of valid prompt tokens
    lineage: torch.Tensor  # [B, W, s] cache slots of each beam's generated tokens
    hidden: torch.Tensor  # [B, W, d] last hidden state of each beam (input of the next prediction)


def tree_prompt(backbone, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor, cache) -> TreeState:
    """Run the prompt once; the last position must be a real token (left padding)."""
    if not bool(attention_mask[:, -1].all()):
        raise ValueError("tree decoding needs left-padded prompts whose last position is a real token")
    out = backbone(inputs_embeds=inputs_embeds, attention_mask=attention_mask.long(),
                   position_ids=prompt_positions(attention_mask), use_cache=True, **{cache_argument(backbone): cache})
    B = inputs_embeds.shape[0]
    return TreeState(cache=returned_cache(out), prompt_mask=attention_mask.bool(),
                     valid_length=attention_mask.long().sum(-1),
                     lineage=torch.zeros(B, 1, 0, dtype=torch.long, device=inputs_embeds.device),
                     hidden=out.last_hidden_state[:, -1:, :])


def tree_extend(backbone, state: TreeState, parent: torch.Tensor, new_embeds: torch.Tensor) -> TreeState:
    """Append one token per beam (``new_embeds [B, W', d]``); ``parent [B, W']`` indexes the previous beams."""
    B, width, _ = new_embeds.shape
    device = new_embeds.device
    lineage = state.lineage.gather(1, parent[..., None].expand(-1, -1, state.lineage.shape[-1]))
    past = state.cache.get_seq_length()
    slots = past + torch.arange(width, device=device)  # where the new tokens land in the cache
    kv_len = past + width
    mask = torch.zeros(B, width, kv_len, dtype=torch.bool, device=device)
    prompt_len = state.prompt_mask.shape[1]
    mask[:, :, :prompt_len] = state.prompt_mask[:, None, :]
    if lineage.shape[-1]:
        mask.scatter_(2, lineage, True)
    mask[:, torch.arange(width, device=device), slots] = True
    step = state.lineage.shape[-1]
    positions = (state.valid_length[:, None] + step).expand(B, width)
    out = causal_lm_states(backbone, new_embeds, mask, positions, past_key_values=state.cache)
    lineage = torch.cat([lineage, slots[None, :, None].expand(B, -1, -1)], dim=2)
    return TreeState(cache=returned_cache(out), prompt_mask=state.prompt_mask, valid_length=state.valid_length,
                     lineage=lineage, hidden=out.last_hidden_state)
