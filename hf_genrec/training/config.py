"""Training options (the ``training:`` section of a YAML config)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from ..utils.dataclass_dict import dataclass_from_dict


@dataclass
class TrainingConfig:
    output_dir: str = "runs/train"
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    optimizer: str = "adamw"  # adamw | adam
    adam_betas: List[float] = field(default_factory=lambda: [0.9, 0.999])
    batch_size: int = 256  # per process
    gradient_accumulation_steps: int = 1
    num_epochs: float = 10.0
    max_steps: int = -1  # > 0 overrides num_epochs
    stop_at_step: int = -1  # stop (after checkpointing) at this step, e.g. to continue later with resume
    warmup_steps: int = 0
    warmup_ratio: float = 0.0
    scheduler: str = "cosine"  # cosine | linear | constant
    max_grad_norm: float = 1.0
    mixed_precision: str = "no"  # no | bf16 | fp16 (where the device supports it)
    seed: int = 42
    deterministic: bool = False  # torch.use_deterministic_algorithms: bit-exact reruns even with several threads
    eval_steps: int = 0  # 0: evaluate once per epoch
    eval_num_beams: Optional[int] = None  # None: the model's generation_config decides
    eval_batch_size: int = 128
    eval_max_users: Optional[int] = None  # validation on the first N users (speed); test always on all
    metric_for_best_model: str = "ndcg@10"
    early_stopping_patience: int = 5  # evaluations without improvement; 0 disables
    save_total_limit: int = 2
    logging_steps: int = 20
    report_to: List[str] = field(default_factory=lambda: ["tensorboard"])
    resume_from: Optional[str] = None  # a checkpoint folder or "latest"
    dataloader_num_workers: int = 0
    deepspeed_config: Optional[str] = None  # path to a DeepSpeed JSON config
    final_test: bool = True
    show_progress: bool = True

    def __post_init__(self):
        if self.scheduler not in ("cosine", "linear", "constant"):
            raise ValueError(f"scheduler must be cosine, linear or constant, got {self.scheduler!r}")
        if self.optimizer not in ("adamw", "adam"):
            raise ValueError(f"optimizer must be adamw or adam, got {self.optimizer!r}")
        if self.mixed_precision is False or self.mixed_precision is None:  # YAML reads a bare `no` as false
            self.mixed_precision = "no"
        if self.mixed_precision not in ("no", "bf16", "fp16"):
            raise ValueError(f"mixed_precision must be no, bf16 or fp16, got {self.mixed_precision!r}")

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "TrainingConfig":
        return dataclass_from_dict(cls, data, "training")

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)
