"""Evaluation: Recall/NDCG@K over full-catalog rankings, the evaluator, and reference baselines."""

from pathlib import Path

from .baselines import MostPopular, TransitionBaseline, evaluate_ranker
from .evaluator import EvaluationResult, Evaluator, group_metrics, popularity_groups
from .metrics import ndcg_at_k, rank_metrics, recall_at_k


def recall_ndcg_metric_path() -> str:
    """Folder of the ``evaluate`` metric module, for ``evaluate.load(recall_ndcg_metric_path())`` (offline)."""
    return str(Path(__file__).resolve().parent / "metric_modules" / "recall_ndcg")


__all__ = ["EvaluationResult", "Evaluator", "MostPopular", "TransitionBaseline", "evaluate_ranker", "group_metrics", "ndcg_at_k",
           "popularity_groups", "rank_metrics", "recall_at_k", "recall_ndcg_metric_path"]
