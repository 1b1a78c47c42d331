"""ComeIR: conditional-memory item representations and a memory-restoring prediction head.

Paper: ``../shared/papers/comeir.md``. Per history item ``v_n`` with SID ``c_n = (c^1 .. c^L)``:

* SID-token embeddings (Eq. 2): ``e_c = W_E [e^B_c ; e^T_c]``, frozen quantizer codeword ``e^B`` and a
  learnable embedding ``e^T``;
* MM-guided token scoring (§3.2, Eq. 4): the cached item embedding ``m_n`` that produced the SID gives
  the query ``q_n = W_mm m_n``; softmax weights over the ``L`` codes yield the item context ``s^0_n``;
* intra-item Engram (§3.3, Eq. 6, 17): reads of ``(c^{<l}, c^l)`` for ``l >= 2`` with query ``s^0_n``,
  compressed by level adapters ``W^S_{C,l}``;
* inter-item Engram (App. A.3, Eq. 18-21): the level-``l`` prefixes of the history are units; the key
  is the suffix ending at ``n``; the query attends over a window of item contexts;
* memory-conditioned token merge (§3.4, Eq. 7): level-wise gated residual updates, then LN;
* backbone: a causal LM (Qwen3 / LLaMA) over the ``N`` item representations (normal GR, ``zeta_l = h_u``)
  or with ``L`` placeholders and a GRU per level (NEZHA, App. B.2.3, Eq. 40-42);
* memory-restoring head (§3.5, App. A.4, Eq. 8-11, 22-28): for every catalog-valid child ``x`` of the
  prefix, intra and inter memories are restored for the candidate, fused with the state and ``e_x``,
  and normalised over the valid children only; trained with teacher forcing (Eq. 12).

The flatten (general setting) and +TM baselines run through the same embeddings, backbone and head
(without memories); see :mod:`.configuration_comeir` for every switch. ``item_id_embedding=True`` (an hf_genrec
option, not ComeIR's method) adds a learned item-ID embedding to each history item's backbone input ``r^I_n`` (to each
of its ``L`` tokens in the flatten baseline); the memories and the head read no item id.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Tuple

import torch
from torch import nn
from torch.nn import functional as F
from transformers import DynamicCache

from ...generation.tree_decoding import TreeState, tree_extend, tree_prompt
from ...modeling_utils import GenRecOutput, GenRecPreTrainedModel, ItemFeature, history_mask
from ...modules.backbones import backbone_hidden_size, build_backbone, default_decoder_config, prompt_positions
from ...modules.item_id_embedding import ItemIdEmbedding
from ...modules.packed_targets import item_anchors, packed_target_states
from .configuration_comeir import ComeIRConfig
from .engram import (EngramMemory, default_inter_orders, inter_table_rows, intra_table_rows, prefix_units,
                     table_parameters)
from ...modules.nezha import NezhaLayerStates


@dataclass
class HistoryContext:
    """What the head needs from the history: item contexts of the window ``H_N`` (Eq. 25) and, per level,
    the last ``tau_l - 1`` prefix units (the candidate completes the transition key, Eq. 24)."""

    contexts: Optional[torch.Tensor] = None  # [B, w, d]
    context_mask: Optional[torch.Tensor] = None  # [B, w]
    units: Optional[List[torch.Tensor]] = None  # per level [B, tau_l - 1]


@dataclass
class ComeIRDecodingState:
    history: HistoryContext
    codes: torch.Tensor  # [B, W, l] generated prefix of each hypothesis
    user: Optional[torch.Tensor] = None  # h_u [B, d] (normal architecture)
    recurrent: Optional[torch.Tensor] = None  # NEZHA h_u^l per hypothesis [B, W, d]
    placeholder_states: Optional[torch.Tensor] = None  # NEZHA [B, L, d]
    tree: Optional[TreeState] = None  # prefix feedback
    zeta: Optional[torch.Tensor] = None  # state used by the last decode_step [B, W, d]


def _linear_list(count: int, n_in: int, n_out: int, bias: bool = False) -> nn.ModuleList:
    return nn.ModuleList(nn.Linear(n_in, n_out, bias=bias) for _ in range(count))


def _windows(x: torch.Tensor, width: int) -> torch.Tensor:
    """``[B, N, ...] -> [B, N, width, ...]``: the ``width`` positions ending at each ``n`` (zeros before 0)."""
    pad = [0, 0] * (x.dim() - 2) + [width - 1, 0]
    padded = F.pad(x, pad)
    return torch.stack([padded[:, j: j + x.shape[1]] for j in range(width)], 2)


class ComeIRForGenerativeRecommendation(GenRecPreTrainedModel):
    config_class = ComeIRConfig
    base_model_prefix = "comeir"
    pretrained_backbone_config = {}
    item_features = (
        ItemFeature("item_embeddings", buffer="item_embeddings", source="item_embeddings", layout="per_item",
                    width_field="item_embedding_dim", opt_out="token_scoring='mean'",
                    description="the cached multimodal item embeddings m_n of MM-guided token scoring (Eq. 4)"),
        ItemFeature("codebooks", buffer="codebook_vectors", source="quantizer_codebooks", layout="per_code",
                    width_field="codebook_embedding_dim", opt_out="codebook_embedding_dim=0",
                    description="the quantizer's frozen codewords e^B of the SID-token embeddings (Eq. 2)"),
    )

    @classmethod
    def item_feature_spec(cls, config: ComeIRConfig):
        used = {"item_embeddings": config.needs_item_embeddings, "codebooks": config.codebook_embedding_dim != 0}
        return tuple(feature for feature in cls.item_features if used[feature.name])

    @classmethod
    def sequence_training_unsupported(cls, config: ComeIRConfig):
        """Every configuration trains at sequence level: the backbone is a causal LM, and the item inputs (SID
        tokens, MM scoring, intra memory: one item; inter memory: the window ending at the item) and the head's
        history context (the window ending at the position) read no later position (see :meth:`_sequence_states`)."""
        return None

    def __init__(self, config: ComeIRConfig):
        super().__init__(config)
        backbone_config = config.backbone_config or default_decoder_config(
            config.hidden_size, config.num_layers, config.num_heads, config.intermediate_size)
        self.backbone = build_backbone(backbone_config)
        d = backbone_hidden_size(self.backbone.config)
        sizes, L = config.codebook_sizes, config.num_levels
        self.code_offset_list = config.code_offsets  # row of each level's code 0 in the per-code tables
        self.sqrt_d = math.sqrt(d)
        # Eq. 2: [frozen codeword e^B (the buffer codebook_vectors) ; learnable token embedding] -> W_E
        d_t = config.token_embedding_dim or d
        self.token_embeddings = nn.Embedding(sum(sizes), d_t)
        self.token_projection = nn.Linear((config.codebook_embedding_dim or 0) + d_t, d)
        if config.needs_item_embeddings:  # the buffer item_embeddings holds m_n
            self.mm_query = nn.Linear(config.item_embedding_dim, d, bias=False)  # W_mm
        if config.representation == "token_merge":  # +TM: concat(e_1..e_L) -> hidden size
            self.merge_tokens = nn.Linear(L * d, d)
        if config.uses_intra_memory and L > 1:
            self.intra_memory = EngramMemory(self.intra_rows(), d, config.engram_dim, config.hash_seed,
                                             config.sparse_tables, config.engram_init_std)
        if config.uses_inter_memory:
            self.inter_memory = EngramMemory(self.inter_rows(), d, config.engram_dim, config.hash_seed + 1,
                                             config.sparse_tables, config.engram_init_std)
        if config.representation == "comeir":
            if config.encode_intra and L > 1:  # W^S_{C,l}: [z_2; ..; z_l] -> d (Eq. 6)
                self.intra_adapters = nn.ModuleList(nn.Linear(level * d, d) for level in range(1, L))
            if config.encode_inter:  # W^P_{Q,l}, W^P_{K,l} (Eq. 21)
                self.transition_query = _linear_list(L, d, d)
                self.transition_key = _linear_list(L, d, d)
            if config.token_merge == "memory":  # Eq. 7
                self.merge_query = nn.Linear(d, d, bias=False)
                self.merge_key = _linear_list(L, 2 * d, d)
                self.merge_value = _linear_list(L, 2 * d, d)
                self.merge_bias = nn.Parameter(torch.zeros(L))
            else:  # "w/o Mem. Merge": one linear layer over [s^0; u_1; ...; u_L]
                self.linear_merge = nn.Linear(d + 2 * L * d, d)
            self.output_norm = nn.LayerNorm(d)
        # memory-restoring prediction head (Eq. 8-10, 27)
        self.head_state = _linear_list(L, d, d)  # W_{H,l}
        self.head_code = _linear_list(L, d, d)  # W_{C,l}
        self.head_norm = nn.ModuleList(nn.LayerNorm(d) for _ in range(L))
        self.head_out = _linear_list(L, d, 1)  # w_l
        if config.decode_intra and L > 1:
            self.head_intra = _linear_list(L - 1, d, d)  # W_{S,l} for levels 2..L (no intra memory at level 1)
        if config.decode_inter:
            self.head_inter = _linear_list(L, d, d)  # W_{T,l}
            self.decode_query = _linear_list(L, d, d)  # W^D_{Q,l} (Eq. 25)
            self.decode_key = _linear_list(L, d, d)  # W^D_{K,l}
        if config.architecture == "nezha":
            self.nezha = NezhaLayerStates(L, d, self._transition_input_size(d), config.init_std,
                                          config.nezha_cell)
        # everything outside the backbone and the hash tables (which keep engram_init_std): N(0, init_std)
        self.init_added_modules(config.init_std, skip=("intra_memory.table", "inter_memory.table"))
        if config.item_id_embedding:  # registered last: the other modules' initialisation is unchanged
            self.item_id_embeddings = ItemIdEmbedding(config.num_items, d, std=config.init_std)
        self.post_init()

    # ------------------------------------------------------------------ construction
    def _transition_input_size(self, d: int) -> int:
        with_memory = self.config.nezha_transition_input == "code_and_inter_memory" and self.config.decode_inter
        return 2 * d if with_memory else d

    @property
    def inter_orders(self) -> List[int]:
        return list(self.config.inter_orders or default_inter_orders(self.config.num_levels))

    def intra_rows(self):
        c = self.config
        return intra_table_rows(c.codebook_sizes, c.intra_scale, c.intra_base, c.intra_heads, c.intra_max_order,
                                c.max_buckets)

    def inter_rows(self):
        c = self.config
        return inter_table_rows(c.codebook_sizes, c.inter_scale, c.inter_base, c.inter_heads, self.inter_orders,
                                c.max_buckets)

    def table_parameter_counts(self) -> dict:
        """``P_S`` and ``P_T`` (Eq. 34, 38) of this configuration (computed, nothing allocated)."""
        c = self.config
        return {"P_S": table_parameters(self.intra_rows(), c.engram_dim) if c.num_levels > 1 else 0,
                "P_T": table_parameters(self.inter_rows(), c.engram_dim)}

    # ------------------------------------------------------------------ Eq. 2 and Eq. 4
    def embed_codes(self, global_ids: torch.Tensor) -> torch.Tensor:
        """``e_c = W_E [e^B_c ; e^T_c]`` (Eq. 2) for global code ids (level offset + code)."""
        parts = [self.token_embeddings(global_ids)]
        if self.config.codebook_embedding_dim:
            parts.insert(0, self.codebook_vectors[global_ids].to(parts[0].dtype))
        return self.token_projection(torch.cat(parts, -1))

    def level_code_embeddings(self, level: int) -> torch.Tensor:
        """``e_x`` of every code ``x`` of one level ``[K_l, d]``."""
        start = self.code_offset_list[level]
        return self.embed_codes(torch.arange(start, start + self.config.codebook_sizes[level], device=self.device))

    def item_token_embeddings(self, items: torch.Tensor) -> torch.Tensor:
        """``R^S_n = [e_{c^1}, ..., e_{c^L}]`` for item ids ``[...]`` -> ``[..., L, d]``."""
        offsets = torch.tensor(self.code_offset_list, device=items.device)
        return self.embed_codes(self.item_sids[items] + offsets)

    def item_contexts(self, items: torch.Tensor, tokens: torch.Tensor, return_weights: bool = False):
        """``s^0_n`` (Eq. 4): MM-guided softmax weights over the codes, or their mean ("w/o MM-Scoring")."""
        if self.config.token_scoring == "mm":
            query = self.mm_query(self.item_embeddings[items].to(tokens.dtype))
            weights = torch.softmax((tokens @ query[..., None]).squeeze(-1) / self.sqrt_d, dim=-1)
        else:
            weights = torch.full(tokens.shape[:-1], 1.0 / tokens.shape[-2], dtype=tokens.dtype, device=tokens.device)
        contexts = (weights[..., None] * tokens).sum(-2)
        return (contexts, weights) if return_weights else contexts

    # ------------------------------------------------------------------ Eq. 6 (intra) and Eq. 18-21 (inter)
    def intra_item_memory(self, items: torch.Tensor, contexts: torch.Tensor) -> torch.Tensor:
        """``bar eta^S_{n,l}`` ``[U, L, d]`` (Eq. 6; zero at level 1 and when E-intra is off)."""
        U, L = items.shape[0], self.config.num_levels
        out = contexts.new_zeros(U, L, contexts.shape[-1])
        if not (self.config.encode_intra and L > 1):
            return out
        units = self.item_sids[items] + 1  # codes as positive units (0 = absent)
        query = self.intra_memory.project_query
        reads = []
        for level in range(1, L):
            reads.append(self.intra_memory.read(level, None, units[:, : level + 1],
                                                projected_query=query(level, contexts)))
            out[:, level] = self.intra_adapters[level - 1](torch.cat(reads, -1))
        return out

    def history_units(self, item_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Prefix units ``[B, N, L]`` of the history (``C^{<=l}``, Eq. 18); 0 at padded positions."""
        codes = self.item_sids[item_ids.clamp(min=0)]
        units = torch.stack([prefix_units(codes[..., : level + 1], self.config.codebook_sizes,
                                          self.config.max_unit_domain) for level in range(self.config.num_levels)], -1)
        return units * mask[..., None]

    def transition_queries(self, level: int, contexts: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``q^T_{n,l}`` (Eq. 21): attention of ``s^0_n`` over the window ``H_n`` of item contexts."""
        w = self.config.inter_window
        window = _windows(contexts, w)  # [B, N, w, d]
        window_mask = _windows(mask, w).clone()
        window_mask[..., -1] = True  # position n itself (keeps padded rows finite; they are masked later)
        q = self.transition_query[level](contexts)
        k = self.transition_key[level](window)
        scores = (k @ q[..., None]).squeeze(-1) / self.sqrt_d
        weights = torch.softmax(scores.masked_fill(~window_mask, float("-inf")), dim=-1)
        return (weights[..., None] * window).sum(-2)

    def inter_item_memory(self, contexts: torch.Tensor, mask: torch.Tensor, units: torch.Tensor) -> torch.Tensor:
        """``eta^T_{n,l}`` ``[B, N, L, d]`` (App. A.3): transition keys ``Suffix_tau(C^{<=l}, n)`` (Eq. 20)."""
        B, N, d = contexts.shape
        out = contexts.new_zeros(B, N, self.config.num_levels, d)
        if not self.config.encode_inter:
            return out
        for level, tau in enumerate(self.inter_orders):
            pattern = _windows(units[..., level], tau)  # [B, N, tau], absent = 0
            query = self.transition_queries(level, contexts, mask)
            read = self.inter_memory.read(level, query.reshape(B * N, d), pattern.reshape(B * N, tau))
            out[:, :, level] = self.drop_inter_reads(read, B * N).view(B, N, d)
        return out

    def drop_inter_reads(self, reads: torch.Tensor, states: int,
                         state_of_read: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``inter_memory_dropout`` (hf_genrec's option, not in the paper): in training, zero all reads of a
        state with probability ``p`` and scale the kept ones by ``1 / (1 - p)``. ``reads [M, d]`` belong to
        ``states`` states (``state_of_read [M]`` says which; ``None``: one read per state)."""
        p = self.config.inter_memory_dropout
        if not self.training or p == 0.0:
            return reads
        keep = (torch.rand(states, 1, device=reads.device) >= p).to(reads.dtype) / (1.0 - p)
        return reads * (keep if state_of_read is None else keep.index_select(0, state_of_read))

    def merge(self, contexts: torch.Tensor, intra: torch.Tensor, inter: torch.Tensor) -> torch.Tensor:
        """``r^I_n = LN(s^L_n)`` with level-wise gated residual updates (Eq. 7), or the linear ablation."""
        memories = torch.cat([intra, inter], -1)  # u_{n,l} = [bar eta^S ; eta^T]  [..., L, 2d]
        if self.config.token_merge == "linear":
            return self.output_norm(self.linear_merge(torch.cat([contexts, memories.flatten(-2)], -1)))
        summary = contexts
        for level in range(self.config.num_levels):
            u = memories[..., level, :]
            gate = torch.sigmoid((self.merge_query(summary) * self.merge_key[level](u)).sum(-1, keepdim=True)
                                 + self.merge_bias[level])
            summary = summary + gate * self.merge_value[level](u)
        return self.output_norm(summary)

    # ------------------------------------------------------------------ representation of the history
    def encode_history(self, item_ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None,
                       every_position: bool = False):
        """Backbone inputs ``R`` ``[B, T, d]`` with their mask, and the :class:`HistoryContext` for the head.

        ``every_position``: the context of every position instead of the last one (sequence-level training): the
        item contexts and the mask of all ``N`` positions ``[B, N, d]``, ``[B, N]``, and ``units`` the prefix units
        ``[B, N, L]`` (one tensor); :meth:`position_contexts` cuts each position's window from them."""
        self.check_item_features()
        mask = history_mask(item_ids, attention_mask)
        B, N = item_ids.shape
        L = self.config.num_levels
        unique, inverse = torch.unique(item_ids[mask], return_inverse=True)
        tokens = self.item_token_embeddings(unique)  # [U, L, d]
        d = tokens.shape[-1]
        history = HistoryContext()
        ids = 0.0  # item_id_embedding: each item's ID embedding (zero at padding), added to its backbone input
        if self.config.item_id_embedding:
            ids = self.item_id_embeddings(item_ids.masked_fill(~mask, -1)).to(tokens.dtype)
        if self.config.representation == "flatten":
            embeds = tokens.new_zeros(B, N, L, d)
            embeds[mask] = tokens[inverse]
            if self.config.item_id_embedding:
                embeds = embeds + ids[:, :, None]
            return embeds.reshape(B, N * L, d), mask.repeat_interleave(L, dim=1), history
        if self.config.representation == "token_merge":
            embeds = tokens.new_zeros(B, N, d)
            embeds[mask] = self.merge_tokens(tokens.flatten(1))[inverse]
            return embeds + ids, mask, history
        item_context = self.item_contexts(unique, tokens)
        intra = self.intra_item_memory(unique, item_context)
        contexts = tokens.new_zeros(B, N, d)
        contexts[mask] = item_context[inverse]
        intra_seq = tokens.new_zeros(B, N, L, d)
        intra_seq[mask] = intra[inverse]
        units = self.history_units(item_ids, mask)
        inter = self.inter_item_memory(contexts, mask, units)
        embeds = self.merge(contexts, intra_seq, inter) * mask[..., None] + ids
        if every_position:
            return embeds, mask, HistoryContext(contexts=contexts, context_mask=mask, units=units)
        w = self.config.inter_window
        padded = F.pad(units, (0, 0, max(self.inter_orders), 0))  # absent (0) units before short histories
        width = padded.shape[1]
        history = HistoryContext(contexts=contexts[:, -w:], context_mask=mask[:, -w:],
                                 units=[padded[:, width - (tau - 1):, level] for level, tau in enumerate(self.inter_orders)])
        return embeds, mask, history

    def position_contexts(self, history: HistoryContext, has_target: torch.Tensor) -> HistoryContext:
        """The :class:`HistoryContext` of each position with a target (``has_target [B, N]``, ``M`` of them) from
        ``encode_history(..., every_position=True)``: the ``inter_window`` item contexts ending at the position and, per
        level, the ``tau_l - 1`` prefix units ending there (absent = 0 before the history), as the prefix example
        ending at that position gets them."""
        if history.contexts is None:  # the baselines have no memories
            return history
        contexts = _windows(history.contexts, self.config.inter_window)[has_target]  # [M, w, d]
        context_mask = _windows(history.context_mask, self.config.inter_window)[has_target]
        units = []
        for level, tau in enumerate(self.inter_orders):
            level_units = history.units[..., level]
            if tau > 1:
                units.append(_windows(level_units, tau - 1)[has_target])
            else:
                units.append(level_units.new_zeros(int(has_target.sum()), 0))
        return HistoryContext(contexts=contexts, context_mask=context_mask, units=units)

    def _run_backbone(self, embeds: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.backbone(inputs_embeds=embeds, attention_mask=mask.long(),
                             position_ids=prompt_positions(mask)).last_hidden_state

    # ------------------------------------------------------------------ memory-restoring head
    def decode_queries(self, level: int, zeta: torch.Tensor, history: HistoryContext) -> torch.Tensor:
        """``q^D_{u,l}`` (Eq. 25): the state attends over the recent item contexts ``H_N``; ``[B, W, d]``."""
        q = self.decode_query[level](zeta)  # [B, W, d]
        k = self.decode_key[level](history.contexts)  # [B, w, d]
        scores = (q @ k.transpose(1, 2)) / self.sqrt_d
        weights = torch.softmax(scores.masked_fill(~history.context_mask[:, None, :], float("-inf")), dim=-1)
        return weights @ history.contexts

    def restored_memory(self, level: int, zeta: torch.Tensor, prefixes: torch.Tensor, history: HistoryContext,
                        rows: Optional[Tuple[torch.Tensor, torch.Tensor]] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """Candidate-specific memories for full candidate prefixes ``[M, l+1]`` (Eq. 23, 26).

        ``zeta [B, W, d]`` and ``rows = (b, w)`` (each ``[M]``) say whose state each candidate extends.
        Returns ``(bar eta^S, eta^T)``, each ``[M, d]`` (zeros where the memory is off).
        """
        B, W, d = zeta.shape
        b, w = rows
        flat = b * W + w
        intra = zeta.new_zeros(len(b), d)
        inter = zeta.new_zeros(len(b), d)
        if self.config.decode_intra and level > 0:  # Eq. 23: R_l(zeta_l, (c^{<l}, x))
            projected = self.intra_memory.project_query(level, zeta.reshape(B * W, d))
            intra = self.intra_memory.read(level, None, prefixes + 1, query_index=flat, projected_query=projected)
        if self.config.decode_inter:  # Eq. 25-26
            query = self.decode_queries(level, zeta, history).reshape(B * W, d)
            unit = prefix_units(prefixes, self.config.codebook_sizes, self.config.max_unit_domain)
            pattern = torch.cat([history.units[level][b], unit[:, None]], 1)
            projected = self.inter_memory.project_query(level, query)
            inter = self.inter_memory.read(level, None, pattern, query_index=flat, projected_query=projected)
            inter = self.drop_inter_reads(inter, B * W, flat)  # one draw per state, shared by its candidates
        return intra, inter

    def candidate_logits(self, level: int, zeta: torch.Tensor, prefix: torch.Tensor, valid: torch.Tensor,
                         history: HistoryContext) -> torch.Tensor:
        """``psi_l(x)`` (Eq. 10) for every valid child ``x``; ``-inf`` elsewhere. Shapes: ``zeta [B, W, d]``,
        ``prefix [B, W, l]`` (generated codes), ``valid [B, W, K_l]`` -> ``[B, W, K_l]`` (float32)."""
        b, w, x = valid.nonzero(as_tuple=True)
        prefixes = torch.cat([prefix[b, w], x[:, None]], 1)
        intra, inter = self.restored_memory(level, zeta, prefixes, history, (b, w))
        memory = 0.0  # mu_l(x), Eq. 27
        if self.config.decode_intra and level > 0:
            memory = memory + self.head_intra[level - 1](intra)
        if self.config.decode_inter:
            memory = memory + self.head_inter[level](inter)
        state = self.head_state[level](zeta).flatten(0, 1).index_select(0, b * zeta.shape[1] + w)
        code = self.head_code[level](self.level_code_embeddings(level).to(zeta.dtype)).index_select(0, x)
        scores = self.head_out[level](self.head_norm[level](state + code + memory)).squeeze(-1)
        logits = torch.full(valid.shape, float("-inf"), dtype=torch.float32, device=zeta.device)
        logits[b, w, x] = scores.float()
        return logits

    def transition_input(self, level: int, zeta: torch.Tensor, prefixes: torch.Tensor,
                         history: HistoryContext) -> torch.Tensor:
        """NEZHA's ``Delta_l(c^l)`` input (Eq. 42) for generated prefixes ``[B, W, l+1]``: the code embedding,
        with the restored inter-item memory of the generated prefix (``"code_and_inter_memory"``)."""
        B, W, _ = prefixes.shape
        code = self.level_code_embeddings(level)[prefixes[..., -1]]
        if self._transition_input_size(code.shape[-1]) == code.shape[-1]:
            return code
        b = torch.arange(B, device=zeta.device).repeat_interleave(W)
        w = torch.arange(W, device=zeta.device).repeat(B)
        _, inter = self.restored_memory(level, zeta, prefixes.reshape(B * W, -1), history, (b, w))
        return torch.cat([code, inter.view(B, W, -1)], -1)

    # ------------------------------------------------------------------ training (Eq. 12)
    def forward(self, item_ids: Optional[torch.LongTensor] = None, attention_mask: Optional[torch.Tensor] = None,
                labels: Optional[torch.LongTensor] = None, input_ids: Optional[torch.Tensor] = None,
                **kwargs) -> GenRecOutput:
        """Teacher-forced ``loss`` (Eq. 12, mean over the batch's SID tokens) and ``logits [B, L, K_max]``: the head's
        scores ``psi_l`` (Eq. 10) of the catalog-valid children of the ground-truth prefix (``-inf`` elsewhere);
        without labels the first level's ``[B, 1, K_max]``.

        Sequence-level batches (``labels [B, N, L]``): the states of every position with a target come from one backbone
        pass (:meth:`_sequence_states`), each with its own window of history contexts (:meth:`position_contexts`), and
        the head runs on all ``M`` of them as one batch; the loss is that of the ``M`` prefix examples, ``logits``
        ``[M, L, K_max]``."""
        self.check_history_inputs(input_ids, attention_mask, item_ids)
        has_target = self.sequence_targets(labels, None)
        if has_target is not None:  # sequence level: every position with a target, one backbone pass
            embeds, mask, history = self.encode_history(item_ids, attention_mask, every_position=True)
            zetas = self._sequence_states(embeds, mask, labels, has_target)
            return self._head(zetas, labels[has_target], self.position_contexts(history, has_target))
        embeds, mask, history = self.encode_history(item_ids, attention_mask)
        zetas = self._teacher_forced_states(embeds, mask, labels)
        return self._head(zetas, labels, history, batch_size=embeds.shape[0])

    def _head(self, zetas: dict, labels: Optional[torch.Tensor], history: HistoryContext,
              batch_size: Optional[int] = None) -> GenRecOutput:
        """The memory-restoring head over the states ``zetas`` of ``B`` examples (one per row of ``labels``): per-level
        logits and, with labels, the teacher-forced loss (Eq. 12)."""
        device = self.item_sids.device
        B = labels.shape[0] if labels is not None else batch_size
        codes = labels if labels is not None else torch.zeros(B, 0, dtype=torch.long, device=device)
        levels = self.config.num_levels if labels is not None else 1
        trie = self.catalog_trie(device)
        node = torch.zeros(B, dtype=torch.long, device=device)
        losses, all_logits = [], []
        recurrent = zetas.get("user")
        for level in range(levels):
            if bool((node < 0).any()):
                raise ValueError("a target SID is not in the model's catalog")
            valid = trie.valid_children_mask(level, node)[:, None, :]
            if self.config.architecture == "nezha":
                zeta = self.nezha.layer_state(recurrent, zetas["placeholders"], level)
            else:
                zeta = zetas["levels"][level]
            logits = self.candidate_logits(level, zeta, codes[:, None, :level], valid, history)[:, 0]
            all_logits.append(logits)
            if labels is None:
                break
            log_probs = torch.log_softmax(logits, dim=-1)
            losses.append(F.nll_loss(log_probs.masked_fill(~valid[:, 0], 0.0), labels[:, level]))
            if self.config.architecture == "nezha" and level < levels - 1:
                step_input = self.transition_input(level, zeta, labels[:, None, : level + 1], history)
                recurrent = self.nezha.advance(level, step_input, recurrent)
            node = trie.next_prefix(level, node, labels[:, level])
        logits = self.pad_levels(all_logits, max(self.config.codebook_sizes))
        if labels is None:
            return GenRecOutput(logits=logits)
        return GenRecOutput(loss=torch.stack(losses).mean(), logits=logits,
                            loss_terms={f"level_{i + 1}": l.detach() for i, l in enumerate(losses)})

    def _sequence_states(self, embeds: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor,
                         has_target: torch.Tensor) -> dict:
        """:meth:`_teacher_forced_states` of every position with a target (``labels [B, N, L]``, ``has_target [B, N]``)
        in one backbone pass, each equal to that of the prefix example ending at the position: the backbone state at
        the position's last history token (``h_u``); with prefix feedback (the ground-truth ``c^1 .. c^{L-1}``) or NEZHA
        (the ``L`` placeholders) each position's segment is packed after the history and reads the history up to
        the position only (:mod:`hf_genrec.modules.packed_targets`)."""
        L = self.config.num_levels
        B, N = has_target.shape
        per_item = embeds.shape[1] // N  # L tokens per item in the flatten representation, else 1
        anchors = item_anchors(N, per_item, B, device=embeds.device)
        if self.config.architecture == "nezha":
            segments = self.nezha.placeholders.to(embeds.dtype)[None, None].expand(B, N, L, -1)
        elif self.config.prefix_feedback and L > 1:
            offsets = torch.tensor(self.code_offset_list[: L - 1], device=labels.device)
            segments = self.embed_codes(labels[..., : L - 1].clamp(min=0) + offsets).to(embeds.dtype)
        else:
            user = self._run_backbone(embeds, mask).gather(1, anchors[..., None].expand(-1, -1, embeds.shape[-1]))
            return {"levels": [user[has_target][:, None]] * L}
        hidden, segment_states = packed_target_states(self.backbone, embeds, mask, anchors, segments)
        user = hidden.gather(1, anchors[..., None].expand(-1, -1, hidden.shape[-1]))[has_target]  # [M, d]
        segment_states = segment_states[has_target]  # [M, S, d]
        if self.config.architecture == "nezha":
            return {"user": user[:, None], "placeholders": segment_states}
        states = torch.cat([user[:, None], segment_states], 1)  # [M, L, d]
        return {"levels": [states[:, level, None] for level in range(L)]}

    def _teacher_forced_states(self, embeds: torch.Tensor, mask: torch.Tensor, labels: Optional[torch.Tensor]) -> dict:
        """``zeta_l`` for every level under teacher forcing (normal / prefix feedback) or NEZHA's inputs; without
        labels the first level's."""
        L = self.config.num_levels
        if self.config.architecture == "nezha":
            hidden = self._run_backbone(*self.nezha.append_placeholders(embeds, mask))
            user, placeholders = self.nezha.split(hidden)
            return {"user": user[:, None], "placeholders": placeholders}
        if self.config.prefix_feedback and labels is not None:  # standard GR: the backbone reads the ground-truth prefix
            offsets = torch.tensor(self.code_offset_list[: L - 1], device=labels.device)
            prefix = self.embed_codes(labels[:, : L - 1] + offsets).to(embeds.dtype)
            full_mask = torch.cat([mask, torch.ones_like(labels[:, : L - 1], dtype=torch.bool)], 1)
            hidden = self._run_backbone(torch.cat([embeds, prefix], 1), full_mask)
            states = hidden[:, -L:]
            return {"levels": [states[:, level, None] for level in range(L)]}
        user = self._run_backbone(embeds, mask)[:, -1, None]
        return {"levels": [user] * L}

    # ------------------------------------------------------------------ decoding protocol (App. B.3, Alg. 2)
    def prepare_decoding(self, item_ids: torch.LongTensor, attention_mask: Optional[torch.Tensor] = None,
                         **kwargs) -> ComeIRDecodingState:
        """Build ``R^I`` and run the backbone once per user."""
        embeds, mask, history = self.encode_history(item_ids, attention_mask)
        B = embeds.shape[0]
        state = ComeIRDecodingState(history=history, codes=torch.zeros(B, 1, 0, dtype=torch.long, device=embeds.device))
        if self.config.architecture == "nezha":
            hidden = self._run_backbone(*self.nezha.append_placeholders(embeds, mask))
            user, state.placeholder_states = self.nezha.split(hidden)
            state.recurrent = user[:, None]  # h_u^1 = h_u
        elif self.config.prefix_feedback:
            state.tree = tree_prompt(self.backbone, embeds, mask, DynamicCache(config=self.backbone.config))
        else:
            state.user = self._run_backbone(embeds, mask)[:, -1]
        return state

    def decode_step(self, state: ComeIRDecodingState, level: int, valid_mask: torch.Tensor,
                    temperature: torch.Tensor) -> torch.Tensor:
        B, W, _ = valid_mask.shape
        if self.config.architecture == "nezha":
            zeta = self.nezha.layer_state(state.recurrent, state.placeholder_states, level)
        elif self.config.prefix_feedback:
            zeta = state.tree.hidden
        else:
            zeta = state.user[:, None, :].expand(B, W, -1)
        state.zeta = zeta
        logits = self.candidate_logits(level, zeta, state.codes, valid_mask, state.history)
        log_probs = torch.log_softmax(logits / temperature[..., None].float(), dim=-1)  # over valid codes (Eq. 11)
        return torch.nan_to_num(log_probs, nan=float("-inf"))

    def update_decoding_state(self, state: ComeIRDecodingState, level: int, parent: torch.Tensor,
                              codes: torch.Tensor) -> ComeIRDecodingState:
        prefixes = torch.cat([state.codes.gather(1, parent[..., None].expand(-1, -1, level)), codes[..., None]], 2)
        if level < self.config.num_levels - 1:
            if self.config.architecture == "nezha":  # each hypothesis advances its own recurrent state (Eq. 42)
                index = parent[..., None].expand(-1, -1, state.recurrent.shape[-1])
                zeta = state.zeta.gather(1, index)
                step_input = self.transition_input(level, zeta, prefixes, state.history)
                state.recurrent = self.nezha.advance(level, step_input, state.recurrent.gather(1, index))
            elif self.config.prefix_feedback:
                tokens = self.level_code_embeddings(level)[codes].to(state.tree.hidden.dtype)
                state.tree = tree_extend(self.backbone, state.tree, parent, tokens)
        state.codes = prefixes
        return state
