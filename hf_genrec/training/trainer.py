"""The trainer shared by every hf_genrec model.

``GenRecTrainer(model, tokenizer, train, validation, test, config).train()``:

* a :class:`~hf_genrec.training.backends.TrainingBackend` runs the steps: accelerate (one process on CPU,
  ``accelerate launch`` / ``torchrun`` for data-parallel runs, bf16/fp16 where the device has it) or DeepSpeed
  ZeRO (``deepspeed_config``); the loop below is the same for all of them;
* AdamW (or Adam; the row-sparse :class:`~hf_genrec.training.sparse_optim.SparseAwareAdamW` for hash tables),
  warmup + cosine / linear / constant schedule, gradient clipping and accumulation;
* evaluation every ``eval_steps`` (or epoch) on the validation split through the shared
  :class:`~hf_genrec.evaluation.Evaluator` (users sharded over processes), early stopping on validation
  NDCG@10 with patience, best-checkpoint selection, final test evaluation of the best weights;
* atomic checkpoints that resume bit-exactly (same weights at step ``n`` as an uninterrupted run);
* TensorBoard logging through accelerate trackers, a tqdm bar with loss and samples/s, and a PNG of the
  training and validation curves.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from torch.utils.data import DataLoader

from .._version import __version__
from ..data.collator import GenRecCollator
from ..evaluation import Evaluator
from ..utils.cpu_load import CpuLoadMonitor
from ..utils.io import atomic_write_json, output_lock, read_json_file, written_by_hf_genrec
from ..utils.logging import get_logger
from ..utils.memory import peak_memory_gb
from ..utils.plots import plot_training_curves
from ..utils.progress import progress
from .backends import TrainingBackend, make_backend
from .checkpoint import TRAINER_STATE, latest_checkpoint
from .config import TrainingConfig
from .lora import is_lora, merge_lora, trainable_parameters
from .samplers import EpochShuffleSampler, LengthGroupedSampler
from .sparse_optim import SparseAwareAdamW, parameter_groups

logger = get_logger(__name__)


class _RowDataset(torch.utils.data.Dataset):
    """Index a ``datasets.Dataset`` as plain dict rows (no torch formatting)."""

    def __init__(self, split):
        self.split = split

    def __len__(self):
        return len(self.split)

    def __getitem__(self, index):
        return self.split[int(index)]


def _targets_in(batch) -> int:
    """Training targets in a batch: one per row for prefix batches, one per labelled position for sequence ones."""
    labels = batch["labels"]
    return int((labels[..., 0] != -100).sum()) if labels.dim() == 3 else len(labels)


def _scheduler(optimizer, kind: str, warmup: int, total: int, budget_fraction=None):
    """Linear warmup over ``warmup`` steps, then ``kind`` decay over ``total`` steps or, when ``budget_fraction`` is
    given (``training.schedule_over: max_minutes``), over the wall-clock budget: the decay reads the share of
    ``max_minutes`` used so far (the same value on every process) instead of the step count."""
    from transformers import (get_constant_schedule_with_warmup, get_cosine_schedule_with_warmup,
                              get_linear_schedule_with_warmup)

    if budget_fraction is not None:
        from torch.optim.lr_scheduler import LambdaLR

        decay = {"cosine": lambda p: 0.5 * (1.0 + math.cos(math.pi * p)), "linear": lambda p: 1.0 - p,
                 "constant": lambda p: 1.0}[kind]

        def factor(step: int) -> float:
            if step < warmup:
                return step / max(1, warmup)
            return max(0.0, decay(min(1.0, budget_fraction())))

        return LambdaLR(optimizer, factor)
    if kind == "cosine":
        return get_cosine_schedule_with_warmup(optimizer, warmup, max(total, 1))
    if kind == "linear":
        return get_linear_schedule_with_warmup(optimizer, warmup, max(total, 1))
    return get_constant_schedule_with_warmup(optimizer, warmup)


def _differences(saved: Any, current: Any, prefix: str = "") -> List[str]:
    """``key: old -> new`` for every leaf where two nested dicts differ."""
    if isinstance(saved, dict) and isinstance(current, dict):
        found = []
        for key in sorted(set(saved) | set(current)):
            found += _differences(saved.get(key), current.get(key), f"{prefix}{key}.")
        return found
    return [] if saved == current else [f"{prefix.rstrip('.')}: {saved!r} -> {current!r}"]


class GenRecTrainer:
    def __init__(self, model, tokenizer, train_dataset, eval_dataset=None, test_dataset=None,
                 config: Optional[TrainingConfig] = None, item_train_counts=None, accelerator=None,
                 run_metadata: Optional[Dict[str, Any]] = None, item_titles=None, dataset_name: Optional[str] = None,
                 sid_quality: Optional[Dict[str, Any]] = None, redistribution_restricted: bool = False,
                 license_note: Optional[str] = None):
        self.model = model
        self.tokenizer = tokenizer
        self.train_dataset = train_dataset
        self.eval_dataset = eval_dataset
        self.test_dataset = test_dataset
        self.config = config or TrainingConfig()
        self.item_train_counts = None if item_train_counts is None else np.asarray(item_train_counts)
        self.run_metadata = run_metadata or {}
        self.item_titles = item_titles
        self.dataset_name = dataset_name
        self.sid_quality = sid_quality
        self.data_license = {"redistribution_restricted": redistribution_restricted, "license_note": license_note}
        self.backend: TrainingBackend = make_backend(self.config, accelerator)
        self.accelerator = self.backend.accelerator
        self.output_dir = Path(self.config.output_dir)
        self.history: Dict[str, List[Dict[str, float]]] = {"train": [], "validation": []}

    @property
    def is_main(self) -> bool:
        return self.backend.is_main

    # ------------------------------------------------------------------ set-up
    def create_optimizer(self):
        """AdamW / Adam over two groups (weight decay on matrices, none on vectors and norms), split further by
        ``training.lr_multipliers`` (a pattern's parameters train at ``factor x learning_rate``; NEZHA's head), plus
        the row-sparse hash tables of Engram models (``SparseAwareAdamW``)."""
        config = self.config
        groups, sparse_group = parameter_groups(self.model, config.learning_rate, config.weight_decay,
                                                config.lr_multipliers)
        if sparse_group:  # hash tables (Engram): row-sparse gradients, state only for touched rows, no decay
            if config.deepspeed_config:
                raise ValueError("DeepSpeed does not train sparse embeddings: set the model's sparse_tables to false "
                                 "(dense tables and optimizer state) or train without deepspeed_config")
            if config.optimizer != "adamw":
                raise ValueError("models with sparse tables train with optimizer 'adamw' (SparseAwareAdamW)")
            groups.append({"params": sparse_group, "weight_decay": 0.0})
            return SparseAwareAdamW(groups, lr=config.learning_rate, betas=tuple(config.adam_betas))
        cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
        return cls(groups, lr=config.learning_rate, betas=tuple(config.adam_betas))

    def training_rows(self):
        """The training split as the loader reads it: prefix rows as prepared, or sequence-level windows of the
        model's history length (``training.train_examples``)."""
        if self.config.train_examples == "prefix":
            return self.train_dataset
        from ..data.sequence_examples import sequence_windows

        self._check_train_examples()
        return sequence_windows(self.train_dataset, self.model.config.max_history)

    def _check_train_examples(self) -> None:
        """A clear error, before anything is written, when the model cannot train on sequence-level examples."""
        if self.config.train_examples != "sequence":
            return
        model = self.model
        why = model.sequence_training_unsupported(model.config) if hasattr(model, "sequence_training_unsupported") \
            else f"{type(model).__name__} is not an hf_genrec model"
        if why:
            raise ValueError(f"training.train_examples: sequence is not available: {why}. Use train_examples: prefix")

    def _sampler(self, rows):
        """The order of training rows: shuffled each epoch, or grouped by history length (``group_by_length``)."""
        config = self.config
        if not config.group_by_length:
            return EpochShuffleSampler(len(rows), config.seed)
        cap = self.model.config.max_history or None
        lengths = [min(len(h), cap) if cap else len(h) for h in rows["history"]]
        return LengthGroupedSampler(lengths, config.batch_size, config.seed)

    def get_collator(self, with_labels: bool = True) -> GenRecCollator:
        model_config = self.model.config
        return GenRecCollator(self.tokenizer, mode=model_config.input_mode, max_history=model_config.max_history,
                              with_labels=with_labels)

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, split, max_users: Optional[int] = None, num_beams: Optional[int] = None) -> Dict[str, Any]:
        """Full-ranking metrics on ``split`` (users sharded over processes); the same result on every process."""
        evaluator = Evaluator(self.tokenizer, num_beams=num_beams or self.config.eval_num_beams,
                              batch_size=self.config.eval_batch_size, max_users=max_users, show_progress=False,
                              subset_seed=self.config.eval_subset_seed)
        with self.backend.gathered_parameters():
            result = evaluator.evaluate(self.backend.unwrapped, split, self.item_train_counts, self.backend.device,
                                        accelerator=self.accelerator)
        return result.to_dict()

    # ------------------------------------------------------------------ checkpoints
    def _checkpoint(self, step: int, state: Dict[str, Any]) -> Path:
        folder = self.output_dir / f"checkpoint-{step}"
        self.backend.save_state(folder, self._state_for_disk(state))
        if self.is_main:
            self._prune_checkpoints(state.get("best_checkpoint"))
        self.backend.wait()
        return folder

    def _prune_checkpoints(self, keep: Optional[str]) -> None:
        limit = self.config.save_total_limit
        if limit <= 0:
            return
        folders = sorted((p for p in self.output_dir.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()),
                         key=lambda p: int(p.name.split("-")[-1]))
        removable = [p for p in folders if keep is None or p.name != Path(keep).name]
        for folder in removable[:-limit] if len(removable) > limit else []:
            shutil.rmtree(folder, ignore_errors=True)

    def _resume(self) -> Dict[str, Any]:
        target = self.config.resume_from
        if not target:
            return {}
        folder = latest_checkpoint(self.output_dir) if target == "latest" else Path(target)
        if folder is None:
            raise FileNotFoundError(f"no checkpoint to resume from in {self.output_dir}")
        self._check_resumable(folder)
        state = self.backend.load_state(folder)
        state["resumed_from"] = str(folder)
        return state

    def run_fingerprint(self) -> Dict[str, Any]:
        """What defines this run (model, data, fine-tuning, trajectory options); stored in every checkpoint."""
        run = {key: self.run_metadata.get(key) for key in ("model_type", "model", "finetuning", "data")}
        return json.loads(json.dumps({**run, "training": self.config.run_fingerprint()}))

    def _check_resumable(self, folder: Path) -> None:
        """A checkpoint resumes only a run of the same configuration, in the format of this run's backend."""
        state_file = folder / TRAINER_STATE
        if not state_file.exists():
            raise FileNotFoundError(f"{folder} is not a complete hf_genrec checkpoint (no {TRAINER_STATE})")
        state = read_json_file(state_file)
        deepspeed_format = (folder / "deepspeed").is_dir() or not (folder / "model.safetensors").exists()
        if deepspeed_format != (self.backend.distributed_type == "DEEPSPEED"):
            written = "a DeepSpeed run" if deepspeed_format else "a run without DeepSpeed"
            raise ValueError(f"{folder} was written by {written}; resume it with the same training.deepspeed_config")
        if deepspeed_format and not self.config.allow_pickled_checkpoints:
            raise ValueError(f"{folder} is a DeepSpeed checkpoint, which loads with pickle (it can run code): resume it "
                             "only if you trust where it came from, with training.allow_pickled_checkpoints: true")
        saved = state.get("run_fingerprint")
        if saved is None:
            logger.warning(f"{folder} predates run fingerprints; its configuration cannot be checked against this run's")
            return
        differences = _differences(saved, self.run_fingerprint())
        if differences:
            raise ValueError(f"{folder} belongs to a run with another configuration ({'; '.join(differences[:6])}): "
                             "resume it with the configuration it was written with, or start a new run in another "
                             "training.output_dir")

    def _previous_run_outputs(self) -> List[Path]:
        """What an earlier run left in the output folder that a fresh run would mix with its own."""
        found = [p for p in self.output_dir.glob("checkpoint-*") if p.is_dir()]
        found += [self.output_dir / name for name in ("model", "summary.json", "training_history.json")
                  if (self.output_dir / name).exists()]
        return sorted(found)

    @contextlib.contextmanager
    def _holding_output_dir(self):
        """Lock the output folder (main process) for the run; a fresh run refuses another run's checkpoints and model
        unless ``overwrite_output_dir``, which removes them first. Every process agrees on the outcome."""
        from accelerate.utils import broadcast_object_list

        with contextlib.ExitStack() as stack:
            problem = [None]
            if self.is_main:
                try:
                    stack.enter_context(output_lock(self.output_dir))
                    previous = [] if self.config.resume_from else self._previous_run_outputs()
                    if previous and not self.config.overwrite_output_dir:
                        raise FileExistsError(
                            f"{self.output_dir} holds another run's {', '.join(p.name for p in previous[:4])}: resume it "
                            "with training.resume_from=latest, choose another training.output_dir, or replace them with "
                            "--overwrite (training.overwrite_output_dir: true)")
                    for path in previous:
                        if path.is_dir() and not (written_by_hf_genrec(path) or (path / TRAINER_STATE).exists()):
                            raise FileExistsError(f"{path} was not written by hf_genrec; --overwrite will not remove it")
                    for path in previous:
                        shutil.rmtree(path) if path.is_dir() else path.unlink()
                    for stale in self.output_dir.glob(".checkpoint-*.partial"):  # left by a killed run
                        shutil.rmtree(stale, ignore_errors=True)
                except (FileExistsError, OSError) as error:
                    problem = [error]
            if self.backend.num_processes > 1:
                broadcast_object_list(problem)
            if problem[0] is not None:
                raise problem[0]
            yield

    def _state_for_disk(self, state: Dict[str, Any]) -> Dict[str, Any]:
        if getattr(self, "_start_time", None) is not None:
            state["budget_minutes"] = self._budget_minutes()
        return {**state, "history": self.history, "hf_genrec_version": __version__,
                "run_fingerprint": self.run_fingerprint()}

    # ------------------------------------------------------------------ training
    def train(self) -> Dict[str, Any]:
        """Train, validate, keep the best checkpoint, test it and save the model folder; returns the summary."""
        self._check_train_examples()
        with self._holding_output_dir():
            return self._train()

    def _train(self) -> Dict[str, Any]:
        config, backend = self.config, self.backend
        from accelerate.utils import set_seed

        set_seed(config.seed)
        if config.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        train_rows = self.training_rows()
        sampler = self._sampler(train_rows)
        # The loader's own generator: creating an iterator draws a worker seed, which must not come from the
        # global RNG (that would shift dropout after a resume, where the iterator is created at another time).
        loader = DataLoader(_RowDataset(train_rows), batch_size=config.batch_size, sampler=sampler,
                            collate_fn=self.get_collator(), num_workers=config.dataloader_num_workers, drop_last=False,
                            generator=torch.Generator().manual_seed(config.seed))
        batches_per_epoch = math.ceil(len(loader) / backend.num_processes)
        steps_per_epoch = max(1, math.ceil(batches_per_epoch / config.gradient_accumulation_steps))
        total_steps = config.max_steps if config.max_steps > 0 else int(math.ceil(config.num_epochs * steps_per_epoch))
        warmup = config.warmup_steps or int(config.warmup_ratio * total_steps)
        optimizer = self.create_optimizer()
        self._budget_used = 0.0  # share of max_minutes spent (training.schedule_over: max_minutes)
        budget_fraction = (lambda: self._budget_used) if config.schedule_over == "max_minutes" else None
        loader = backend.prepare(self.model, optimizer,
                                 _scheduler(optimizer, config.scheduler, warmup, total_steps, budget_fraction), loader)
        state = {"global_step": 0, "epoch": 0, "batches_in_epoch": 0, "best_metric": None, "best_step": None,
                 "best_checkpoint": None, "evaluations_without_improvement": 0, "history": self.history}
        resumed = self._resume()
        if resumed:
            state.update(resumed)
            self.history = state["history"]
        self._minutes_before = float(state.get("budget_minutes", 0.0))  # of max_minutes, spent before a resume
        self.cpu_load = CpuLoadMonitor()  # sampled at every logging step: the run summary's ``cpu`` (contention)
        accelerator = self.accelerator
        if config.report_to:
            accelerator.init_trackers("hf_genrec", config={k: v for k, v in config.to_dict().items()
                                                          if isinstance(v, (int, float, str, bool))})
        if self.is_main:
            logger.info(f"training {type(backend.unwrapped).__name__}: {trainable_parameters(backend.unwrapped)} on "
                        f"{backend.num_processes} process(es), {total_steps} steps")
        bar = progress(total=total_steps, initial=state["global_step"], desc="training", unit="step",
                       disable=not (self.is_main and config.show_progress))
        eval_every = config.eval_steps or steps_per_epoch
        stop, start_time = False, time.perf_counter()
        samples, targets, window_loss, window_count = 0, 0, 0.0, 0
        self._start_time, self._evaluation_seconds = start_time, 0.0
        self.local_samples, self.first_batch_users = 0, None  # evidence that processes see different data
        backend.model.train()
        while state["global_step"] < total_steps and not stop:
            epoch = state["epoch"]
            epoch_loader = loader
            if state["batches_in_epoch"]:
                epoch_loader = accelerator.skip_first_batches(loader, state["batches_in_epoch"])
            # The shuffle of every epoch comes from (seed, epoch). accelerate's loaders count their own epochs from 0
            # and re-seed the sampler with that count when iterated, so they are told the epoch too (after a resume
            # their count would restart at 0 and replay epoch 0's order).
            for shuffled in (sampler, epoch_loader):
                if hasattr(shuffled, "set_epoch"):
                    shuffled.set_epoch(epoch)
            for batch in epoch_loader:
                loss, boundary = backend.step(batch)
                state["batches_in_epoch"] += 1
                samples += len(batch["labels"]) * backend.num_processes
                targets += _targets_in(batch) * backend.num_processes
                self.local_samples += len(batch["labels"])
                if self.first_batch_users is None and "user_ids" in batch:
                    self.first_batch_users = batch["user_ids"][:8].tolist()
                window_loss += float(loss.detach())
                window_count += 1
                if not boundary:
                    continue
                state["global_step"] += 1
                step = state["global_step"]
                bar.update(1)
                if step % config.logging_steps == 0 or step == total_steps:
                    elapsed = max(time.perf_counter() - start_time - self._evaluation_seconds, 1e-9)
                    row = {"step": step, "epoch": epoch, "loss": window_loss / window_count,
                           "learning_rate": backend.learning_rate(), "samples_per_second": samples / elapsed,
                           "targets_per_second": targets / elapsed}
                    self.history["train"].append(row)
                    self.cpu_load.sample()
                    bar.set_postfix(loss=f"{row['loss']:.4f}", samples_s=f"{row['samples_per_second']:.0f}")
                    accelerator.log({"train/loss": row["loss"], "train/learning_rate": row["learning_rate"],
                                     "train/samples_per_second": row["samples_per_second"]}, step=step)
                    window_loss, window_count = 0.0, 0
                at_epoch_end = state["batches_in_epoch"] >= batches_per_epoch
                out_of_time = self._out_of_time(start_time)
                if (step % eval_every == 0 or step == total_steps or (config.eval_steps == 0 and at_epoch_end)
                        or out_of_time):
                    stop = self._evaluate_and_checkpoint(state) or stop
                if out_of_time:
                    state["stopped_by_time_budget"] = stop = True
                if 0 < config.stop_at_step <= step and not stop:
                    self._checkpoint(step, state)
                    bar.close()
                    return {"stopped_at_step": step, "checkpoint": str(self.output_dir / f"checkpoint-{step}")}
                if stop or step >= total_steps:
                    break
            else:
                state["epoch"] += 1
                state["batches_in_epoch"] = 0
                continue
            if state["batches_in_epoch"] >= batches_per_epoch:
                state["epoch"] += 1
                state["batches_in_epoch"] = 0
        bar.close()
        return self._finish(state, time.perf_counter() - start_time, samples, targets)

    def _training_minutes(self) -> float:
        """Wall-clock minutes since training started, without the time spent validating."""
        start = getattr(self, "_start_time", None)
        if start is None:
            return 0.0
        return (time.perf_counter() - start - self._evaluation_seconds) / 60

    def _budget_minutes(self) -> float:
        """Minutes of ``max_minutes`` spent: before a resume, plus wall-clock minutes since this run started."""
        return getattr(self, "_minutes_before", 0.0) + (time.perf_counter() - self._start_time) / 60.0

    def _out_of_time(self, start_time: float) -> bool:
        """Whether ``max_minutes`` of training have passed, counting the minutes before a resume (the main process
        decides for every process); also updates the budget share that ``schedule_over: max_minutes`` decays on."""
        if not self.config.max_minutes:
            return False
        elapsed = [self._budget_minutes()]
        if self.backend.num_processes > 1:
            from accelerate.utils import broadcast_object_list

            broadcast_object_list(elapsed)
        self._budget_used = min(1.0, elapsed[0] / self.config.max_minutes)
        return elapsed[0] > self.config.max_minutes

    def _evaluate_and_checkpoint(self, state: Dict[str, Any]) -> bool:
        """Validate, keep the best checkpoint, decide on early stopping; returns True to stop."""
        config, step = self.config, state["global_step"]
        if self.eval_dataset is None:
            self._checkpoint(step, state)
            return False
        began = time.perf_counter()
        training_minutes = self._training_minutes()
        result = self.evaluate(self.eval_dataset, max_users=config.eval_max_users)
        value = result["metrics"].get(config.metric_for_best_model)
        row = {"step": step, **result["metrics"], "users": result["num_users"],
               "ci95": result["ci95"].get(config.metric_for_best_model), "seconds": result["seconds"],
               "training_minutes": round(training_minutes, 3)}
        self.history["validation"].append(row)
        self.accelerator.log({f"validation/{k}": v for k, v in result["metrics"].items()}, step=step)
        improved = state["best_metric"] is None or (value is not None and value > state["best_metric"])
        if improved:
            state.update(best_metric=value, best_step=step, best_checkpoint=str(self.output_dir / f"checkpoint-{step}"),
                         evaluations_without_improvement=0)
        else:
            state["evaluations_without_improvement"] += 1
        self._checkpoint(step, state)
        self._evaluation_seconds = getattr(self, "_evaluation_seconds", 0.0) + time.perf_counter() - began
        if self.is_main:  # one line per evaluation, also without progress bars (reproduce runs turn them off)
            logger.info(f"step {step}: validation {config.metric_for_best_model} {value:.4f} ± {row['ci95']:.4f} over "
                        f"{row['users']:,} users (best {state['best_metric']:.4f} at step {state['best_step']})")
        patience = config.early_stopping_patience
        return bool(patience and state["evaluations_without_improvement"] >= patience)

    def _finish(self, state: Dict[str, Any], seconds: float, samples: int, targets: int) -> Dict[str, Any]:
        """Load the best weights, evaluate on test, save the final model folder, plot the curves."""
        from accelerate.utils import gather_object

        backend = self.backend
        backend.wait()
        per_process = gather_object([(self.accelerator.process_index, self.local_samples, self.first_batch_users)])
        best = state.get("best_checkpoint")
        if best and Path(best).exists():
            backend.load_best_weights(Path(best))
        test = self.evaluate(self.test_dataset) if (self.test_dataset is not None and self.config.final_test) else None
        model = backend.unwrapped
        training_seconds = max(seconds - getattr(self, "_evaluation_seconds", 0.0), 1e-9)  # throughput: no validation
        summary: Dict[str, Any] = {
            "global_step": state["global_step"], "epochs_completed": state["epoch"], "seconds": round(seconds, 2),
            "validation_seconds": round(seconds - training_seconds, 2),
            "samples_per_second": round(samples / training_seconds, 2),
            "targets_per_second": round(targets / training_seconds, 2), "train_examples": self.config.train_examples,
            "best_step": state.get("best_step"),
            "best_validation": state.get("best_metric"), "metric_for_best_model": self.config.metric_for_best_model,
            "early_stopped": bool(self.config.early_stopping_patience and
                                  state["evaluations_without_improvement"] >= self.config.early_stopping_patience),
            "stopped_by_time_budget": bool(state.get("stopped_by_time_budget")), "max_minutes": self.config.max_minutes,
            "test": test, **backend.describe(), "parameters": trainable_parameters(model),
            "samples_per_process": {int(r): int(n) for r, n, _ in per_process},
            "first_batch_users_per_process": {int(r): users for r, _, users in per_process},
            "lora": is_lora(model),
            "peak_memory_gb": peak_memory_gb(),  # of this process: how many such runs fit on one machine
            "cpu": self.cpu_load.describe(),  # threads, cores and load average while training (contention)
        }
        with backend.gathered_parameters():  # every process enters (a collective under ZeRO-3)
            if self.is_main:
                final = self.output_dir / "model"
                merge_lora(model)
                from ..hub.export import save_model_folder

                best_validation = [row for row in self.history["validation"] if row["step"] == state.get("best_step")]
                save_model_folder(model, self.tokenizer, final,
                                  metrics={"test": test, "validation": best_validation[-1] if best_validation else None},
                                  training={**self.config.to_dict(), **self.run_metadata}, item_titles=self.item_titles,
                                  dataset_name=self.dataset_name, sid_quality=self.sid_quality, **self.data_license)
                plot_training_curves(self.history, self.output_dir / "training_curves.png",
                                     self.config.metric_for_best_model, best_step=state.get("best_step"),
                                     title=f"{model.config.model_type} on {self.dataset_name or 'the dataset'} - "
                                           f"{self.output_dir.name}")
                atomic_write_json(self.output_dir / "training_history.json", self.history)
                summary["model_folder"] = str(final)
                summary["plot"] = str(self.output_dir / "training_curves.png")
        if self.config.report_to:
            self.accelerator.end_training()
        backend.wait()
        return summary
