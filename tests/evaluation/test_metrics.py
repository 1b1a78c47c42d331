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
