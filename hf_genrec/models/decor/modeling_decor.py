"""DECOR (Liu et al. 2025, "Learning Decomposed Contextual Token Representations from Pretrained and
Collaborative Signals for Generative Recommendation", arXiv 2509.10468): TIGER's T5 with decomposed and contextual token embeddings.

The model is :class:`~hf_genrec.models.tiger.TigerForGenerativeRecommendation` (flat SID histories, TIGER's
cross-entropy, the shared constrained beam search) with three changes to the embeddings, each a switch:

* **Decomposed Embedding Fusion** (Sec. 3.2, Eq. 9-11; ``use_pretrained``): the static embedding table
  ``F = W_fuse [LN(W_pre E_pre) || LN(W_collab E_collab)]`` ``[V, d]``, computed once per forward pass.
  ``E_pre`` is the quantizer's codebooks, a frozen buffer (``codebook_vectors``; zero rows for the special tokens and
  the collision level, which have no codeword); ``E_collab`` is T5's token table (``backbone.shared``). Without it
  ``F = E_collab`` (TIGER's embedding). The encoder reads ``F[history]``.
* **Contextualized Token Composition** (Sec. 3.3, Eq. 12-18; ``use_composition``): the user context ``u`` pools
  ``F[history]`` (Eq. 13-15); every decoder input token ``c`` of level ``l`` becomes
  ``alpha * sum_{c' in level l} a_c'(u) F[c'] + (1 - alpha) F[c]`` (Eq. 16-18). With ``context="history"`` the
  composed term depends on the user and the level only, so it is computed once per user and level
  (:meth:`level_compositions`), for training and for decoding.
* **Learnable BOS queries** (Sec. 3.4, Eq. 19; ``num_bos_queries``): the first decoder input is composed over
  ``N`` learned vectors (and mixed with the static BOS embedding by ``alpha`` when ``bos_residual``).

The output head scores the decoder state against ``E_collab`` (T5's tied head), ``F`` or its own matrix
(``output_embeddings``). ``docs/methods/decor.md`` maps the paper to this code and lists every choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from ...generation.t5_beam_decoder import DecoderCache, EncoderMemory, T5BeamDecoder
from ...modeling_utils import GenRecOutput, ItemFeature
from ...tokenization.sid_vocab import NUM_SPECIAL_TOKENS
from ..tiger.modeling_tiger import TigerForGenerativeRecommendation
from .composition import AttentionPooledContext, DecomposedEmbeddingFusion, PooledContext, TokenComposition
from .configuration_decor import DecorConfig


@dataclass
class DecorDecodingState:
    embeds: torch.Tensor  # the next decoder input of each beam [B, W, d] (Eq. 18 / Eq. 19)
    memory: EncoderMemory
    decoder: T5BeamDecoder
    table: torch.Tensor  # the static table F [V, d] of this generate call
    head: Optional[torch.Tensor]  # the decoder's output matrix when it is not T5's tied head
    compositions: Optional[torch.Tensor] = None  # history context: the composed term of each level [B, L, d]
    context: Optional[PooledContext] = None  # history-and-prefix context: the history's pooling sums
    prefix: Optional[torch.Tensor] = None  # history-and-prefix context: each beam's codes so far [B, W, l]
    cache: Optional[DecoderCache] = None
    pending: Optional[DecoderCache] = None


class DecorForGenerativeRecommendation(TigerForGenerativeRecommendation):
    config_class = DecorConfig
    base_model_prefix = "decor"
    pretrained_backbone_config = None
    item_features = (
        ItemFeature("codebooks", buffer="codebook_vectors", source="quantizer_codebooks", layout="per_code",
                    width_field="codebook_dim", opt_out="use_pretrained=False",
                    description="the quantizer's frozen codebooks E_pre of the decomposed embedding fusion (Eq. 9)"),
    )

    @classmethod
    def item_feature_spec(cls, config: DecorConfig) -> Tuple[ItemFeature, ...]:
        return cls.item_features if config.use_pretrained else ()

    def add_method_modules(self, config: DecorConfig) -> None:
        d, projection = self.backbone.config.d_model, config.projection_dim or self.backbone.config.d_model
        if config.use_pretrained:
            self.fusion = DecomposedEmbeddingFusion(config.codebook_dim, d, projection, config.fusion_bias)
        if config.use_composition:
            self.context_pool = AttentionPooledContext(d, projection, config.context_mlp_layers)
            self.composition = TokenComposition(d, config.fusion_bias, config.composition_scale)
        if config.num_bos_queries:
            self.bos_queries = nn.Parameter(torch.empty(config.num_bos_queries, d))
            if not config.share_bos_projections:
                self.bos_composition = TokenComposition(d, config.fusion_bias, config.composition_scale)
        if config.output_embeddings == "untied":
            self.output_head = nn.Linear(d, config.sid_vocab_size, bias=False)
        # N(0, 0.02) like TIGER's added modules; TIGER's own (user / item-id tables) keep their initialisation
        self.init_added_modules(std=0.02, skip=("user_embeddings", "item_id_embeddings"))
        if config.num_bos_queries:
            with torch.no_grad():
                nn.init.normal_(self.bos_queries, std=config.bos_query_init_std)

    # ------------------------------------------------------------------ Eq. 9-11
    def static_table(self) -> torch.Tensor:
        """The static embedding of every vocabulary token ``[V, d]``: the fused table of Eq. 11, or ``E_collab``
        (TIGER's table) without ``use_pretrained``."""
        collab = self.backbone.shared.weight
        if not self.config.use_pretrained:
            return collab
        self.check_item_features()
        book = self.codebook_vectors
        pretrained = torch.cat([book.new_zeros(NUM_SPECIAL_TOKENS, book.shape[1]), book])  # Eq. 9, zero for specials
        return self.fusion(pretrained, collab)

    def output_matrix(self, table: torch.Tensor) -> Optional[torch.Tensor]:
        """The output embeddings ``[V, d]`` when they are not T5's tied head (``None``)."""
        if self.config.output_embeddings == "fused":
            return table
        if self.config.output_embeddings == "untied":
            return self.output_head.weight
        return None

    def level_rows(self, table: torch.Tensor, level: int) -> torch.Tensor:
        """The token region of level ``level``: the rows ``[K_l, d]`` of its codes."""
        start = self.token_offset_list[level]
        return table[start: start + self.config.codebook_sizes[level]]

    # ------------------------------------------------------------------ Eq. 13-19
    def history_context(self, input_ids: torch.Tensor, attention_mask: Optional[torch.Tensor],
                        table: torch.Tensor) -> PooledContext:
        """The pooling sums of Eq. 15 over the fused history tokens ``h_l = F[c_l]``, padding masked."""
        mask = attention_mask.bool() if attention_mask is not None else input_ids != self.config.pad_token_id
        return self.context_pool.summarize(F.embedding(input_ids, table), mask)

    def compose(self, context: torch.Tensor, level: int, table: torch.Tensor) -> torch.Tensor:
        """Eq. 16-17 for level ``level``: ``sum_c' a_c'(u) F[c']`` over its token region, for contexts ``[..., d]``."""
        return self.composition(context, self.level_rows(table, level))

    def level_compositions(self, context: torch.Tensor, table: torch.Tensor,
                           keys: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The composed term of every level ``[B, L, d]`` for one context per user ``u [B, d]`` (Eq. 16-17); ``keys``
        (``W_k F``) when already computed."""
        keys = self.composition.key(table) if keys is None else keys  # W_k F, once for all levels
        return torch.stack([self.composition(context, self.level_rows(table, level), self.level_rows(keys, level))
                            for level in range(self.config.num_levels)], 1)

    def mix(self, composed: torch.Tensor, static: torch.Tensor) -> torch.Tensor:
        """Eq. 18: ``alpha * e~ + (1 - alpha) * e_static``."""
        alpha = self.config.composition_weight
        return alpha * composed + (1.0 - alpha) * static

    def bos_embedding(self, context: Optional[torch.Tensor], table: torch.Tensor, batch_size: int) -> torch.Tensor:
        """The first decoder input ``[B, d]``: Eq. 19 over the BOS queries (mixed with the static BOS by Eq. 18
        when ``bos_residual``), or the static BOS embedding without queries."""
        static = table[self.config.bos_token_id].expand(batch_size, -1)
        if not self.config.num_bos_queries:
            return static
        composition = self.composition if self.config.share_bos_projections else self.bos_composition
        composed = composition(context, self.bos_queries.to(table.dtype))
        return self.mix(composed, static) if self.config.bos_residual else composed

    def decoder_inputs_embeds(self, input_ids: torch.Tensor, attention_mask: Optional[torch.Tensor],
                              labels: Optional[torch.Tensor], table: torch.Tensor) -> torch.Tensor:
        """Teacher-forced decoder inputs ``[B, L', d]``: ``[e_BOS, e_final(c^1), .., e_final(c^{L-1})]``."""
        B = input_ids.shape[0]
        tokens = None if labels is None else (labels.clamp(min=0) + self.token_offsets)[:, :-1]  # [B, L-1]
        if not self.config.use_composition:
            bos = table[self.config.bos_token_id].expand(B, 1, -1)
            return bos if tokens is None else torch.cat([bos, F.embedding(tokens, table)], 1)
        summary = self.history_context(input_ids, attention_mask, table)
        user = self.context_pool.read(summary)  # u [B, d]
        bos = self.bos_embedding(user, table, B)[:, None]
        if tokens is None:
            return bos
        static = F.embedding(tokens, table)
        if self.config.context == "history":
            composed = self.level_compositions(user, table)[:, : tokens.shape[1]]
        else:  # position j's context: the history and the target tokens before c^j
            P = tokens.shape[1]
            before = torch.arange(P, device=tokens.device)
            prefix_mask = (before[None, :] < before[:, None]).expand(B, P, P)  # [B, position, prefix token]
            contexts = self.context_pool.read(self.context_pool.extend(summary, static[:, None].expand(B, P, P, -1),
                                                                       prefix_mask))  # [B, P, d]
            composed = torch.stack([self.compose(contexts[:, level], level, table) for level in range(P)], 1)
        return torch.cat([bos, self.mix(composed, static)], 1)

    # ------------------------------------------------------------------ forward
    def vocab_logits(self, input_ids: torch.LongTensor, attention_mask: Optional[torch.Tensor] = None,
                     labels: Optional[torch.LongTensor] = None, user_ids: Optional[torch.LongTensor] = None) -> torch.Tensor:
        """Teacher-forced logits over the SID vocabulary ``[B, L', V]``; the encoder reads ``F[history]`` and the
        decoder DECOR's composed inputs."""
        table = self.static_table()
        embeds, mask = self._history(input_ids, attention_mask, user_ids, token_table=table)
        decoder_embeds = self.decoder_inputs_embeds(input_ids, attention_mask, labels, table)
        head = self.output_matrix(table)
        if head is None:  # T5's head, tied to E_collab
            return self.backbone(inputs_embeds=embeds, attention_mask=mask, decoder_inputs_embeds=decoder_embeds).logits
        encoded = self.backbone.encoder(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
        hidden = self.backbone.decoder(inputs_embeds=decoder_embeds, encoder_hidden_states=encoded,
                                       encoder_attention_mask=mask).last_hidden_state
        if getattr(self.backbone.config, "scale_decoder_outputs", False):
            hidden = hidden * self.backbone.config.d_model ** -0.5
        return hidden @ head.t()

    def forward(self, input_ids: torch.LongTensor, attention_mask: Optional[torch.Tensor] = None,
                labels: Optional[torch.LongTensor] = None, user_ids: Optional[torch.LongTensor] = None,
                **kwargs) -> GenRecOutput:
        """Teacher-forced code scores of the next item; ``loss`` is TIGER's token cross-entropy (Eq. 1), the only
        objective DECOR trains with."""
        self.check_history_inputs(input_ids, attention_mask, kwargs.get("item_ids"))
        if labels is not None and labels.dim() == 3:
            raise ValueError(self.sequence_training_unsupported(self.config))
        logits = self.vocab_logits(input_ids, attention_mask, labels, user_ids)
        loss = None if labels is None else self.sid_loss(logits, labels)
        return GenRecOutput(loss=loss, logits=self.level_logits(logits))

    # ------------------------------------------------------------------ decoding
    def decoding_tables(self, decoder: T5BeamDecoder) -> Tuple[torch.Tensor, Optional[torch.Tensor], Optional[torch.Tensor]]:
        """``F``, ``W_k F`` (with composition) and the decoder's output matrix (for a head other than T5's), computed
        once and reused by every ``generate`` call until a parameter or the codebooks change."""
        tensors = list(self.parameters()) + list(self.buffers())
        key = (id(decoder), tuple((id(t), t.data_ptr(), t._version) for t in tensors))
        cached = self.__dict__.get("_decor_decoding_tables")
        if cached is None or cached[0] != key:
            table = self.static_table()
            keys = self.composition.key(table) if self.config.use_composition else None
            head = self.output_matrix(table)
            cached = (key, (table, keys, None if head is None else decoder.head_for(head)))
            self.__dict__["_decor_decoding_tables"] = cached
        return cached[1]

    def prepare_decoding(self, input_ids: torch.LongTensor, attention_mask: Optional[torch.Tensor] = None,
                         user_ids: Optional[torch.LongTensor] = None, **kwargs) -> DecorDecodingState:
        """Once per user: the encoder memory, the context and (history context) every level's composed term."""
        decoder = T5BeamDecoder.for_model(self.backbone, owner=self)
        table, keys, head = self.decoding_tables(decoder)
        embeds, mask = self._history(input_ids, attention_mask, user_ids, token_table=table)
        state = DecorDecodingState(embeds=None, memory=decoder.encode(embeds, mask), decoder=decoder, table=table,
                                   head=head)
        B = input_ids.shape[0]
        if not self.config.use_composition:
            state.embeds = table[self.config.bos_token_id].expand(B, 1, -1)
            return state
        summary = self.history_context(input_ids, attention_mask, table)
        user = self.context_pool.read(summary)
        state.embeds = self.bos_embedding(user, table, B)[:, None]
        if self.config.context == "history":
            state.compositions = self.level_compositions(user, table, keys)
        else:
            state.context = summary
            state.prefix = torch.zeros(B, 1, 0, dtype=torch.long, device=input_ids.device)
        return state

    def decode_step(self, state: DecorDecodingState, level: int, valid_mask: torch.Tensor,
                    temperature: torch.Tensor) -> torch.Tensor:
        logits, state.pending = state.decoder.step(None, state.memory, state.cache, inputs_embeds=state.embeds,
                                                   head_weight=state.head)
        return self.vocab_log_probs(logits / temperature[..., None].to(logits.dtype), level)

    def update_decoding_state(self, state: DecorDecodingState, level: int, parent: torch.Tensor,
                              codes: torch.Tensor) -> DecorDecodingState:
        """The chosen beams' next decoder input: Eq. 18 for the token just generated (``level``'s region)."""
        if level >= self.config.num_levels - 1:  # after the last level no decoder step follows
            return state
        state.cache = state.pending.select(parent)
        tokens = codes + self.token_offset_list[level]
        static = F.embedding(tokens, state.table)  # [B, W, d]
        if not self.config.use_composition:
            state.embeds = static
        elif self.config.context == "history":
            state.embeds = self.mix(state.compositions[:, level, None], static)
        else:  # each beam's context: the history and its codes before this token
            prefix = state.prefix.gather(1, parent[..., None].expand(-1, -1, state.prefix.shape[-1]))
            prefix_tokens = prefix + torch.tensor(self.token_offset_list[:level], dtype=torch.long,
                                                  device=prefix.device)
            context = self.context_pool.extend(state.context, F.embedding(prefix_tokens, state.table),
                                               torch.ones_like(prefix_tokens, dtype=torch.bool))
            state.embeds = self.mix(self.compose(self.context_pool.read(context), level, state.table), static)
            state.prefix = torch.cat([prefix, codes[..., None]], -1)
        return state

    # ------------------------------------------------------------------ analysis (Table 3)
    @torch.no_grad()
    def composition_usage(self, batches: Iterable[Dict[str, torch.Tensor]]) -> Dict[str, Any]:
        """Embedding utilisation per SID level (DECOR Table 3).

        ``assigned``: the share of a level's codes that some catalog item uses (all that TIGER trains);
        ``composed``: the share that receives more than uniform composition weight (``a_c' > 1 / K_l``, Eq. 16) for
        at least one user of ``batches`` (dicts with flat ``input_ids`` and ``attention_mask``), under the history
        context (with ``context='history_and_prefix'``, the context of each user's first target token);
        ``active``: either. Without composition only ``assigned`` counts."""
        was_training = self.training
        self.eval()
        try:
            table = self.static_table()
            sizes = self.config.codebook_sizes
            composed = [torch.zeros(size, dtype=torch.bool, device=table.device) for size in sizes]
            users = 0
            if self.config.use_composition:
                keys = self.composition.key(table)
                for batch in batches:
                    input_ids = batch["input_ids"].to(table.device)
                    mask = batch.get("attention_mask")
                    user = self.context_pool.read(self.history_context(
                        input_ids, None if mask is None else mask.to(table.device), table))
                    users += int(input_ids.shape[0])
                    for level, size in enumerate(sizes):
                        weights = self.composition.weights(user, self.level_rows(table, level),
                                                           self.level_rows(keys, level))
                        composed[level] |= (weights > 1.0 / size).any(0)
        finally:
            if was_training:
                self.train()
        levels: List[Dict[str, float]] = []
        for level, size in enumerate(sizes):
            assigned = torch.zeros(size, dtype=torch.bool)
            assigned[self.item_sids[:, level].cpu().unique()] = True
            above = composed[level].cpu()
            levels.append({"level": level, "codes": size, "assigned": float(assigned.float().mean()),
                           "composed": float(above.float().mean()), "active": float((assigned | above).float().mean())})
        return {"users": users, "levels": levels}
