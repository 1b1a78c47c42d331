"""Configuration of ComeIR (Conditional Memory Enhanced Item Representation), ``../shared/papers/comeir.md``.

Defaults are the paper's (§4.1, App. B.2): Engram address dim ``d_m = 256``; intra-item memory with
``K_S = 2`` heads, base ``C`` (128 in the paper) and scale ``s_S = 1.0``, orders ``1..min(l, 3)``;
inter-item memory with ``K_T = 4`` heads, base 16 and scale ``s_T = 2.0``, orders ``(3, 2, 1)``;
``H_max = 20,000,000`` buckets per table and ``D_max = 2,097,152`` unit values. The paper trains in
bf16 with lr 1e-5, weight decay 1e-4, batch 64 x 2 accumulation on Qwen3-0.6B / LLaMA3-1B (see
``examples/configs/comeir_*.yaml``); a tiny Qwen3 is the default backbone here.

Settings (all in one code path):

* ``representation``: ``"comeir"`` (Eq. 2-7), or the baselines ``"flatten"`` (the general setting: ``L``
  tokens per item) and ``"token_merge"`` (+TM: the ``L`` code embeddings concatenated, one linear layer);
* ``architecture``: ``"normal"`` (``zeta_l = h_u``) or ``"nezha"`` (placeholders + a per-level cell, Eq. 40-42:
  ``nezha_cell`` ``"gru"`` as ComeIR describes it, ``"rnn"`` as NEZHA's code, ``"none"``; ``hf_genrec.modules.nezha``);
* ``prefix_feedback``: in the normal architecture, feed the generated codes back through the backbone
  (the standard autoregressive GR interface: ``zeta_l`` is the backbone state after ``c^{<l}``). ``None``
  picks what the paper describes: off for ComeIR (its head restores prefix evidence from the memories),
  on for the flatten / +TM baselines (otherwise their head would not see the prefix at all);
* ablations of Table 2: ``token_scoring="mean"`` (w/o MM-Scoring), ``token_merge="linear"``
  (w/o Mem. Merge), ``encode_intra`` / ``encode_inter`` (E-intra / E-inter) and ``decode_intra`` /
  ``decode_inter`` (D-intra / D-inter).

Cached item features (declared by the model, installed by ``build_model`` / ``hf-genrec train``):
``item_embedding_dim`` is the width of the item embeddings ``m_n`` (Eq. 4) and ``codebook_embedding_dim`` that
of the quantizer's frozen codewords ``e^B`` (Eq. 2); ``None`` means "the width of the data, set when it is
installed", and ``codebook_embedding_dim=0`` leaves ``e^B`` out.

Choices where the paper is silent (``docs/methods/comeir.md``): the window ``w`` of Eq. 21 / 25
(``inter_window``, default 3 = the largest inter order), ``tau_l = max O_l``, the inter orders for
``L != 3`` (``min(3, L - l + 1)``), the NEZHA transition input ``Delta_l`` (``"code_and_inter_memory"``:
the generated code's embedding with its restored inter-item memory, or ``"code"``), and the
intra base for unequal codebooks (each level's own size).

hf_genrec's option, not in the paper (off by default): ``inter_memory_dropout`` drops, during training, each
inter-item memory read as a whole (the encoder's ``eta^T_{n,l}`` of a history position, the head's restored
``eta^T`` of a decoding state, shared by all its candidates) with this probability and scales the kept reads by
``1 / (1 - p)``. On small data the near-unique hashed transition keys let the memory store each training user's
target (``docs/methods/comeir.md``); dropping whole reads makes the rest of the model predict without it.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from ...configuration_utils import GenRecConfig, check_choices

REPRESENTATIONS = ("comeir", "flatten", "token_merge")
ARCHITECTURES = ("normal", "nezha")


class ComeIRConfig(GenRecConfig):
    model_type = "comeir"

    def __init__(self, representation: str = "comeir", architecture: str = "normal",
                 prefix_feedback: Optional[bool] = None,
                 backbone_config: Optional[Dict[str, Any]] = None, backbone_name_or_path: Optional[str] = None,
                 hidden_size: int = 64, num_layers: int = 2, num_heads: int = 4, intermediate_size: Optional[int] = None,
                 token_embedding_dim: Optional[int] = None, codebook_embedding_dim: Optional[int] = None,
                 item_embedding_dim: Optional[int] = None,
                 token_scoring: str = "mm", token_merge: str = "memory",
                 encode_intra: bool = True, encode_inter: bool = True, decode_intra: bool = True,
                 decode_inter: bool = True,
                 engram_dim: int = 256, intra_heads: int = 2, inter_heads: int = 4, intra_scale: float = 1.0,
                 inter_scale: float = 2.0, intra_base: Optional[float] = None, inter_base: float = 16.0,
                 intra_max_order: int = 3, inter_orders: Optional[List[int]] = None, max_buckets: int = 20_000_000,
                 max_unit_domain: int = 2_097_152, inter_window: int = 3, hash_seed: int = 0,
                 sparse_tables: bool = True, engram_init_std: float = 0.02,
                 nezha_transition_input: str = "code_and_inter_memory", nezha_cell: str = "gru",
                 inter_memory_dropout: float = 0.0, init_std: float = 0.02,
                 max_history: int = 20, **kwargs):
        check_choices(representation=(representation, REPRESENTATIONS), architecture=(architecture, ARCHITECTURES),
                      token_scoring=(token_scoring, ("mm", "mean")), token_merge=(token_merge, ("memory", "linear")),
                      nezha_transition_input=(nezha_transition_input, ("code_and_inter_memory", "code")),
                      nezha_cell=(nezha_cell, ("gru", "rnn", "none")))
        if prefix_feedback is None:
            prefix_feedback = representation != "comeir" and architecture == "normal"
        if prefix_feedback and architecture == "nezha":
            raise ValueError("prefix_feedback is for the normal architecture; NEZHA carries the codes in its GRU state")
        if representation != "comeir":  # the baselines have no Engram memories
            encode_intra = encode_inter = decode_intra = decode_inter = False
        self.representation = representation
        self.architecture = architecture
        self.prefix_feedback = bool(prefix_feedback)
        self.token_embedding_dim = token_embedding_dim
        self.codebook_embedding_dim = None if codebook_embedding_dim is None else int(codebook_embedding_dim)
        self.item_embedding_dim = None if item_embedding_dim is None else int(item_embedding_dim)
        self.token_scoring = token_scoring
        self.token_merge = token_merge
        self.encode_intra = bool(encode_intra)
        self.encode_inter = bool(encode_inter)
        self.decode_intra = bool(decode_intra)
        self.decode_inter = bool(decode_inter)
        self.engram_dim = engram_dim
        self.intra_heads = intra_heads
        self.inter_heads = inter_heads
        self.intra_scale = float(intra_scale)
        self.inter_scale = float(inter_scale)
        self.intra_base = intra_base
        self.inter_base = float(inter_base)
        self.intra_max_order = intra_max_order
        self.inter_orders = list(inter_orders) if inter_orders is not None else None
        self.max_buckets = int(max_buckets)
        self.max_unit_domain = int(max_unit_domain)
        if inter_window < 1:
            raise ValueError(f"inter_window must be >= 1, got {inter_window}")
        self.inter_window = int(inter_window)
        if not 0.0 <= inter_memory_dropout < 1.0:
            raise ValueError(f"inter_memory_dropout must be in [0, 1), got {inter_memory_dropout}")
        self.inter_memory_dropout = float(inter_memory_dropout)
        self.hash_seed = int(hash_seed)
        self.sparse_tables = bool(sparse_tables)
        self.engram_init_std = engram_init_std
        self.nezha_transition_input = nezha_transition_input
        self.nezha_cell = nezha_cell
        self.init_std = init_std
        kwargs["input_mode"] = "item"  # every representation starts from the history's item ids
        super().__init__(max_history=max_history, hidden_size=hidden_size, intermediate_size=intermediate_size,
                         num_layers=num_layers, num_heads=num_heads, backbone_config=backbone_config,
                         backbone_name_or_path=backbone_name_or_path, **kwargs)

    @property
    def uses_intra_memory(self) -> bool:
        return self.encode_intra or self.decode_intra

    @property
    def uses_inter_memory(self) -> bool:
        return self.encode_inter or self.decode_inter

    @property
    def needs_item_embeddings(self) -> bool:
        """MM-guided token scoring (Eq. 4) reads the cached multimodal item embedding ``m_n``."""
        return self.representation == "comeir" and self.token_scoring == "mm"
