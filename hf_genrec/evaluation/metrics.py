"""Recall@K and NDCG@K for leave-one-out evaluation (one relevant item per user).

With a single target, Recall@K is 1 if the target is among the top K, and NDCG@K is
``1 / log2(rank + 1)`` for a hit at 1-based ``rank`` (the ideal DCG is 1).
"""

from __future__ import annotations

from typing import Dict, Iterable, Sequence

import numpy as np


def _hit_ranks(ranked: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """0-based rank of each target in its row of ``ranked`` ([B, K]); a huge sentinel for a miss."""
    ranked = np.asarray(ranked)
    targets = np.asarray(targets).reshape(-1, 1)
    if ranked.ndim != 2 or ranked.shape[0] != targets.shape[0]:
        raise ValueError(f"ranked must be [batch, K] with one row per target; got {ranked.shape} and {targets.shape[0]} targets")
    hits = ranked == targets
    return np.where(hits.any(axis=1), hits.argmax(axis=1), np.iinfo(np.int64).max)


def per_user_metrics(ranked: np.ndarray, targets: np.ndarray, ks: Iterable[int] = (5, 10, 20)) -> Dict[str, np.ndarray]:
    """Each user's Recall@K (0 or 1) and NDCG@K, ``{"recall@5": [N], "ndcg@5": [N], ...}``."""
    ranks = _hit_ranks(ranked, targets)
    out: Dict[str, np.ndarray] = {}
    for k in ks:
        hit = ranks < min(k, np.asarray(ranked).shape[1])
        gains = np.zeros(len(ranks))
        gains[hit] = 1.0 / np.log2(ranks[hit] + 2.0)
        out[f"recall@{k}"] = hit.astype(np.float64)
        out[f"ndcg@{k}"] = gains
    return out


def recall_at_k(ranked: np.ndarray, targets: np.ndarray, k: int) -> float:
    return rank_metrics(ranked, targets, (k,))[f"recall@{k}"]


def ndcg_at_k(ranked: np.ndarray, targets: np.ndarray, k: int) -> float:
    return rank_metrics(ranked, targets, (k,))[f"ndcg@{k}"]


def rank_metrics(ranked: np.ndarray, targets: np.ndarray, ks: Iterable[int] = (5, 10, 20)) -> Dict[str, float]:
    """``{"recall@5": ..., "ndcg@5": ..., ...}`` for every K (K larger than the list counts as misses)."""
    return {name: float(values.mean()) if len(values) else 0.0
            for name, values in per_user_metrics(ranked, targets, ks).items()}


def confidence_intervals(ranked: np.ndarray, targets: np.ndarray, ks: Iterable[int] = (5, 10, 20),
                         z: float = 1.96) -> Dict[str, float]:
    """Half-width of the normal-approximation 95 % confidence interval of each mean metric over the users."""
    out = {}
    for name, values in per_user_metrics(ranked, targets, ks).items():
        out[name] = float(z * values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")
    return out


def mean_metrics(parts: Sequence[Dict[str, float]], weights: Sequence[int]) -> Dict[str, float]:
    """Weighted mean of per-batch metric dicts (weights = batch sizes)."""
    total = float(sum(weights))
    return {key: sum(p[key] * w for p, w in zip(parts, weights)) / total for key in parts[0]} if parts else {}
