"""How a training run executes: one interface, three backends.

:class:`TrainingBackend` is everything the trainer asks of the machinery below it: ``prepare`` the model,
optimizer, scheduler and data loader; take one ``step`` (forward, backward and, at an accumulation boundary,
clipping, the optimizer and scheduler steps); ``save_state`` / ``load_state`` of a checkpoint; the
``unwrapped`` model, its ``gathered_parameters`` (ZeRO-3) and a ``describe`` dict for the summary. The
``accelerator`` (processes, data-loader sharding, gathering, logging) is there in every backend.

* :class:`AccelerateBackend` - one process, DDP on CPU or GPU (``accelerate launch`` / ``torchrun``), mixed
  precision; checkpoints in safetensors + JSON (:mod:`.checkpoint`), bit-exact on resume.
* :class:`AccelerateDeepSpeedBackend` - DeepSpeed through accelerate's plugin (GPUs); DeepSpeed's own
  checkpoint format.
* :class:`DirectDeepSpeedBackend` - DeepSpeed ZeRO on CPU, where accelerate does not enable it: the engine is
  created directly (:mod:`.deepspeed_engine`) next to accelerate's processes.

:func:`make_backend` picks one from the training config.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Any, Dict, Tuple

import torch

from ..utils.io import atomic_write_json, read_json_file
from .checkpoint import TRAINER_STATE, load_checkpoint, load_model_state, rng_state, save_checkpoint
from .config import TrainingConfig
from .sparse_optim import SparseAwareAdamW, clip_grad_norm_


def _accelerator(config: TrainingConfig, deepspeed_plugin=None, direct_deepspeed: bool = False):
    from accelerate import Accelerator

    kwargs: Dict[str, Any] = {"gradient_accumulation_steps": config.gradient_accumulation_steps,
                              "project_dir": config.output_dir}
    precision = config.mixed_precision
    if precision == "fp16" and not torch.cuda.is_available():
        precision = "no"  # fp16 autocast needs a GPU; bf16 runs on CPU too
    kwargs["mixed_precision"] = precision
    if config.report_to:
        kwargs["log_with"] = list(config.report_to)
    if deepspeed_plugin is not None:
        kwargs["deepspeed_plugin"] = deepspeed_plugin
    if not torch.cuda.is_available():
        kwargs["cpu"] = True
    if direct_deepspeed:
        kwargs.pop("gradient_accumulation_steps")  # DeepSpeed accumulates itself
        kwargs["mixed_precision"] = "no"  # and handles precision from its config
    _forget_previous_accelerator()
    return Accelerator(**kwargs)


def _forget_previous_accelerator() -> None:
    """Let a second training in the same process choose its own precision and plugins.

    accelerate keeps one ``AcceleratorState`` per process and refuses a new ``Accelerator`` whose mixed precision
    differs from the first one's ("AcceleratorState has already been initialized"), which broke ``hf-genrec
    reproduce`` runs of several experiments (a bf16 run followed by an fp32 one) and notebooks that train twice.
    Each hf_genrec training builds its own ``Accelerator``, so the previous training's state is cleared here; the
    process-level ``PartialState`` (device, process group of a distributed launch) is kept.
    """
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=False)


class TrainingBackend:
    """The interface (see the module docstring); subclasses fill in how each step is done."""

    distributed_type = "NO"

    def __init__(self, config: TrainingConfig, accelerator):
        self.config = config
        self.accelerator = accelerator
        self.model = self.optimizer = self.scheduler = None

    # ------------------------------------------------------------------ processes
    @property
    def is_main(self) -> bool:
        return self.accelerator.is_main_process

    @property
    def num_processes(self) -> int:
        return self.accelerator.num_processes

    @property
    def device(self) -> torch.device:
        return self.accelerator.device

    def wait(self) -> None:
        self.accelerator.wait_for_everyone()

    # ------------------------------------------------------------------ the model
    @property
    def unwrapped(self):
        return self.accelerator.unwrap_model(self.model)

    @contextlib.contextmanager
    def gathered_parameters(self):
        """Full parameters on every process while the block runs (only ZeRO-3 partitions them)."""
        yield

    def describe(self) -> Dict[str, Any]:
        return {"distributed_type": self.accelerator.distributed_type.name, "zero_stage": None,
                "mixed_precision": self.accelerator.mixed_precision, "processes": self.num_processes}

    # ------------------------------------------------------------------ to be provided
    def prepare(self, model, optimizer, scheduler, loader):
        raise NotImplementedError

    def step(self, batch) -> Tuple[torch.Tensor, bool]:
        """One micro-batch; returns ``(loss, boundary)`` where ``boundary`` means an optimizer step happened."""
        raise NotImplementedError

    def learning_rate(self) -> float:
        return self.scheduler.get_last_lr()[0]

    def save_state(self, folder: Path, trainer_state: Dict[str, Any]) -> None:
        raise NotImplementedError

    def load_state(self, folder: Path) -> Dict[str, Any]:
        raise NotImplementedError

    def load_best_weights(self, folder: Path) -> None:
        raise NotImplementedError

    def _inner_optimizer(self):
        return getattr(self.optimizer, "optimizer", self.optimizer)


class AccelerateBackend(TrainingBackend):
    """Single process or DDP through accelerate; safetensors + JSON checkpoints that resume bit-exactly."""

    def prepare(self, model, optimizer, scheduler, loader):
        self.model, self.optimizer, loader = self.accelerator.prepare(model, optimizer, loader)
        self.scheduler = scheduler
        return loader

    def step(self, batch) -> Tuple[torch.Tensor, bool]:
        accelerator, max_norm = self.accelerator, self.config.max_grad_norm
        with accelerator.accumulate(self.model):
            loss = self.model(**batch).loss
            accelerator.backward(loss)
            if accelerator.sync_gradients and max_norm:
                if isinstance(self._inner_optimizer(), SparseAwareAdamW):  # row-sparse gradients (hash tables)
                    accelerator.unscale_gradients()
                    clip_grad_norm_(self.model.parameters(), max_norm)
                else:
                    accelerator.clip_grad_norm_(self.model.parameters(), max_norm)
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        boundary = accelerator.sync_gradients
        if boundary and not getattr(self.optimizer, "step_was_skipped", False):
            self.scheduler.step()
        return loss, boundary

    def save_state(self, folder: Path, trainer_state: Dict[str, Any]) -> None:
        from accelerate.utils import gather_object

        rngs = gather_object([(self.accelerator.process_index, rng_state())])
        if self.is_main:
            save_checkpoint(folder, self.unwrapped.state_dict(), self._inner_optimizer(), self.scheduler,
                            trainer_state, dict(rngs))
        self.wait()

    def load_state(self, folder: Path) -> Dict[str, Any]:
        return load_checkpoint(folder, self.unwrapped, self._inner_optimizer(), self.scheduler,
                               self.accelerator.process_index)

    def load_best_weights(self, folder: Path) -> None:
        path = Path(folder) / "model.safetensors"
        if path.exists():
            self.unwrapped.load_state_dict(load_model_state(path))


class _DeepSpeedCheckpoints:
    """DeepSpeed shards model and optimizer states in its own format (torch.save files, not safetensors): the
    engine writes into a temporary folder, the main process adds ``trainer_state.json`` and renames it."""

    def _save_engine_state(self, folder: Path) -> None:
        raise NotImplementedError

    def _load_engine_state(self, folder: Path, weights_only: bool = False) -> None:
        raise NotImplementedError

    def save_state(self, folder: Path, trainer_state: Dict[str, Any]) -> None:
        tmp = folder.parent / f".{folder.name}.partial"
        self._save_engine_state(tmp)
        self.wait()
        if self.is_main:
            atomic_write_json(tmp / TRAINER_STATE, trainer_state)
            if folder.exists():
                shutil.rmtree(folder)
            os.replace(tmp, folder)
        self.wait()

    def load_state(self, folder: Path) -> Dict[str, Any]:
        self._load_engine_state(folder)
        return read_json_file(Path(folder) / TRAINER_STATE)

    def load_best_weights(self, folder: Path) -> None:
        self._load_engine_state(folder, weights_only=True)


class AccelerateDeepSpeedBackend(_DeepSpeedCheckpoints, AccelerateBackend):
    """DeepSpeed through accelerate's plugin (GPUs): accelerate's step, DeepSpeed's checkpoints."""

    distributed_type = "DEEPSPEED"

    def _save_engine_state(self, folder: Path) -> None:
        self.accelerator.save_state(str(folder))

    def _load_engine_state(self, folder: Path, weights_only: bool = False) -> None:
        self.accelerator.load_state(str(folder))

    def describe(self) -> Dict[str, Any]:
        engine = getattr(self.model, "zero_optimization_stage", None)
        return {**super().describe(), "zero_stage": int(engine()) if callable(engine) else None}


class DirectDeepSpeedBackend(_DeepSpeedCheckpoints, TrainingBackend):
    """DeepSpeed ZeRO on CPU: the engine accumulates, clips, steps and schedules itself."""

    distributed_type = "DEEPSPEED"

    def prepare(self, model, optimizer, scheduler, loader):
        from . import deepspeed_engine

        config = self.config
        ds_config = deepspeed_engine.fill_config(config.deepspeed_config, config.batch_size,
                                                 config.gradient_accumulation_steps, config.max_grad_norm,
                                                 self.num_processes, config.mixed_precision)
        deepspeed_engine.configure_cpu_allreduce(config.deepspeed_cpu_shm_allreduce)
        self.model, self.optimizer, self.scheduler = deepspeed_engine.initialize(model, optimizer, scheduler, ds_config)
        return self.accelerator.prepare_data_loader(loader)

    @property
    def unwrapped(self):
        return self.model.module

    def step(self, batch) -> Tuple[torch.Tensor, bool]:
        loss = self.model(**batch).loss
        boundary = self.model.is_gradient_accumulation_boundary()
        self.model.backward(loss)
        self.model.step()
        return loss, boundary

    @contextlib.contextmanager
    def gathered_parameters(self):
        from .deepspeed_engine import gathered_parameters

        with gathered_parameters(self.unwrapped, self.model):
            yield

    def _save_engine_state(self, folder: Path) -> None:
        self.model.save_checkpoint(str(folder), tag="deepspeed")

    def _load_engine_state(self, folder: Path, weights_only: bool = False) -> None:
        self.model.load_checkpoint(str(folder), tag="deepspeed", load_optimizer_states=not weights_only,
                                   load_lr_scheduler_states=not weights_only)

    def describe(self) -> Dict[str, Any]:
        from .deepspeed_engine import zero_stage

        return {**super().describe(), "distributed_type": "DEEPSPEED", "zero_stage": zero_stage(self.model),
                "mixed_precision": self.config.mixed_precision}


def make_backend(config: TrainingConfig, accelerator=None) -> TrainingBackend:
    """The backend for ``config``: DeepSpeed when ``deepspeed_config`` is set (direct on CPU, through accelerate's
    plugin on GPUs), accelerate otherwise. ``accelerator`` replaces the one the backend would create."""
    if not config.deepspeed_config:
        return AccelerateBackend(config, accelerator or _accelerator(config))
    if not torch.cuda.is_available():
        return DirectDeepSpeedBackend(config, accelerator or _accelerator(config, direct_deepspeed=True))
    from accelerate import DeepSpeedPlugin

    plugin = DeepSpeedPlugin(hf_ds_config=config.deepspeed_config,
                             gradient_accumulation_steps=config.gradient_accumulation_steps,
                             gradient_clipping=config.max_grad_norm or None)
    return AccelerateDeepSpeedBackend(config, accelerator or _accelerator(config, deepspeed_plugin=plugin))
