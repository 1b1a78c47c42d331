"""``GenRecConfig``: the configuration every hf_genrec model config derives from.

It records what ties a model to its semantic IDs (levels, codebook sizes, catalog size), the input
layout (``flat`` or ``item``) and the history length. Method configs (``TigerConfig``, ``IntRRConfig``,
...) add their own fields. Decoding defaults (``num_beams``, ``num_return_sequences``) live, as
transformers v5 requires, in the model's ``generation_config`` (``generation_config.json``).

Field names are the same in every method config: ``hidden_size``, ``intermediate_size``, ``num_layers``,
``num_heads``. Earlier names (``d_model``, ``d_ff``) are ``attribute_map`` aliases, so configs saved
with them still load and ``config.d_model`` still reads ``hidden_size``.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

from transformers import PretrainedConfig

from .tokenization.sid_vocab import code_offsets, sid_vocab_size, token_offsets

INPUT_MODES = ("flat", "item")


def check_choices(**choices: Tuple[Any, Sequence[Any]]) -> None:
    """``name=(value, allowed)``: a clear ``ValueError`` for the first value outside its allowed set."""
    for name, (value, allowed) in choices.items():
        if value not in allowed:
            raise ValueError(f"{name} must be one of {tuple(allowed)}, got {value!r}")


class GenRecConfig(PretrainedConfig):
    """The fields every hf_genrec model shares: its catalog (``codebook_sizes``, ``num_items``), its input layout
    and history length, and the size of its backbone (``hidden_size``, ``intermediate_size``, ``num_layers``,
    ``num_heads``; or a full ``backbone_config`` dict, e.g. a Hugging Face causal LM's, with the
    ``backbone_name_or_path`` it was loaded from). Method configs set their own defaults for these.

    ``item_id_embedding`` (TIGER, IntRR, ComeIR; off by default) adds a learned per-item ID embedding to the history's
    input embeddings (:mod:`hf_genrec.modules.item_id_embedding`): an hf_genrec option, never part of a paper's
    method, reported as its own rows."""

    model_type = "genrec"
    attribute_map = {"d_model": "hidden_size", "d_ff": "intermediate_size"}

    def __init__(self, codebook_sizes: Optional[Sequence[int]] = None, num_items: int = 0, input_mode: str = "flat",
                 max_history: int = 20, hidden_size: int = 128, intermediate_size: Optional[int] = None,
                 num_layers: int = 2, num_heads: int = 4, backbone_config: Optional[Dict[str, Any]] = None,
                 backbone_name_or_path: Optional[str] = None, pad_token_id: int = 0, bos_token_id: int = 1,
                 eos_token_id: int = 2, item_id_embedding: bool = False, **kwargs):
        check_choices(input_mode=(input_mode, INPUT_MODES))
        self.codebook_sizes: List[int] = [int(s) for s in (codebook_sizes or [])]
        self.num_items = int(num_items)
        self.input_mode = input_mode
        self.max_history = int(max_history)
        self.hidden_size = hidden_size
        self.intermediate_size = intermediate_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.backbone_config = backbone_config
        self.backbone_name_or_path = backbone_name_or_path
        self.item_id_embedding = bool(item_id_embedding)
        super().__init__(pad_token_id=pad_token_id, bos_token_id=bos_token_id, eos_token_id=eos_token_id, **kwargs)

    @property
    def num_levels(self) -> int:
        return len(self.codebook_sizes)

    @property
    def sid_vocab_size(self) -> int:
        """Size of the :class:`~hf_genrec.tokenization.SIDTokenizer` vocabulary for these codebooks."""
        return sid_vocab_size(self.codebook_sizes)

    @property
    def code_offsets(self) -> List[int]:
        """Row of code 0 of each level in a table of all levels' codes (see :mod:`hf_genrec.tokenization.sid_vocab`)."""
        return code_offsets(self.codebook_sizes)

    @property
    def token_offsets(self) -> List[int]:
        """Token id of code 0 of each level in the SIDTokenizer vocabulary (special tokens first)."""
        return token_offsets(self.codebook_sizes)
