"""Beam decoding with a Hugging Face T5 whose encoder states are shared across each user's beams.

``transformers``' beam search repeats the encoder output once per beam, computes the cross-attention
keys/values of every copy, and re-orders (copies) the whole cache - cross-attention part included -
after every step. Here:

* the encoder runs once per user, and the cross-attention keys and values of *all* decoder layers come
  out of one matmul, ``[B, heads, S, d_kv]`` per layer; the queries of a user's ``W`` beams are folded
  into the query-length axis (``[B, heads, W, d_kv]``), so one batched attention serves all beams;
* the decoder self-attention keys/values are appended to a row store once per step and never copied
  when beams are re-ranked: each beam keeps the row indices of its ancestors' positions (a ``[N, t]``
  table that follows the parents), and attention gathers the ``<= L`` rows it needs;
* q/k/v of each attention are fused into one projection, the RMS-norm weights are folded into the
  projection that follows them, residual additions happen in place (``addmm_``), and every large
  intermediate lives in a reusable :class:`~hf_genrec.modules.workspace.Workspace` (no page faults in
  steady state).

The arithmetic is T5's in eval mode (relative position bias of the first layer, RMS layer norms, ReLU
or gated feed-forward, output rescaling of tied heads); folding the norm weights changes only float
rounding. The tests check logits against ``T5ForConditionalGeneration``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import torch
from torch.nn import functional as F

from ..modules.backbones import effective_linear_weight
from .workspace import Workspace, thread_workspace


@dataclass
class EncoderMemory:
    keys: List[torch.Tensor]  # per decoder layer [B, h, S, d_kv]
    values: List[torch.Tensor]
    mask_bias: Optional[torch.Tensor]  # [B, 1, 1, S] additive; None when no history is padded


@dataclass
class DecoderCache:
    """Where each beam's generated positions live in the decoder's key/value row store.

    ``rows [N, t]``: for every beam (``N = B x beams``, user-major) the store row of each of its ``t``
    positions; ``next_row``: the first free row. Re-ranking beams only re-indexes ``rows``."""

    rows: torch.Tensor
    beams: int  # W
    next_row: int

    @property
    def length(self) -> int:
        return self.rows.shape[1]

    def select(self, parent: torch.Tensor) -> "DecoderCache":
        """Keep the chosen parents: ``parent [B, W']`` indexes the current ``W`` beams of each user."""
        B, width = parent.shape
        flat = (parent + torch.arange(B, device=parent.device)[:, None] * self.beams).reshape(-1)
        return DecoderCache(self.rows.index_select(0, flat), width, self.next_row)


class T5BeamDecoder:
    """Fast eval-mode encoder and incremental decoder of a ``T5ForConditionalGeneration``.

    The fused weights are a snapshot of the model's parameters when the decoder is created: use
    :meth:`for_model` to get a decoder that is rebuilt whenever a parameter changes (training steps,
    ``load_state_dict``, ``.to()``). Scratch buffers come from a per-thread workspace of the decoder."""

    @classmethod
    def for_model(cls, t5, owner) -> "T5BeamDecoder":
        """The decoder of ``t5``, cached on ``owner`` (a model) and rebuilt when any parameter's storage or
        in-place version changes. Not cached under DeepSpeed ZeRO-3, whose gathered parameters get fresh
        storage that may reuse an old address."""
        parameters = list(t5.parameters())
        if any(hasattr(p, "ds_id") for p in parameters):
            return cls(t5)
        key = tuple((id(p), p.data_ptr(), p._version) for p in parameters)
        cached = owner.__dict__.get("_t5_beam_decoder")
        if cached is None or cached[0] != key:
            cached = (key, cls(t5))
            owner.__dict__["_t5_beam_decoder"] = cached
        return cached[1]

    @torch.no_grad()
    def __init__(self, t5):
        self.t5 = t5
        self.config = t5.config
        self.heads = t5.config.num_heads
        self.d_kv = t5.config.d_kv
        encoder, decoder = t5.encoder, t5.decoder
        self.eps = encoder.final_layer_norm.variance_epsilon
        # DeepSpeed ZeRO-3 partitions parameters: decoding then needs them gathered by the caller (the trainer
        # evaluates inside deepspeed.zero.GatheredParameters), and keeps private copies of what it reads. The
        # fast path never calls a module's forward, so ZeRO-3's module hooks neither release parameters nor
        # start collectives while processes decode different numbers of batches.
        partitioned = [p for p in t5.parameters() if hasattr(p, "ds_id")]
        if any(p.numel() == 0 for p in partitioned):
            raise RuntimeError("the T5 parameters are partitioned by DeepSpeed ZeRO-3; decode inside "
                               "deepspeed.zero.GatheredParameters(model.parameters()) (hf_genrec's trainer does)")
        own = (lambda t: t.clone()) if partitioned else (lambda t: t)
        self.encoder_blocks = [self._fuse_block(block, cross=False, own=own) for block in encoder.block]
        self.decoder_blocks = [self._fuse_block(block, cross=True, own=own) for block in decoder.block]
        # the encoder's final norm weight folds into every decoder layer's cross-attention k and v
        final = encoder.final_layer_norm.weight
        self.memory_weight = torch.cat([torch.cat([effective_linear_weight(b.layer[1].EncDecAttention.k) * final,
                                                   effective_linear_weight(b.layer[1].EncDecAttention.v) * final])
                                        for b in decoder.block]).t()
        scale = self.config.d_model ** -0.5 if getattr(self.config, "scale_decoder_outputs", False) else 1.0
        self._head_fold = own(decoder.final_layer_norm.weight * scale)
        self.head_weight = self.head_for(effective_linear_weight(t5.lm_head))
        self.embed_weight = own(decoder.embed_tokens.weight)
        self._encoder_bias = self._relative_bias_table(encoder, own)
        self._decoder_bias = self._relative_bias_table(decoder, own)
        self._self_bias: Dict[int, torch.Tensor] = {}

    def head_for(self, weight: torch.Tensor) -> torch.Tensor:
        """The output matrix ``[d, V]`` that :meth:`step` multiplies the normalised decoder state with, for an output
        embedding table ``weight [V, d]`` (the decoder's final norm weight and T5's output rescaling folded in). The
        model's own head is :attr:`head_weight`; DECOR passes its fused table for ``output_embeddings='fused'``."""
        return (weight * self._head_fold).t()

    @staticmethod
    def _relative_bias_table(stack, own) -> dict:
        attention = stack.block[0].layer[0].SelfAttention
        return {"weight": own(attention.relative_attention_bias.weight), "bucket": attention._relative_position_bucket,
                "bidirectional": not attention.is_decoder, "num_buckets": attention.relative_attention_num_buckets,
                "max_distance": attention.relative_attention_max_distance}

    @staticmethod
    def _relative_bias(table: dict, query_length: int, key_length: int, past: int, device) -> torch.Tensor:
        """T5's bucketed relative position bias ``[1, h, q, k]`` (``T5Attention.compute_bias`` without a module call)."""
        context = torch.arange(query_length, dtype=torch.long, device=device)[:, None] + past
        memory = torch.arange(key_length, dtype=torch.long, device=device)[None, :]
        buckets = table["bucket"](memory - context, bidirectional=table["bidirectional"],
                                  num_buckets=table["num_buckets"], max_distance=table["max_distance"])
        return F.embedding(buckets, table["weight"]).permute(2, 0, 1)[None]

    @property
    def workspace(self) -> Workspace:
        return thread_workspace(self)

    # ------------------------------------------------------------------ weights
    @staticmethod
    def _fuse_block(block, cross: bool, own=lambda t: t) -> dict:
        """Transposed weights of one block with the preceding RMS-norm weight folded in (LoRA adapters included)."""
        w = effective_linear_weight
        sa = block.layer[0]
        attention = sa.SelfAttention
        fused = {"qkv": torch.cat([w(attention.q), w(attention.k), w(attention.v)]).mul(sa.layer_norm.weight).t(),
                 "self_out": own(w(attention.o)).t()}
        if cross:
            ca = block.layer[1]
            fused["cross_q"] = (w(ca.EncDecAttention.q) * ca.layer_norm.weight).t()
            fused["cross_out"] = own(w(ca.EncDecAttention.o)).t()
        ff = block.layer[-1]
        dense, norm = ff.DenseReluDense, ff.layer_norm.weight
        if hasattr(dense, "wi_0"):  # gated: act(x W0) * (x W1), both halves from one matmul
            fused["ff_in"] = torch.cat([w(dense.wi_0), w(dense.wi_1)]).mul(norm).t()
            fused["gated"] = True
        else:
            fused["ff_in"] = (w(dense.wi) * norm).t()
            fused["gated"] = False
        fused["act"] = dense.act
        fused["relu"] = isinstance(dense.act, torch.nn.ReLU)
        fused["ff_out"] = own(w(dense.wo)).t()
        return fused

    # ------------------------------------------------------------------ shared pieces
    @staticmethod
    def _buffer(workspace: Workspace, name: str, shape, like: torch.Tensor, keep: bool = False) -> torch.Tensor:
        return workspace.get(name, shape, like.dtype, like.device, keep=keep)

    def _normed(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """``x * rsqrt(mean(x^2) + eps)`` into ``out`` (T5LayerNorm without its weight, which is folded downstream)."""
        scale = torch.linalg.vector_norm(x, dim=-1, keepdim=True, dtype=torch.float32)
        return torch.mul(x, scale.mul_(scale).div_(x.shape[-1]).add_(self.eps).rsqrt_(), out=out)

    @staticmethod
    def _feed_forward(x: torch.Tensor, block: dict, normed: torch.Tensor, hidden: torch.Tensor) -> None:
        """``x += FFN(norm(x))`` in place; ``normed`` and ``hidden`` are scratch buffers of x's and d_ff's width."""
        hidden = torch.mm(normed, block["ff_in"], out=hidden)
        if block["gated"]:
            gate, linear = hidden.chunk(2, dim=-1)
            hidden = block["act"](gate) * linear
        elif block["relu"]:
            hidden.clamp_(min=0)
        else:
            hidden = block["act"](hidden)
        x.addmm_(hidden, block["ff_out"])

    # ------------------------------------------------------------------ encoder
    @torch.no_grad()
    def encode(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor) -> EncoderMemory:
        """Run the T5 encoder over ``inputs_embeds [B, S, d]`` and return every decoder layer's cross-attention
        keys and values (``T5Stack`` in eval mode: dropout is the identity)."""
        B, S, d = inputs_embeds.shape
        M, h, dk = B * S, self.heads, self.d_kv
        workspace = self.workspace
        keep = attention_mask.bool()
        padded = not bool(keep.all())
        minimum = torch.finfo(inputs_embeds.dtype).min
        bias = self._relative_bias(self._encoder_bias, S, S, 0, inputs_embeds.device).to(inputs_embeds.dtype)
        if padded:
            bias = bias.masked_fill(~keep[:, None, None, :], minimum)
        x = self._buffer(workspace, "enc_x", (M, d), inputs_embeds)
        x.copy_(inputs_embeds.reshape(M, d))
        normed = self._buffer(workspace, "enc_norm", (M, d), x)
        qkv = self._buffer(workspace, "enc_qkv", (M, 3 * h * dk), x)
        hidden = self._buffer(workspace, "enc_ff", (M, self.encoder_blocks[0]["ff_in"].shape[1]), x)
        for block in self.encoder_blocks:
            torch.mm(self._normed(x, normed), block["qkv"], out=qkv)
            q, k, v = qkv.view(B, S, 3, h, dk).permute(2, 0, 3, 1, 4)
            attended = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=1.0)
            x.addmm_(torch.reshape(attended.transpose(1, 2), (M, h * dk)), block["self_out"])
            self._feed_forward(x, block, self._normed(x, normed), hidden)
        layers = len(self.decoder_blocks)
        kv = torch.mm(self._normed(x, normed), self.memory_weight,
                      out=self._buffer(workspace, "enc_memory", (M, layers * 2 * h * dk), x)).view(B, S, layers, 2, h, dk)
        keys = [kv[:, :, layer, 0].transpose(1, 2) for layer in range(layers)]
        values = [kv[:, :, layer, 1].transpose(1, 2) for layer in range(layers)]
        mask_bias = ((~keep).to(inputs_embeds.dtype) * minimum)[:, None, None, :] if padded else None
        return EncoderMemory(keys, values, mask_bias)

    # ------------------------------------------------------------------ decoder
    def _position_bias(self, position: int, like: torch.Tensor) -> torch.Tensor:
        """Relative position bias of query ``position`` over keys ``0..position``, as ``[position + 1, h]``."""
        if position not in self._self_bias:
            bias = self._relative_bias(self._decoder_bias, 1, position + 1, position, like.device)
            self._self_bias[position] = bias[0, :, 0, :].t().contiguous().to(like.dtype)
        return self._self_bias[position]

    @torch.no_grad()
    def step(self, tokens: Optional[torch.Tensor], memory: EncoderMemory, cache: Optional[DecoderCache] = None,
             inputs_embeds: Optional[torch.Tensor] = None,
             head_weight: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, DecoderCache]:
        """Feed the next token of every beam (``tokens [B, W, 1]``, or their embeddings ``inputs_embeds [B, W, d]``
        in place of the token table's rows); return the logits ``[B, W, V]`` and the cache extended by this
        position. ``cache`` must already be re-ordered to the same ``W`` beams. ``head_weight`` (from
        :meth:`head_for`) replaces the model's output head."""
        workspace = self.workspace
        weight = self.embed_weight
        if inputs_embeds is not None:
            B, W, d = inputs_embeds.shape
            x = self._buffer(workspace, "dec_x", (B * W, d), weight)
            x.copy_(inputs_embeds.reshape(B * W, d))
        else:
            B, W, _ = tokens.shape
            x = torch.index_select(weight, 0, tokens.reshape(B * W),
                                   out=self._buffer(workspace, "dec_x", (B * W, weight.shape[1]), weight))
        N, h, dk = B * W, self.heads, self.d_kv
        inner = h * dk
        start = cache.next_row if cache is not None else 0
        past = cache.length if cache is not None else 0
        own_rows = start + torch.arange(N, device=x.device)
        rows = own_rows[:, None] if cache is None else torch.cat([cache.rows, own_rows[:, None]], 1)  # [N, t + 1]
        flat_rows = rows.reshape(-1)
        t = past + 1
        bias = self._position_bias(past, x)
        normed = self._buffer(workspace, "dec_norm", x.shape, x)
        query = self._buffer(workspace, "dec_q", (N, inner), x)
        hidden = self._buffer(workspace, "dec_ff", (N, self.decoder_blocks[0]["ff_in"].shape[1]), x)
        if past:
            gathered = self._buffer(workspace, "dec_gathered", (N, t, h, dk), x)
            products = self._buffer(workspace, "dec_products", (N, t, h, dk), x)
        for index, block in enumerate(self.decoder_blocks):
            # this position's q, k, v land directly in the layer's row store (rows start .. start + N)
            store = self._buffer(workspace, f"dec_qkv{index}", (start + N, 3 * inner), x, keep=True)
            qkv = torch.mm(self._normed(x, normed), block["qkv"], out=store[start:])
            q, v = qkv[:, :inner], qkv[:, 2 * inner:]
            if past == 0:  # one position: the softmax weight is exactly 1
                context = v
            else:
                torch.index_select(store[:, inner:2 * inner], 0, flat_rows, out=gathered.view(N * t, inner))
                scores = torch.mul(q.view(N, 1, h, dk), gathered, out=products).sum(-1)  # [N, t, h]
                weights = scores.add_(bias).softmax(dim=1)
                torch.index_select(store[:, 2 * inner:], 0, flat_rows, out=gathered.view(N * t, inner))
                context = torch.mul(weights[..., None], gathered, out=products).sum(1).view(N, inner)
            x.addmm_(context, block["self_out"])
            torch.mm(self._normed(x, normed), block["cross_q"], out=query)
            attended = F.scaled_dot_product_attention(query.view(B, W, h, dk).transpose(1, 2), memory.keys[index],
                                                      memory.values[index], attn_mask=memory.mask_bias, scale=1.0)
            x.addmm_(torch.reshape(attended.transpose(1, 2), (N, inner)), block["cross_out"])
            self._feed_forward(x, block, self._normed(x, normed), hidden)
        head = self.head_weight if head_weight is None else head_weight
        logits = torch.mm(self._normed(x, normed), head).view(B, W, -1)
        return logits, DecoderCache(rows, W, start + N)
