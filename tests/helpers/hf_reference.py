"""The reference path: ``transformers``' own beam search constrained by ``prefix_allowed_tokens_fn``.

A test helper (also used by ``scripts/bench_decoding.py``), not part of the package. Used by the decoding benchmark and the tests to check that hf_genrec's engine returns the same items.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Sequence, Tuple

import torch

from hf_genrec.tokenization.trie import CatalogTrie


def trie_prefix_allowed_tokens_fn(trie: CatalogTrie, token_offsets: Sequence[int], eos_token_id: int,
                                  skip_first: int = 1) -> Callable[[int, torch.Tensor], List[int]]:
    """A ``prefix_allowed_tokens_fn`` allowing only catalog-valid SID continuations.

    ``skip_first`` tokens at the start of each sequence (the decoder start token) are not SID tokens.
    After ``L`` SID tokens only ``eos_token_id`` is allowed. Answers are memoised per prefix.
    """
    memo: Dict[Tuple[int, ...], List[int]] = {}
    levels = trie.levels

    def allowed(batch_id: int, input_ids: torch.Tensor) -> List[int]:
        generated = tuple(int(t) for t in input_ids[skip_first:])
        if generated in memo:
            return memo[generated]
        level = len(generated)
        if level >= levels:
            result = [eos_token_id]
        else:
            node = torch.zeros(1, dtype=torch.long)
            for depth, token in enumerate(generated):
                node = trie.next_prefix(depth, node, torch.tensor([token - token_offsets[depth]]))
                if int(node[0]) < 0:
                    memo[generated] = [eos_token_id]
                    return memo[generated]
            codes = torch.nonzero(trie.valid_children_mask(level, node)[0]).flatten()
            result = (codes + token_offsets[level]).tolist()
        memo[generated] = result
        return result

    return allowed
