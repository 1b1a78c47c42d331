"""RQ-VAE (Lee et al. 2022) as used by TIGER, DECOR ("Semantic Indexer Pretraining", Eq. 2-8) and ComeIR
(App. B.2.1, Eq. 29-30): an MLP autoencoder whose latent is quantized by ``L`` residual codebooks.

Defaults follow TIGER/DECOR (hidden 512-256-128, latent 32, beta 0.25); ComeIR uses beta = 1.0,
L = 3, K = 128 and IntRR L = 4, K = 128 - all set through the config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List

import torch

from .autoencoder import AutoencoderQuantizer, AutoencoderQuantizerConfig
from .base import lookup, register_quantizer, residual_inputs, residual_quantize
from .kmeans import kmeans, nearest


@dataclass
class RQVAEConfig(AutoencoderQuantizerConfig):
    pass


@register_quantizer
class RQVAE(AutoencoderQuantizer):
    quantizer_type = "rqvae"
    config_class = RQVAEConfig

    def codebook_dims(self) -> List[int]:
        return [self.config.latent_dim] * self.levels

    def quantize_latent(self, latent: torch.Tensor) -> torch.Tensor:
        return residual_quantize(latent, self.codebooks)[0]

    def level_inputs(self, latent: torch.Tensor, codes: torch.Tensor) -> List[torch.Tensor]:
        # r_l = z - sum_{j<l} sg(e_j): the commitment gradient reaches the encoder only.
        return residual_inputs(latent, codes, [c.detach() for c in self.codebooks])

    def codes_to_latent(self, codes: torch.Tensor) -> torch.Tensor:
        return sum(lookup(codebook, codes[:, level]) for level, codebook in enumerate(self.codebooks))

    def init_codebooks(self, latent: torch.Tensor) -> None:
        residual = latent
        for level, codebook in enumerate(self.codebooks):
            centroids, _ = kmeans(residual, codebook.shape[0], self.config.kmeans_iterations,
                                  seed=self.config.seed + level)
            codebook.data.copy_(centroids)
            if self.config.ema:
                getattr(self, f"ema_sum_{level}").copy_(centroids)
            residual = residual - centroids[nearest(residual, centroids)]
