"""Training: the trainer and its backends (accelerate, DeepSpeed), checkpoints, LoRA / freezing options and the
row-sparse optimizer for hash tables."""

from ..data.collator import GenRecCollator
from .backends import (AccelerateBackend, AccelerateDeepSpeedBackend, DirectDeepSpeedBackend, TrainingBackend,
                       make_backend)
from .config import TrainingConfig
from .hf_trainer import RecommendationTrainer
from .lora import LoraSettings, apply_lora, configure_finetuning, freeze_backbone, merge_lora, trainable_parameters
from .sparse_optim import SparseAwareAdamW, clip_grad_norm_, sparse_parameters
from .trainer import GenRecTrainer

__all__ = ["RecommendationTrainer", "AccelerateBackend", "AccelerateDeepSpeedBackend", "DirectDeepSpeedBackend", "TrainingBackend",
           "make_backend", "GenRecCollator", "GenRecTrainer", "LoraSettings", "TrainingConfig", "apply_lora", "configure_finetuning",
           "freeze_backbone", "merge_lora", "trainable_parameters", "SparseAwareAdamW", "clip_grad_norm_",
           "sparse_parameters"]
