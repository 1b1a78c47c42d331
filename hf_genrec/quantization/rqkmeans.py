"""RQ-KMeans: residual k-means without an encoder (ComeIR App. B.2.1 "RQ-KMeans"; IntRR's "RK-Means").

At level ``l`` k-means is fitted on the current residuals ``r_{l-1}``; the cluster index is the code
``c^l`` and the centroid is subtracted to form ``r_l``. With ``balanced=True`` every cluster of a level
holds at most ``ceil(N / K)`` items, at fit time and in :meth:`encode` (capacity relative to the batch).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Dict, List

import torch

from ..utils.progress import progress
from .base import Quantizer, QuantizerConfig, register_quantizer, residual_inputs
from .kmeans import balanced_assignment, kmeans, nearest, squared_distances


@dataclass
class RQKMeansConfig(QuantizerConfig):
    iterations: int = 50
    balanced: bool = False
    normalize_input: bool = False

    def __post_init__(self):
        super().__post_init__()
        if self.iterations < 1:
            raise ValueError(f"iterations must be at least 1, got {self.iterations}")


@register_quantizer
class RQKMeans(Quantizer):
    quantizer_type = "rqkmeans"
    config_class = RQKMeansConfig

    def __init__(self, config: RQKMeansConfig):
        super().__init__(config)
        for level, size in enumerate(config.codebook_sizes):
            self.register_buffer(f"codebook_{level}", torch.zeros(size, config.input_dim))

    @property
    def codebooks(self) -> List[torch.Tensor]:
        return [getattr(self, f"codebook_{level}") for level in range(self.levels)]

    def latent(self, embeddings: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.normalize(embeddings, dim=-1) if self.config.normalize_input else embeddings

    def codes_to_latent(self, codes: torch.Tensor) -> torch.Tensor:
        return sum(codebook[codes[:, level]] for level, codebook in enumerate(self.codebooks))

    def level_inputs(self, latent: torch.Tensor, codes: torch.Tensor) -> List[torch.Tensor]:
        return residual_inputs(latent, codes, self.codebooks)

    def quantize_latent(self, latent: torch.Tensor) -> torch.Tensor:
        residual, codes = latent, []
        for codebook in self.codebooks:
            if self.config.balanced:
                index = balanced_assignment(squared_distances(residual, codebook))
            else:
                index = nearest(residual, codebook)
            codes.append(index)
            residual = residual - codebook[index]
        return torch.stack(codes, dim=1)

    def fit(self, embeddings, **kwargs) -> Dict[str, Any]:
        start = time.perf_counter()
        residual = self.latent(self._as_input(embeddings))
        report: Dict[str, Any] = {"levels": []}
        for level in progress(range(self.levels), desc="RQ-KMeans levels", unit="level"):
            size = self.codebook_sizes[level]
            centroids, assignment = kmeans(residual, size, self.config.iterations, seed=self.config.seed + level,
                                           balanced=self.config.balanced)
            getattr(self, f"codebook_{level}").copy_(centroids)
            error = (residual - centroids[assignment]).pow(2).sum(-1).mean()
            report["levels"].append({"level": level, "residual_error": float(error),
                                     "used_codes": int(torch.unique(assignment).numel())})
            residual = residual - centroids[assignment]
        self.fitted.fill_(True)
        report["seconds"] = round(time.perf_counter() - start, 3)
        return report
