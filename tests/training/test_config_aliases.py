"""``training`` sections accept ``transformers.TrainingArguments`` names next to hf_genrec's own."""

import pytest

from hf_genrec.training import TrainingConfig


def test_training_arguments_names_set_the_same_fields():
    config = TrainingConfig.from_dict({"per_device_train_batch_size": 64, "per_device_eval_batch_size": 32,
                                       "num_train_epochs": 3, "lr_scheduler_type": "linear", "optim": "adamw_torch",
                                       "bf16": True, "disable_tqdm": True, "metric_for_best_model": "eval_recall@10",
                                       "resume_from_checkpoint": "latest", "report_to": []})
    assert (config.batch_size, config.eval_batch_size, config.num_epochs) == (64, 32, 3)
    assert (config.scheduler, config.optimizer, config.mixed_precision) == ("linear", "adamw", "bf16")
    assert config.show_progress is False and config.metric_for_best_model == "recall@10"
    assert config.resume_from == "latest"
    assert TrainingConfig.from_dict({"batch_size": 64, "per_device_train_batch_size": 64}).batch_size == 64


def test_conflicting_and_unknown_options_fail():
    with pytest.raises(ValueError, match="per_device_train_batch_size"):
        TrainingConfig.from_dict({"batch_size": 32, "per_device_train_batch_size": 64})
    with pytest.raises(ValueError, match="per_device_train_batch"):
        TrainingConfig.from_dict({"per_device_train_batch": 64})
