"""Shared training machinery of the autoencoder quantizers (RQ-VAE, VQ-VAE, and PRISM's later on).

An MLP encoder maps an item embedding ``x`` to a latent ``z``; a quantizer-specific rule turns ``z``
into codes and a quantized latent ``z_q``; an MLP decoder reconstructs ``x`` from ``z_q`` with the
straight-through estimator ``z + sg(z_q - z)``. The loss is (ComeIR Eq. 30, DECOR Eq. 6-8)::

    ||x - Dec(z_q)||^2 + sum_l ( ||sg(r_l) - e_l||^2 + beta * ||r_l - sg(e_l)||^2 )

where ``r_l`` is what level ``l`` quantizes (a residual or a chunk) and ``e_l`` the chosen codeword.
Options: k-means initialisation of every codebook on the first encoder outputs, EMA codebook updates
(the codebook term is then replaced by the moving averages), and dead-code reset (codes unused during
an epoch are moved onto random current inputs of their level).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Sequence, Tuple

import torch
from torch import nn

from ..utils.progress import progress
from .base import Quantizer, QuantizerConfig, lookup


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

    def __post_init__(self):
        super().__post_init__()
        at_least_one = {"latent_dim": self.latent_dim, "epochs": self.epochs, "batch_size": self.batch_size,
                        "kmeans_iterations": self.kmeans_iterations}
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


def mlp(dims: Sequence[int], dropout: float = 0.0) -> nn.Sequential:
    layers: List[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(dims) - 2:
            layers.append(nn.ReLU())
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class AutoencoderQuantizer(Quantizer):
    """Base for encoder-quantizer-decoder models; subclasses define how codes are assigned."""

    config_class = AutoencoderQuantizerConfig

    def __init__(self, config: AutoencoderQuantizerConfig):
        super().__init__(config)
        self.encoder = mlp([config.input_dim, *config.hidden_dims, config.latent_dim], config.dropout)
        self.decoder = mlp([config.latent_dim, *reversed(config.hidden_dims), config.input_dim], config.dropout)
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

    def losses(self, x: torch.Tensor) -> Tuple[Dict[str, torch.Tensor], torch.Tensor, List[torch.Tensor]]:
        """Loss terms for a batch; also returns the codes and each level's (detached) inputs."""
        z = self.latent(x)
        with torch.no_grad():
            codes = self.quantize_latent(z)
        inputs = self.level_inputs(z, codes)
        chosen = [lookup(codebook, codes[:, level]) for level, codebook in enumerate(self.codebooks)]
        commitment = sum((r - e.detach()).pow(2).sum(-1).mean() for r, e in zip(inputs, chosen))
        terms = {"commitment": commitment}
        if not self.config.ema:
            terms["codebook"] = sum((r.detach() - e).pow(2).sum(-1).mean() for r, e in zip(inputs, chosen))
        z_q = self.codes_to_latent(codes)
        z_st = z + (z_q - z).detach()
        reconstruction = self.decode(z_st)
        target = nn.functional.normalize(x, dim=-1) if self.config.normalize_input else x
        terms["reconstruction"] = (target - reconstruction).pow(2).sum(-1).mean()
        terms["loss"] = terms["reconstruction"] + terms.get("codebook", 0.0) + self.config.beta * commitment
        return terms, codes, [r.detach() for r in inputs]

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

    def fit(self, embeddings, epochs: int | None = None, device: str | None = None, log_every: int = 1) -> Dict[str, Any]:
        """Train on all item embeddings; returns a report with the loss history (one row per epoch)."""
        config = self.config
        x_all = self._as_input(embeddings)
        device = torch.device(device or "cpu")
        epochs = config.epochs if epochs is None else epochs
        start = time.perf_counter()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            for module in (self.encoder, self.decoder):
                for layer in module:
                    if isinstance(layer, nn.Linear):
                        layer.reset_parameters()
            self.to(device)
            x_all = x_all.to(device)
            generator = torch.Generator().manual_seed(config.seed)
            if config.kmeans_init:
                with torch.no_grad():
                    self.init_codebooks(self.latent(x_all))
            params = [p for p in self.parameters() if p.requires_grad]
            optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
            history = []
            bar = progress(range(epochs), desc=f"training {self.quantizer_type}", unit="epoch")
            for epoch in bar:
                self.train()
                order = torch.randperm(len(x_all), generator=generator).to(device)
                usage = [torch.zeros(size, device=device) for size in config.codebook_sizes]
                sums: Dict[str, float] = {}
                for i in range(0, len(order), config.batch_size):
                    batch = x_all[order[i:i + config.batch_size]]
                    terms, codes, inputs = self.losses(batch)
                    optimizer.zero_grad(set_to_none=True)
                    terms["loss"].backward()
                    optimizer.step()
                    if config.ema:
                        self._ema_update(codes, inputs)
                    for level in range(self.levels):
                        usage[level] += torch.bincount(codes[:, level], minlength=config.codebook_sizes[level])
                    for key, value in terms.items():
                        sums[key] = sums.get(key, 0.0) + float(value.detach()) * len(batch)
                row = {"epoch": epoch, **{k: v / len(x_all) for k, v in sums.items()}}
                if config.dead_code_reset and epoch < epochs - 1:
                    row["dead_codes_reset"] = self._reset_dead_codes(usage, x_all, generator)
                if epoch % log_every == 0 or epoch == epochs - 1:
                    history.append(row)
                bar.set_postfix(loss=f"{row['loss']:.4f}", recon=f"{row['reconstruction']:.4f}")
            self.to("cpu")
        self.eval()
        self.fitted.fill_(True)
        return {"epochs": epochs, "history": history, "final": history[-1] if history else {},
                "seconds": round(time.perf_counter() - start, 3)}
