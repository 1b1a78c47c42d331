"""Making semantic IDs unique (or deliberately not).

* ``suffix`` (TIGER, IntRR): an extra level; among items with the same SID the first (lowest item id)
  gets 0, the others 1, 2, ... . Unique SIDs get 0. The extra codebook is as large as the largest group.
* ``sinkhorn`` (PRISM Sec. 3.3 "Global Collision Deduplication"): colliding items move to the nearest
  free SID at the last level by optimal transport. In every group of identical SIDs the item closest to
  the SID's reconstruction keeps it; the others ("movers") are matched to the free last-level codes of
  their own prefix with an entropic OT plan computed by Sinkhorn-Knopp (cost = squared latent distance
  between the item and the candidate SID's reconstruction), rounded to a one-to-one assignment.
  Movers that do not fit in their prefix (more movers than free codes) take the nearest free SID found
  by a beam search over all levels. The result is collision-free; the added distortion is reported.
* ``first_free`` (compatible with PRISM's official code, commit 2c5e414, whose ID-space "Sinkhorn" step in
  effect does this): in every group of identical SIDs the first item (lowest item id) keeps it; each other
  item takes the lowest-index free last-level code under its own prefix. A full prefix falls back to the
  lowest free SID sharing the longest possible prefix. No embeddings are needed.
* ``none``: keep collisions; a shared SID stands for several items and generation ranks each item by
  its best SID score.
"""

from __future__ import annotations

import itertools
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from .kmeans import squared_distances

COLLISION_MODES = ("suffix", "sinkhorn", "first_free", "none")


def suffix_codes(codes: torch.Tensor) -> Tuple[torch.Tensor, int]:
    """Append the TIGER suffix level; returns ``(codes [N, L+1], suffix codebook size)``."""
    codes = torch.as_tensor(codes, dtype=torch.long)
    _, inverse = torch.unique(codes, dim=0, return_inverse=True)
    order = torch.argsort(inverse, stable=True)  # items grouped by SID, in item order inside a group
    sorted_groups = inverse[order]
    start = torch.ones_like(sorted_groups, dtype=torch.bool)
    start[1:] = sorted_groups[1:] != sorted_groups[:-1]
    position = torch.arange(len(order))
    group_start = torch.cummax(torch.where(start, position, torch.zeros_like(position)), 0).values
    suffix = torch.empty_like(inverse)
    suffix[order] = position - group_start
    return torch.cat([codes, suffix[:, None]], dim=1), int(suffix.max()) + 1


def sinkhorn_plans(cost: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, epsilon: float = 0.05,
                   iterations: int = 200, tolerance: float = 1e-4) -> torch.Tensor:
    """Entropic OT plans (Sinkhorn-Knopp, log domain) for a batch of padded problems.

    ``cost`` is ``[G, n, m]``; problem ``g`` uses its first ``rows[g]`` rows (mass 1 each) and first
    ``cols[g] >= rows[g]`` columns (capacity 1 each). A dummy row of mass ``cols - rows`` and zero cost
    absorbs the unused capacity, so each problem is balanced. ``epsilon`` is relative to the mean cost.
    """
    groups, n, m = cost.shape
    if bool((rows > cols).any()):
        raise ValueError("a transport problem has more rows than unit-capacity columns")
    row_index, col_index = torch.arange(n + 1), torch.arange(m)
    real_row = row_index[None, :] < rows[:, None]  # [G, n+1]
    real_col = col_index[None, :] < cols[:, None]  # [G, m]
    valid = real_row[:, :n, None] & real_col[:, None, :]
    cost = cost.double()
    scale = (cost * valid).sum((1, 2)) / valid.sum((1, 2)).clamp_min(1)
    c = torch.zeros(groups, n + 1, m, dtype=torch.float64)
    c[:, :n] = torch.where(valid, cost / scale.clamp_min(1e-12)[:, None, None], torch.zeros_like(cost))
    log_a = torch.where(real_row, torch.zeros(1, dtype=torch.float64), torch.full((1,), float("-inf"), dtype=torch.float64))
    slack = (cols - rows).double()
    log_a[torch.arange(groups), rows] = torch.where(slack > 0, slack.log(), torch.full_like(slack, float("-inf")))
    log_b = torch.where(real_col, torch.zeros(1, dtype=torch.float64), torch.full((1,), float("-inf"), dtype=torch.float64))
    f = torch.zeros(groups, n + 1, dtype=torch.float64)
    g = torch.zeros(groups, m, dtype=torch.float64)
    for iteration in range(iterations):
        f = torch.nan_to_num(epsilon * (log_a - torch.logsumexp((g[:, None, :] - c) / epsilon, dim=2)), nan=float("-inf"))
        g = torch.nan_to_num(epsilon * (log_b - torch.logsumexp((f[:, :, None] - c) / epsilon, dim=1)), nan=float("-inf"))
        if iteration % 10 == 9:  # columns are exact after the g-step; stop once the rows are too
            row_mass = torch.exp((f[:, :, None] + g[:, None, :] - c) / epsilon).sum(2)
            if float(((row_mass - log_a.exp()).abs() * real_row).max()) < tolerance:
                break
    plan = torch.exp((f[:, :, None] + g[:, None, :] - c) / epsilon)[:, :n]
    return torch.nan_to_num(plan * real_row[:, :n, None], nan=0.0).float()  # drop dummy and padded rows


def round_plan(plan: torch.Tensor, cost: torch.Tensor) -> torch.Tensor:
    """Greedy one-to-one rounding of a transport plan (largest mass first, ties by lower cost)."""
    n, m = plan.shape
    order = np.lexsort((cost.flatten().numpy(), -plan.flatten().numpy()))
    rows, cols = order // m, order % m
    match = np.full(n, -1, dtype=np.int64)
    row_free, col_free = np.ones(n, dtype=bool), np.ones(m, dtype=bool)
    for r, c in zip(rows, cols):
        if row_free[r] and col_free[c]:
            match[r], row_free[r], col_free[c] = c, False, False
            if not row_free.any():
                break
    return torch.from_numpy(match)


def _sid_key(codes: np.ndarray, sizes: Sequence[int]) -> np.ndarray:
    """Mixed-radix integer key of each SID row (unique per SID)."""
    key = np.zeros(len(codes), dtype=object if np.prod([float(s) for s in sizes]) > 2 ** 62 else np.int64)
    for level, size in enumerate(sizes):
        key = key * int(size) + codes[:, level]
    return key


def _beam_candidates(quantizer, latent: torch.Tensor, beam: int) -> torch.Tensor:
    """Full SIDs near one latent vector ``[1, D]``, sorted by exact reconstruction distance."""
    sizes = quantizer.codebook_sizes
    partial = torch.zeros(1, 0, dtype=torch.long)
    scores = torch.zeros(1)
    for level, codebook in enumerate(quantizer.codebooks):
        padded = torch.cat([partial, torch.zeros(len(partial), quantizer.levels - level, dtype=torch.long)], 1)
        inputs = quantizer.level_inputs(latent.expand(len(partial), -1), padded)[level]
        total = scores[:, None] + squared_distances(inputs, codebook)  # [B, K]
        width = total.numel() if level == quantizer.levels - 1 else min(beam, total.numel())
        best = torch.topk(total.flatten(), width, largest=False).indices
        partial = torch.cat([partial[best // sizes[level]], (best % sizes[level])[:, None]], 1)
        scores = total.flatten()[best]
    exact = (latent - quantizer.codes_to_latent(partial)).pow(2).sum(-1)
    return partial[torch.argsort(exact, stable=True)]


@torch.no_grad()
def sinkhorn_codes(codes: torch.Tensor, quantizer, embeddings: torch.Tensor, epsilon: float = 0.05,
                   iterations: int = 200, beam: int = 16) -> Tuple[torch.Tensor, Dict[str, Any]]:
    """Collision-free SIDs by moving colliding items to their nearest free SIDs (see module docstring)."""
    sizes = quantizer.codebook_sizes
    capacity = float(np.prod([float(s) for s in sizes]))
    codes = torch.as_tensor(codes, dtype=torch.long).clone()
    if len(codes) > capacity:
        raise ValueError(f"{len(codes)} items cannot get unique SIDs from {capacity:.0f} possible codes {sizes}")
    latent = quantizer.latent(quantizer._as_input(embeddings))
    error = (latent - quantizer.codes_to_latent(codes)).pow(2).sum(-1)
    array = codes.numpy()
    keys = _sid_key(array, sizes)
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    movers: List[int] = []
    for group in np.flatnonzero(counts > 1):
        members = np.flatnonzero(inverse == group)
        keeper = members[int(torch.argmin(error[members]))]
        movers.extend(int(m) for m in members if m != keeper)
    used = set(keys[np.setdiff1d(np.arange(len(codes)), movers)].tolist())
    moved_before = error[movers].clone() if movers else torch.zeros(0)
    overflow: List[int] = []
    # 1) within each (L-1)-prefix: OT between movers and the free last-level codes
    mover_array = np.asarray(movers, dtype=np.int64)
    problems = []  # (movers that fit, candidate codes [m, L], candidate keys, cost [n, m])
    if len(mover_array):
        prefix_keys = _sid_key(array[mover_array, :-1], sizes[:-1])
        last = quantizer.levels - 1
        for prefix in np.unique(prefix_keys):
            group = mover_array[prefix_keys == prefix]
            prefix_codes = codes[group[0], :-1]
            candidates = torch.cat([prefix_codes.expand(sizes[last], -1), torch.arange(sizes[last])[:, None]], 1)
            candidate_keys = _sid_key(candidates.numpy(), sizes)
            free = np.fromiter((key not in used for key in candidate_keys.tolist()), dtype=bool, count=len(candidate_keys))
            candidates, candidate_keys = candidates[torch.from_numpy(free)], candidate_keys[free]
            if len(candidates) == 0:
                overflow.extend(group.tolist())
                continue
            cost = squared_distances(latent[group], quantizer.codes_to_latent(candidates))
            if len(group) > len(candidates):  # keep the movers that fit best; the rest overflow
                order = torch.argsort(cost.min(1).values, stable=True)
                overflow.extend(group[order[len(candidates):].numpy()].tolist())
                group, cost = group[order[: len(candidates)].numpy()], cost[order[: len(candidates)]]
            problems.append((group, candidates, candidate_keys, cost))
    # A single mover's OT plan is its nearest free code; larger groups are solved in batches of equal size.
    by_size: Dict[int, List[int]] = {}
    for index, (group, _, _, _) in enumerate(problems):
        by_size.setdefault(len(group), []).append(index)
    for size, indices in sorted(by_size.items()):
        if size == 1:
            matches = {i: problems[i][3].argmin(1) for i in indices}
        else:
            m_max = max(len(problems[i][1]) for i in indices)
            batch_cost = torch.zeros(len(indices), size, m_max)
            for row, i in enumerate(indices):
                batch_cost[row, :, :problems[i][3].shape[1]] = problems[i][3]
            cols = torch.tensor([len(problems[i][1]) for i in indices])
            plans = sinkhorn_plans(batch_cost, torch.full_like(cols, size), cols, epsilon, iterations)
            matches = {i: round_plan(plans[row, :, :cols[row]], problems[i][3]) for row, i in enumerate(indices)}
        for i, match in matches.items():
            group, candidates, candidate_keys, _ = problems[i]
            for item, column in zip(group, match.tolist()):
                codes[item] = candidates[column]
                used.add(candidate_keys[column].item() if hasattr(candidate_keys[column], "item") else candidate_keys[column])
    # 2) overflow: nearest free SID anywhere (beam search over all levels, widened until one is free)
    for item in overflow:
        width = beam
        while True:
            found = None
            for candidate in _beam_candidates(quantizer, latent[item:item + 1], width):
                key = _sid_key(candidate[None].numpy(), sizes)[0]
                if key not in used:
                    found = candidate
                    break
            if found is not None or width >= capacity:
                break
            width *= 4
        if found is None:  # pragma: no cover - capacity was checked above
            raise RuntimeError(f"no free SID found for item {item}")
        codes[item] = found
        used.add(_sid_key(found[None].numpy(), sizes)[0])
    moved_after = (latent[movers] - quantizer.codes_to_latent(codes[movers])).pow(2).sum(-1) if movers else torch.zeros(0)
    report = {"moved_items": len(movers), "moved_outside_prefix": len(overflow),
              "mean_distortion_before": round(float(error.mean()), 6),
              "mean_distortion_after": round(float((latent - quantizer.codes_to_latent(codes)).pow(2).sum(-1).mean()), 6),
              "moved_items_mean_distortion_increase": round(float((moved_after - moved_before).mean()), 6) if movers else 0.0}
    return codes, report


def _lowest_free_sid(sid: Sequence[int], sizes: Sequence[int], used: set) -> Tuple[Tuple[int, ...], int]:
    """The lexicographically lowest SID not in ``used`` that shares the longest prefix with ``sid``;
    returns it and the length of the shared prefix."""
    for keep in range(len(sizes) - 1, -1, -1):
        for suffix in itertools.product(*(range(size) for size in sizes[keep:])):
            candidate = tuple(sid[:keep]) + suffix
            if _sid_key(np.asarray([candidate]), sizes)[0] not in used:
                return candidate, keep
    raise RuntimeError("no free SID left")  # pragma: no cover - capacity is checked by the caller


def first_free_codes(codes: torch.Tensor, sizes: Sequence[int]) -> Tuple[torch.Tensor, Dict[str, Any]]:
    """Collision-free SIDs the way PRISM's official code ends up assigning them (see module docstring)."""
    codes = torch.as_tensor(codes, dtype=torch.long).clone()
    if len(codes) > float(np.prod([float(s) for s in sizes])):
        raise ValueError(f"{len(codes)} items cannot get unique SIDs from codebook sizes {list(sizes)}")
    array = codes.numpy()
    keys = _sid_key(array, sizes)
    _, first = np.unique(keys, return_index=True)
    used = set(keys[first].tolist())
    movers = np.setdiff1d(np.arange(len(codes)), first)
    outside = 0
    for item in movers.tolist():
        sid, kept = _lowest_free_sid(array[item].tolist(), sizes, used)
        codes[item] = torch.tensor(sid)
        used.add(_sid_key(np.asarray([sid]), sizes)[0])
        outside += kept < len(sizes) - 1
    return codes, {"moved_items": int(len(movers)), "moved_outside_prefix": int(outside)}


def resolve_collisions(codes: torch.Tensor, mode: str, quantizer=None, embeddings: Optional[torch.Tensor] = None,
                       **options) -> Tuple[torch.Tensor, List[int], Dict[str, Any]]:
    """Apply a collision mode; returns ``(codes, codebook_sizes, report)``."""
    if mode not in COLLISION_MODES:
        raise ValueError(f"unknown collision mode {mode!r}; choose from {COLLISION_MODES}")
    sizes = list(quantizer.codebook_sizes) if quantizer is not None else [int(c) + 1 for c in codes.max(0).values]
    if mode == "none":
        return torch.as_tensor(codes, dtype=torch.long), sizes, {"mode": "none"}
    if mode == "suffix":
        new_codes, suffix_size = suffix_codes(codes)
        return new_codes, sizes + [suffix_size], {"mode": "suffix", "suffix_codebook_size": suffix_size}
    if mode == "first_free":
        new_codes, report = first_free_codes(codes, sizes)
        return new_codes, sizes, {"mode": "first_free", **report}
    if quantizer is None or embeddings is None:
        raise ValueError("collisions='sinkhorn' needs the fitted quantizer and the item embeddings")
    new_codes, report = sinkhorn_codes(codes, quantizer, embeddings, **options)
    return new_codes, sizes, {"mode": "sinkhorn", **report}
