"""Training options (the ``training:`` section of a YAML config)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from ..configuration_utils import check_choices
from ..utils.dataclass_dict import dataclass_from_dict

#: what ``metric_for_best_model`` may name (the evaluator's Recall/NDCG at K = 5, 10, 20)
METRICS = tuple(f"{metric}@{k}" for k in (5, 10, 20) for metric in ("recall", "ndcg"))
#: training options that change what a run computes; the rest (output, logging, evaluation, stopping) may change
#: between a checkpoint and its resume
TRAJECTORY_OPTIONS = ("learning_rate", "weight_decay", "optimizer", "adam_betas", "batch_size",
                      "gradient_accumulation_steps", "warmup_steps", "warmup_ratio", "scheduler", "max_grad_norm",
                      "mixed_precision", "seed", "deterministic", "deepspeed_config", "train_examples",
                      "group_by_length", "schedule_over")


#: ``transformers.TrainingArguments`` names and the ``TrainingConfig`` fields they set
TRAINING_ARGUMENTS_ALIASES = {"per_device_train_batch_size": "batch_size", "per_device_eval_batch_size": "eval_batch_size",
                              "num_train_epochs": "num_epochs", "lr_scheduler_type": "scheduler", "optim": "optimizer",
                              "deepspeed": "deepspeed_config", "resume_from_checkpoint": "resume_from"}
_OPTIMIZER_NAMES = {"adamw_torch": "adamw", "adamw_torch_fused": "adamw", "adamw_hf": "adamw"}


def translate_training_arguments(data: Dict[str, Any]) -> Dict[str, Any]:
    """``training`` options with ``TrainingArguments`` names rewritten to ``TrainingConfig`` fields (see
    :meth:`TrainingConfig.from_dict`); ``bf16`` / ``fp16: true`` set ``mixed_precision``, ``disable_tqdm`` turns
    ``show_progress`` off, an ``eval_`` prefix of ``metric_for_best_model`` is dropped."""
    out = dict(data)

    def put(field_name: str, value: Any, given_as: str) -> None:
        if field_name in out and out[field_name] != value:
            raise ValueError(f"training.{given_as} ({value!r}) and training.{field_name} ({out[field_name]!r}) "
                             "set the same option to different values; give one of them")
        out[field_name] = value

    for alias, field_name in TRAINING_ARGUMENTS_ALIASES.items():
        if alias in out:
            value = out.pop(alias)
            if alias == "optim":
                value = _OPTIMIZER_NAMES.get(value, value)
            put(field_name, value, alias)
    for flag in ("bf16", "fp16"):
        if flag in out:
            if out.pop(flag):
                put("mixed_precision", flag, flag)
    if "disable_tqdm" in out:
        put("show_progress", not out.pop("disable_tqdm"), "disable_tqdm")
    metric = out.get("metric_for_best_model")
    if isinstance(metric, str) and metric.startswith("eval_"):
        out["metric_for_best_model"] = metric[len("eval_"):]
    return out


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
    max_minutes: Optional[float] = None  # a wall-clock budget: validate, keep the best checkpoint and stop when it ends
    stop_at_step: int = -1  # stop (after checkpointing) at this step, e.g. to continue later with resume
    warmup_steps: int = 0
    warmup_ratio: float = 0.0
    scheduler: str = "cosine"  # cosine | linear | constant
    # what the decay spans: "steps" (num_epochs / max_steps) or "max_minutes" (the wall-clock budget, for budgeted
    # runs whose step count is not known in advance)
    schedule_over: str = "steps"
    max_grad_norm: float = 1.0
    # learning-rate factors per parameter-name pattern (fnmatch, first match wins), e.g. NEZHA's head:
    # {"nezha.transition.*": 10, "nezha.cells.*": 10, "nezha_code_embeddings.*": 100}; every pattern must match
    lr_multipliers: Dict[str, float] = field(default_factory=dict)
    # "prefix": one example per prepared row (history -> next item); "sequence": windows of the history length with
    # a target at every position, one backbone pass each (causal models only; see data/sequence_examples.py)
    train_examples: str = "prefix"
    # batches of rows with similar history lengths (less padding; samplers.LengthGroupedSampler), in random order
    group_by_length: bool = False
    mixed_precision: str = "no"  # no | bf16 | fp16 (where the device supports it)
    seed: int = 42
    deterministic: bool = False  # torch.use_deterministic_algorithms: bit-exact reruns even with several threads
    eval_steps: int = 0  # 0: evaluate once per epoch
    eval_num_beams: Optional[int] = None  # None: the model's generation_config decides
    eval_batch_size: int = 128
    eval_max_users: Optional[int] = None  # validation on N users drawn at random, the same each time; test on all
    eval_subset_seed: int = 0  # which random users eval_max_users draws
    metric_for_best_model: str = "ndcg@10"
    early_stopping_patience: int = 5  # evaluations without improvement; 0 disables
    save_total_limit: int = 2
    logging_steps: int = 20
    report_to: List[str] = field(default_factory=lambda: ["tensorboard"])
    resume_from: Optional[str] = None  # a checkpoint folder or "latest"
    dataloader_num_workers: int = 0
    deepspeed_config: Optional[str] = None  # path to a DeepSpeed JSON config
    # on CPU, DeepSpeed's shared-memory allreduce (a C++ op compiled at run time into ~/.cache/torch_extensions);
    # off by default: gloo all-reduces instead (see deepspeed_engine.configure_cpu_allreduce)
    deepspeed_cpu_shm_allreduce: bool = False
    final_test: bool = True
    show_progress: bool = True
    overwrite_output_dir: bool = False  # a fresh run may replace another run's checkpoints and model in output_dir
    allow_pickled_checkpoints: bool = False  # resuming a DeepSpeed checkpoint unpickles it: only with this set

    def __post_init__(self):
        if self.mixed_precision is False or self.mixed_precision is None:  # YAML reads a bare `no` as false
            self.mixed_precision = "no"
        check_choices(scheduler=(self.scheduler, ("cosine", "linear", "constant")),
                      optimizer=(self.optimizer, ("adamw", "adam")),
                      mixed_precision=(self.mixed_precision, ("no", "bf16", "fp16")),
                      metric_for_best_model=(self.metric_for_best_model, METRICS),
                      train_examples=(self.train_examples, ("prefix", "sequence")),
                      schedule_over=(self.schedule_over, ("steps", "max_minutes")))
        if self.schedule_over == "max_minutes" and not self.max_minutes:
            raise ValueError("training.schedule_over: max_minutes decays the learning rate over the wall-clock budget, "
                             "so training.max_minutes must be set")
        at_least = {"batch_size": 1, "gradient_accumulation_steps": 1, "eval_batch_size": 1, "logging_steps": 1,
                    "warmup_steps": 0, "eval_steps": 0, "early_stopping_patience": 0, "save_total_limit": 0,
                    "dataloader_num_workers": 0, "eval_num_beams": 1, "eval_max_users": 1}
        for name, low in at_least.items():
            value = getattr(self, name)
            if value is not None and value < low:
                raise ValueError(f"training.{name} must be at least {low}, got {value}")
        if self.learning_rate < 0 or self.weight_decay < 0 or self.max_grad_norm < 0:
            raise ValueError("training.learning_rate, weight_decay and max_grad_norm must not be negative "
                             f"(got {self.learning_rate}, {self.weight_decay}, {self.max_grad_norm})")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise ValueError(f"training.max_minutes must be positive, got {self.max_minutes}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"training.warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.max_steps == 0 or self.max_steps < -1 or (self.max_steps == -1 and self.num_epochs <= 0):
            raise ValueError(f"training needs at least one step: max_steps > 0, or num_epochs > 0 with max_steps -1 "
                             f"(got max_steps {self.max_steps}, num_epochs {self.num_epochs})")
        for pattern, factor in (self.lr_multipliers or {}).items():
            if not isinstance(factor, (int, float)) or factor <= 0:
                raise ValueError(f"training.lr_multipliers[{pattern!r}] must be a positive number, got {factor!r}")
        if len(self.adam_betas) != 2 or not all(0 <= beta < 1 for beta in self.adam_betas):
            raise ValueError(f"training.adam_betas must be two numbers in [0, 1), got {self.adam_betas}")

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "TrainingConfig":
        """The config of a run file's ``training`` section. ``transformers.TrainingArguments`` names are accepted too
        (:data:`TRAINING_ARGUMENTS_ALIASES`: ``per_device_train_batch_size``, ``num_train_epochs``, ``bf16``, ...);
        an option under both names with different values, and an unknown option, are errors."""
        data = translate_training_arguments(dict(data))
        if data.get("mixed_precision") is False:  # YAML reads a bare `no` as false
            data["mixed_precision"] = "no"
        return dataclass_from_dict(cls, data, "training")

    def run_fingerprint(self) -> Dict[str, Any]:
        """The options that decide a run's trajectory: a checkpoint resumes only under the same ones."""
        fingerprint = {name: getattr(self, name) for name in TRAJECTORY_OPTIONS}
        if self.lr_multipliers:  # only when set, so that checkpoints from before the option still resume
            fingerprint["lr_multipliers"] = dict(self.lr_multipliers)
        return fingerprint

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)
