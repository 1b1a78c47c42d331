"""``GenRecConfig``: the configuration every hf_genrec model config derives from.

It records what ties a model to its semantic IDs (levels, codebook sizes, catalog size), the input
layout (``flat`` or ``item``) and the history length. Method configs (``TigerConfig``, ``IntRRConfig``,
...) add their own fields. Decoding defaults (``num_beams`` 20, ``num_return_sequences``) live, as
transformers v5 requires, in the model's ``generation_config`` (``generation_config.json``).
"""

from __future__ import annotations

from typing import List, Optional, Sequence

from transformers import PretrainedConfig


class GenRecConfig(PretrainedConfig):
    model_type = "genrec"

    def __init__(self, codebook_sizes: Optional[Sequence[int]] = None, num_items: int = 0, input_mode: str = "flat",
                 max_history: int = 20, pad_token_id: int = 0, bos_token_id: int = 1, eos_token_id: int = 2, **kwargs):
        self.codebook_sizes: List[int] = [int(s) for s in (codebook_sizes or [])]
        self.num_items = int(num_items)
        if input_mode not in ("flat", "item"):
            raise ValueError(f"input_mode must be 'flat' or 'item', got {input_mode!r}")
        self.input_mode = input_mode
        self.max_history = int(max_history)
        super().__init__(pad_token_id=pad_token_id, bos_token_id=bos_token_id, eos_token_id=eos_token_id, **kwargs)

    @property
    def num_levels(self) -> int:
        return len(self.codebook_sizes)

    @property
    def sid_vocab_size(self) -> int:
        """Size of the :class:`~hf_genrec.tokenization.SIDTokenizer` vocabulary for these codebooks."""
        return 3 + sum(self.codebook_sizes)
