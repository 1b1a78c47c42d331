"""Per-segment metrics: where on a split one ranker gains or loses against another.

:func:`user_segments` splits the users of a leave-one-out split by properties of their row (history length, the
target's training popularity, whether the target was bought the same day as the last history item, whether the
target ever followed the last history item in training, whether it repeats a history item);
:func:`segment_table` gives each segment's share of the users and the Recall/NDCG@K of every ranker on it. Used by
``scripts/diagnose_val_test_gap.py`` to find why a model's validation metric overstates its test metric more than
the item-transition baseline's (issue [4/8]).
"""

from __future__ import annotations

from typing import Dict, Mapping, Sequence, Tuple

import numpy as np

from .evaluator import GROUP_NAMES, popularity_groups
from .metrics import per_user_metrics

#: history-length buckets (inclusive bounds) of :func:`user_segments`
LENGTH_BUCKETS: Tuple[Tuple[int, int], ...] = ((1, 2), (3, 5), (6, 10), (11, 29), (30, 10 ** 9))


def user_segments(histories: Sequence[Sequence[int]], targets: Sequence[int],
                  train_counts: Sequence[int], next_counts: Mapping[int, Mapping[int, int]],
                  history_timestamps: Sequence[Sequence[int]] = (), target_timestamps: Sequence[int] = (),
                  ) -> Dict[str, np.ndarray]:
    """Boolean masks ``{segment name: [N]}`` over the rows.

    ``next_counts`` are the item-to-item transition counts of the training part (``TransitionBaseline.next_counts``):
    a target is *transition-known* when it followed the row's last history item at least once in training. Same-day
    segments need timestamps and are left out without them."""
    targets = np.asarray(targets, dtype=np.int64)
    lengths = np.asarray([len(history) for history in histories])
    segments: Dict[str, np.ndarray] = {"all": np.ones(len(targets), dtype=bool)}
    for low, high in LENGTH_BUCKETS:
        name = f"history {low}-{high}" if high < 10 ** 9 else f"history >= {low}"
        segments[name] = (lengths >= low) & (lengths <= high)
    groups = popularity_groups(train_counts)[targets]
    for index, name in enumerate(GROUP_NAMES):
        segments[f"target {name}"] = groups == index
    known = np.asarray([len(history) > 0 and int(target) in next_counts.get(int(history[-1]), {})
                        for history, target in zip(histories, targets)])
    segments["transition-known target"] = known
    segments["transition-unknown target"] = ~known
    segments["target repeats a history item"] = np.asarray(
        [int(target) in set(map(int, history)) for history, target in zip(histories, targets)])
    if len(target_timestamps) and len(history_timestamps):
        same_day = np.asarray([len(stamps) > 0 and int(stamps[-1]) == int(stamp)
                               for stamps, stamp in zip(history_timestamps, target_timestamps)])
        segments["same time as last item"] = same_day
        segments["later than last item"] = ~same_day
    return segments


def segment_table(ranked: Mapping[str, np.ndarray], targets: Sequence[int], segments: Mapping[str, np.ndarray],
                  k: int = 10) -> Dict[str, Dict[str, float]]:
    """``{segment: {"users": n, "share": n / N, "<ranker> recall@k": .., "<ranker> ndcg@k": ..}}`` for every ranker
    in ``ranked`` (``{name: [N, >= k] item ids}``)."""
    targets = np.asarray(targets, dtype=np.int64)
    per_user = {name: per_user_metrics(np.asarray(items), targets, (k,)) for name, items in ranked.items()}
    table: Dict[str, Dict[str, float]] = {}
    for segment, mask in segments.items():
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != targets.shape:
            raise ValueError(f"segment {segment!r} has {mask.shape[0]} rows, the split {targets.shape[0]}")
        row: Dict[str, float] = {"users": int(mask.sum()), "share": float(mask.mean()) if len(mask) else 0.0}
        for name, values in per_user.items():
            for metric in (f"recall@{k}", f"ndcg@{k}"):
                row[f"{name} {metric}"] = float(values[metric][mask].mean()) if mask.any() else float("nan")
        table[segment] = row
    return table
