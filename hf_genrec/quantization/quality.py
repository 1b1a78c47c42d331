"""Quality of a set of semantic IDs: prefix collisions, codebook perplexity and utilization (plotted by
:func:`hf_genrec.utils.plots.plot_code_usage`).

* collision rate at level ``l``: share of items whose prefix ``(c^1..c^l)`` is shared with at least one
  other item (at the last level: items whose whole SID is not unique);
* perplexity of level ``l``: ``exp(H(p_l))`` of the code-usage distribution (``K`` = uniform use);
* utilization of level ``l``: share of the ``K_l`` codes used by at least one item.
"""

from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import numpy as np


def _as_array(codes) -> np.ndarray:
    array = np.asarray(codes.cpu() if hasattr(codes, "cpu") else codes, dtype=np.int64)
    if array.ndim != 2:
        raise ValueError(f"codes must be [items, levels], got shape {array.shape}")
    return array


def prefix_collision_rates(codes) -> List[float]:
    codes = _as_array(codes)
    rates = []
    for level in range(1, codes.shape[1] + 1):
        _, inverse, counts = np.unique(codes[:, :level], axis=0, return_inverse=True, return_counts=True)
        rates.append(float((counts[inverse.reshape(-1)] > 1).mean()))
    return rates


def code_usage(codes, codebook_sizes: Sequence[int]) -> List[np.ndarray]:
    codes = _as_array(codes)
    return [np.bincount(codes[:, level], minlength=size) for level, size in enumerate(codebook_sizes)]


def sid_quality(codes, codebook_sizes: Sequence[int]) -> Dict[str, object]:
    """All quality numbers of a code table ``[N, L]`` as a JSON-able dict."""
    codes = _as_array(codes)
    if len(codebook_sizes) != codes.shape[1]:
        raise ValueError(f"{codes.shape[1]} code levels but {len(codebook_sizes)} codebook sizes")
    usage = code_usage(codes, codebook_sizes)
    perplexity, utilization = [], []
    for counts, size in zip(usage, codebook_sizes):
        p = counts[counts > 0] / counts.sum()
        perplexity.append(round(float(np.exp(-(p * np.log(p)).sum())), 3))
        utilization.append(round(float((counts > 0).sum() / size), 4))
    _, sid_counts = np.unique(codes, axis=0, return_counts=True)
    rates = prefix_collision_rates(codes)
    return {
        "items": int(codes.shape[0]), "levels": int(codes.shape[1]), "codebook_sizes": [int(s) for s in codebook_sizes],
        "unique_sids": int(len(sid_counts)), "max_items_per_sid": int(sid_counts.max()),
        "colliding_items": int(round(rates[-1] * codes.shape[0])),
        "collision_rate": round(rates[-1], 6), "collision_rate_per_level": [round(r, 6) for r in rates],
        "perplexity": perplexity, "utilization": utilization,
    }


def parse_sid_tokens(tokens: Sequence[Sequence[str]]) -> Tuple[np.ndarray, List[int]]:
    """Published SIDs written as tokens (``["<a_183>", "<b_70>", ...]``, e.g. LETTER's) -> codes ``[N, L]``.

    Codebook sizes are inferred as ``max code + 1`` per level.
    """
    import re

    pattern = re.compile(r"^<([a-z])_(\d+)>$")
    rows = []
    for index, sid in enumerate(tokens):
        row = []
        for level, token in enumerate(sid):
            match = pattern.match(str(token))
            if not match or ord(match.group(1)) - ord("a") != level:
                raise ValueError(f"item {index}: SID token {token!r} at level {level} is not of the form <{chr(97 + level)}_N>")
            row.append(int(match.group(2)))
        rows.append(row)
    if len({len(r) for r in rows}) != 1:
        raise ValueError("published SIDs have different lengths")
    codes = np.asarray(rows, dtype=np.int64)
    return codes, [int(c) + 1 for c in codes.max(axis=0)]
