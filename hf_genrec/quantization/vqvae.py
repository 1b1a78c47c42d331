"""VQ-VAE (van den Oord et al. 2017) as compared in IntRR (Sec. 4.1, Table 1).

How the L levels are produced: IntRR does not say. A plain VQ-VAE yields one code per latent vector,
so - as in the multi-code VQ tokenizers IntRR cites - the latent ``z`` (``latent_dim``) is split into
``L`` equal chunks and chunk ``l`` is quantized by its own codebook ``l`` (product quantization). The
codes are therefore *not* hierarchical: unlike RQ, level 1 carries no more meaning than level 4.
The decoder reconstructs the embedding from the concatenated codewords. ``latent_dim`` must be a
multiple of ``levels`` (default: 64 rounded up to one, e.g. 64 = 4 x 16, 66 = 3 x 22).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import torch

from .autoencoder import AutoencoderQuantizer, AutoencoderQuantizerConfig
from .base import lookup, register_quantizer
from .kmeans import kmeans, nearest


@dataclass
class VQVAEConfig(AutoencoderQuantizerConfig):
    latent_dim: Optional[int] = None  # default: about 64, rounded up to a multiple of the levels

    def __post_init__(self):
        if self.latent_dim is None and self.levels >= 1:
            self.latent_dim = self.levels * -(-64 // self.levels)
        super().__post_init__()


@register_quantizer
class VQVAE(AutoencoderQuantizer):
    quantizer_type = "vqvae"
    config_class = VQVAEConfig

    def __init__(self, config: VQVAEConfig):
        if config.latent_dim % config.levels:
            raise ValueError(f"VQ-VAE latent_dim ({config.latent_dim}) must be a multiple of levels ({config.levels})")
        super().__init__(config)

    def codebook_dims(self) -> List[int]:
        return [self.config.latent_dim // self.levels] * self.levels

    def _chunks(self, latent: torch.Tensor) -> List[torch.Tensor]:
        return list(latent.chunk(self.levels, dim=-1))

    def quantize_latent(self, latent: torch.Tensor) -> torch.Tensor:
        return torch.stack([nearest(chunk, codebook) for chunk, codebook in zip(self._chunks(latent), self.codebooks)], 1)

    def level_inputs(self, latent: torch.Tensor, codes: torch.Tensor) -> List[torch.Tensor]:
        return self._chunks(latent)

    def codes_to_latent(self, codes: torch.Tensor) -> torch.Tensor:
        return torch.cat([lookup(codebook, codes[:, level]) for level, codebook in enumerate(self.codebooks)], dim=-1)

    def init_codebooks(self, latent: torch.Tensor) -> None:
        for level, (chunk, codebook) in enumerate(zip(self._chunks(latent), self.codebooks)):
            centroids, _ = kmeans(chunk, codebook.shape[0], self.config.kmeans_iterations, seed=self.config.seed + level)
            codebook.data.copy_(centroids)
            if self.config.ema:
                getattr(self, f"ema_sum_{level}").copy_(centroids)
