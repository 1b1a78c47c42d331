"""TIGER-style generative retrieval with flattened semantic IDs (Rajput et al. 2023).

The history is the concatenation of its items' SIDs (``L`` tokens per item); the model predicts the
``L`` codes of the next item token by token.

* ``encoder_decoder``: T5 encoder over the history, T5 decoder over ``<bos> c^1 .. c^{L-1}``.
  Decoding shares each user's encoder states across beams (:mod:`hf_genrec.modules.t5_beam_decoder`).
* ``decoder_only``: a causal LM over ``history <bos> c^1 .. c^{L-1}`` with new SID embeddings and
  head; decoding uses tree attention over one prompt cache (:mod:`hf_genrec.modules.tree_decoding`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional

import torch
from torch import nn
from torch.nn import functional as F
from transformers import DynamicCache, T5ForConditionalGeneration

from ...modeling_utils import GenRecOutput, GenRecPreTrainedModel
from ...modules.backbones import (backbone_config_dict, backbone_hidden_size, build_backbone, config_from_dict,
                                  default_decoder_config, load_pretrained_backbone)
from ...modules.t5_beam_decoder import DecoderCache, EncoderMemory, T5BeamDecoder
from ...modules.tree_decoding import TreeState, prompt_positions, tree_extend, tree_prompt
from .configuration_tiger import TigerConfig


@dataclass
class TigerDecodingState:
    tokens: Optional[torch.Tensor] = None  # encoder-decoder: next decoder input of each beam [B, W, 1]
    memory: Optional[EncoderMemory] = None
    cache: Optional[DecoderCache] = None  # where each beam's self-attention keys/values live, after beam selection
    pending: Optional[DecoderCache] = None  # the same including the last step, before beam selection
    decoder: Optional[T5BeamDecoder] = None
    tree: Optional[TreeState] = None  # decoder-only


class TigerForGenerativeRecommendation(GenRecPreTrainedModel):
    config_class = TigerConfig
    base_model_prefix = "tiger"

    def __init__(self, config: TigerConfig):
        super().__init__(config)
        vocab = config.sid_vocab_size
        self.level_offset_list = [3 + sum(config.codebook_sizes[:l]) for l in range(config.num_levels)]
        if config.architecture == "encoder_decoder":
            t5_config = dict(config.backbone_config or config.t5_config_dict())
            t5_config.update(vocab_size=vocab, model_type="t5")
            self.backbone = T5ForConditionalGeneration(config_from_dict(t5_config))
            hidden = self.backbone.config.d_model
        else:
            backbone_config = config.backbone_config or default_decoder_config(config.d_model, config.num_layers,
                                                                               max(1, config.num_heads))
            self.backbone = build_backbone(backbone_config)
            hidden = backbone_hidden_size(self.backbone.config)
            self.sid_embeddings = nn.Embedding(vocab, hidden)
            self.sid_head = nn.Linear(hidden, vocab, bias=False)
        if config.user_hash_buckets:
            self.user_embeddings = nn.Embedding(config.user_hash_buckets, hidden)
        self._init_new_weights()
        self.post_init()

    @torch.no_grad()
    def _init_new_weights(self) -> None:
        """The modules hf_genrec adds get N(0, 0.02). The T5 backbone ties its head to the SID token embeddings
        without output rescaling; that shared table starts at N(0, d_model^-1) so the initial logits are O(1)
        (T5's own N(0, 1) init gives logits of scale sqrt(d_model) and trains markedly slower here)."""
        for name in ("sid_embeddings", "sid_head", "user_embeddings"):
            if hasattr(self, name):
                nn.init.normal_(getattr(self, name).weight, std=0.02)
        if self.config.architecture == "encoder_decoder":
            nn.init.normal_(self.backbone.shared.weight, std=self.backbone.config.d_model ** -0.5)

    def _init_weights(self, module):
        if module is self:  # transformers' post_init hook; the backbone initialises itself
            return

    # ------------------------------------------------------------------ construction helpers
    @classmethod
    def from_backbone(cls, name_or_path: str, codebook_sizes, num_items: int, **config_kwargs) -> "TigerForGenerativeRecommendation":
        """Decoder-only TIGER on a pretrained causal LM (``"Qwen/Qwen3-0.6B"``, ``"meta-llama/Llama-3.2-1B"`` or a
        local folder): the backbone weights are loaded once and saved with the model afterwards."""
        if config_kwargs.pop("architecture", "decoder_only") != "decoder_only":
            raise ValueError("a pretrained causal-LM backbone needs architecture='decoder_only'")
        config = TigerConfig(architecture="decoder_only", codebook_sizes=codebook_sizes, num_items=num_items,
                             backbone_config=backbone_config_dict(name_or_path), backbone_name_or_path=name_or_path,
                             **config_kwargs)
        model = cls(config)
        model.backbone.load_state_dict(load_pretrained_backbone(name_or_path).state_dict())
        return model

    def backbone_sid_parameters(self):
        """Backbone parameters that are SID embeddings (trainable under LoRA / a frozen backbone)."""
        return ["shared.weight"] if self.config.architecture == "encoder_decoder" else []

    # ------------------------------------------------------------------ shared pieces
    @property
    def level_offsets(self) -> torch.Tensor:
        """Token id of code 0 of each level (a plain tensor, not a buffer: it follows from the config)."""
        return torch.tensor(self.level_offset_list, dtype=torch.long, device=self.item_sids.device)

    def _embed(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.config.architecture == "encoder_decoder":
            return self.backbone.shared(tokens)
        return self.sid_embeddings(tokens)

    def _history(self, input_ids: torch.Tensor, attention_mask: Optional[torch.Tensor], user_ids: Optional[torch.Tensor],
                 token_table: Optional[torch.Tensor] = None):
        """History embeddings and mask, with TIGER's hashed user token in front when configured. ``token_table``
        replaces the module call for the SID tokens (the fast T5 decoder's own copy of the table)."""
        if attention_mask is None:
            attention_mask = (input_ids != self.config.pad_token_id).long()
        embeds = self._embed(input_ids) if token_table is None else F.embedding(input_ids, token_table)
        if self.config.user_hash_buckets:
            if user_ids is None:
                raise ValueError("this model prepends a hashed user token: pass user_ids")
            user = self.user_embeddings(user_ids.long() % self.config.user_hash_buckets)[:, None]
            embeds = torch.cat([user, embeds], 1)
            attention_mask = torch.cat([torch.ones_like(attention_mask[:, :1]), attention_mask], 1)
        return embeds, attention_mask

    def _logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.sid_head(hidden)

    def level_log_probs(self, logits: torch.Tensor, level: int) -> torch.Tensor:
        """Log-probabilities of level ``level``'s codes from full-vocabulary logits ``[..., V]``."""
        start, size = self.level_offset_list[level], self.config.codebook_sizes[level]
        if self.config.loss_vocabulary == "vocab":
            return F.log_softmax(logits.float(), dim=-1)[..., start:start + size]
        return F.log_softmax(logits[..., start:start + size].float(), dim=-1)

    def sid_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the target codes ``labels [B, L]`` (``-100`` ignored) under ``logits [B, L, V]``."""
        if self.config.loss_vocabulary == "vocab":
            targets = torch.where(labels >= 0, labels + self.level_offsets, torch.full_like(labels, -100))
            return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=-100)
        losses = [F.cross_entropy(self.level_log_probs(logits[:, level], level), labels[:, level], ignore_index=-100,
                                  reduction="sum") for level in range(self.config.num_levels)]
        return torch.stack(losses).sum() / (labels >= 0).sum().clamp(min=1)

    # ------------------------------------------------------------------ training forward
    def forward(self, input_ids: torch.LongTensor, attention_mask: Optional[torch.Tensor] = None,
                labels: Optional[torch.LongTensor] = None, user_ids: Optional[torch.LongTensor] = None,
                **kwargs) -> GenRecOutput:
        """Teacher-forced logits ``[B, L, V]`` of the next item's SID tokens; ``loss`` when ``labels`` (codes) are given."""
        if labels is None:
            raise ValueError("TIGER's forward needs the target SID codes as labels [B, L] (use generate() to decode)")
        embeds, mask = self._history(input_ids, attention_mask, user_ids)
        B, L = labels.shape
        target_tokens = labels.clamp(min=0) + self.level_offsets
        bos = torch.full((B, 1), self.config.bos_token_id, dtype=torch.long, device=labels.device)
        decoder_inputs = torch.cat([bos, target_tokens[:, :-1]], 1)
        if self.config.architecture == "encoder_decoder":
            out = self.backbone(inputs_embeds=embeds, attention_mask=mask, decoder_input_ids=decoder_inputs)
            logits = out.logits
        else:
            sequence = torch.cat([embeds, self._embed(decoder_inputs)], 1)
            full_mask = torch.cat([mask, torch.ones(B, L, dtype=mask.dtype, device=mask.device)], 1)
            hidden = self.backbone(inputs_embeds=sequence, attention_mask=full_mask,
                                   position_ids=prompt_positions(full_mask)).last_hidden_state
            logits = self._logits(hidden[:, -L:])
        return GenRecOutput(loss=self.sid_loss(logits, labels), logits=logits)

    # ------------------------------------------------------------------ decoding protocol
    def prepare_decoding(self, input_ids: torch.LongTensor, attention_mask: Optional[torch.Tensor] = None,
                         user_ids: Optional[torch.LongTensor] = None, **kwargs) -> TigerDecodingState:
        B = input_ids.shape[0]
        bos = torch.full((B, 1, 1), self.config.bos_token_id, dtype=torch.long, device=input_ids.device)
        if self.config.architecture == "encoder_decoder":
            decoder = T5BeamDecoder.for_model(self.backbone, owner=self)
            embeds, mask = self._history(input_ids, attention_mask, user_ids, token_table=decoder.embed_weight)
            return TigerDecodingState(tokens=bos, memory=decoder.encode(embeds, mask), decoder=decoder)
        embeds, mask = self._history(input_ids, attention_mask, user_ids)
        prompt = torch.cat([embeds, self._embed(bos[:, 0])], 1)
        prompt_mask = torch.cat([mask, torch.ones_like(mask[:, :1])], 1)
        cache = DynamicCache(config=self.backbone.config)
        return TigerDecodingState(tree=tree_prompt(self.backbone, prompt, prompt_mask, cache))

    def decode_step(self, state: TigerDecodingState, level: int, valid_mask: torch.Tensor,
                    temperature: torch.Tensor) -> torch.Tensor:
        if self.config.architecture == "encoder_decoder":
            logits, state.pending = state.decoder.step(state.tokens, state.memory, state.cache)
        else:
            logits = self._logits(state.tree.hidden)
        return self.level_log_probs(logits / temperature[..., None].to(logits.dtype), level)

    def update_decoding_state(self, state: TigerDecodingState, level: int, parent: torch.Tensor,
                              codes: torch.Tensor) -> TigerDecodingState:
        tokens = codes + self.level_offset_list[level]
        if self.config.architecture == "encoder_decoder":
            if level < self.config.num_levels - 1:  # after the last level no decoder step follows
                state.cache = state.pending.select(parent)
                state.tokens = tokens[..., None]
        elif level < self.config.num_levels - 1:
            state.tree = tree_extend(self.backbone, state.tree, parent, self._embed(tokens))
        return state
