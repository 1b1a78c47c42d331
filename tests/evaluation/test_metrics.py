"""Recall/NDCG against hand-computed values, and the reference baselines."""

import math

import numpy as np
import pytest

from hf_genrec.evaluation import MostPopular, TransitionBaseline, ndcg_at_k, rank_metrics, recall_at_k


def test_recall_and_ndcg_by_hand():
    ranked = np.array([[3, 1, 2], [5, 6, 7], [9, 8, 4]])
    targets = np.array([1, 0, 4])  # hit at rank 2, miss, hit at rank 3
    assert recall_at_k(ranked, targets, 1) == 0.0
    assert recall_at_k(ranked, targets, 2) == pytest.approx(1 / 3)
    assert recall_at_k(ranked, targets, 3) == pytest.approx(2 / 3)
    assert ndcg_at_k(ranked, targets, 3) == pytest.approx((1 / math.log2(3) + 1 / math.log2(4)) / 3)
    metrics = rank_metrics(ranked, targets, ks=(2, 5))
    assert set(metrics) == {"recall@2", "ndcg@2", "recall@5", "ndcg@5"}
    assert metrics["recall@5"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        recall_at_k(ranked, np.array([1, 2]), 2)


def test_baselines_rank_as_expected():
    histories = [[0, 1], [2, 1], [3, 1], [0, 2]]
    targets = [4, 4, 3, 1]
    pop = MostPopular(5).fit(histories, targets)
    assert pop.recommend([[0]], 2).tolist() == [[1, 0]]  # 1 occurs 4 times, then 0/2/3/4 twice: lowest id first
    markov = TransitionBaseline(5).fit(histories, targets)
    assert markov.recommend([[1], [2], [4]], 3).tolist() == [[4, 3, 1], [1, 0, 2], [1, 0, 2]]


def test_confidence_interval_shrinks_with_more_users_and_matches_the_binomial_formula():
    from hf_genrec.evaluation.metrics import confidence_intervals

    rng = np.random.default_rng(0)
    for users in (100, 10_000):
        ranked = np.stack([rng.permutation(50)[:10] for _ in range(users)])
        targets = rng.integers(0, 50, size=users)
        recall = rank_metrics(ranked, targets, (10,))["recall@10"]
        half = confidence_intervals(ranked, targets, (10,))["recall@10"]
        assert half == pytest.approx(1.96 * math.sqrt(recall * (1 - recall) / (users - 1)), rel=1e-6)
    assert half < 0.02  # 10,000 users pin recall ~0.2 to within 0.01
