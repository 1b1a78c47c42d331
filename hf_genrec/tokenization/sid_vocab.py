"""The layout of the SID vocabulary, shared by the tokenizer and every model config.

Two kinds of offsets, never to be mixed up:

* **code offsets** index a table that holds every level's codes one after the other (no special
  tokens): code ``c`` of level ``l`` sits at row ``sum_{j<l} K_j + c``. Models with per-code tables
  (ComeIR's token embeddings, DECOR's fused tables) use these.
* **token offsets** are the SIDTokenizer's vocabulary ids: the special tokens come first, so code ``c``
  of level ``l`` is token ``len(SPECIAL_TOKENS) + sum_{j<l} K_j + c``. Models that read token ids (TIGER's
  T5 vocabulary) use these.
"""

from __future__ import annotations

from typing import List, Sequence

SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>")
NUM_SPECIAL_TOKENS = len(SPECIAL_TOKENS)


def code_offsets(codebook_sizes: Sequence[int]) -> List[int]:
    """Row of code 0 of each level in a table of all levels' codes: ``[0, K_1, K_1 + K_2, ...]``."""
    offsets, total = [], 0
    for size in codebook_sizes:
        offsets.append(total)
        total += int(size)
    return offsets


def token_offsets(codebook_sizes: Sequence[int]) -> List[int]:
    """Token id of code 0 of each level in the SIDTokenizer vocabulary."""
    return [NUM_SPECIAL_TOKENS + offset for offset in code_offsets(codebook_sizes)]


def sid_vocab_size(codebook_sizes: Sequence[int]) -> int:
    """Size of the SIDTokenizer vocabulary: the special tokens and every level's codes."""
    return NUM_SPECIAL_TOKENS + sum(int(size) for size in codebook_sizes)
