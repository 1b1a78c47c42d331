"""Configuration of IntRR (SID Redistribution and Length Reduction), ``../shared/papers/intrr.md``.

Defaults are the paper's settings (Sec. 4.1): L = 4 levels of K = 128 codes (set by the tokenizer), the
"T5-based Transformer" backbone with 4 layers, hidden size 256 and 6 heads, the alignment weight
``lambda = 0.1`` (Eq. 11), histories of up to 30 items (SAC); train with Adam, lr 1e-3, weight decay 1e-4,
batch 512 (see ``examples/configs/intrr_*.yaml``). HSTU uses 4 layers, hidden 128, 4 heads.

Ablation switches (Table 4):

* ``user_teacher_forcing=False`` - "w/o User-side TF": the user-side RAN runs in redistribution (soft)
  mode during training instead of feeding the ground-truth codewords;
* ``alignment_weight=0`` - "w/o L_aln";
* ``item_redistribution=False`` - "w/o Redistribution": items are the hard SID path ``sum_l V_l(c_l)``;
* ``shared_ran=False`` - "w/o Shared RAN": separate RANs (codebooks and MLPs) for items and users.

Choices where the paper is silent (documented in ``docs``/README and configurable):

* ``ran_context``: ``z_<l`` is the concatenation of the previous levels' contexts (``"concat"``);
  ``"sum"`` and ``"last"`` are available;
* ``alignment_items``: L_aln (Eq. 8, a sum over all items) is estimated per batch over the distinct
  items of the batch's histories (``"history"``) or histories and targets (``"history_and_targets"``);
  both L_rec and L_aln are averaged over their examples / items after summing over the levels;
* ``decoding_architecture``: ``"standard"`` (the user-side RAN reads ``h_u`` at every level) or ``"nezha"``
  (:mod:`hf_genrec.generation.nezha`: ``L`` placeholders after the item-level history, the RAN reads
  ``xi_l = h_u^l + h_l`` at level ``l``); ``nezha_cell`` defaults to ``"none"`` because the RAN's contexts already
  carry the generated codes (``"gru"`` / ``"rnn"`` advance ``h_u^l`` with the chosen codeword). NEZHA gives IntRR
  no latency gain (one backbone pass either way); it is there for quality studies;
* ``history_setting``: ``"sac"`` keeps ``max_history`` items; ``"ssl"`` gives IntRR the flattened
  baseline's token budget, i.e. ``max_history x L`` items (Sec. 4.1, "Same Sequence Length").
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from ...configuration_utils import GenRecConfig, check_choices


class IntRRConfig(GenRecConfig):
    model_type = "intrr"

    def __init__(self, backbone: str = "t5", hidden_size: int = 256, num_layers: int = 4, num_heads: int = 6,
                 d_kv: int = 64, intermediate_size: int = 1024, dropout_rate: float = 0.1,
                 backbone_config: Optional[Dict[str, Any]] = None, backbone_name_or_path: Optional[str] = None,
                 alignment_weight: float = 0.1, user_teacher_forcing: bool = True, item_redistribution: bool = True,
                 shared_ran: bool = True, ran_context: str = "concat", ran_mlp_hidden: Optional[int] = None,
                 ran_dropout: float = 0.0, alignment_items: str = "history", history_setting: str = "sac",
                 max_history: int = 30, hstu_use_time: bool = True, decoding_architecture: str = "standard",
                 nezha_cell: str = "none", nezha_init_std: float = 0.02, **kwargs):
        check_choices(backbone=(backbone, ("t5", "hstu", "causal_lm")),
                      decoding_architecture=(decoding_architecture, ("standard", "nezha")),
                      nezha_cell=(nezha_cell, ("gru", "rnn", "none")),
                      alignment_items=(alignment_items, ("history", "history_and_targets")),
                      history_setting=(history_setting, ("sac", "ssl")))
        self.backbone = backbone
        self.d_kv = d_kv
        self.dropout_rate = dropout_rate
        self.alignment_weight = float(alignment_weight)
        self.user_teacher_forcing = bool(user_teacher_forcing)
        self.item_redistribution = bool(item_redistribution)
        self.shared_ran = bool(shared_ran)
        self.ran_context = ran_context
        self.ran_mlp_hidden = ran_mlp_hidden
        self.ran_dropout = ran_dropout
        self.alignment_items = alignment_items
        self.history_setting = history_setting
        self.base_max_history = int(kwargs.pop("base_max_history", max_history))
        self.hstu_use_time = hstu_use_time
        if decoding_architecture == "nezha" and not user_teacher_forcing:
            raise ValueError("decoding_architecture='nezha' trains its head with teacher forcing: keep "
                             "user_teacher_forcing=True")
        self.decoding_architecture = decoding_architecture
        self.nezha_cell = nezha_cell
        self.nezha_init_std = float(nezha_init_std)
        kwargs["input_mode"] = "item"
        codebook_sizes = kwargs.get("codebook_sizes") or []
        levels = max(1, len(codebook_sizes))
        effective = self.base_max_history * levels if history_setting == "ssl" else self.base_max_history
        super().__init__(max_history=effective, hidden_size=hidden_size, intermediate_size=intermediate_size,
                         num_layers=num_layers, num_heads=num_heads, backbone_config=backbone_config,
                         backbone_name_or_path=backbone_name_or_path, **kwargs)
