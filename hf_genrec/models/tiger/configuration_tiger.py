"""Configuration of the TIGER-style baseline (Rajput et al. 2023): flattened SIDs, L tokens per item.

Two architectures share this config:

* ``encoder_decoder`` (TIGER): a T5 built from ``T5Config``; defaults are the setting used by the
  papers' TIGER baselines (4 + 4 layers, ``hidden_size`` (T5's ``d_model``) 128, ``intermediate_size``
  (``d_ff``) 1024, 6 heads x 64, dropout 0.1). The T5 names are accepted as aliases.
* ``decoder_only`` (ComeIR's "normal GR" baseline): any causal LM (Qwen3, LLaMA) given by
  ``backbone_config`` (a dict with ``model_type``), or created with
  ``TigerForGenerativeRecommendation.from_backbone("Qwen/Qwen3-0.6B", ...)``. The SID tokens get a new
  embedding table and a new output head on top of the backbone. ``decoder_backbone="hstu"`` uses an HSTU stack
  (``hidden_size``, ``num_layers``, ``num_heads``, no time bias: tokens of one item share its timestamp)
  instead: the flattened HSTU baseline of IntRR's Table 1. ``dropout_rate`` applies to T5 and HSTU; a causal LM
  keeps its own dropout settings (``backbone_config``'s ``attention_dropout`` for Qwen3 / LLaMA; the default small
  Qwen3 has none). ``input_dropout`` (decoder-only, default 0: an hf_genrec option, not TIGER's) drops elements of
  the input embeddings (history tokens and the target segments' teacher-forced tokens) before the backbone, as
  SASRec's embedding dropout does; it regularises a causal LM whose own dropout is only on the attention weights.
  ``residual_dropout`` (decoder-only causal LM, default 0: an hf_genrec option) drops the output of every attention
  and MLP sublayer before the residual addition (:func:`hf_genrec.modules.backbones.add_residual_dropout`), the
  dropout that T5 and SASRec have inside their blocks and Qwen3 / LLaMA do not.
``item_id_loss_weight`` (decoder-only with ``item_id_embedding``, default 0: an hf_genrec option, not TIGER's method)
adds ``w`` times an auxiliary cross-entropy of the next *item* over the whole catalog, scored from the state that
predicts the first code (``<bos>``) against the item-ID input table (tied, as SASRec ties its item embeddings): the
backbone learns which items follow which as a similarity every context shares. It trains only: decoding still
generates SIDs and, by default, ranks them by their log-probabilities.
``item_score_weight`` ``a`` (default 0; needs ``item_id_loss_weight`` > 0: an hf_genrec option, not TIGER's method)
reads those item scores at decoding: each item the beam search returns is ranked by its SID log-likelihood plus ``a``
times its log-probability under the item scores (a rescoring of the beam's items; the beam search itself is unchanged,
so no item outside it can enter the list).

``loss_vocabulary``: ``"vocab"`` (cross-entropy over the whole SID vocabulary, as TIGER/T5 do) or
``"level"`` (over the codes of the predicted level only). Decoding scores use the same normalisation.
``user_hash_buckets`` > 0 prepends TIGER's hashed user-id token (TIGER used 2,000 buckets).

``decoding_architecture``: ``"standard"`` (the backbone runs once per generated token and beam) or ``"nezha"``
(NEZHA, :mod:`hf_genrec.generation.nezha`: ``L`` placeholders after the history - in the T5 decoder after ``<bos>``
- give all levels' states in one backbone pass, and a light recurrent head drafts the SID): ``nezha_cell``
(``gru`` | ``rnn`` | ``none``), ``nezha_head`` (``shared``: the model's own output rows of each level and its SID
embeddings as transition inputs; ``separate``: NEZHA's per-level output layers and code embeddings),
``nezha_init_std`` (the placeholders' initial scale). NEZHA normalises each level over its own codes.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from ...configuration_utils import GenRecConfig, check_choices

ARCHITECTURES = ("encoder_decoder", "decoder_only")
DECODER_BACKBONES = ("causal_lm", "hstu")  # the backbone of the decoder-only architecture
DECODING_ARCHITECTURES = ("standard", "nezha")


class TigerConfig(GenRecConfig):
    model_type = "tiger"

    def __init__(self, architecture: str = "encoder_decoder", hidden_size: int = 128, intermediate_size: int = 1024,
                 num_layers: int = 4, num_decoder_layers: int = 4, num_heads: int = 6, d_kv: int = 64,
                 dropout_rate: float = 0.1, feed_forward_proj: str = "relu", relative_attention_num_buckets: int = 32,
                 backbone_config: Optional[Dict[str, Any]] = None, backbone_name_or_path: Optional[str] = None,
                 loss_vocabulary: str = "vocab", user_hash_buckets: int = 0, decoder_backbone: str = "causal_lm",
                 decoding_architecture: str = "standard", nezha_cell: str = "gru", nezha_head: str = "shared",
                 nezha_init_std: float = 0.02, input_dropout: float = 0.0,
                 residual_dropout: float = 0.0, item_id_loss_weight: float = 0.0, item_score_weight: float = 0.0,
                 **kwargs):
        check_choices(architecture=(architecture, ARCHITECTURES), loss_vocabulary=(loss_vocabulary, ("vocab", "level")),
                      decoder_backbone=(decoder_backbone, DECODER_BACKBONES),
                      decoding_architecture=(decoding_architecture, DECODING_ARCHITECTURES),
                      nezha_cell=(nezha_cell, ("gru", "rnn", "none")), nezha_head=(nezha_head, ("shared", "separate")))
        if decoder_backbone == "hstu" and architecture != "decoder_only":
            raise ValueError("decoder_backbone 'hstu' is a decoder-only backbone: set architecture='decoder_only'")
        if not 0.0 <= float(input_dropout) < 1.0:
            raise ValueError(f"input_dropout must be in [0, 1), got {input_dropout}")
        if input_dropout and architecture != "decoder_only":
            raise ValueError("input_dropout applies to the decoder-only architecture; T5 already applies dropout_rate "
                             "to its input embeddings")
        if not 0.0 <= float(residual_dropout) < 1.0:
            raise ValueError(f"residual_dropout must be in [0, 1), got {residual_dropout}")
        if residual_dropout and (architecture != "decoder_only" or decoder_backbone != "causal_lm"):
            raise ValueError("residual_dropout applies to a decoder-only causal LM backbone (Qwen3, LLaMA); T5 and HSTU "
                             "already apply dropout_rate inside their blocks")
        if float(item_id_loss_weight) < 0:
            raise ValueError(f"item_id_loss_weight must be >= 0, got {item_id_loss_weight}")
        if item_id_loss_weight and (architecture != "decoder_only" or decoding_architecture != "standard"
                                    or not kwargs.get("item_id_embedding")):
            raise ValueError("item_id_loss_weight scores items against the item-ID input table from the decoder-only "
                             "state at <bos>: set architecture='decoder_only', decoding_architecture='standard' and "
                             "item_id_embedding=True")
        if float(item_score_weight) < 0:
            raise ValueError(f"item_score_weight must be >= 0, got {item_score_weight}")
        if item_score_weight and not item_id_loss_weight:
            raise ValueError("item_score_weight reads the item scores that item_id_loss_weight trains: set "
                             "item_id_loss_weight > 0 (without it the scores are untrained)")
        self.architecture = architecture
        self.item_score_weight = float(item_score_weight)
        self.item_id_loss_weight = float(item_id_loss_weight)
        self.input_dropout = float(input_dropout)
        self.residual_dropout = float(residual_dropout)
        self.num_decoder_layers = num_decoder_layers
        self.d_kv = d_kv
        self.dropout_rate = dropout_rate
        self.feed_forward_proj = feed_forward_proj
        self.relative_attention_num_buckets = relative_attention_num_buckets
        self.loss_vocabulary = loss_vocabulary
        self.user_hash_buckets = int(user_hash_buckets)
        self.decoder_backbone = decoder_backbone
        self.decoding_architecture = decoding_architecture
        self.nezha_cell = nezha_cell
        self.nezha_head = nezha_head
        self.nezha_init_std = float(nezha_init_std)
        kwargs.setdefault("input_mode", "flat")
        super().__init__(hidden_size=hidden_size, intermediate_size=intermediate_size, num_layers=num_layers,
                         num_heads=num_heads, backbone_config=backbone_config,
                         backbone_name_or_path=backbone_name_or_path, **kwargs)

    def t5_config_dict(self) -> Dict[str, Any]:
        return {"model_type": "t5", "vocab_size": self.sid_vocab_size, "d_model": self.hidden_size,
                "d_ff": self.intermediate_size,
                "num_layers": self.num_layers, "num_decoder_layers": self.num_decoder_layers,
                "num_heads": self.num_heads, "d_kv": self.d_kv, "dropout_rate": self.dropout_rate,
                "feed_forward_proj": self.feed_forward_proj,
                "relative_attention_num_buckets": self.relative_attention_num_buckets,
                "pad_token_id": self.pad_token_id, "eos_token_id": self.eos_token_id,
                "decoder_start_token_id": self.bos_token_id,
                # transformers v5 always ties T5's head to the token embeddings; False only turns off the
                # d_model^-1/2 output rescaling (the embeddings are initialised small instead, see the model)
                "tie_word_embeddings": False}
