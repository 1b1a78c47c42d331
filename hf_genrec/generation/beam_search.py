"""One trie-constrained beam search for every hf_genrec model.

The search is batched over users and beams and never loops over either in Python. A model plugs in
through three methods (the *decoding protocol*, see :class:`DecodingModel`):

``prepare_decoding(**inputs) -> state``
    run the history once per user (encoder / backbone pass, memories ...);
``decode_step(state, level, valid_mask, temperature) -> log_probs [B, W, K_level]``
    scores of every code of this level for each live beam (the engine masks invalid codes);
``update_decoding_state(state, level, parent [B, W'], codes [B, W']) -> state``
    keep the chosen beams (``parent`` indexes the previous beams of the same user) and record their codes.

At each level the catalog trie gives the valid children of all ``B x W`` prefixes with one gather;
candidate scores are ``beam score + log p``; the best ``W`` of the ``W x K`` candidates of each user
survive (a single ``topk``).

``verifier`` says how catalog validity enters (NEZHA's "model-free verifier" is the same trie lookup):

* ``"mask"`` (default): invalid codes are masked before the top-k, so no valid candidate is lost and every
  returned SID is an item;
* ``"post_filter"`` (what NEZHA's code does): each beam keeps its ``num_beams`` best codes of the unmasked
  distribution, invalid ones are dropped, then the global top-k; equal to ``"mask"`` when ``num_beams >= K``;
* ``"none"``: no check; beams may leave the catalog (``invalid_sid_rate`` reports the share of final beams whose
  SID is no item: the hallucinations a verifier prevents). Only valid SIDs map to items. After the last level the full SIDs map to items; with collisions kept
(``collisions='none'``) every item of a shared SID inherits that SID's score, which is then its best
SID score since an item has exactly one SID.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Dict, Optional, Protocol

import torch

from ..tokenization.trie import CatalogTrie
from .temperature import TemperatureLike, make_schedule


class DecodingModel(Protocol):
    def prepare_decoding(self, **inputs) -> Any: ...

    def decode_step(self, state: Any, level: int, valid_mask: torch.Tensor, temperature: torch.Tensor) -> torch.Tensor: ...

    def update_decoding_state(self, state: Any, level: int, parent: torch.Tensor, codes: torch.Tensor) -> Any: ...


@dataclass
class BeamSearchResult:
    items: torch.Tensor  # [B, K] item ids, -1 where fewer than K items were found
    sids: torch.Tensor  # [B, K, L] codes of each returned item's SID (-1 padded)
    scores: torch.Tensor  # [B, K] sum of log-probabilities, -inf padded
    beam_sids: torch.Tensor  # [B, W, L] the final beams
    beam_scores: torch.Tensor  # [B, W]
    invalid_sid_rate: Optional[float] = None  # verifier="none": share of live final beams whose SID is not an item

VERIFIERS = ("mask", "post_filter", "none")


@torch.no_grad()
def constrained_beam_search(model: DecodingModel, state: Any, batch_size: int, trie: CatalogTrie, num_beams: int = 20,
                            num_return_sequences: Optional[int] = None,
                            temperature: TemperatureLike = None,
                            timings: Optional[Dict[str, float]] = None, verifier: str = "mask") -> BeamSearchResult:
    """Return the ``num_return_sequences`` best catalog items per user (default: all ``num_beams``).

    ``timings``, when given, accumulates ``model_s`` (the model's steps) and ``search_s`` (trie lookups,
    masking, top-k and bookkeeping) in seconds; on a GPU the clock includes waiting for the device.
    """
    if num_beams < 1:
        raise ValueError(f"num_beams must be >= 1, got {num_beams}")
    if verifier not in VERIFIERS:
        raise ValueError(f"unknown verifier {verifier!r}; choose one of {VERIFIERS}")
    schedule = make_schedule(temperature)
    start = time.perf_counter()
    model_before = timings.get("model_s", 0.0) if timings is not None else 0.0
    device = trie.device
    B = batch_size
    prefix = torch.zeros(B, 1, dtype=torch.long, device=device)  # trie node of each beam (-1: left the catalog)
    scores = torch.zeros(B, 1, device=device)
    codes_so_far = torch.zeros(B, 1, 0, dtype=torch.long, device=device)
    for level in range(trie.levels):
        width = prefix.shape[1]
        size = trie.codebook_sizes[level]
        valid = trie.valid_children_mask(level, prefix.clamp(min=0).reshape(-1)).view(B, width, size)
        valid &= (torch.isfinite(scores) & (prefix >= 0))[..., None]  # dead and off-catalog beams have no valid children
        tau = schedule(level, valid.sum(-1).reshape(-1)).view(B, width)
        clock = time.perf_counter()
        log_probs = model.decode_step(state, level, valid, tau).float().to(device)
        model_seconds = time.perf_counter() - clock
        if log_probs.shape != (B, width, size):
            raise ValueError(f"decode_step returned {tuple(log_probs.shape)}, expected {(B, width, size)}")
        total = (scores[..., None] + _verified(log_probs, valid, verifier, num_beams)).view(B, width * size)
        keep = min(num_beams, width * size)
        top_scores, top_index = total.topk(keep, dim=1)
        parent = torch.div(top_index, size, rounding_mode="floor")
        codes = top_index % size
        alive = torch.isfinite(top_scores)
        parent_node = prefix.gather(1, parent)
        child = trie.next_prefix(level, parent_node.clamp(min=0).reshape(-1), codes.reshape(-1)).view(B, keep)
        child = torch.where(parent_node >= 0, child, torch.full_like(child, -1))  # off the catalog stays off
        prefix = torch.where(alive, child, torch.zeros_like(child))
        codes_so_far = torch.cat([codes_so_far.gather(1, parent[..., None].expand(-1, -1, level)), codes[..., None]], 2)
        scores = top_scores
        clock = time.perf_counter()
        state = model.update_decoding_state(state, level, parent, codes)
        model_seconds += time.perf_counter() - clock
        if timings is not None:
            timings["model_s"] = timings.get("model_s", 0.0) + model_seconds
    on_catalog = prefix >= 0
    alive = torch.isfinite(scores)
    result = _rank_items(trie, prefix.clamp(min=0), scores.masked_fill(~on_catalog, float("-inf")), codes_so_far,
                         num_return_sequences or num_beams)
    result.beam_scores = scores
    if verifier == "none":
        result.invalid_sid_rate = float((alive & ~on_catalog).sum()) / max(1, int(alive.sum()))
    if timings is not None:
        timings["search_s"] = timings.get("search_s", 0.0) + (time.perf_counter() - start) - timings["model_s"] + model_before
    return result


def _verified(log_probs: torch.Tensor, valid: torch.Tensor, verifier: str, num_beams: int) -> torch.Tensor:
    """The candidate log-probabilities ``[B, W, K]`` after the verifier (``-inf``: not a candidate)."""
    if verifier == "mask":
        return log_probs.masked_fill(~valid, float("-inf"))
    if verifier == "none":
        return log_probs
    k = min(num_beams, log_probs.shape[-1])  # post_filter: each beam's top-k of the unmasked scores, then the check
    top, index = log_probs.topk(k, dim=-1)
    kept = torch.full_like(log_probs, float("-inf"))
    return kept.scatter_(-1, index, top.masked_fill(~valid.gather(-1, index), float("-inf")))


def _rank_items(trie: CatalogTrie, sid_ids: torch.Tensor, scores: torch.Tensor, sids: torch.Tensor,
                k: int) -> BeamSearchResult:
    """Expand final SIDs into items (CSR gather) and keep the ``k`` best per user."""
    B, W = sid_ids.shape
    alive = torch.isfinite(scores)
    offsets = trie.sid_item_offsets
    start = offsets[sid_ids]
    count = torch.where(alive, offsets[sid_ids + 1] - start, torch.zeros_like(start))
    width = max(1, int(count.max())) if count.numel() else 1
    slot = torch.arange(width, device=sid_ids.device)
    present = slot[None, None, :] < count[..., None]  # [B, W, m]
    index = (start[..., None] + slot).clamp(max=len(trie.sid_items) - 1)
    items = torch.where(present, trie.sid_items[index], torch.full_like(index, -1)).view(B, W * width)
    item_scores = scores[..., None].expand(-1, -1, width).masked_fill(~present, float("-inf")).reshape(B, W * width)
    item_sids = sids[:, :, None, :].expand(-1, -1, width, -1).reshape(B, W * width, -1)
    order = torch.sort(item_scores, dim=1, descending=True, stable=True).indices[:, :k]
    top_items = items.gather(1, order)
    top_scores = item_scores.gather(1, order)
    top_sids = item_sids.gather(1, order[..., None].expand(-1, -1, sids.shape[-1])).masked_fill((top_items < 0)[..., None], -1)
    if top_items.shape[1] < k:  # fewer candidates than requested: pad
        pad = k - top_items.shape[1]
        top_items = torch.nn.functional.pad(top_items, (0, pad), value=-1)
        top_scores = torch.nn.functional.pad(top_scores, (0, pad), value=float("-inf"))
        top_sids = torch.nn.functional.pad(top_sids, (0, 0, 0, pad), value=-1)
    return BeamSearchResult(items=top_items, sids=top_sids, scores=top_scores, beam_sids=sids, beam_scores=scores)


def rescore_items(result: BeamSearchResult, trie: CatalogTrie, item_log_probs: torch.Tensor, weight: float,
                  k: Optional[int] = None) -> BeamSearchResult:
    """Rerank the items a beam search returned by ``score + weight * item_log_probs[b, item]`` and keep the ``k`` best
    (default: all). ``item_log_probs [B, N]`` are a second model's (or head's) log-probabilities of every catalog item;
    an item is looked up by its SID, as the lowest item id sharing it (:meth:`CatalogTrie.first_items_of_codes`), so
    items that share a SID share a score, as they share an embedding. Padding (item ``-1``) stays last. The beams
    themselves (``beam_sids``, ``beam_scores``) are unchanged: no item outside the beam search's list can enter."""
    present = result.items >= 0
    rows = torch.zeros_like(result.items)
    if bool(present.any()):
        rows[present] = trie.first_items_of_codes(result.sids[present])
    bonus = item_log_probs.float().gather(1, rows.clamp(min=0))
    scores = (result.scores + weight * bonus).masked_fill(~present, float("-inf"))
    order = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :k]
    return BeamSearchResult(items=result.items.gather(1, order), scores=scores.gather(1, order),
                            sids=result.sids.gather(1, order[..., None].expand(-1, -1, result.sids.shape[-1])),
                            beam_sids=result.beam_sids, beam_scores=result.beam_scores,
                            invalid_sid_rate=result.invalid_sid_rate)
