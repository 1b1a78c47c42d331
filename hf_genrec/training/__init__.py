"""Training: the batch collator, the accelerate trainer, checkpoints, and LoRA / freezing options."""

from ..data.collator import GenRecCollator
from .config import TrainingConfig
from .lora import LoraSettings, apply_lora, configure_finetuning, freeze_backbone, merge_lora, trainable_parameters
from .trainer import GenRecTrainer

__all__ = ["GenRecCollator", "GenRecTrainer", "LoraSettings", "TrainingConfig", "apply_lora", "configure_finetuning",
           "freeze_backbone", "merge_lora", "trainable_parameters"]
