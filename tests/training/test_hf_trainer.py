"""Every registered model trains under ``transformers.Trainer`` through ``RecommendationTrainer`` (sparse-aware
optimizer and clipping for ComeIR's hash tables, ranking evaluation, early stopping on NDCG@10)."""

import pytest
import torch
from datasets import Dataset
from helpers.tiny import NUM_ITEMS, TINY_MODELS, tiny_model
from transformers import EarlyStoppingCallback, Trainer, TrainingArguments

from hf_genrec.training import GenRecCollator, RecommendationTrainer, sparse_parameters

FIRST = [(model_type, next(iter(TINY_MODELS[model_type]))) for model_type in sorted(TINY_MODELS)]


def rows(n: int = 48) -> Dataset:
    g = torch.Generator().manual_seed(0)
    histories = [torch.randint(0, NUM_ITEMS, (int(torch.randint(1, 5, (1,), generator=g)),), generator=g).tolist()
                 for _ in range(n)]
    return Dataset.from_dict({"history": histories, "target": [(h[-1] + 1) % NUM_ITEMS for h in histories]})


def arguments(tmp_path, **extra) -> TrainingArguments:
    options = dict(output_dir=str(tmp_path), per_device_train_batch_size=16, per_device_eval_batch_size=16,
                   learning_rate=1e-2, max_steps=3, save_strategy="no", report_to=[], use_cpu=True, disable_tqdm=True,
                   seed=0, max_grad_norm=1.0)
    return TrainingArguments(**{**options, **extra})


@pytest.mark.parametrize("model_type,variant", FIRST, ids=[f"{m}-{v}" for m, v in FIRST])
def test_every_model_trains_and_ranks_under_the_transformers_trainer(model_type, variant, tmp_path):
    model, tok = tiny_model(model_type, variant)
    model.train()
    before = {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}
    trainer = RecommendationTrainer(model=model, args=arguments(tmp_path), processing_class=tok, train_dataset=rows(),
                                    eval_dataset=rows(12), eval_num_beams=5, ranking_ks=(5, 10))
    output = trainer.train()
    assert torch.isfinite(torch.tensor(output.training_loss))
    assert any(not torch.equal(p, before[n]) for n, p in model.named_parameters() if n in before)
    metrics = trainer.evaluate()
    assert {"eval_recall@10", "eval_ndcg@10", "eval_users"} <= set(metrics) and metrics["eval_users"] == 12


def test_comeir_sparse_tables_need_the_sparse_aware_trainer(tmp_path):
    model, tok = tiny_model("comeir", "comeir")
    assert sparse_parameters(model), "the tiny ComeIR has sparse hash tables"
    collator = GenRecCollator(tok, mode="item", max_history=model.config.max_history)
    plain = Trainer(model=model.train(), args=arguments(tmp_path, remove_unused_columns=False), train_dataset=rows(),
                    data_collator=collator)
    with pytest.raises(Exception):  # plain AdamW / clipping cannot take row-sparse gradients
        plain.train()
    model, tok = tiny_model("comeir", "comeir")
    trainer = RecommendationTrainer(model=model.train(), args=arguments(tmp_path), processing_class=tok,
                                    train_dataset=rows())
    assert type(trainer.create_optimizer()).__name__ == "SparseAwareAdamW"
    assert torch.isfinite(torch.tensor(trainer.train().training_loss))


def test_early_stopping_and_best_model_on_ranking_metrics(tmp_path):
    model, tok = tiny_model("tiger", "t5")
    args = arguments(tmp_path, eval_strategy="steps", eval_steps=1, save_strategy="steps", save_steps=1,
                     load_best_model_at_end=True, metric_for_best_model="ndcg@10", greater_is_better=True,
                     max_steps=20, learning_rate=0.0)  # a frozen model: NDCG@10 never improves
    trainer = RecommendationTrainer(model=model.train(), args=args, processing_class=tok, train_dataset=rows(),
                                    eval_dataset=rows(12), eval_num_beams=5,
                                    callbacks=[EarlyStoppingCallback(early_stopping_patience=2)])
    trainer.train()
    assert trainer.state.global_step == 3  # stopped after two evaluations without improvement
    assert trainer.state.best_metric is not None
