"""SASRec: self-attentive sequential recommendation (Kang & McAuley, ICDM 2018), the reference baseline.

* Input (Sec. III-A/B): item-id embeddings ``E`` of the history plus learned position embeddings, dropout;
* self-attention blocks (Sec. III-C/D): causal multi-head attention and a point-wise feed-forward network, each
  with a residual connection, LayerNorm and dropout; padded positions are masked;
* prediction (Sec. III-E): the user state is the last position's output ``F``; item ``i`` scores ``F . E_i``
  with the input table shared as the output table;
* training: full-catalog cross-entropy by default, the paper's BCE with one negative, or a sampled softmax
  (``SASRecConfig.loss``).

``generate`` scores the whole catalog and returns its top items, so the evaluator treats SASRec like every model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F

from ...generation.beam_search import BeamSearchResult
from ...modeling_utils import GenRecOutput, GenRecPreTrainedModel, history_mask
from .configuration_sasrec import SASRecConfig


class SASRecBlock(nn.Module):
    """One self-attention block: ``x + Dropout(Attention(LN(x)))`` then ``x + Dropout(FFN(LN(x)))``."""

    def __init__(self, hidden: int, heads: int, intermediate: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.attention_norm = nn.LayerNorm(hidden)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.attention_out = nn.Linear(hidden, hidden)
        self.ffn_norm = nn.LayerNorm(hidden)
        self.ffn = nn.Sequential(nn.Linear(hidden, intermediate), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(intermediate, hidden))
        self.dropout = nn.Dropout(dropout)
        self.attention_dropout = dropout

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``x [B, T, d]``; ``mask [B, 1, T, T]`` says which keys each query may attend to."""
        B, T, d = x.shape
        q, k, v = self.qkv(self.attention_norm(x)).view(B, T, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                                  dropout_p=self.attention_dropout if self.training else 0.0)
        x = x + self.dropout(self.attention_out(attended.transpose(1, 2).reshape(B, T, d)))
        return x + self.dropout(self.ffn(self.ffn_norm(x)))


@dataclass
class SASRecDecodingState:
    user: torch.Tensor  # [B, d]


class SASRecForSequentialRecommendation(GenRecPreTrainedModel):
    config_class = SASRecConfig
    base_model_prefix = "sasrec"
    scores_items = True

    def __init__(self, config: SASRecConfig):
        super().__init__(config)
        d = config.hidden_size
        self.item_id_embeddings = nn.Embedding(config.num_items + 1, d)  # the last row is padding
        self.position_embeddings = nn.Embedding(config.max_history, d)
        self.embedding_dropout = nn.Dropout(config.dropout_rate)
        self.blocks = nn.ModuleList(SASRecBlock(d, config.num_heads, config.intermediate_size, config.dropout_rate)
                                    for _ in range(config.num_layers))
        self.final_norm = nn.LayerNorm(d)
        self.init_added_modules(config.initializer_range)
        self.post_init()

    @classmethod
    def sequence_training_unsupported(cls, config: SASRecConfig):
        return None  # causal attention: every position predicts the next item (how the paper trains)

    # ------------------------------------------------------------------ the user state
    def sequence_states(self, item_ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None):
        """``F`` at every position ``[B, T, d]`` and the history mask ``[B, T]`` for left-padded histories (padding
        ``-1``). Histories longer than ``max_history`` keep their most recent items."""
        mask = history_mask(item_ids, attention_mask)
        limit = self.config.max_history
        if item_ids.shape[1] > limit:
            item_ids, mask = item_ids[:, -limit:], mask[:, -limit:]
        B, T = item_ids.shape
        items = torch.where(mask, item_ids, torch.full_like(item_ids, self.config.num_items))
        if self.config.positions == "recency":  # 0 = the most recent position of the row
            positions = (T - 1 - torch.arange(T, device=items.device)).clamp(max=limit - 1)[None].expand(B, T)
        else:  # 0 = the oldest item of the row
            positions = (mask.long().cumsum(1) - 1).clamp(min=0, max=limit - 1)
        x = self.item_id_embeddings(items) * self.config.hidden_size ** 0.5 + self.position_embeddings(positions)
        x = self.embedding_dropout(x) * mask[..., None]
        causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
        keys = causal[None] & mask[:, None, :]
        keys |= torch.eye(T, dtype=torch.bool, device=x.device)[None]  # a padded query attends to itself (no NaN)
        attention = keys[:, None]
        for block in self.blocks:
            x = block(x, attention) * mask[..., None]
        return self.final_norm(x), mask

    def user_states(self, item_ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``F`` of the most recent position ``[B, d]``."""
        return self.sequence_states(item_ids, attention_mask)[0][:, -1]

    def item_scores(self, user: torch.Tensor) -> torch.Tensor:
        """``F . E_i`` for every catalog item ``[B, num_items]`` (the shared input/output table)."""
        return user @ self.item_id_embeddings.weight[: self.config.num_items].T

    # ------------------------------------------------------------------ training
    def forward(self, item_ids: Optional[torch.LongTensor] = None, attention_mask: Optional[torch.Tensor] = None,
                labels: Optional[torch.LongTensor] = None, target_items: Optional[torch.LongTensor] = None,
                input_ids: Optional[torch.Tensor] = None, **kwargs) -> GenRecOutput:
        """``logits [B, num_items]`` (item scores) and, with ``target_items`` (or SID ``labels``), the loss.

        Sequence-level batches (``labels [B, T, L]``, ``target_items [B, T]``): the loss over every position that
        has a target, one pass; ``logits`` are those positions' scores ``[N, num_items]``."""
        self.check_history_inputs(input_ids, attention_mask, item_ids)
        has_target = self.sequence_targets(labels, target_items)
        if has_target is not None:
            states, _ = self.sequence_states(item_ids, attention_mask)
            width = states.shape[1]
            has_target = has_target[:, -width:]
            user = states[has_target]
            if target_items is not None:
                targets = target_items[:, -width:][has_target]
            else:
                targets = self.target_items_of(labels[:, -width:][has_target])
            logits = self.item_scores(user)
            return GenRecOutput(loss=self.loss(user, logits, targets), logits=logits, hidden_states=user)
        user = self.user_states(item_ids, attention_mask)
        logits = self.item_scores(user)
        if target_items is None and labels is None:
            return GenRecOutput(logits=logits, hidden_states=user)
        targets = target_items if target_items is not None else self.target_items_of(labels)
        return GenRecOutput(loss=self.loss(user, logits, targets), logits=logits, hidden_states=user)

    def loss(self, user: torch.Tensor, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        kind = self.config.loss
        if kind == "ce":
            return F.cross_entropy(logits.float(), targets)
        negatives = torch.randint(0, self.config.num_items, (len(targets), self.config.num_negatives if kind ==
                                                             "sampled_ce" else 1), device=targets.device)
        positive = logits.gather(1, targets[:, None])
        negative = logits.gather(1, negatives)
        if kind == "sampled_ce":  # the target against sampled items (accidental hits are kept, as the paper's BCE)
            scores = torch.cat([positive, negative], 1).float()
            return F.cross_entropy(scores, torch.zeros(len(targets), dtype=torch.long, device=targets.device))
        return -(F.logsigmoid(positive.float()) + F.logsigmoid(-negative.float())).mean()

    def sid_log_likelihood(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The log-probability of each label's item under the full-catalog softmax (what ``generate`` ranks by)."""
        return F.log_softmax(logits.float(), -1).gather(1, self.target_items_of(labels)[:, None]).squeeze(1)

    # ------------------------------------------------------------------ recommendation
    def prepare_decoding(self, item_ids: torch.LongTensor, attention_mask: Optional[torch.Tensor] = None,
                         **kwargs) -> SASRecDecodingState:
        return SASRecDecodingState(user=self.user_states(item_ids, attention_mask))

    def search(self, state: SASRecDecodingState, batch_size: int, num_beams: int, num_return_sequences: int,
               temperature=None, timings=None, verifier: str = "mask") -> BeamSearchResult:
        """Full scoring instead of a beam search: the top ``num_return_sequences`` items of the whole catalog (every
        result is an item, so ``verifier`` has nothing to check)."""
        scores = F.log_softmax(self.item_scores(state.user).float(), -1)
        top = scores.topk(min(num_return_sequences, self.config.num_items), dim=1)
        items = top.indices
        if items.shape[1] < num_return_sequences:
            pad = num_return_sequences - items.shape[1]
            items = F.pad(items, (0, pad), value=-1)
            values = F.pad(top.values, (0, pad), value=float("-inf"))
        else:
            values = top.values
        sids = torch.where((items >= 0)[..., None], self.item_sids[items.clamp(min=0)], torch.full_like(
            self.item_sids[items.clamp(min=0)], -1))
        return BeamSearchResult(items=items, sids=sids, scores=values, beam_sids=sids, beam_scores=values)
