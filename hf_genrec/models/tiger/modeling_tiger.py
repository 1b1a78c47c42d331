"""TIGER-style generative retrieval with flattened semantic IDs (Rajput et al. 2023).

The history is the concatenation of its items' SIDs (``L`` tokens per item); the model predicts the
``L`` codes of the next item token by token.

* ``encoder_decoder``: T5 encoder over the history, T5 decoder over ``<bos> c^1 .. c^{L-1}``.
  Decoding shares each user's encoder states across beams (:mod:`hf_genrec.generation.t5_beam_decoder`).
* ``decoder_only``: a causal LM over ``history <bos> c^1 .. c^{L-1}`` with new SID embeddings and
  head; decoding uses tree attention over one prompt cache (:mod:`hf_genrec.generation.tree_decoding`).
  With ``decoder_backbone="hstu"`` the backbone is HSTU (the flattened HSTU baseline); decoding runs the prompt once
  per user and then one token per beam through a key/value cache (:meth:`hf_genrec.modules.hstu.HSTU.extend_decoding`).

``decoding_architecture="nezha"`` (any architecture): NEZHA (:mod:`hf_genrec.generation.nezha`): the backbone runs once
over the history and ``L`` placeholders (decoder-only: after the history; encoder-decoder: ``<bos> p_1 .. p_L`` in the
T5 decoder), and a recurrent head drafts the codes; training and decoding both go through the head.

``item_id_embedding=True`` (an hf_genrec option, not TIGER's method) adds a learned embedding of each history item's
id to the embeddings of its ``L`` SID tokens. The flat history carries SID tokens only, so the model reads the item
ids back from them through its catalog (:meth:`TigerForGenerativeRecommendation.history_item_ids`): every caller
(collator, evaluator, ``generate``, the remote-code export) keeps passing the plain flat batch. Items that share a
SID (``collisions='none'``) share one embedding, that of the lowest item id with the SID.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F
from transformers import DynamicCache, T5ForConditionalGeneration

from ...generation.beam_search import rescore_items
from ...generation.nezha import NezhaDecodingMixin, NezhaDecodingState
from ...generation.t5_beam_decoder import DecoderCache, EncoderMemory, T5BeamDecoder
from ...generation.tree_decoding import TreeState, tree_extend, tree_prompt
from ...modeling_utils import GenRecOutput, GenRecPreTrainedModel
from ...modules.backbones import (add_residual_dropout, backbone_hidden_size, build_backbone, config_from_dict,
                                  default_decoder_config, prompt_positions)
from ...modules.hstu import HSTU, HSTUDecodingCache
from ...modules.item_id_embedding import ItemIdEmbedding
from ...modules.nezha import NezhaLayerStates
from ...modules.packed_targets import item_anchors, packed_target_layout, packed_target_states
from .configuration_tiger import TigerConfig


@dataclass
class TigerDecodingState:
    tokens: Optional[torch.Tensor] = None  # encoder-decoder: next decoder input of each beam [B, W, 1]
    memory: Optional[EncoderMemory] = None
    cache: Optional[DecoderCache] = None  # where each beam's self-attention keys/values live, after beam selection
    pending: Optional[DecoderCache] = None  # the same including the last step, before beam selection
    decoder: Optional[T5BeamDecoder] = None
    tree: Optional[TreeState] = None  # decoder-only on a causal LM
    hstu: Optional[HSTUDecodingCache] = None  # decoder-only on HSTU: the prompt's and each beam's keys/values
    item_log_probs: Optional[torch.Tensor] = None  # item_score_weight: every item's log-probability from <bos> [B, N]


class TigerForGenerativeRecommendation(NezhaDecodingMixin, GenRecPreTrainedModel):
    config_class = TigerConfig
    base_model_prefix = "tiger"
    pretrained_backbone_config = {"architecture": "decoder_only"}

    def __init__(self, config: TigerConfig):
        super().__init__(config)
        vocab = config.sid_vocab_size
        self.token_offset_list = config.token_offsets  # SID tokens: the special tokens come first
        if config.architecture == "encoder_decoder":
            t5_config = dict(config.backbone_config or config.t5_config_dict())
            t5_config.update(vocab_size=vocab, model_type="t5")
            self.backbone = T5ForConditionalGeneration(config_from_dict(t5_config))
            hidden = self.backbone.config.d_model
        elif config.decoder_backbone == "hstu":  # the flattened HSTU baseline: L tokens per item through an HSTU stack
            positions = (config.max_history + 1) * config.num_levels + 2
            self.backbone = HSTU(config.hidden_size, config.num_layers, config.num_heads, dropout=config.dropout_rate,
                                 max_positions=positions, use_time=False)
            hidden = config.hidden_size
            self.sid_embeddings = nn.Embedding(vocab, hidden)
            self.sid_head = nn.Linear(hidden, vocab, bias=False)
        else:
            backbone_config = config.backbone_config or default_decoder_config(config.hidden_size, config.num_layers,
                                                                               max(1, config.num_heads))
            self.backbone = build_backbone(backbone_config)
            add_residual_dropout(self.backbone, config.residual_dropout)
            hidden = backbone_hidden_size(self.backbone.config)
            self.sid_embeddings = nn.Embedding(vocab, hidden)
            self.sid_head = nn.Linear(hidden, vocab, bias=False)
        if config.user_hash_buckets:
            self.user_embeddings = nn.Embedding(config.user_hash_buckets, hidden)
        self._init_new_weights()
        if config.item_id_embedding:  # registered after the other modules: their initialisation is unchanged
            self.item_id_embeddings = ItemIdEmbedding(config.num_items, hidden, std=0.02)
        if config.decoding_architecture == "nezha":
            self._add_nezha_modules(config, hidden)
        self.add_method_modules(config)
        self.post_init()

    def _add_nezha_modules(self, config: TigerConfig, hidden: int) -> None:
        """NEZHA's placeholders and recurrent cells; with ``nezha_head="separate"`` its per-level output layers and code
        embeddings (the published code's head). Linear and embedding weights N(0, 0.02), as TIGER's added modules."""
        self.nezha = NezhaLayerStates(config.num_levels, hidden, hidden, config.nezha_init_std, config.nezha_cell)
        if config.nezha_head == "separate":
            self.nezha_heads = nn.ModuleList(nn.Linear(hidden, size, bias=False) for size in config.codebook_sizes)
            self.nezha_code_embeddings = nn.ModuleList(nn.Embedding(size, hidden)  # the last code advances nothing
                                                       for size in config.codebook_sizes[:-1])
        with torch.no_grad():
            for module in [*self.nezha.modules(), *getattr(self, "nezha_heads", []),
                           *getattr(self, "nezha_code_embeddings", [])]:
                if isinstance(module, (nn.Linear, nn.Embedding)):
                    nn.init.normal_(module.weight, std=0.02)
                    if getattr(module, "bias", None) is not None:
                        nn.init.zeros_(module.bias)

    def add_method_modules(self, config: TigerConfig) -> None:
        """Hook for methods built on TIGER's backbone (PRISM): add and initialise their own modules here, after
        TIGER's (whose initialisation stays unchanged) and before ``post_init``."""

    @torch.no_grad()
    def _init_new_weights(self) -> None:
        """The modules hf_genrec adds get N(0, 0.02). The T5 backbone ties its head to the SID token embeddings
        without output rescaling; that shared table starts at N(0, d_model^-1) so the initial logits are O(1)
        (T5's own N(0, 1) init gives logits of scale sqrt(d_model) and trains markedly slower here)."""
        self.init_added_modules(std=0.02)
        if self.config.architecture == "encoder_decoder":
            nn.init.normal_(self.backbone.shared.weight, std=self.backbone.config.d_model ** -0.5)

    @classmethod
    def sequence_training_unsupported(cls, config: TigerConfig):
        if getattr(config, "decoding_architecture", "standard") == "nezha":
            return (f"{cls.__name__} with decoding_architecture='nezha' trains on one prefix per example: its placeholders "
                    "follow the whole history")
        if config.architecture == "encoder_decoder":
            return (f"{cls.__name__} with architecture='encoder_decoder' trains on one prefix per example, as the TIGER "
                    "paper prescribes: its T5 encoder is bidirectional (every history position sees the items after it); "
                    "use architecture='decoder_only'")
        return None  # decoder-only: every position's target segment packed after the history (sequence_vocab_logits)

    def backbone_sid_parameters(self):
        """The T5 token table is the SID embedding table (tied to the head)."""
        return ["shared.weight"] if self.config.architecture == "encoder_decoder" else []

    # ------------------------------------------------------------------ shared pieces
    @property
    def token_offsets(self) -> torch.Tensor:
        """Token id of code 0 of each level (a plain tensor, not a buffer: it follows from the config)."""
        return torch.tensor(self.token_offset_list, dtype=torch.long, device=self.item_sids.device)

    def _embed(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.config.architecture == "encoder_decoder":
            return self.backbone.shared(tokens)
        return self.sid_embeddings(tokens)

    @torch.no_grad()
    def history_item_ids(self, input_ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Item ids ``[B, T]`` of a flat history ``[B, T*L]`` (``-1`` at padding and at SIDs outside the catalog), read
        back from each item's ``L`` SID tokens through the catalog trie; items sharing a SID give the lowest of their
        ids. Padding always covers whole items (``L`` tokens), on either side."""
        B, P = input_ids.shape
        L = self.config.num_levels
        if P % L:
            raise ValueError(f"item_id_embedding reads whole items from the flat history: {P} tokens are not a "
                             f"multiple of the {L} SID levels (encode histories without add_eos)")
        codes = input_ids.view(B, P // L, L) - self.token_offsets
        sizes = torch.tensor(self.config.codebook_sizes, device=input_ids.device)
        real = ((codes >= 0) & (codes < sizes)).all(-1)
        if attention_mask is not None:
            real &= attention_mask.view(B, P // L, L).bool().all(-1)
        items = torch.full(real.shape, -1, dtype=torch.long, device=input_ids.device)
        if bool(real.any()):
            items[real] = self.catalog_trie(input_ids.device).first_items_of_codes(codes[real])
        return items

    def _history(self, input_ids: torch.Tensor, attention_mask: Optional[torch.Tensor], user_ids: Optional[torch.Tensor],
                 token_table: Optional[torch.Tensor] = None):
        """History embeddings and mask, with TIGER's hashed user token in front when configured. ``token_table``
        replaces the module call for the SID tokens (the fast T5 decoder's own copy of the table). With
        ``item_id_embedding`` each item's ID embedding is added to its ``L`` token embeddings."""
        if attention_mask is None:
            attention_mask = (input_ids != self.config.pad_token_id).long()
        embeds = self._embed(input_ids) if token_table is None else F.embedding(input_ids, token_table)
        if self.config.item_id_embedding:
            items = self.history_item_ids(input_ids, attention_mask)
            ids = self.item_id_embeddings(items).repeat_interleave(self.config.num_levels, dim=1)
            embeds = embeds + ids.to(embeds.dtype)
        if self.config.user_hash_buckets:
            if user_ids is None:
                raise ValueError("this model prepends a hashed user token: pass user_ids")
            user = self.user_embeddings(user_ids.long() % self.config.user_hash_buckets)[:, None]
            embeds = torch.cat([user, embeds], 1)
            attention_mask = torch.cat([torch.ones_like(attention_mask[:, :1]), attention_mask], 1)
        return embeds, attention_mask

    def _dropped(self, embeds: torch.Tensor) -> torch.Tensor:
        """Decoder-only input embeddings after ``input_dropout`` (in training mode; an hf_genrec option)."""
        rate = getattr(self.config, "input_dropout", 0.0)
        return F.dropout(embeds, rate, self.training) if rate else embeds

    def _logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.sid_head(hidden)

    def vocab_log_probs(self, vocab_logits: torch.Tensor, level: int) -> torch.Tensor:
        """Log-probabilities of level ``level``'s codes from full-vocabulary logits ``[..., V]``: normalised over
        the whole vocabulary (``loss_vocabulary='vocab'``, as TIGER/T5 train) or over the level's codes."""
        start, size = self.token_offset_list[level], self.config.codebook_sizes[level]
        if self.config.loss_vocabulary == "vocab":
            return F.log_softmax(vocab_logits.float(), dim=-1)[..., start:start + size]
        return F.log_softmax(vocab_logits[..., start:start + size].float(), dim=-1)

    def level_log_probs(self, logits: torch.Tensor, level: int) -> torch.Tensor:
        """From ``GenRecOutput.logits[:, level]``: with ``loss_vocabulary='vocab'`` they already are the
        log-probabilities (over the whole vocabulary) of the level's codes."""
        if self.config.loss_vocabulary == "vocab" or self.uses_nezha:  # NEZHA: log-probabilities over the level
            return logits[..., : self.config.codebook_sizes[level]].float()
        return super().level_log_probs(logits, level)

    def sid_loss(self, vocab_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the target codes ``labels [B, L]`` (``-100`` ignored) under ``vocab_logits [B, L, V]``."""
        if self.config.loss_vocabulary == "vocab":
            targets = torch.where(labels >= 0, labels + self.token_offsets, torch.full_like(labels, -100))
            return F.cross_entropy(vocab_logits.float().flatten(0, 1), targets.flatten(), ignore_index=-100)
        losses = [F.cross_entropy(self.vocab_log_probs(vocab_logits[:, level], level), labels[:, level],
                                  ignore_index=-100, reduction="sum") for level in range(self.config.num_levels)]
        return torch.stack(losses).sum() / (labels >= 0).sum().clamp(min=1)

    def level_logits(self, vocab_logits: torch.Tensor) -> torch.Tensor:
        """``GenRecOutput.logits [B, L', K_max]`` from full-vocabulary logits ``[B, L', V]``: each level's codes
        (log-probabilities over the vocabulary with ``loss_vocabulary='vocab'``, raw logits otherwise)."""
        width = max(self.config.codebook_sizes)
        per_level = []
        for level in range(vocab_logits.shape[1]):
            if self.config.loss_vocabulary == "vocab":
                per_level.append(self.vocab_log_probs(vocab_logits[:, level], level))
            else:
                start, size = self.token_offset_list[level], self.config.codebook_sizes[level]
                per_level.append(vocab_logits[:, level, start:start + size])
        return self.pad_levels(per_level, width)

    # ------------------------------------------------------------------ training forward
    def vocab_logits(self, input_ids: torch.LongTensor, attention_mask: Optional[torch.Tensor] = None,
                     labels: Optional[torch.LongTensor] = None, user_ids: Optional[torch.LongTensor] = None) -> torch.Tensor:
        """Teacher-forced logits over the whole SID vocabulary ``[B, L', V]`` for the next item's tokens: the
        decoder reads ``<bos> c^1 .. c^{L-1}`` of the labels (only ``<bos>`` without labels, ``L' = 1``)."""
        if self.config.architecture != "encoder_decoder":
            return self._logits(self.target_states(input_ids, attention_mask, labels, user_ids))
        embeds, mask = self._history(input_ids, attention_mask, user_ids)
        decoder_inputs = self._teacher_inputs(labels, input_ids.shape[0], input_ids.device)
        return self.backbone(inputs_embeds=embeds, attention_mask=mask, decoder_input_ids=decoder_inputs).logits

    def _teacher_inputs(self, labels: Optional[torch.Tensor], batch_size: int, device) -> torch.Tensor:
        """``<bos> c^1 .. c^{L-1}`` of the labels as SID tokens ``[B, L]`` (only ``<bos>``, ``[B, 1]``, without labels)."""
        bos = torch.full((batch_size, 1), self.config.bos_token_id, dtype=torch.long, device=device)
        if labels is None:
            return bos
        return torch.cat([bos, (labels.clamp(min=0) + self.token_offsets)[:, :-1]], 1)

    def target_states(self, input_ids: torch.LongTensor, attention_mask: Optional[torch.Tensor] = None,
                      labels: Optional[torch.LongTensor] = None,
                      user_ids: Optional[torch.LongTensor] = None) -> torch.Tensor:
        """Decoder-only, one prefix per example: the backbone's states ``[B, L', d]`` at ``<bos> c^1 .. c^{L'-1}``
        after the history (only ``<bos>`` without labels), whose head outputs are :meth:`vocab_logits`."""
        embeds, mask = self._history(input_ids, attention_mask, user_ids)
        decoder_inputs = self._teacher_inputs(labels, input_ids.shape[0], input_ids.device)
        B, L = decoder_inputs.shape
        sequence = self._dropped(torch.cat([embeds, self._embed(decoder_inputs)], 1))
        full_mask = torch.cat([mask, torch.ones(B, L, dtype=mask.dtype, device=mask.device)], 1)
        return self._decoder_states(sequence, full_mask)[:, -L:]

    def sequence_vocab_logits(self, input_ids: torch.LongTensor, attention_mask: Optional[torch.Tensor],
                              labels: torch.LongTensor, has_target: torch.Tensor,
                              user_ids: Optional[torch.LongTensor] = None) -> torch.Tensor:
        """Decoder-only, sequence level: teacher-forced logits ``[N, L, V]`` of the ``N`` positions with a target, in
        one pass (:meth:`sequence_target_states`)."""
        return self._logits(self.sequence_target_states(input_ids, attention_mask, labels, has_target, user_ids))

    def sequence_target_states(self, input_ids: torch.LongTensor, attention_mask: Optional[torch.Tensor],
                               labels: torch.LongTensor, has_target: torch.Tensor,
                               user_ids: Optional[torch.LongTensor] = None) -> torch.Tensor:
        """Decoder-only, sequence level (``labels [B, T, L]`` of the item after each of the ``T`` history items):
        the backbone's states ``[N, L, d]`` of the ``N`` positions with a target, in one pass. After the history's
        tokens come ``T`` segments ``<bos> c^1 .. c^{L-1}`` of each position's target; segment ``j`` attends to the
        history up to item ``j`` and causally to itself, with the positions of the prefix example
        (:mod:`hf_genrec.modules.packed_targets`), so each target gets exactly its prefix example's logits."""
        embeds, mask = self._history(input_ids, attention_mask, user_ids)
        B, T, L = labels.shape
        P = embeds.shape[1]
        lead = P - T * L  # the hashed user token, when configured
        if lead < 0 or (input_ids.shape[1] != T * L):
            raise ValueError(f"sequence-level labels {tuple(labels.shape)} do not match a flat history of "
                             f"{input_ids.shape[1]} tokens ({L} per item)")
        anchors = item_anchors(T, L, B, offset=lead, device=embeds.device)
        bos = torch.full((B, T, 1), self.config.bos_token_id, dtype=torch.long, device=embeds.device)
        segments = self._embed(torch.cat([bos, (labels.clamp(min=0) + self.token_offsets)[..., :-1]], -1))
        embeds, segments = self._dropped(embeds), self._dropped(segments)
        mask = mask.bool()
        if self.config.decoder_backbone == "hstu":
            allowed, positions = packed_target_layout(mask, anchors, L)
            sequence = torch.cat([embeds, segments.flatten(1, 2)], 1)
            full_mask = torch.cat([mask, has_target.repeat_interleave(L, dim=1)], 1)
            hidden = self.backbone(sequence, full_mask, allowed=allowed, positions=positions)[:, P:].view(B, T, L, -1)
        else:
            hidden = packed_target_states(self.backbone, embeds, mask, anchors, segments)[1]
        return hidden[has_target]

    def _decoder_states(self, sequence: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Hidden states of the decoder-only backbone (a causal LM, or HSTU) over left-padded embeddings."""
        if self.config.decoder_backbone == "hstu":
            return self.backbone(sequence, mask.bool())
        return self.backbone(inputs_embeds=sequence, attention_mask=mask, position_ids=prompt_positions(mask)
                             ).last_hidden_state

    def forward(self, input_ids: torch.LongTensor, attention_mask: Optional[torch.Tensor] = None,
                labels: Optional[torch.LongTensor] = None, user_ids: Optional[torch.LongTensor] = None,
                **kwargs) -> GenRecOutput:
        """Teacher-forced SID-token logits of the next item (see :class:`GenRecOutput`); ``loss`` (TIGER's cross-entropy)
        when ``labels`` (codes ``[B, L]``) are given. Without labels only the first level is scored.

        Sequence-level batches (``labels [B, T, L]``, decoder-only): the loss over every history position that has a
        target, one pass (:meth:`sequence_vocab_logits`); ``logits`` are those positions' ``[N, L, K_max]``."""
        self.check_history_inputs(input_ids, attention_mask, kwargs.get("item_ids"))
        if self.uses_nezha:
            if labels is not None and labels.dim() == 3:
                raise ValueError(self.sequence_training_unsupported(self.config))
            user, placeholders = self.nezha_backbone_states(input_ids, attention_mask, user_ids)
            log_probs = self.nezha_level_log_probs(user, placeholders, labels)
            loss = None if labels is None else self.nezha_loss(log_probs, labels)
            return GenRecOutput(loss=loss, logits=self.pad_levels(log_probs, max(self.config.codebook_sizes)))
        has_target = self.sequence_targets(labels, None)
        if has_target is not None:
            why = self.sequence_training_unsupported(self.config)
            if why:
                raise ValueError(why)
            states = self.sequence_target_states(input_ids, attention_mask, labels, has_target, user_ids)
            return self._training_output(self._logits(states), labels[has_target], states)
        if labels is not None and self.config.item_id_loss_weight:  # the <bos> states feed the item loss too
            states = self.target_states(input_ids, attention_mask, labels, user_ids)
            return self._training_output(self._logits(states), labels, states)
        logits = self.vocab_logits(input_ids, attention_mask, labels, user_ids)
        loss = None if labels is None else self.sid_loss(logits, labels)
        return GenRecOutput(loss=loss, logits=self.level_logits(logits))

    def _training_output(self, vocab_logits: torch.Tensor, labels: torch.Tensor, states: torch.Tensor) -> GenRecOutput:
        """TIGER's loss on ``vocab_logits [N, L, V]``; with ``item_id_loss_weight`` ``w`` plus ``w`` times
        :meth:`item_id_loss` from the ``<bos>`` states, both parts in ``loss_terms``."""
        loss = self.sid_loss(vocab_logits, labels)
        weight = self.config.item_id_loss_weight
        if not weight:
            return GenRecOutput(loss=loss, logits=self.level_logits(vocab_logits))
        item_loss = self.item_id_loss(states[:, 0], labels)
        return GenRecOutput(loss=loss + weight * item_loss, logits=self.level_logits(vocab_logits),
                            loss_terms={"sid": loss.detach(), "item_id": item_loss.detach()})

    def item_id_loss(self, bos_states: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """hf_genrec's auxiliary loss (``item_id_loss_weight``, not TIGER's): cross-entropy of the target item over
        the whole catalog under :meth:`item_scores` of the ``<bos>`` states ``[N, d]`` (SASRec's full-softmax loss).
        The target item is read back from its codes ``labels [N, L]`` through the catalog (items sharing a SID count
        as the lowest id among them); rows whose codes are not all given are ignored."""
        complete = (labels >= 0).all(-1)
        items = torch.full(complete.shape, -100, dtype=torch.long, device=labels.device)
        if bool(complete.any()):
            with torch.no_grad():
                items[complete] = self.catalog_trie(labels.device).first_items_of_codes(labels[complete])
        items[items < 0] = -100
        scores = self.item_scores(bos_states)
        if not bool((items >= 0).any()):
            return scores.sum() * 0.0
        return F.cross_entropy(scores, items, ignore_index=-100)

    def item_scores(self, bos_states: torch.Tensor) -> torch.Tensor:
        """Every catalog item's score ``[N, num_items]`` from the ``<bos>`` states ``[N, d]``: the dot product with
        the item's row of the item-ID input table (tied, as SASRec ties its item embeddings)."""
        table = self.item_id_embeddings.weight[: self.config.num_items]
        return bos_states.float() @ table.float().t()

    @torch.no_grad()
    def item_log_probs(self, input_ids: torch.LongTensor, attention_mask: Optional[torch.Tensor] = None,
                       user_ids: Optional[torch.LongTensor] = None) -> torch.Tensor:
        """Log-probabilities ``[B, num_items]`` of the next item under :meth:`item_scores` of the ``<bos>`` state
        after each history (decoder-only with ``item_id_embedding``; trained by ``item_id_loss_weight``)."""
        if not self.config.item_id_loss_weight:
            raise ValueError("item_log_probs reads the item scores that item_id_loss_weight trains; this model was "
                             "configured without it")
        return F.log_softmax(self.item_scores(self.target_states(input_ids, attention_mask, None, user_ids)[:, 0]), -1)

    def search(self, state, batch_size: int, num_beams: int, num_return_sequences: int, temperature=None,
               timings: Optional[dict] = None, verifier: str = "mask"):
        """The constrained beam search; with ``item_score_weight`` ``a`` its items are reranked by SID log-likelihood
        plus ``a`` times :meth:`item_log_probs` (:func:`~hf_genrec.generation.beam_search.rescore_items`)."""
        weight = self.config.item_score_weight
        if not weight or getattr(state, "item_log_probs", None) is None:
            return super().search(state, batch_size, num_beams, num_return_sequences, temperature, timings, verifier)
        result = super().search(state, batch_size, num_beams, max(num_beams, num_return_sequences), temperature,
                                timings, verifier)
        return rescore_items(result, self.catalog_trie(self.item_sids.device), state.item_log_probs, weight,
                             num_return_sequences)

    # ------------------------------------------------------------------ NEZHA hooks (generation/nezha.py)
    @property
    def uses_nezha(self) -> bool:
        return getattr(self.config, "decoding_architecture", "standard") == "nezha"

    def nezha_backbone_states(self, input_ids: torch.LongTensor, attention_mask: Optional[torch.Tensor] = None,
                              user_ids: Optional[torch.LongTensor] = None, **kwargs):
        """One backbone pass: ``h_u [B, d]`` and the placeholder states ``[B, L, d]`` (Eq. 40). Decoder-only: the
        placeholders follow the (left-padded) history and ``h_u`` is the last history position; encoder-decoder: the
        T5 decoder reads ``<bos> p_1 .. p_L`` and ``h_u`` is its state at ``<bos>``."""
        embeds, mask = self._history(input_ids, attention_mask, user_ids)
        if self.config.architecture == "encoder_decoder":
            encoded = self.backbone.encoder(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
            bos = self.backbone.shared.weight[self.config.bos_token_id].expand(embeds.shape[0], 1, -1)
            slots = self.nezha.placeholders.to(embeds.dtype)[None].expand(embeds.shape[0], -1, -1)
            hidden = self.backbone.decoder(inputs_embeds=torch.cat([bos, slots], 1), encoder_hidden_states=encoded,
                                           encoder_attention_mask=mask).last_hidden_state
            if getattr(self.backbone.config, "scale_decoder_outputs", False):
                hidden = hidden * self.backbone.config.d_model ** -0.5
            return hidden[:, 0], hidden[:, 1:]
        sequence, full_mask = self.nezha.append_placeholders(self._dropped(embeds), mask)
        return self.nezha.split(self._decoder_states(sequence, full_mask))

    def nezha_scores(self, level: int, xi: torch.Tensor) -> torch.Tensor:
        """Level ``level``'s code logits: the rows of the model's own output head for the level's tokens
        (``nezha_head="shared"``), or NEZHA's separate per-level output layer."""
        if self.config.nezha_head == "separate":
            return self.nezha_heads[level](xi)
        head = self.backbone.lm_head if self.config.architecture == "encoder_decoder" else self.sid_head
        start = self.token_offset_list[level]
        return F.linear(xi, head.weight[start: start + self.config.codebook_sizes[level]])

    def nezha_transition_input(self, level: int, codes: torch.Tensor) -> torch.Tensor:
        """The generated code's embedding: the model's SID token embedding, or NEZHA's per-level code embedding."""
        if self.config.nezha_head == "separate":
            return self.nezha_code_embeddings[level](codes)
        return self._embed(codes + self.token_offset_list[level])

    # ------------------------------------------------------------------ decoding protocol
    def prepare_decoding(self, input_ids: torch.LongTensor, attention_mask: Optional[torch.Tensor] = None,
                         user_ids: Optional[torch.LongTensor] = None, **kwargs):
        if self.uses_nezha:  # one backbone pass; the head drafts every level
            return self.nezha_prepare_decoding(input_ids=input_ids, attention_mask=attention_mask, user_ids=user_ids)
        B = input_ids.shape[0]
        bos = torch.full((B, 1, 1), self.config.bos_token_id, dtype=torch.long, device=input_ids.device)
        if self.config.architecture == "encoder_decoder":
            decoder = T5BeamDecoder.for_model(self.backbone, owner=self)
            embeds, mask = self._history(input_ids, attention_mask, user_ids, token_table=decoder.embed_weight)
            return TigerDecodingState(tokens=bos, memory=decoder.encode(embeds, mask), decoder=decoder)
        embeds, mask = self._history(input_ids, attention_mask, user_ids)
        prompt = torch.cat([embeds, self._embed(bos[:, 0])], 1)
        prompt_mask = torch.cat([mask, torch.ones_like(mask[:, :1])], 1)
        if self.config.decoder_backbone == "hstu":  # the prompt once, then one token per beam and step
            state = TigerDecodingState(hstu=self.backbone.start_decoding(prompt, prompt_mask))
        else:
            cache = DynamicCache(config=self.backbone.config)
            state = TigerDecodingState(tree=tree_prompt(self.backbone, prompt, prompt_mask, cache))
        if self.config.item_score_weight:  # the prompt's last state is <bos>'s: it also scores every item
            bos = (state.hstu if state.hstu is not None else state.tree).hidden[:, 0]
            state.item_log_probs = F.log_softmax(self.item_scores(bos), -1)
        return state

    def decode_step(self, state: TigerDecodingState, level: int, valid_mask: torch.Tensor,
                    temperature: torch.Tensor) -> torch.Tensor:
        if isinstance(state, NezhaDecodingState):
            return self.nezha_decode_step(state, level, temperature)
        if self.config.architecture == "encoder_decoder":
            logits, state.pending = state.decoder.step(state.tokens, state.memory, state.cache)
        elif self.config.decoder_backbone == "hstu":
            logits = self._logits(state.hstu.hidden)
        else:
            logits = self._logits(state.tree.hidden)
        return self.vocab_log_probs(logits / temperature[..., None].to(logits.dtype), level)

    def update_decoding_state(self, state: TigerDecodingState, level: int, parent: torch.Tensor,
                              codes: torch.Tensor) -> TigerDecodingState:
        if isinstance(state, NezhaDecodingState):
            return self.nezha_update_decoding_state(state, level, parent, codes)
        tokens = codes + self.token_offset_list[level]
        if self.config.architecture == "encoder_decoder":
            if level < self.config.num_levels - 1:  # after the last level no decoder step follows
                state.cache = state.pending.select(parent)
                state.tokens = tokens[..., None]
        elif level < self.config.num_levels - 1:
            if self.config.decoder_backbone == "hstu":
                state.hstu = self.backbone.extend_decoding(state.hstu.select(parent), self._embed(tokens))
            else:
                state.tree = tree_extend(self.backbone, state.tree, parent, self._embed(tokens))
        return state
