"""Shared training machinery of the autoencoder quantizers (RQ-VAE, VQ-VAE, and PRISM's later on).

An MLP encoder maps an item embedding ``x`` to a latent ``z``; a quantizer-specific rule turns ``z``
into codes and a quantized latent ``z_q``; an MLP decoder reconstructs ``x`` from ``z_q`` with the
straight-through estimator ``z + sg(z_q - z)``. The loss is (ComeIR Eq. 30, DECOR Eq. 6-8)::

    ||x - Dec(z_q)||^2 + sum_l ( ||sg(r_l) - e_l||^2 + beta * ||r_l - sg(e_l)||^2 )

where ``r_l`` is what level ``l`` quantizes (a residual or a chunk) and ``e_l`` the chosen codeword.
Options: k-means initialisation of every codebook on the first encoder outputs, EMA codebook updates
(the codebook term is then replaced by the moving averages), and dead-code reset (codes unused during
an epoch are moved onto random current inputs of their level). The fit loop can also run a warmup-cosine
learning-rate schedule, clip gradients, stop early on the training loss, keep the best epoch's weights and
stop at a wall-clock budget (defaults: none of these, i.e. the plain loop).

Subclasses with more than one input per item (PRISM's popularity and tags) pass them to :meth:`fit` as
keyword arguments; :meth:`AutoencoderQuantizer.prepare_fit` checks them and the loop hands each batch's
rows to :meth:`AutoencoderQuantizer.losses`.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch
from torch import nn

from ..utils.progress import progress
from .base import Quantizer, QuantizerConfig, lookup
from .quality import usage_perplexity


@dataclass
class AutoencoderQuantizerConfig(QuantizerConfig):
    hidden_dims: List[int] = field(default_factory=lambda: [512, 256, 128])
    latent_dim: int = 32
    dropout: float = 0.0
    beta: float = 0.25
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    epochs: int = 100
    batch_size: int = 1024
    kmeans_init: bool = True
    kmeans_iterations: int = 25
    ema: bool = False
    ema_decay: float = 0.99
    dead_code_reset: bool = True
    normalize_input: bool = False
    lr_schedule: str = "constant"  # or "warmup_cosine": linear warmup, then cosine down to min_lr_ratio * lr
    warmup_ratio: float = 0.1
    min_lr_ratio: float = 0.01
    max_grad_norm: Optional[float] = None
    early_stopping_patience: Optional[int] = None  # epochs without a training-loss improvement
    early_stopping_min_delta: float = 1e-5
    keep_best: bool = False  # restore the weights of the epoch with the lowest training loss
    max_minutes: Optional[float] = None  # stop after the epoch that passes this wall-clock budget

    def __post_init__(self):
        super().__post_init__()
        at_least_one = {"latent_dim": self.latent_dim, "epochs": self.epochs, "batch_size": self.batch_size,
                        "kmeans_iterations": self.kmeans_iterations, "early_stopping_patience": self.early_stopping_patience}
        for name, value in at_least_one.items():
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if any(width < 1 for width in self.hidden_dims):
            raise ValueError(f"hidden_dims must be positive, got {self.hidden_dims}")
        if self.learning_rate <= 0 or self.weight_decay < 0 or self.beta < 0:
            raise ValueError(f"learning_rate must be positive, weight_decay and beta not negative (got "
                             f"{self.learning_rate}, {self.weight_decay}, {self.beta})")
        if not (0 <= self.dropout < 1 and 0 < self.ema_decay < 1):
            raise ValueError(f"dropout must be in [0, 1) and ema_decay in (0, 1), got {self.dropout}, {self.ema_decay}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        if not (0 <= self.warmup_ratio < 1 and 0 <= self.min_lr_ratio <= 1):
            raise ValueError(f"warmup_ratio must be in [0, 1) and min_lr_ratio in [0, 1], got {self.warmup_ratio}, "
                             f"{self.min_lr_ratio}")
        for name in ("max_grad_norm", "max_minutes"):
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive (or null for none), got {getattr(self, name)}")


LR_SCHEDULES = ("constant", "warmup_cosine")


def mlp(dims: Sequence[int], dropout: float = 0.0, layer_norm: bool = False, activate_last: bool = False) -> nn.Sequential:
    """Linear layers ``dims[0] -> ... -> dims[-1]``; after each hidden one (and the last with ``activate_last``):
    ``[LayerNorm] -> ReLU -> [Dropout]``."""
    layers: List[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(dims) - 2 or activate_last:
            if layer_norm:
                layers.append(nn.LayerNorm(b))
            layers.append(nn.ReLU())
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def warmup_cosine(step: int, total: int, warmup_ratio: float, floor: float) -> float:
    """Learning-rate factor at optimizer step ``step`` of ``total``: linear warmup over the first
    ``warmup_ratio`` of the steps, then a cosine from 1 down to ``floor``."""
    warmup = int(total * warmup_ratio)
    if step < warmup:
        return (step + 1) / warmup
    progress_done = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress_done))


class Quantized(NamedTuple):
    """What quantizing a batch of latents gives: codes ``[B, L]``, each level's input ``r_l`` and chosen
    codeword ``e_l`` (lists of ``[B, d_l]``) and the straight-through latent ``z + sg(z_q - z)``."""

    codes: torch.Tensor
    inputs: List[torch.Tensor]
    chosen: List[torch.Tensor]
    straight_through: torch.Tensor


def usage_diagnostics(usage: Sequence[torch.Tensor]) -> Dict[str, List[float]]:
    """Per level, from one epoch's code counts: ``code_perplexity`` (``exp(H)`` of the usage, ``K`` = uniform)
    and ``unused_codes`` (codes no item chose). A level whose perplexity falls towards 1 has collapsed."""
    counts = [level_counts.detach().cpu().numpy() for level_counts in usage]
    return {"code_perplexity": [round(usage_perplexity(c), 2) for c in counts],
            "unused_codes": [int((c == 0).sum()) for c in counts]}


#: A level whose last-epoch perplexity is under this share of its codebook size gets a collapse warning.
COLLAPSE_SHARE = 0.05


def collapsed_levels(perplexity: Sequence[float], codebook_sizes: Sequence[int]) -> List[int]:
    """1-based levels whose code-usage perplexity is below ``COLLAPSE_SHARE`` of the codebook size."""
    return [level + 1 for level, (value, size) in enumerate(zip(perplexity, codebook_sizes))
            if value < COLLAPSE_SHARE * size]


def collapse_message(perplexity: Sequence[float], codebook_sizes: Sequence[int]) -> Optional[str]:
    """What to tell the user when a level's code perplexity is below ``COLLAPSE_SHARE`` of its codebook size
    (the latent has nearly collapsed onto a few codes and the SIDs collide heavily); None otherwise."""
    low = collapsed_levels(perplexity, codebook_sizes)
    if not low:
        return None
    return (f"code usage collapsed at level(s) {low}: perplexity {list(perplexity)} for codebooks of "
            f"{list(codebook_sizes)}; the SIDs collide heavily before deduplication")


def warn_if_collapsed(final: Dict[str, Any], codebook_sizes: Sequence[int], name: str) -> None:
    """Warn when the last epoch's code usage (``final["code_perplexity"]``) has collapsed (:func:`collapse_message`)."""
    message = collapse_message(final.get("code_perplexity") or [], codebook_sizes)
    if message:
        warnings.warn(f"{name}: {message} (last epoch; see the history's code_perplexity and unused_codes)",
                      RuntimeWarning, stacklevel=3)


class TrainingLossMonitor:
    """Early stopping on the epoch's training loss and a copy of the best epoch's weights."""

    def __init__(self, patience: Optional[int], min_delta: float, keep_best: bool):
        self.patience, self.min_delta, self.keep_best = patience, min_delta, keep_best
        self.best_loss, self.best_epoch, self.best_state, self.waited = math.inf, -1, None, 0

    def update(self, epoch: int, loss: float, module: nn.Module) -> bool:
        """Record an epoch; True when training should stop."""
        if loss < self.best_loss - self.min_delta:
            self.best_loss, self.best_epoch, self.waited = loss, epoch, 0
            if self.keep_best:
                self.best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        else:
            self.waited += 1
        return self.patience is not None and self.waited >= self.patience

    def restore_best(self, module: nn.Module) -> None:
        if self.best_state is not None:
            module.load_state_dict(self.best_state)


class AutoencoderQuantizer(Quantizer):
    """Base for encoder-quantizer-decoder models; subclasses define how codes are assigned."""

    config_class = AutoencoderQuantizerConfig

    def __init__(self, config: AutoencoderQuantizerConfig):
        super().__init__(config)
        self.encoder = self.build_encoder()
        self.decoder = self.build_decoder()
        dims = self.codebook_dims()
        self.codebook_params = nn.ParameterList(
            [nn.Parameter(torch.randn(size, dim) / math.sqrt(dim), requires_grad=not config.ema)
             for size, dim in zip(config.codebook_sizes, dims)])
        if config.ema:
            for level, (size, dim) in enumerate(zip(config.codebook_sizes, dims)):
                self.register_buffer(f"ema_count_{level}", torch.ones(size))
                self.register_buffer(f"ema_sum_{level}", self.codebook_params[level].detach().clone())

    # ------------------------------------------------------------------ hooks
    def codebook_dims(self) -> List[int]:
        raise NotImplementedError

    def init_codebooks(self, latent: torch.Tensor) -> None:
        raise NotImplementedError

    def build_encoder(self) -> nn.Module:
        config = self.config
        return mlp([config.input_dim, *config.hidden_dims, config.latent_dim], config.dropout)

    def build_decoder(self) -> nn.Module:
        config = self.config
        return mlp([config.latent_dim, *reversed(config.hidden_dims), config.input_dim], config.dropout)

    def prepare_fit(self, embeddings: torch.Tensor, **item_inputs) -> Dict[str, torch.Tensor]:
        """Check the per-item inputs :meth:`fit` got besides the embeddings; return those to batch (``[N, ...]``)."""
        if item_inputs:
            raise TypeError(f"{type(self).__name__}.fit() takes no per-item inputs besides embeddings, got {sorted(item_inputs)}")
        return {}

    def kmeans_init_latent(self, embeddings: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The latents the codebooks are k-means-initialised on (all items)."""
        return self.latent(embeddings)

    def begin_epoch(self, epoch: int) -> None:
        """Called before each training epoch (0-based); for epoch-dependent loss weights."""

    # ------------------------------------------------------------------ common
    @property
    def codebooks(self) -> List[torch.Tensor]:
        return [p for p in self.codebook_params]

    def latent(self, embeddings: torch.Tensor) -> torch.Tensor:
        if self.config.normalize_input:
            embeddings = nn.functional.normalize(embeddings, dim=-1)
        return self.encoder(embeddings)

    def decode(self, quantized_latent: torch.Tensor) -> torch.Tensor:
        return self.decoder(quantized_latent)

    def squared_error(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``||a - b||^2`` per row, averaged over the rows."""
        return (a - b).pow(2).sum(-1).mean()

    def commitment_loss(self, inputs: List[torch.Tensor], chosen: List[torch.Tensor]) -> torch.Tensor:
        """``sum_l ||r_l - sg(e_l)||^2``."""
        return sum(self.squared_error(r, e.detach()) for r, e in zip(inputs, chosen))

    def quantize_with_losses(self, z: torch.Tensor) -> Tuple[Dict[str, torch.Tensor], Quantized]:
        """Nearest codes of a latent batch, the commitment term (and the codebook term without EMA)."""
        with torch.no_grad():
            codes = self.quantize_latent(z)
        inputs = self.level_inputs(z, codes)
        chosen = [lookup(codebook, codes[:, level]) for level, codebook in enumerate(self.codebooks)]
        terms = {"commitment": self.commitment_loss(inputs, chosen)}
        if not self.config.ema:
            terms["codebook"] = sum(self.squared_error(r.detach(), e) for r, e in zip(inputs, chosen))
        z_q = self.codes_to_latent(codes)
        return terms, Quantized(codes, inputs, chosen, z + (z_q - z).detach())

    def losses(self, x: torch.Tensor) -> Tuple[Dict[str, torch.Tensor], torch.Tensor, List[torch.Tensor]]:
        """Loss terms for a batch; also returns the codes and each level's (detached) inputs."""
        terms, quantized = self.quantize_with_losses(self.latent(x))
        reconstruction = self.decode(quantized.straight_through)
        target = nn.functional.normalize(x, dim=-1) if self.config.normalize_input else x
        terms["reconstruction"] = self.squared_error(target, reconstruction)
        terms["loss"] = terms["reconstruction"] + terms.get("codebook", 0.0) + self.config.beta * terms["commitment"]
        return terms, quantized.codes, [r.detach() for r in quantized.inputs]

    @torch.no_grad()
    def _ema_update(self, codes: torch.Tensor, inputs: List[torch.Tensor]) -> None:
        decay = self.config.ema_decay
        for level, (codebook, r) in enumerate(zip(self.codebooks, inputs)):
            one_hot = nn.functional.one_hot(codes[:, level], codebook.shape[0]).float()
            count, total = getattr(self, f"ema_count_{level}"), getattr(self, f"ema_sum_{level}")
            count.mul_(decay).add_(one_hot.sum(0), alpha=1 - decay)
            total.mul_(decay).add_(one_hot.T @ r, alpha=1 - decay)
            n = count.sum()
            smoothed = (count + 1e-5) / (n + codebook.shape[0] * 1e-5) * n
            codebook.data.copy_(total / smoothed[:, None])

    @torch.no_grad()
    def _reset_dead_codes(self, usage: List[torch.Tensor], x: torch.Tensor, generator: torch.Generator) -> int:
        """Move codes unused in the last epoch onto random current inputs of their level."""
        z = self.latent(x)
        codes = self.quantize_latent(z)
        inputs = self.level_inputs(z, codes)
        reset = 0
        for level, codebook in enumerate(self.codebooks):
            dead = torch.nonzero(usage[level] == 0).flatten()
            if len(dead) == 0:
                continue
            pick = torch.randint(len(x), (len(dead),), generator=generator)
            codebook.data[dead] = inputs[level][pick]
            if self.config.ema:
                getattr(self, f"ema_sum_{level}")[dead] = inputs[level][pick]
                getattr(self, f"ema_count_{level}")[dead] = 1.0
            reset += len(dead)
        return reset

    def fit(self, embeddings, epochs: int | None = None, device: str | None = None, log_every: int = 1,
            **item_inputs) -> Dict[str, Any]:
        """Train on all item embeddings; returns a report with the loss history (one row per epoch).

        ``item_inputs`` are per-item tensors a subclass needs besides the embeddings (see :meth:`prepare_fit`).
        """
        config = self.config
        x_all = self._as_input(embeddings)
        device = torch.device(device or "cpu")
        epochs = config.epochs if epochs is None else epochs
        start = time.perf_counter()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            per_item = self.prepare_fit(x_all, **item_inputs)
            self._reset_parameters()
            self.to(device)
            x_all = x_all.to(device)
            per_item = {name: value.to(device) for name, value in per_item.items()}
            generator = torch.Generator().manual_seed(config.seed)
            if config.kmeans_init:
                with torch.no_grad():
                    self.init_codebooks(self.kmeans_init_latent(x_all, generator))
            params = [p for p in self.parameters() if p.requires_grad]
            optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
            scheduler = self._lr_scheduler(optimizer, epochs * math.ceil(len(x_all) / config.batch_size))
            monitor = TrainingLossMonitor(config.early_stopping_patience, config.early_stopping_min_delta, config.keep_best)
            history, row = [], {}
            bar = progress(range(epochs), desc=f"training {self.quantizer_type}", unit="epoch")
            for epoch in bar:
                row = self._train_epoch(epoch, x_all, per_item, optimizer, scheduler, params, generator)
                row.update(usage_diagnostics(row["usage"]))
                if config.dead_code_reset and epoch < epochs - 1:
                    row["dead_codes_reset"] = self._reset_dead_codes(row.pop("usage"), x_all, generator)
                row.pop("usage", None)
                stop = monitor.update(epoch, row["loss"], self)
                out_of_time = config.max_minutes is not None and time.perf_counter() - start > 60 * config.max_minutes
                if epoch % log_every == 0 or epoch == epochs - 1 or stop or out_of_time:
                    history.append(row)
                bar.set_postfix(loss=f"{row['loss']:.4f}", recon=f"{row['reconstruction']:.4f}")
                if stop or out_of_time:
                    break
            monitor.restore_best(self)
            self.to("cpu")
        self.eval()
        self.fitted.fill_(True)
        report = {"epochs": epochs, "history": history, "final": history[-1] if history else {},
                  "seconds": round(time.perf_counter() - start, 3)}
        warn_if_collapsed(report["final"], config.codebook_sizes, type(self).__name__)
        if config.early_stopping_patience is not None or config.keep_best or config.max_minutes is not None:
            report.update(epochs_run=row.get("epoch", -1) + 1, best_epoch=monitor.best_epoch,
                          best_loss=monitor.best_loss, restored_best=monitor.best_state is not None)
        return report

    def _reset_parameters(self) -> None:
        """Fresh weights for every linear and layer-norm layer, in registration order (seeded by ``fit``)."""
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.LayerNorm)):
                module.reset_parameters()

    def _lr_scheduler(self, optimizer, total_steps: int):
        config = self.config
        if config.lr_schedule == "constant":
            return None
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: warmup_cosine(step, total_steps, config.warmup_ratio, config.min_lr_ratio))

    def _train_epoch(self, epoch, x_all, per_item, optimizer, scheduler, params, generator) -> Dict[str, Any]:
        """One shuffled pass; returns the item-weighted mean of every loss term and the code usage."""
        config, device = self.config, x_all.device
        self.train()
        self.begin_epoch(epoch)
        order = torch.randperm(len(x_all), generator=generator).to(device)
        usage = [torch.zeros(size, device=device) for size in config.codebook_sizes]
        sums: Dict[str, float] = {}
        for i in range(0, len(order), config.batch_size):
            index = order[i:i + config.batch_size]
            terms, codes, inputs = self.losses(x_all[index], **{name: value[index] for name, value in per_item.items()})
            optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            if config.max_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            if config.ema:
                self._ema_update(codes, inputs)
            for level in range(self.levels):
                usage[level] += torch.bincount(codes[:, level], minlength=config.codebook_sizes[level])
            for key, value in terms.items():
                sums[key] = sums.get(key, 0.0) + float(value.detach() if torch.is_tensor(value) else value) * len(index)
        return {"epoch": epoch, **{k: v / len(x_all) for k, v in sums.items()}, "usage": usage}
