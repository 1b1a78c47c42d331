"""Configuration of PRISM's Integrated Semantic Recommender (Fang et al. 2026, arXiv 2601.16556, Sec. 3.4).

The backbone is TIGER's T5 (4 + 4 layers, ``hidden_size`` 128, ``intermediate_size`` 1024, 6 heads x 64; PRISM
Sec. 4.1 "Implementation Details"), so :class:`PrismConfig` extends :class:`~hf_genrec.models.tiger.TigerConfig`
(encoder-decoder only) with the switches of the paper's three components and Table 4's ablations:

* **Eq. 10, enhanced ID embedding**: ``position_encoding`` (``"additive"``: the paper's sum
  ``E_tok + P_seq + P_hier + P_time``; ``"official"``: the authors' code, ``E_tok + s * (Dropout(LN(E_tok + P_seq +
  P_hier + P_time)) - E_tok)`` with a learned scale ``s`` starting at ``position_scale_init``), ``time_encoding``
  (``"delta_t"``: log-bucketed interval since the previous history item, needs timestamps; ``"position"``: a second
  learned per-position table, what the code does for lack of timestamps; ``"none"``).
* **DSI, Eq. 11-14** (``use_dsi``; off = "w/o DSI"): depth-specific projectors of the content (``content_proj_dim``
  256) and collaborative (``collab_proj_dim`` 64) embeddings (``depth_specific_projections``; the code shares them),
  noisy top-``moe_top_k`` routing over ``num_experts`` experts of width ``moe_dim`` (Sec. 4.1: 3 experts, top-2,
  ``d_moe`` 256), gaussian router noise of std ``router_noise_std`` (Eq. 12: N(0, 1)) in training, the residual
  ``e_fused = e_id + eta * phi_out(h_moe)`` with ``eta`` starting at ``eta_init``.
* **SSA, Eq. 15** (``use_ssa``; off = "w/o SSA"): depth-specific regression of the target's codebook vectors and
  classification of its tags from the decoder states, weight ``ssa_weight`` (gamma = 5e-4); ``ssa_regression``
  ``"mse"`` (paper) or ``"cosine"`` (code). ``tag_classes`` (classes per level, PAD excluded) comes from the tags.
* **ATS, Eq. 16-17** (``use_ats``; off = "w/o ATS"): the training cross-entropy of level ``l`` at temperature
  ``tau(N_l)`` of the target prefix's branching ``N_l`` in the catalog trie, ``[ats_tau_min, ats_tau_max]`` =
  [0.5, 1.0], ``ats_alpha`` 0.5, ``ats_n_ref`` (``None``: sqrt(|I|) / 2), levels before ``ats_start_level`` at
  tau = 1 (the code: 1). ``ats_at_decoding``: decode with the same schedule over the beam prefixes' valid children
  (the paper's "adaptive temperature scaling generation"; the code decodes at tau = 1).

``loss_vocabulary`` defaults to ``"level"``: Eq. 17 normalises over ``V_l``, the codes of depth ``l``; the code
uses the whole vocabulary (``"vocab"``). :func:`prism_preset` gives the ``paper`` and ``official`` settings.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

from ...configuration_utils import check_choices
from ..tiger.configuration_tiger import TigerConfig

POSITION_ENCODINGS = ("additive", "official")
TIME_ENCODINGS = ("delta_t", "position", "none")
SSA_REGRESSIONS = ("mse", "cosine")


class PrismConfig(TigerConfig):
    model_type = "prism"

    def __init__(self, position_encoding: str = "additive", time_encoding: str = "delta_t", time_buckets: int = 64,
                 position_scale_init: float = 0.1,
                 use_dsi: bool = True, content_dim: Optional[int] = None, collab_dim: Optional[int] = None,
                 codebook_dim: Optional[int] = None, content_proj_dim: int = 256, collab_proj_dim: int = 64,
                 depth_specific_projections: bool = True, num_experts: int = 3, moe_top_k: int = 2,
                 moe_dim: int = 256, router_noise_std: float = 1.0, eta_init: float = 0.1,
                 use_ssa: bool = True, ssa_weight: float = 5e-4, ssa_regression: str = "mse",
                 tag_levels: Optional[int] = None, tag_classes: Optional[Sequence[int]] = None,
                 use_ats: bool = True, ats_tau_min: float = 0.5, ats_tau_max: float = 1.0, ats_alpha: float = 0.5,
                 ats_n_ref: Optional[float] = None, ats_start_level: int = 0, ats_at_decoding: bool = True,
                 loss_vocabulary: str = "level", **kwargs):
        check_choices(position_encoding=(position_encoding, POSITION_ENCODINGS),
                      time_encoding=(time_encoding, TIME_ENCODINGS), ssa_regression=(ssa_regression, SSA_REGRESSIONS))
        if kwargs.get("decoding_architecture", "standard") != "standard":
            raise NotImplementedError("NEZHA decoding replaces the decoder inputs, which PRISM's recommender reads as plain "
                                      "token embeddings after its fused encoder inputs; decoding_architecture='nezha' is not "
                                      "implemented for PRISM")
        architecture = kwargs.pop("architecture", "encoder_decoder")
        if architecture != "encoder_decoder":
            raise ValueError("PRISM's recommender is a T5 encoder-decoder (PRISM Sec. 4.1): architecture must be "
                             f"'encoder_decoder', got {architecture!r}")
        for name in ("user_hash_buckets", "item_id_embedding"):
            if kwargs.get(name):
                raise ValueError(f"{name} is not part of PRISM's recommender (Eq. 10 builds its inputs); leave it off")
        if not 1 <= moe_top_k <= num_experts:
            raise ValueError(f"moe_top_k must be between 1 and num_experts={num_experts}, got {moe_top_k}")
        if not 0 < ats_tau_min <= ats_tau_max:
            raise ValueError(f"need 0 < ats_tau_min <= ats_tau_max, got [{ats_tau_min}, {ats_tau_max}]")
        self.position_encoding = position_encoding
        self.time_encoding = time_encoding
        self.time_buckets = int(time_buckets)
        self.position_scale_init = float(position_scale_init)
        self.use_dsi = bool(use_dsi)
        self.content_dim = content_dim
        self.collab_dim = collab_dim
        self.codebook_dim = codebook_dim
        self.content_proj_dim = int(content_proj_dim)
        self.collab_proj_dim = int(collab_proj_dim)
        self.depth_specific_projections = bool(depth_specific_projections)
        self.num_experts = int(num_experts)
        self.moe_top_k = int(moe_top_k)
        self.moe_dim = int(moe_dim)
        self.router_noise_std = float(router_noise_std)
        self.eta_init = float(eta_init)
        self.use_ssa = bool(use_ssa)
        self.ssa_weight = float(ssa_weight)
        self.ssa_regression = ssa_regression
        self.tag_levels = tag_levels
        self.tag_classes = [int(n) for n in tag_classes] if tag_classes is not None else None
        self.use_ats = bool(use_ats)
        self.ats_tau_min = float(ats_tau_min)
        self.ats_tau_max = float(ats_tau_max)
        self.ats_alpha = float(ats_alpha)
        self.ats_n_ref = ats_n_ref
        self.ats_start_level = int(ats_start_level)
        self.ats_at_decoding = bool(ats_at_decoding)
        kwargs.setdefault("input_mode", "item")
        super().__init__(architecture="encoder_decoder", loss_vocabulary=loss_vocabulary, **kwargs)

    @property
    def reads_codebooks(self) -> bool:
        """The quantized codebook vectors ``q_l`` enter DSI's input (Eq. 11) and SSA's regression target (Eq. 15)."""
        return self.use_dsi or self.use_ssa


#: PRISM Sec. 4.1 (``paper``) and the authors' code at commit 2c5e414 (``official``; ../shared/specs/prism.md
#: Sec. 2), as model options. The official code's MLP router and experts, sigmoid fusion gate, hierarchical SSA heads
#: and tag tokens in the vocabulary are not reproduced (docs/methods/prism.md lists them).
PRESETS: Dict[str, Dict[str, Any]] = {
    "paper": {},
    "official": {"position_encoding": "official", "time_encoding": "position", "depth_specific_projections": False,
                 "ssa_regression": "cosine", "ats_tau_min": 0.7, "ats_tau_max": 0.8, "ats_n_ref": 50.0,
                 "ats_start_level": 1, "ats_at_decoding": False, "loss_vocabulary": "vocab", "eta_init": 0.12},
}


def prism_preset(name: str) -> Dict[str, Any]:
    """The model options of a named preset (``paper`` or ``official``)."""
    if name not in PRESETS:
        raise ValueError(f"unknown PRISM preset {name!r}; known: {sorted(PRESETS)}")
    return dict(PRESETS[name])
