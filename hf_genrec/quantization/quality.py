"""Quality of a set of semantic IDs: prefix collisions, codebook perplexity and utilization (plotted by
:func:`hf_genrec.utils.plots.plot_code_usage`).

* collision rate at level ``l`` (``collision_rate_per_level``): share of items whose prefix ``(c^1..c^l)`` is
  shared with at least one other item (at the last level: items whose whole SID is not unique);
* duplicate rate at level ``l`` (``duplicate_rate_per_level``): ``1 - #unique prefixes (c^1..c^l) / N``, the
  share of items that a one-item-per-prefix table could not hold. This is the collision rate ("CR") of PRISM's
  Table 3 (measured before deduplication; the same formula as the official code's duplicate-rate helpers). An
  SID shared by ``m`` items counts ``m`` items in the first definition and ``m - 1`` in this one;
* perplexity of level ``l``: ``exp(H(p_l))`` of the code-usage distribution (``K`` = uniform use); PRISM's
  Table 3 does not define its "Perplexity", ``perplexity_mean`` (the mean over levels) is our reading of it;
* utilization of level ``l``: share of the ``K_l`` codes used by at least one item.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

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


def prefix_duplicate_rates(codes) -> List[float]:
    """``1 - #unique prefixes of length l / N`` for ``l = 1..L`` (PRISM Table 3's collision rate)."""
    codes = _as_array(codes)
    return [1.0 - len(np.unique(codes[:, :level], axis=0)) / len(codes) for level in range(1, codes.shape[1] + 1)]


def code_usage(codes, codebook_sizes: Sequence[int]) -> List[np.ndarray]:
    codes = _as_array(codes)
    return [np.bincount(codes[:, level], minlength=size) for level, size in enumerate(codebook_sizes)]


def usage_perplexity(counts: np.ndarray) -> float:
    """``exp(H(p))`` of a code-usage histogram, ``p = counts / sum(counts)``."""
    p = counts[counts > 0] / counts.sum()
    return float(np.exp(-(p * np.log(p)).sum()))


def prism_table3(codes, codebook_sizes: Sequence[int]) -> Dict[str, object]:
    """The SID-quality columns of PRISM's Table 3 for codes taken *before* deduplication: collision rate at
    level 2 and at the last level (``1 - unique/N``) and the perplexity (mean over levels of ``exp(H)``)."""
    quality = sid_quality(codes, codebook_sizes)
    rates = quality["duplicate_rate_per_level"]
    return {"cr_layer_2": rates[1] if len(rates) > 1 else None, "cr_final": rates[-1],
            "perplexity": quality["perplexity_mean"], "perplexity_per_level": quality["perplexity"]}


def sid_quality(codes, codebook_sizes: Sequence[int]) -> Dict[str, object]:
    """All quality numbers of a code table ``[N, L]`` as a JSON-able dict."""
    codes = _as_array(codes)
    if len(codebook_sizes) != codes.shape[1]:
        raise ValueError(f"{codes.shape[1]} code levels but {len(codebook_sizes)} codebook sizes")
    usage = code_usage(codes, codebook_sizes)
    perplexity = [usage_perplexity(counts) for counts in usage]
    utilization = [round(float((counts > 0).sum() / size), 4) for counts, size in zip(usage, codebook_sizes)]
    _, sid_counts = np.unique(codes, axis=0, return_counts=True)
    rates = prefix_collision_rates(codes)
    duplicates = prefix_duplicate_rates(codes)
    return {
        "items": int(codes.shape[0]), "levels": int(codes.shape[1]), "codebook_sizes": [int(s) for s in codebook_sizes],
        "unique_sids": int(len(sid_counts)), "max_items_per_sid": int(sid_counts.max()),
        "colliding_items": int(round(rates[-1] * codes.shape[0])),
        "collision_rate": round(rates[-1], 6), "collision_rate_per_level": [round(r, 6) for r in rates],
        "duplicate_rate": round(duplicates[-1], 6), "duplicate_rate_per_level": [round(r, 6) for r in duplicates],
        "perplexity": [round(p, 3) for p in perplexity], "perplexity_mean": round(float(np.mean(perplexity)), 3),
        "utilization": utilization,
    }


def parse_sid_tokens(tokens: Sequence[Sequence[str]],
                     names: Optional[Sequence[str]] = None) -> Tuple[np.ndarray, List[int]]:
    """Published SIDs written as tokens (``["<a_183>", "<b_70>", ...]``, e.g. LETTER's) -> codes ``[N, L]``.

    Codebook sizes are inferred as ``max code + 1`` per level. Errors name the item: ``names[i]`` (e.g. the item's
    key and line in the file) or ``item i``.
    """
    import re

    pattern = re.compile(r"^<([a-z])_(\d+)>$")
    rows = []
    for index, sid in enumerate(tokens):
        name = names[index] if names is not None else f"item {index}"
        if isinstance(sid, (str, bytes)) or not hasattr(sid, "__len__") or not len(sid):
            raise ValueError(f"{name}: the SID must be a non-empty list of tokens such as ['<a_3>', '<b_0>'], "
                             f"got {sid!r}")
        row = []
        for level, token in enumerate(sid):
            match = pattern.match(str(token))
            if not match or ord(match.group(1)) - ord("a") != level:
                raise ValueError(f"{name}: SID token {token!r} at level {level} is not of the form <{chr(97 + level)}_N>")
            row.append(int(match.group(2)))
        if rows and len(row) != len(rows[0]):
            first = names[0] if names is not None else "item 0"
            raise ValueError(f"{name}: {len(row)} SID tokens, but {first} has {len(rows[0])} (published SIDs have "
                             "different lengths)")
        rows.append(row)
    if not rows:
        raise ValueError("no SIDs to parse")
    codes = np.asarray(rows, dtype=np.int64)
    return codes, [int(c) + 1 for c in codes.max(axis=0)]
