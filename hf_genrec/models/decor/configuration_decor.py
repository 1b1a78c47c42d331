"""Configuration of DECOR (Liu et al. 2025, "Learning Decomposed Contextual Token Representations from Pretrained and
Collaborative Signals for Generative Recommendation", arXiv 2509.10468).

DECOR keeps TIGER's T5 encoder-decoder and its loss and changes only the token embeddings, so :class:`DecorConfig`
extends :class:`~hf_genrec.models.tiger.TigerConfig` (encoder-decoder only; Table 5: ``hidden_size`` 128, dropout
0.1; depth, heads and ``d_ff`` are not given and stay TIGER's 4 + 4 layers, 6 x 64, 1024) with the switches of the
paper's three components and Table 2's ablation rows:

* **Decomposed Embedding Fusion** (Eq. 9-11, ``use_pretrained``): every SID token's static embedding fuses the
  frozen codeword of the quantizer (``codebook_dim``, set from the codebooks) with a learnable collaborative row,
  ``W_fuse [LN(W_pre e_pre) || LN(W_collab e_collab)]``; ``projection_dim`` is ``d'`` (never given: default
  ``hidden_size``), ``fusion_bias`` adds biases to ``W_pre``, ``W_collab``, ``W_fuse``, ``W_q`` and ``W_k`` (not
  mentioned: off).
* **Contextualized Token Composition** (Eq. 12-18, ``use_composition``): the decoder input of each target token is
  ``alpha * sum_c' a_c' e_c' + (1 - alpha) * e_static`` with ``alpha`` = ``composition_weight`` (Table 5: 0.25
  Scientific, 0.55 Instrument and Game), ``a`` the softmax over every token of the same level against the user's
  context vector ``u`` (Eq. 13-15: attention pooling + ``context_mlp_layers``-layer MLP). ``context``:
  ``"history"`` (default; the introduction's "conditioned on the user's interaction history") or
  ``"history_and_prefix"`` (the history plus the target tokens generated before the token). ``composition_scale``:
  ``"none"`` (Eq. 16 as printed) or ``"sqrt_d"``.
* **Learnable BOS queries** (Eq. 19, ``num_bos_queries`` = N; Table 5: 32 or 64; 0 = the static BOS embedding):
  the first decoder input composed over N learned vectors; ``bos_residual`` mixes it with the static BOS embedding
  by the same ``alpha`` (Eq. 18; not stated), ``share_bos_projections`` reuses ``W_q``/``W_k`` (not stated).
* **Output head** (not specified): ``output_embeddings="collab"`` (T5's head tied to its token table, which is
  ``E_collab``; default), ``"fused"`` (scores against the fused table of Eq. 11) or ``"untied"`` (its own matrix).

With ``use_pretrained=False``, ``use_composition=False`` and ``num_bos_queries=0`` DECOR is TIGER (the "Base"
row of Table 2), bit for bit on the same seed. ``docs/methods/decor.md`` lists every choice.
"""

from __future__ import annotations

import warnings
from typing import Optional

from ...configuration_utils import check_choices
from ..tiger.configuration_tiger import TigerConfig

CONTEXTS = ("history", "history_and_prefix")
COMPOSITION_SCALES = ("none", "sqrt_d")
OUTPUT_EMBEDDINGS = ("collab", "fused", "untied")


class DecorConfig(TigerConfig):
    model_type = "decor"

    def __init__(self, use_pretrained: bool = True, use_composition: bool = True, num_bos_queries: int = 32,
                 composition_weight: float = 0.25, projection_dim: Optional[int] = None,
                 codebook_dim: Optional[int] = None, context: str = "history", context_mlp_layers: int = 2,
                 composition_scale: str = "none", bos_residual: bool = True, share_bos_projections: bool = True,
                 bos_query_init_std: float = 0.02, output_embeddings: str = "collab", fusion_bias: bool = False,
                 **kwargs):
        check_choices(context=(context, CONTEXTS), composition_scale=(composition_scale, COMPOSITION_SCALES),
                      output_embeddings=(output_embeddings, OUTPUT_EMBEDDINGS))
        if kwargs.get("decoding_architecture", "standard") != "standard":
            raise NotImplementedError("NEZHA decoding replaces the decoder inputs that DECOR composes (Eq. 18-19); its "
                                      "composed transition input is not implemented: decoding_architecture='nezha' is not "
                                      "available for DECOR")
        architecture = kwargs.pop("architecture", "encoder_decoder")
        if architecture != "encoder_decoder":
            raise NotImplementedError("DECOR is implemented on its paper's T5 encoder-decoder (Sec. 4.1, Table 5); "
                                      f"architecture={architecture!r} is not implemented")
        if not 0.0 <= float(composition_weight) <= 1.0:
            raise ValueError(f"composition_weight (alpha of Eq. 18) must lie in [0, 1], got {composition_weight}")
        if float(composition_weight) > 0.6 and use_composition:
            warnings.warn(f"composition_weight={composition_weight}: DECOR reports training collapse at alpha = 0.7 "
                          "(Fig. 3); with the history context every token of a level shares the composed term")
        if int(num_bos_queries) < 0:
            raise ValueError(f"num_bos_queries must be >= 0, got {num_bos_queries}")
        if int(num_bos_queries) and not use_composition:
            raise ValueError("learnable BOS queries (Eq. 19) are a contextual composition: they need "
                             "use_composition=True (or set num_bos_queries=0)")
        if int(context_mlp_layers) < 1:
            raise ValueError(f"context_mlp_layers must be >= 1, got {context_mlp_layers}")
        self.use_pretrained = bool(use_pretrained)
        self.use_composition = bool(use_composition)
        self.num_bos_queries = int(num_bos_queries)
        self.composition_weight = float(composition_weight)
        self.projection_dim = None if projection_dim is None else int(projection_dim)
        self.codebook_dim = None if codebook_dim is None else int(codebook_dim)
        self.context = context
        self.context_mlp_layers = int(context_mlp_layers)
        self.composition_scale = composition_scale
        self.bos_residual = bool(bos_residual)
        self.share_bos_projections = bool(share_bos_projections)
        self.bos_query_init_std = float(bos_query_init_std)
        self.output_embeddings = output_embeddings
        self.fusion_bias = bool(fusion_bias)
        super().__init__(architecture="encoder_decoder", **kwargs)

    @property
    def fusion_dim(self) -> int:
        """``d'`` of Eq. 10 and Eq. 14 (the paper never gives it; ``hidden_size`` by default)."""
        return self.projection_dim or self.hidden_size


#: Table 2's rows as config options (Base = TIGER); ``num_bos_queries`` of the full rows is the dataset's N
ABLATIONS = {
    "base": {"use_pretrained": False, "use_composition": False, "num_bos_queries": 0},
    "composition": {"use_pretrained": False, "use_composition": True, "num_bos_queries": 0},
    "composition_bos": {"use_pretrained": False, "use_composition": True},
    "pretrained": {"use_pretrained": True, "use_composition": False, "num_bos_queries": 0},
    "pretrained_composition": {"use_pretrained": True, "use_composition": True, "num_bos_queries": 0},
    "full": {"use_pretrained": True, "use_composition": True},
}


def decor_ablation(name: str) -> dict:
    """The options of a Table 2 row: ``base``, ``composition``, ``composition_bos``, ``pretrained``,
    ``pretrained_composition`` or ``full``."""
    if name not in ABLATIONS:
        raise ValueError(f"unknown DECOR ablation {name!r}; known: {sorted(ABLATIONS)}")
    return dict(ABLATIONS[name])
