"""PRISM's Integrated Semantic Recommender (Fang et al. 2026, "PRISM: Purified Representation and Integrated Semantic
Modeling for Generative Sequential Recommendation", arXiv 2601.16556, Sec. 3.4).

TIGER's T5 encoder-decoder (:class:`~hf_genrec.models.tiger.TigerForGenerativeRecommendation`) with:

* **inputs** (Sec. 3.4.1): every history token ``c^l`` of item ``i`` becomes the enhanced ID embedding of Eq. 10,
  fused with the item's content and collaborative embeddings and the quantized codeword ``q_l`` by Dynamic Semantic
  Integration (Eq. 11-14, :mod:`hf_genrec.models.prism.dsi`); the encoder reads these fused embeddings, the decoder
  plain token embeddings;
* **Semantic Structure Alignment** (Sec. 3.4.2, Eq. 15): from the decoder state ``o_l`` that predicts the target's
  level-``l`` code, depth-specific heads regress the target's codeword ``q_l`` and classify its level-``l`` tag;
* **Adaptive Temperature Scaling** (Sec. 3.4.3, Eq. 16-17): level ``l``'s cross-entropy at temperature
  ``tau(N_l)``, ``N_l`` the number of catalog-valid children of the target's prefix; decoding uses the same schedule
  over each beam prefix's valid children when ``ats_at_decoding``;
* the objective ``L = L_gen + gamma * L_ssa`` (Eq. 18).

Histories come in the ``item`` layout (``input_ids [B, T, L]``, ``item_ids [B, T]``, and ``timestamps [B, T]`` for
Eq. 10's time term): the item ids give each token its item's content and collaborative vectors. The targets' tags
and codewords are looked up from ``target_items`` (the collator passes them) or, failing that, from the labels'
SIDs through the catalog. Losses are means over levels and targets for both ``L_gen`` and ``L_ssa`` (Eq. 15 and
17 sum over levels; the common factor ``L`` leaves Eq. 18's balance unchanged). ``docs/methods/prism.md`` maps the
paper to this code and lists the choices made where the paper is silent.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from ...generation.t5_beam_decoder import T5BeamDecoder
from ...generation.temperature import AdaptiveTemperature
from ...modeling_utils import GenRecOutput, ItemFeature, history_mask
from ..tiger.modeling_tiger import TigerDecodingState, TigerForGenerativeRecommendation
from .configuration_prism import PrismConfig
from .dsi import DynamicSemanticIntegration, EnhancedIdEmbedding, interval_buckets


def _tag_classes(tags) -> Dict[str, Any]:
    """``tag_classes`` (classes per level, PAD = 0 excluded) from an item tag table ``[N, levels]``."""
    table = torch.as_tensor(tags).long()
    return {"tag_classes": [max(1, int(table[:, level].max())) for level in range(table.shape[1])]}


class PrismForGenerativeRecommendation(TigerForGenerativeRecommendation):
    config_class = PrismConfig
    base_model_prefix = "prism"
    pretrained_backbone_config = None
    item_features = (
        ItemFeature("content_embeddings", buffer="content_embeddings", source="item_embeddings", layout="per_item",
                    width_field="content_dim", opt_out="use_dsi=False",
                    description="the items' content embeddings e_cont of DSI (Eq. 11)"),
        ItemFeature("collab_embeddings", buffer="collab_embeddings", source="collab_embeddings", layout="per_item",
                    width_field="collab_dim", opt_out="use_dsi=False",
                    description="the items' LightGCN embeddings e_collab of DSI (Eq. 11)"),
        ItemFeature("codebooks", buffer="codebook_vectors", source="quantizer_codebooks", layout="per_code",
                    width_field="codebook_dim", opt_out="use_dsi=False and use_ssa=False",
                    description="the quantizer's codewords q_l of DSI (Eq. 11) and SSA (Eq. 15)"),
        ItemFeature("item_tags", buffer="item_tags", source="item_tags", layout="per_item", width_field="tag_levels",
                    opt_out="use_ssa=False", derive=_tag_classes, integer=True,
                    description="the items' hierarchical category tags t_l of SSA (Eq. 15)"),
    )

    @classmethod
    def item_feature_spec(cls, config: PrismConfig) -> Tuple[ItemFeature, ...]:
        wanted = {"content_embeddings": config.use_dsi, "collab_embeddings": config.use_dsi,
                  "codebooks": config.reads_codebooks, "item_tags": config.use_ssa}
        return tuple(feature for feature in cls.item_features if wanted[feature.name])

    def add_method_modules(self, config: PrismConfig) -> None:
        d, L = self.backbone.config.d_model, config.num_levels
        self.id_embedding = EnhancedIdEmbedding(d, config.max_history, L, config.time_encoding, config.time_buckets,
                                                config.position_encoding, config.dropout_rate,
                                                config.position_scale_init)
        if config.use_dsi:
            self.dsi = DynamicSemanticIntegration(
                d, config.content_dim, config.collab_dim, config.codebook_dim, L, config.content_proj_dim,
                config.collab_proj_dim, config.depth_specific_projections, config.num_experts, config.moe_top_k,
                config.moe_dim, config.router_noise_std, config.eta_init, config.dropout_rate)
        if config.use_ssa:
            if not config.tag_classes:
                raise ValueError("use_ssa needs tag_classes (classes per tag level): pass item_tags=... to "
                                 "build_model (hf-genrec train does), or set tag_classes, or use_ssa=False")
            tag_levels = min(L, len(config.tag_classes))
            self.ssa_regressors = nn.ModuleList([nn.Linear(d, config.codebook_dim) for _ in range(L)])
            self.ssa_classifiers = nn.ModuleList([nn.Linear(d, config.tag_classes[level] + 1)
                                                  for level in range(tag_levels)])
        self.init_added_modules(std=0.02)  # N(0, 0.02) weights and zero biases, like TIGER's added modules

    # ------------------------------------------------------------------ inputs (Eq. 10-14)
    def _codewords(self, codes: torch.Tensor) -> torch.Tensor:
        """``q_l`` of codes ``[..., L]`` (``-1``: none, a zero vector): ``[..., L, d_cb]``."""
        offsets = torch.tensor(self.config.code_offsets, device=codes.device)
        rows = (codes.clamp(min=0) + offsets).clamp(max=self.codebook_vectors.shape[0] - 1)
        return self.codebook_vectors[rows] * (codes >= 0)[..., None]

    def _history_codes(self, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The SID codes ``[B, T, L]`` of item-layout history tokens (``-1`` at padding)."""
        codes = input_ids - self.token_offsets
        return codes.masked_fill(~mask[..., None], -1)

    def fused_history(self, input_ids: torch.Tensor, attention_mask: Optional[torch.Tensor], item_ids: torch.Tensor,
                      timestamps: Optional[torch.Tensor] = None,
                      token_table: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """Encoder inputs ``[B, T * L, d]`` and mask ``[B, T * L]`` of an item-layout history: Eq. 10, then DSI
        (Eq. 11-14) when ``use_dsi``. ``token_table`` replaces ``E_tok`` (the fast decoder's copy of it)."""
        B, T, L = input_ids.shape
        mask = history_mask(item_ids, attention_mask)
        tokens = input_ids.masked_fill(~mask[..., None], self.config.pad_token_id).reshape(B, T * L)
        token_embeds = self._embed(tokens) if token_table is None else F.embedding(tokens, token_table)
        position = (mask.long().cumsum(1) - 1).clamp(min=0, max=self.config.max_history - 1)  # 0 = oldest item
        item_position = position.repeat_interleave(L, dim=1)
        level = torch.arange(L, device=input_ids.device).repeat(T)[None].expand(B, -1)
        buckets = None
        if timestamps is not None and self.config.time_encoding == "delta_t":
            buckets = interval_buckets(timestamps, mask, self.config.time_buckets).repeat_interleave(L, dim=1)
        embeds = self.id_embedding(token_embeds, item_position, level, buckets)
        if self.config.use_dsi:
            items = item_ids.clamp(min=0)
            codewords = self._codewords(self._history_codes(input_ids, mask)).reshape(B, T * L, -1)
            embeds = self.dsi(embeds, self.content_embeddings[items], self.collab_embeddings[items],
                              codewords.to(embeds.dtype))
        token_mask = mask.repeat_interleave(L, dim=1)
        return embeds * token_mask[..., None].to(embeds.dtype), token_mask.long()

    # ------------------------------------------------------------------ ATS (Eq. 16-17)
    def temperature_schedule(self) -> AdaptiveTemperature:
        """Eq. 16 with this configuration's range, sensitivity, ``N_ref`` and first level."""
        c = self.config
        return AdaptiveTemperature(c.num_items, c.ats_tau_min, c.ats_tau_max, c.ats_alpha, c.ats_n_ref,
                                   c.ats_start_level)

    @torch.no_grad()
    def target_branching(self, labels: torch.Tensor) -> torch.Tensor:
        """``N_l`` ``[B, L']``: catalog-valid children of each target's ground-truth prefix ``c^{<l}``."""
        trie = self.catalog_trie(labels.device)
        prefix = torch.zeros(labels.shape[0], dtype=torch.long, device=labels.device)
        counts = []
        for level in range(labels.shape[1]):
            counts.append(trie.valid_children_mask(level, prefix.clamp(min=0)).sum(-1))
            if level + 1 < labels.shape[1]:
                prefix = trie.next_prefix(level, prefix.clamp(min=0), labels[:, level].clamp(min=0))
        return torch.stack(counts, 1)

    def target_temperatures(self, labels: torch.Tensor) -> Optional[torch.Tensor]:
        """``tau(N_l)`` ``[B, L']`` of Eq. 16 at the targets' prefixes (``None`` without ATS): the training loss's
        temperatures (Eq. 17), and those of the teacher-forced scores when ``ats_at_decoding``."""
        if not self.config.use_ats:
            return None
        schedule, branching = self.temperature_schedule(), self.target_branching(labels)
        return torch.stack([schedule(level, branching[:, level]) for level in range(labels.shape[1])], 1)

    # ------------------------------------------------------------------ SSA (Eq. 15)
    def ssa_loss(self, decoder_states: torch.Tensor, labels: torch.Tensor,
                 target_items: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Eq. 15: ``||phi_reg^{(l)}(o_l) - q_l||^2`` (or ``1 - cos``) and ``CE(phi_cls^{(l)}(o_l), t_l)`` (PAD tags
        ignored), each averaged over levels and targets."""
        L = labels.shape[1]
        targets = self._codewords(labels).float()
        regression = []
        for level in range(L):
            predicted = self.ssa_regressors[level](decoder_states[:, level]).float()
            if self.config.ssa_regression == "mse":
                regression.append(((predicted - targets[:, level]) ** 2).sum(-1).mean())
            else:
                regression.append((1 - F.cosine_similarity(predicted, targets[:, level], dim=-1)).mean())
        tags = self.item_tags[target_items].long()
        classification = []
        for level, classifier in enumerate(self.ssa_classifiers):
            target = tags[:, level]
            if bool((target > 0).any()):
                classification.append(F.cross_entropy(classifier(decoder_states[:, level]).float(), target,
                                                      ignore_index=0))
        zero = decoder_states.new_zeros(()).float()
        return {"ssa_regression": torch.stack(regression).mean(),
                "ssa_tags": torch.stack(classification).mean() if classification else zero}

    # ------------------------------------------------------------------ forward
    def forward(self, input_ids: torch.LongTensor, attention_mask: Optional[torch.Tensor] = None,
                item_ids: Optional[torch.LongTensor] = None, labels: Optional[torch.LongTensor] = None,
                timestamps: Optional[torch.Tensor] = None, target_items: Optional[torch.LongTensor] = None,
                **kwargs) -> GenRecOutput:
        """Teacher-forced code scores of the next item (see :class:`~hf_genrec.modeling_utils.GenRecOutput`); with
        ``labels [B, L]`` the loss of Eq. 18, its parts in ``loss_terms``. The returned logits carry the decoding
        temperature (ATS when ``ats_at_decoding``), so they score a SID as the beam search does."""
        self.check_history_inputs(input_ids, attention_mask, item_ids)
        self.check_item_features()
        if labels is not None and labels.dim() == 3:
            raise ValueError(self.sequence_training_unsupported(self.config))
        embeds, mask = self.fused_history(input_ids, attention_mask, item_ids, timestamps)
        B = input_ids.shape[0]
        bos = torch.full((B, 1), self.config.bos_token_id, dtype=torch.long, device=input_ids.device)
        decoder_inputs = bos if labels is None else torch.cat([bos, (labels.clamp(min=0) + self.token_offsets)[:, :-1]], 1)
        want_states = labels is not None and self.config.use_ssa
        out = self.backbone(inputs_embeds=embeds, attention_mask=mask, decoder_input_ids=decoder_inputs,
                            output_hidden_states=want_states)
        vocab_logits = out.logits
        scoring_codes = labels if labels is not None else torch.zeros(B, 1, dtype=torch.long, device=input_ids.device)
        tau = self.target_temperatures(scoring_codes)  # one trie walk for the loss and the returned scores
        tempered = vocab_logits if tau is None else vocab_logits / tau[..., None].to(vocab_logits.dtype)
        scored = tempered if self.config.ats_at_decoding else vocab_logits
        if labels is None:
            return GenRecOutput(logits=self.level_logits(scored))
        terms = {"generation": self.sid_loss(tempered, labels)}  # Eq. 17
        loss = terms["generation"]
        if want_states:
            targets = target_items.long() if target_items is not None else self.target_items_of(labels)
            terms.update(self.ssa_loss(out.decoder_hidden_states[-1], labels, targets))
            loss = loss + self.config.ssa_weight * (terms["ssa_regression"] + terms["ssa_tags"])  # Eq. 18
        return GenRecOutput(loss=loss, logits=self.level_logits(scored),
                            loss_terms={name: value.detach() for name, value in terms.items()})

    # ------------------------------------------------------------------ decoding
    def prepare_decoding(self, input_ids: torch.LongTensor, attention_mask: Optional[torch.Tensor] = None,
                         item_ids: Optional[torch.LongTensor] = None, timestamps: Optional[torch.Tensor] = None,
                         **kwargs) -> TigerDecodingState:
        self.check_item_features()
        decoder = T5BeamDecoder.for_model(self.backbone, owner=self)
        embeds, mask = self.fused_history(input_ids, attention_mask, item_ids, timestamps,
                                          token_table=decoder.embed_weight)
        bos = torch.full((input_ids.shape[0], 1, 1), self.config.bos_token_id, dtype=torch.long, device=input_ids.device)
        return TigerDecodingState(tokens=bos, memory=decoder.encode(embeds, mask), decoder=decoder)

    def search(self, state: Any, batch_size: int, num_beams: int, num_return_sequences: int, temperature=None,
               timings: Optional[dict] = None, verifier: str = "mask"):
        """The shared constrained beam search; with ``ats_at_decoding`` (and no explicit temperature) each level at
        ``tau(N)`` of the beam prefix's valid children (Eq. 16)."""
        if temperature is None and self.config.use_ats and self.config.ats_at_decoding:
            temperature = self.temperature_schedule()
        return super().search(state, batch_size, num_beams, num_return_sequences, temperature, timings, verifier)
