"""Non-generative reference rankers, used as sanity baselines next to the generative models.

* :class:`MostPopular` - every user gets the items most frequent in the training part.
* :class:`TransitionBaseline` - a first-order Markov chain over items: items that most often followed
  the user's last item in the training examples, then popular items to fill the list.
"""

from __future__ import annotations

from typing import Dict, Iterable, Sequence

import numpy as np

from .metrics import rank_metrics


class MostPopular:
    def __init__(self, num_items: int):
        self.num_items = num_items
        self.counts = np.zeros(num_items, dtype=np.int64)

    def fit(self, histories: Sequence[Sequence[int]], targets: Sequence[int]) -> "MostPopular":
        for history in histories:
            np.add.at(self.counts, np.asarray(history, dtype=np.int64), 1)
        np.add.at(self.counts, np.asarray(targets, dtype=np.int64), 1)
        return self

    def recommend(self, histories: Sequence[Sequence[int]], k: int) -> np.ndarray:
        top = np.argsort(-self.counts, kind="stable")[:k]
        return np.tile(top, (len(histories), 1))


class TransitionBaseline(MostPopular):
    """First-order item-to-item transitions counted on (last history item -> target) pairs."""

    def fit(self, histories: Sequence[Sequence[int]], targets: Sequence[int]) -> "TransitionBaseline":
        super().fit(histories, targets)
        self.next_counts: Dict[int, Dict[int, int]] = {}
        for history, target in zip(histories, targets):
            if len(history):
                row = self.next_counts.setdefault(int(history[-1]), {})
                row[int(target)] = row.get(int(target), 0) + 1
        return self

    def recommend(self, histories: Sequence[Sequence[int]], k: int) -> np.ndarray:
        popular = super().recommend([()], k)[0]
        out = np.empty((len(histories), k), dtype=np.int64)
        for row, history in enumerate(histories):
            following = self.next_counts.get(int(history[-1]), {}) if len(history) else {}
            best = sorted(following, key=lambda item: (-following[item], item))[:k]
            fill = [item for item in popular if item not in following][: k - len(best)]
            out[row] = best + fill
        return out


def evaluate_ranker(ranker, histories: Sequence[Sequence[int]], targets: Sequence[int],
                    ks: Iterable[int] = (5, 10, 20)) -> Dict[str, float]:
    ks = tuple(ks)
    ranked = ranker.recommend(histories, max(ks))
    return rank_metrics(ranked, np.asarray(targets), ks)
