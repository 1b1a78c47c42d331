"""Evaluation: Recall/NDCG@K over full-catalog rankings, and reference baselines."""

from .baselines import MostPopular, TransitionBaseline, evaluate_ranker
from .metrics import ndcg_at_k, rank_metrics, recall_at_k

__all__ = ["MostPopular", "TransitionBaseline", "evaluate_ranker", "ndcg_at_k", "rank_metrics", "recall_at_k"]
