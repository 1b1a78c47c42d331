"""Leave-one-out evaluation by full ranking over the catalog with constrained beam search.

For every user of a split the model generates its top items (beam 20 by default, 50 available);
Recall@K and NDCG@K are computed for K in {5, 10, 20}, overall and per item-popularity group
(``popular`` / ``medium`` / ``long-tail``: equal numbers of items split by training frequency, the group
of a user being that of its target item). Decoding latency is measured per batch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence

import numpy as np
import torch

from ..data.collator import GenRecCollator
from ..utils.progress import progress
from .metrics import rank_metrics

GROUP_NAMES = ("popular", "medium", "long-tail")


def popularity_groups(train_counts: Sequence[int], num_groups: int = 3) -> np.ndarray:
    """Group id of each item: items sorted by training frequency (desc, ties by id) cut into equal parts."""
    counts = np.asarray(train_counts)
    order = np.lexsort((np.arange(len(counts)), -counts))
    groups = np.empty(len(counts), dtype=np.int64)
    groups[order] = np.arange(len(counts)) * num_groups // max(1, len(counts))
    return groups


@dataclass
class EvaluationResult:
    metrics: Dict[str, float]
    groups: Dict[str, Dict[str, float]] = field(default_factory=dict)
    latency: Dict[str, float] = field(default_factory=dict)
    num_users: int = 0
    num_beams: int = 0

    def to_dict(self) -> Dict[str, Any]:
        return {"metrics": self.metrics, "groups": self.groups, "latency": self.latency, "num_users": self.num_users,
                "num_beams": self.num_beams}


class Evaluator:
    def __init__(self, tokenizer, ks: Iterable[int] = (5, 10, 20), num_beams: int = 20, batch_size: int = 64,
                 max_users: Optional[int] = None, show_progress: bool = True):
        self.tokenizer = tokenizer
        self.ks = tuple(ks)
        self.num_beams = num_beams
        self.batch_size = batch_size
        self.max_users = max_users
        self.show_progress = show_progress

    @torch.no_grad()
    def rank(self, model, split, device: Optional[torch.device] = None) -> tuple:
        """Top-``max(K)`` items of every row of ``split``; returns ``(ranked [N, K], targets [N], latencies)``."""
        config = model.config
        collator = GenRecCollator(self.tokenizer, mode=config.input_mode, max_history=config.max_history,
                                  with_labels=False)
        rows = split if self.max_users is None else split.select(range(min(self.max_users, len(split))))
        k = min(max(self.ks), self.num_beams) if config.num_items else max(self.ks)
        device = device or next(model.parameters()).device
        ranked, targets, latencies = [], [], []
        batches = range(0, len(rows), self.batch_size)
        for start in progress(batches, desc="evaluating", unit="batch", disable=not self.show_progress):
            chunk = rows[start:start + self.batch_size]
            batch_rows = [dict(zip(chunk, values)) for values in zip(*chunk.values())]
            batch = {key: value.to(device) for key, value in collator(batch_rows).items()}
            t = time.perf_counter()
            out = model.generate(**batch, num_beams=self.num_beams, num_return_sequences=k)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            latencies.append((time.perf_counter() - t) * 1000.0)
            ranked.append(out.items.cpu())
            targets.extend(row["target"] for row in batch_rows)
        return torch.cat(ranked).numpy(), np.asarray(targets), latencies

    def evaluate(self, model, split, train_counts: Optional[Sequence[int]] = None,
                 device: Optional[torch.device] = None) -> EvaluationResult:
        ranked, targets, latencies = self.rank(model, split, device)
        result = EvaluationResult(metrics=rank_metrics(ranked, targets, self.ks), num_users=len(targets),
                                  num_beams=self.num_beams)
        if train_counts is not None:
            groups = popularity_groups(train_counts)
            for index, name in enumerate(GROUP_NAMES):
                rows = groups[targets] == index
                if rows.any():
                    result.groups[name] = {"users": int(rows.sum()), **rank_metrics(ranked[rows], targets[rows], self.ks)}
        if latencies:
            result.latency = {"batch_size": self.batch_size, "mean_ms_per_batch": round(float(np.mean(latencies)), 3),
                              "p50_ms_per_batch": round(float(np.percentile(latencies, 50)), 3),
                              "p90_ms_per_batch": round(float(np.percentile(latencies, 90)), 3),
                              "batches": len(latencies)}
        return result
