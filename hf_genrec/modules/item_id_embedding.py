"""``ItemIdEmbedding``: the optional learned per-item ID embedding added to a model's history input embeddings.

Switched on by ``config.item_id_embedding`` (off by default) in TIGER, IntRR and ComeIR. It is an hf_genrec option,
not part of any paper's method: several generative-recommendation papers report that adding an item-ID embedding
to the semantic-ID inputs of the history helps on sparse data. Only the history side reads it; the targets and the
decoding of the next item's SID are untouched.

The table has ``num_items + 1`` rows; the last one is padding (``padding_idx``: zero and never updated), and every
id below 0 (the tokenizer's ``-1`` history padding) maps to it. Rows start at ``N(0, std)`` with a small ``std``
chosen by the model, so that adding it does not swamp the SID embeddings at the start of training.
"""

from __future__ import annotations

import torch
from torch import nn


class ItemIdEmbedding(nn.Embedding):
    """``nn.Embedding(num_items + 1, dim, padding_idx=num_items)`` initialised ``N(0, std)``, whose ``forward`` maps
    ids ``< 0`` to the padding row (a zero vector without gradient)."""

    def __init__(self, num_items: int, dim: int, std: float = 0.02):
        self.init_std = float(std)  # read by reset_parameters, which nn.Embedding.__init__ calls
        super().__init__(int(num_items) + 1, dim, padding_idx=int(num_items))

    @torch.no_grad()
    def reset_parameters(self) -> None:
        nn.init.normal_(self.weight, std=getattr(self, "init_std", 0.02))
        self.weight[self.padding_idx].zero_()

    def forward(self, item_ids: torch.Tensor) -> torch.Tensor:
        """Embeddings ``[..., dim]`` of item ids ``[...]``; padding (any id ``< 0``) gives zeros."""
        item_ids = item_ids.long()
        return super().forward(torch.where(item_ids < 0, torch.full_like(item_ids, self.padding_idx), item_ids))
