"""IntRR: SID Redistribution and Length Reduction with a Recursive-Assignment Network (RAN).

* Item side (Sec. 3.3): a learnable UID embedding per item drives the RAN in redistribution mode; the
  item representation is ``E_i = sum_l z_l`` (Eq. 7) and the alignment loss ``L_aln`` (Eq. 8) anchors
  each level's assignment to the pre-assigned SID.
* Backbone (Sec. 3.4, Eq. 9): one token per history item; ``h_u`` is the state of the last position.
* User side (Eq. 10): the same RAN (shared by default) decodes the next item's SID from ``h_u``, with
  teacher forcing during training; at inference the shared beam search drives it level by level over
  the catalog trie after a single backbone pass per user.
* Loss (Eq. 11): ``L = L_rec + lambda * L_aln``.

``decoding_architecture="nezha"``: NEZHA (:mod:`hf_genrec.generation.nezha`): ``L`` placeholders follow the item-level
history (HSTU gives them the last history timestamp) and the user-side RAN reads ``xi_l = h_u^l + h_l`` at level
``l`` instead of ``h_u``; the same single backbone pass, so no latency gain.

``item_id_embedding=True`` (an hf_genrec option, not IntRR's method) adds a learned item-ID embedding to each history
item's input ``E_i`` before the backbone; the RAN, its alignment term and the user side are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from ...generation.nezha import NezhaDecodingMixin, NezhaDecodingState
from ...modeling_utils import GenRecOutput, GenRecPreTrainedModel, history_mask
from ...modules.item_id_embedding import ItemIdEmbedding
from ...modules.nezha import NezhaLayerStates
from ...modules.sequence_backbone import SequenceBackbone
from .configuration_intrr import IntRRConfig
from .ran import RecursiveAssignmentNetwork


@dataclass
class IntRRDecodingState:
    user: torch.Tensor  # h_u [B, d]
    contexts: List[torch.Tensor]  # chosen codewords per level, each [B, W, d]
    nezha: Optional[NezhaDecodingState] = None  # NEZHA: the placeholder states and each beam's h_u^l


class IntRRForGenerativeRecommendation(NezhaDecodingMixin, GenRecPreTrainedModel):
    config_class = IntRRConfig
    base_model_prefix = "intrr"
    pretrained_backbone_config = {"backbone": "causal_lm"}

    def __init__(self, config: IntRRConfig):
        super().__init__(config)
        d = config.hidden_size
        self.uid_embeddings = nn.Embedding(config.num_items, d)
        ran = dict(codebook_sizes=config.codebook_sizes, dim=d, context=config.ran_context,
                   mlp_hidden=config.ran_mlp_hidden, dropout=config.ran_dropout)
        self.ran = RecursiveAssignmentNetwork(**ran)
        if not config.shared_ran:  # "w/o Shared RAN": the user side gets its own codebooks and MLPs
            self.separate_user_ran = RecursiveAssignmentNetwork(**ran)
        self.backbone = SequenceBackbone(config.backbone, d, config.num_layers, config.num_heads, config.d_kv,
                                         config.intermediate_size, config.dropout_rate, config.backbone_config,
                                         max_positions=max(256, config.max_history + 1),
                                         hstu_use_time=config.hstu_use_time)
        nn.init.normal_(self.uid_embeddings.weight, std=1.0)  # unit scale, like the user state h_u it stands in for
        if config.item_id_embedding:  # history input only (not the RAN's UID embedding); small next to E_i at start
            self.item_id_embeddings = ItemIdEmbedding(config.num_items, d, std=0.02)
        if self.uses_nezha:
            self.nezha = NezhaLayerStates(config.num_levels, d, d, config.nezha_init_std, config.nezha_cell)
        self.post_init()

    @property
    def uses_nezha(self) -> bool:
        return getattr(self.config, "decoding_architecture", "standard") == "nezha"

    def pretrained_backbone_module(self) -> nn.Module:
        """A pretrained causal LM is the body of the item-level sequence backbone."""
        if self.config.backbone != "causal_lm":
            raise ValueError("only the causal_lm backbone takes pretrained weights")
        return self.backbone.body

    @classmethod
    def sequence_training_unsupported(cls, config: IntRRConfig):
        if getattr(config, "decoding_architecture", "standard") == "nezha":
            return "IntRR with decoding_architecture='nezha' trains on one prefix per example (placeholders follow the history)"
        if config.backbone == "t5":
            return ("IntRR's T5 backbone is a bidirectional encoder (a position sees the items after it); use "
                    "backbone 'hstu' or 'causal_lm'")
        return None

    @property
    def user_ran(self) -> RecursiveAssignmentNetwork:
        """The RAN of the user side: the item side's one (shared, default) or a separate one."""
        return self.ran if self.config.shared_ran else self.separate_user_ran

    # ------------------------------------------------------------------ item side (Sec. 3.3)
    def item_representations(self, items: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """``E_i`` (Eq. 7) and ``sum_l log p_l(c_l)`` (the negative of Eq. 8's summand) for item ids ``[U]``."""
        codes = self.item_sids[items]
        uid = self.uid_embeddings(items)
        if self.config.item_redistribution:
            _, per_level, contexts = self.ran(uid, soft=True)
        else:  # "w/o Redistribution": the hard SID path; the UID only shapes the assignment it is anchored to
            _, per_level, contexts = self.ran(uid, codes=codes, soft=False)
        return torch.stack(contexts).sum(0), self.ran.code_log_likelihood(per_level, codes)

    def _history(self, item_ids: torch.Tensor, attention_mask: Optional[torch.Tensor], extra_items=None):
        """Embed the history with one token per item (``E_i``, plus the item's ID embedding with
        ``item_id_embedding``); also the alignment log-likelihood of its distinct items."""
        mask = history_mask(item_ids, attention_mask)
        wanted = item_ids[mask]
        if extra_items is not None:
            wanted = torch.cat([wanted, extra_items])
        unique, inverse = torch.unique(wanted, return_inverse=True)
        reps, aln = self.item_representations(unique)
        embeds = reps.new_zeros(*item_ids.shape, reps.shape[-1])
        embeds[mask] = reps[inverse[: int(mask.sum())]]
        if self.config.item_id_embedding:  # zero at padding
            embeds = embeds + self.item_id_embeddings(item_ids.masked_fill(~mask, -1)).to(embeds.dtype)
        return embeds, mask, aln

    # ------------------------------------------------------------------ training forward
    def forward(self, item_ids: Optional[torch.LongTensor] = None, attention_mask: Optional[torch.Tensor] = None,
                labels: Optional[torch.LongTensor] = None, timestamps: Optional[torch.Tensor] = None,
                target_items: Optional[torch.LongTensor] = None, input_ids: Optional[torch.Tensor] = None,
                **kwargs) -> GenRecOutput:
        """``loss = L_rec + lambda * L_aln`` (Eq. 11) and the user-side RAN's ``logits [B, L, K_max]`` (Eq. 10),
        teacher-forced on the labels (redistributed instead with ``user_teacher_forcing=False``); without labels
        the first level's ``[B, 1, K_max]``.

        Sequence-level batches (``labels [B, T, L]``, causal backbones): every position with a target is a user state
        ``h_u`` (Eq. 9 at that position) and the RAN decodes all of them in one batched call; ``L_rec`` is their mean,
        ``logits`` are ``[N, L, K_max]``."""
        self.check_history_inputs(input_ids, attention_mask, item_ids)
        if self.uses_nezha:
            return self._nezha_forward(item_ids, attention_mask, labels, timestamps, target_items)
        if labels is None:
            embeds, mask, _ = self._history(item_ids, attention_mask)
            user = self.backbone.user_state(embeds, mask, timestamps)
            first = self.user_ran.logits(self.user_ran.fuse(user, [], 0), 0)
            return GenRecOutput(logits=self.pad_levels([first], max(self.config.codebook_sizes)))
        has_target = self.sequence_targets(labels, target_items)
        if has_target is not None:  # sequence level: flatten the positions that have a target
            labels = labels[has_target]
            target_items = target_items[has_target] if target_items is not None else None
        extra = None
        if self.config.alignment_items == "history_and_targets":
            extra = target_items if target_items is not None else self._items_of(labels)
        embeds, mask, aln = self._history(item_ids, attention_mask, extra)
        if has_target is not None:
            user = self.backbone(embeds, mask, timestamps)[has_target]
        else:
            user = self.backbone.user_state(embeds, mask, timestamps)
        if self.config.user_teacher_forcing:
            logits, per_level, _ = self.user_ran(user, codes=labels, soft=False)
        else:  # "w/o User-side TF": contexts from the predicted distributions
            logits, per_level, _ = self.user_ran(user, soft=True)
        rec = -self.user_ran.code_log_likelihood(per_level, labels).mean()
        aln_loss = -aln.mean()
        loss = rec + self.config.alignment_weight * aln_loss
        return GenRecOutput(loss=loss, logits=logits, loss_terms={"rec": rec.detach(), "aln": aln_loss.detach()})

    # ------------------------------------------------------------------ NEZHA (generation/nezha.py)
    def nezha_backbone_states(self, item_ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None,
                              timestamps: Optional[torch.Tensor] = None, embeds=None, mask=None, **kwargs):
        """One backbone pass over the item-level history and the ``L`` placeholders: ``h_u`` and ``h_1 .. h_L``."""
        if embeds is None:
            embeds, mask, _ = self._history(item_ids, attention_mask)
        sequence, full_mask = self.nezha.append_placeholders(embeds, mask)
        if timestamps is not None:  # the placeholders happen at the last history item's time
            last = timestamps[:, -1:].expand(-1, self.config.num_levels)
            timestamps = torch.cat([timestamps, last], 1)
        return self.nezha.split(self.backbone(sequence, full_mask.bool(), timestamps))

    def nezha_scores(self, level: int, xi: torch.Tensor, contexts: Optional[List[torch.Tensor]] = None) -> torch.Tensor:
        """The user-side RAN at level ``level`` (Eq. 4-5) on ``xi_l`` with the previous levels' codewords."""
        ran = self.user_ran
        return ran.logits(ran.fuse(xi, contexts or [], level), level)

    def nezha_transition_input(self, level: int, codes: torch.Tensor) -> torch.Tensor:
        return self.user_ran.codebooks[level][codes]

    def _nezha_forward(self, item_ids, attention_mask, labels, timestamps, target_items) -> GenRecOutput:
        """Teacher-forced NEZHA: level ``l`` of the RAN reads ``xi_l`` and the labels' codewords before it; the loss is
        Eq. 11 with ``L_rec`` from these levels."""
        if labels is not None and labels.dim() == 3:
            raise ValueError(self.sequence_training_unsupported(self.config))
        extra = None
        if labels is not None and self.config.alignment_items == "history_and_targets":
            extra = target_items if target_items is not None else self._items_of(labels)
        embeds, mask, aln = self._history(item_ids, attention_mask, extra)
        user, placeholders = self.nezha_backbone_states(item_ids, attention_mask, timestamps, embeds=embeds, mask=mask)
        recurrent, contexts, per_level = user, [], []
        for level in range(self.config.num_levels if labels is not None else 1):
            xi = recurrent + placeholders[:, level]
            per_level.append(self.nezha_scores(level, xi, contexts))
            if labels is not None and level + 1 < self.config.num_levels:
                contexts.append(self.user_ran.codebooks[level][labels[:, level]])
                recurrent = self.nezha.advance(level, contexts[-1][:, None], recurrent[:, None])[:, 0]
        logits = self.pad_levels(per_level, max(self.config.codebook_sizes))
        if labels is None:
            return GenRecOutput(logits=logits)
        rec = -self.user_ran.code_log_likelihood(per_level, labels).mean()
        aln_loss = -aln.mean()
        loss = rec + self.config.alignment_weight * aln_loss
        return GenRecOutput(loss=loss, logits=logits, loss_terms={"rec": rec.detach(), "aln": aln_loss.detach()})

    def _items_of(self, codes: torch.Tensor) -> torch.Tensor:
        """Item ids of target code tuples (for alignment on targets); unknown tuples are dropped."""
        match = (self.item_sids[None, :, :] == codes[:, None, :]).all(-1)
        return match.float().argmax(-1)[match.any(-1)]

    # ------------------------------------------------------------------ decoding protocol
    def prepare_decoding(self, item_ids: torch.LongTensor, attention_mask: Optional[torch.Tensor] = None,
                         timestamps: Optional[torch.Tensor] = None, **kwargs) -> IntRRDecodingState:
        """One backbone pass per user (Sec. 3.4, "Efficiency via Architectural Decoupling"); with NEZHA over the
        history and the placeholders."""
        if self.uses_nezha:
            nezha = self.nezha_prepare_decoding(item_ids=item_ids, attention_mask=attention_mask, timestamps=timestamps)
            return IntRRDecodingState(user=nezha.recurrent[:, 0], contexts=[], nezha=nezha)
        embeds, mask, _ = self._history(item_ids, attention_mask)
        user = self.backbone.user_state(embeds, mask, timestamps)
        return IntRRDecodingState(user=user, contexts=[])

    def decode_step(self, state: IntRRDecodingState, level: int, valid_mask: torch.Tensor,
                    temperature: torch.Tensor) -> torch.Tensor:
        B, W, _ = valid_mask.shape
        if state.nezha is not None:  # xi_l = h_u^l + h_l per beam (Eq. 41)
            x = self.nezha.layer_state(state.nezha.recurrent, state.nezha.placeholder_states, level).expand(B, W, -1)
        else:
            x = state.user[:, None, :].expand(B, W, -1)
        hidden = self.user_ran.fuse(x, state.contexts, level)
        logits = self.user_ran.logits(hidden, level) / temperature[..., None].to(hidden.dtype)
        return F.log_softmax(logits.float(), dim=-1)

    def update_decoding_state(self, state: IntRRDecodingState, level: int, parent: torch.Tensor,
                              codes: torch.Tensor) -> IntRRDecodingState:
        index = parent[..., None].expand(-1, -1, self.config.hidden_size)
        state.contexts = [c.gather(1, index) for c in state.contexts]
        state.contexts.append(self.user_ran.codebooks[level][codes])
        if state.nezha is not None:  # each kept beam continues its parent's h_u^l, advanced by its codeword (Eq. 42)
            recurrent = state.nezha.recurrent.gather(1, index)
            if level + 1 < self.config.num_levels:
                recurrent = self.nezha.advance(level, state.contexts[-1], recurrent)
            state.nezha.recurrent = recurrent
        return state
