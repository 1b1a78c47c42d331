"""From item embeddings to final semantic IDs: fit a quantizer, encode, resolve collisions, measure."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
import torch

from .base import Quantizer, build_quantizer
from .collisions import resolve_collisions
from .quality import sid_quality


@dataclass
class SemanticIDs:
    """Final SIDs of a catalog (row = ``item_idx``) and how they were obtained."""

    codes: torch.Tensor  # [N, L'] (L' = L + 1 with the suffix level)
    codebook_sizes: List[int]
    collisions: str
    raw_codes: torch.Tensor  # [N, L] straight from the quantizer
    quality_before: Dict[str, Any] = field(default_factory=dict)
    quality: Dict[str, Any] = field(default_factory=dict)
    collision_report: Dict[str, Any] = field(default_factory=dict)
    fit_report: Dict[str, Any] = field(default_factory=dict)

    def summary(self) -> Dict[str, Any]:
        return {"collisions": self.collisions, "codebook_sizes": self.codebook_sizes,
                "quality_before_collision_handling": self.quality_before, "quality": self.quality,
                "collision_handling": self.collision_report,
                "fit": {k: v for k, v in self.fit_report.items() if k != "history"}}


def build_semantic_ids(embeddings, quantizer: Union[str, Quantizer] = "rqkmeans", levels: int = 3,
                       codebook_size: Any = 256, collisions: str = "suffix", seed: int = 0,
                       quantizer_options: Optional[Dict[str, Any]] = None,
                       fit_options: Optional[Dict[str, Any]] = None,
                       collision_options: Optional[Dict[str, Any]] = None) -> Tuple[Quantizer, SemanticIDs]:
    """Fit (unless already fitted) and encode; then apply the collision mode.

    Returns the fitted quantizer and a :class:`SemanticIDs` with quality before and after.
    """
    embeddings = torch.as_tensor(np.asarray(embeddings), dtype=torch.float32)
    if isinstance(quantizer, str):
        options = dict(quantizer_options or {})
        quantizer = build_quantizer(quantizer, input_dim=int(embeddings.shape[1]), levels=levels,
                                    codebook_size=codebook_size, seed=seed, **options)
    fit_report: Dict[str, Any] = {}
    if not bool(quantizer.fitted):
        fit_report = quantizer.fit(embeddings, **(fit_options or {}))
    start = time.perf_counter()
    raw = quantizer.encode(embeddings)
    fit_report["encode_seconds"] = round(time.perf_counter() - start, 3)
    quality_before = sid_quality(raw, quantizer.codebook_sizes)
    start = time.perf_counter()
    codes, sizes, report = resolve_collisions(raw, collisions, quantizer, embeddings, **(collision_options or {}))
    report["seconds"] = round(time.perf_counter() - start, 3)
    return quantizer, SemanticIDs(codes=codes, codebook_sizes=sizes, collisions=collisions, raw_codes=raw,
                                  quality_before=quality_before, quality=sid_quality(codes, sizes),
                                  collision_report=report, fit_report=fit_report)
