"""``RecommendationTrainer``: ``transformers.Trainer`` for every hf_genrec model.

Plain ``transformers.Trainer`` trains most hf_genrec models as they are (their ``forward`` returns the loss), but
not all, and it cannot rank: ComeIR's Engram hash tables have row-sparse gradients, which the Trainer's gradient
clipping and AdamW do not take, and its evaluation reports a loss, not Recall/NDCG@K. This subclass adds

* hf_genrec's optimizer groups (:func:`~hf_genrec.training.sparse_optim.parameter_groups`: decay on matrices only,
  optional ``lr_multipliers``) and ``SparseAwareAdamW`` plus sparse-aware clipping when the model has sparse tables;
* ranking evaluation: ``evaluate`` decodes the evaluation rows (a prepared split: ``history`` and ``target``) with
  the model's constrained beam search and returns ``eval_recall@K`` / ``eval_ndcg@K``, so ``metric_for_best_model=
  "ndcg@10"``, ``load_best_model_at_end`` and ``EarlyStoppingCallback`` select on ranking quality;
* the data collator of the model's input layout, and the ``SIDTokenizer`` as ``processing_class`` (saved with every
  checkpoint).

Choosing between this and ``hf-genrec train``: use ``RecommendationTrainer`` inside existing ``transformers``
workflows (callbacks, ``TrainingArguments``, Hub pushes from the Trainer); ``hf-genrec train`` adds what the Trainer
does not have: wall-clock budgets, sequence-level windows, bit-exact resume checks, the final test with confidence
intervals, DeepSpeed on CPU, and one JSON summary per run.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

import torch
from transformers import Trainer

from ..data.collator import GenRecCollator
from ..evaluation import Evaluator
from .sparse_optim import SparseAwareAdamW, clip_grad_norm_, parameter_groups, sparse_parameters


class RecommendationTrainer(Trainer):
    def __init__(self, model=None, args=None, processing_class=None, ranking_ks: Sequence[int] = (5, 10, 20),
                 eval_num_beams: Optional[int] = None, eval_max_users: Optional[int] = None,
                 lr_multipliers: Optional[Dict[str, float]] = None, **kwargs):
        if processing_class is None:
            raise ValueError("RecommendationTrainer needs the SIDTokenizer as processing_class (it encodes the histories "
                             "and ranks with the model's catalog)")
        if kwargs.get("data_collator") is None:
            kwargs["data_collator"] = GenRecCollator(processing_class, mode=model.config.input_mode,
                                                     max_history=model.config.max_history)
        super().__init__(model=model, args=args, processing_class=processing_class, **kwargs)
        from ..hub.model_files import attach_model_files

        attach_model_files(model, processing_class)  # checkpoints are whole model folders (tokenizer, item keys)
        self.ranking_ks = tuple(ranking_ks)
        self.eval_num_beams = eval_num_beams
        self.eval_max_users = eval_max_users
        self.lr_multipliers = dict(lr_multipliers or {})

    def _remove_unused_columns(self, dataset, description: Optional[str] = None):
        """Keep every column: the collator reads ``history`` / ``target`` / timestamps, not model arguments."""
        return dataset

    def _has_sparse(self, model) -> bool:
        return bool(sparse_parameters(model))

    def create_optimizer(self, model=None) -> torch.optim.Optimizer:
        """hf_genrec's parameter groups; ``SparseAwareAdamW`` when the model has row-sparse tables."""
        model = self.model if model is None else model
        if self.optimizer is None:
            args = self.args
            groups, sparse_group = parameter_groups(model, args.learning_rate, args.weight_decay, self.lr_multipliers)
            betas = (args.adam_beta1, args.adam_beta2)
            if sparse_group:  # Engram hash tables: lazy row-sparse AdamW, no decay
                groups.append({"params": sparse_group, "weight_decay": 0.0})
                self.optimizer = SparseAwareAdamW(groups, lr=args.learning_rate, betas=betas, eps=args.adam_epsilon)
            else:
                self.optimizer = torch.optim.AdamW(groups, lr=args.learning_rate, betas=betas, eps=args.adam_epsilon)
        return self.optimizer

    def _clip_grad_norm(self, model):
        """Clip dense and sparse gradients jointly (the Trainer's own clipping fails on sparse gradients)."""
        if self._has_sparse(model):
            return clip_grad_norm_(model.parameters(), self.args.max_grad_norm)
        return super()._clip_grad_norm(model)

    def _get_grad_norm(self, model, grad_norm=None):
        if grad_norm is None and self._has_sparse(model):
            grad_norm = clip_grad_norm_(model.parameters(), float("inf"))
        return super()._get_grad_norm(model, grad_norm)

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> Dict[str, float]:
        """Recall/NDCG@K of the model's recommendations on the evaluation rows (``max_users`` drawn at random with a
        fixed seed when ``eval_max_users`` is set), logged and passed to the callbacks like the Trainer's own."""
        rows = self.eval_dataset if eval_dataset is None else eval_dataset
        if rows is None:
            raise ValueError("RecommendationTrainer.evaluate needs eval_dataset (a prepared split)")
        evaluator = Evaluator(self.processing_class, ks=self.ranking_ks, num_beams=self.eval_num_beams,
                              batch_size=self.args.per_device_eval_batch_size, max_users=self.eval_max_users,
                              show_progress=False)
        model = self.accelerator.unwrap_model(self.model)
        result = evaluator.evaluate(model, rows, device=self.args.device)
        metrics: Dict[str, Any] = {f"{metric_key_prefix}_{name}": value for name, value in result.metrics.items()}
        metrics[f"{metric_key_prefix}_users"] = result.num_users
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics
