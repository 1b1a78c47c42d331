"""Quantizers that turn item embeddings into semantic IDs, collision handling, and SID quality.

All quantizers share :class:`~hf_genrec.quantization.base.Quantizer`'s interface (``fit``, ``encode``,
``codebooks``, ``save_pretrained``/``from_pretrained``). Available: ``rqkmeans``, ``rqvae``,
``vqvae`` and ``prism`` (PRISM's Purified Semantic Quantizer).
"""

from .autoencoder import AutoencoderQuantizer, AutoencoderQuantizerConfig
from .base import QUANTIZERS, Quantizer, QuantizerConfig, build_quantizer, register_quantizer
from .collisions import COLLISION_MODES, resolve_collisions, sinkhorn_codes, suffix_codes
from .kmeans import kmeans
from .prism import PrismQuantizer, PrismQuantizerConfig
from .quality import (code_usage, parse_sid_tokens, prefix_collision_rates, prefix_duplicate_rates, prism_table3,
                      sid_quality)
from .rqkmeans import RQKMeans, RQKMeansConfig
from .rqvae import RQVAE, RQVAEConfig
from .sids import SemanticIDs, build_semantic_ids
from .vqvae import VQVAE, VQVAEConfig

__all__ = [
    "COLLISION_MODES", "PrismQuantizer", "PrismQuantizerConfig", "QUANTIZERS", "RQKMeans", "RQKMeansConfig",
    "RQVAE", "RQVAEConfig", "VQVAE", "VQVAEConfig",
    "AutoencoderQuantizer", "AutoencoderQuantizerConfig", "Quantizer", "QuantizerConfig", "SemanticIDs",
    "build_quantizer", "build_semantic_ids", "kmeans", "parse_sid_tokens", "code_usage",
    "prefix_collision_rates", "prefix_duplicate_rates", "prism_table3", "register_quantizer", "resolve_collisions",
    "sid_quality", "sinkhorn_codes", "suffix_codes",
]
