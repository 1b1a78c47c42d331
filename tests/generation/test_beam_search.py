"""``constrained_beam_search`` on its own, with a stub decoding model (no network, no backbone).

The stub scores level ``l``'s codes from a fixed random table indexed by (user, generated prefix), so the
exact score of every SID is known by brute force. Checked: every output is a catalog item with its own SID,
beam >= catalog returns exactly the brute-force ranking, a narrower beam returns exact scores in order,
beams that run out of valid children die and come back as padding, and items sharing a SID are all returned
with that SID's score.
"""

from dataclasses import dataclass

import pytest
import torch
from helpers.tiny import random_catalog
from hypothesis import given, settings
from hypothesis import strategies as st

from hf_genrec.generation import constrained_beam_search
from hf_genrec.tokenization.trie import CatalogTrie


@dataclass
class StubState:
    codes: torch.Tensor  # [B, W, l]


class StubDecoder:
    """Log-probabilities of level ``l`` for user ``b`` after prefix ``p``: ``table[l][b, index(p)]``."""

    def __init__(self, sizes, batch_size, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.sizes = sizes
        self.tables = []
        prefixes = 1
        for size in sizes:
            logits = torch.randn(batch_size, prefixes, size, generator=g) * 2
            self.tables.append(torch.log_softmax(logits, -1))
            prefixes *= size
        self.steps = []

    def prefix_index(self, codes):
        index = torch.zeros(codes.shape[:-1], dtype=torch.long)
        for level in range(codes.shape[-1]):
            index = index * self.sizes[level] + codes[..., level]
        return index

    def prepare_decoding(self, batch_size):
        return StubState(codes=torch.zeros(batch_size, 1, 0, dtype=torch.long))

    def decode_step(self, state, level, valid_mask, temperature):
        B, W, _ = valid_mask.shape
        self.steps.append((level, W, valid_mask.clone()))
        rows = self.tables[level][torch.arange(B)[:, None], self.prefix_index(state.codes)]  # [B, W, K]
        return rows / temperature[..., None]

    def update_decoding_state(self, state, level, parent, codes):
        kept = state.codes.gather(1, parent[..., None].expand(-1, -1, level))
        state.codes = torch.cat([kept, codes[..., None]], 2)
        return state

    def sid_scores(self, sids):
        """Brute force: ``[B, N]`` sum of the table entries along each SID."""
        total = 0
        for level in range(sids.shape[1]):
            prefix = self.prefix_index(sids[:, :level])
            total = total + self.tables[level][:, prefix, sids[:, level]]
        return total


def search(decoder, codes, sizes, batch_size, beams, k=None, temperature=None):
    trie = CatalogTrie.from_codes(codes, sizes)
    return constrained_beam_search(decoder, decoder.prepare_decoding(batch_size), batch_size, trie, beams, k,
                                   temperature)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), beams=st.integers(1, 12), n=st.integers(1, 40))
def test_every_output_is_a_catalog_item_with_its_own_sid(seed, beams, n):
    sizes = [3, 4, 2]
    codes = random_catalog(n, sizes, seed=seed)
    decoder = StubDecoder(sizes, batch_size=2, seed=seed)
    result = search(decoder, codes, sizes, 2, beams)
    found = result.items >= 0
    assert bool((result.items[found] < len(codes)).all())
    assert torch.equal(result.sids[found], codes[result.items[found]])
    for level, _, valid in decoder.steps:  # the engine only ever asked for scores of catalog prefixes
        assert valid.shape[-1] == sizes[level]
    for row in result.items:
        real = row[row >= 0].tolist()
        assert 0 < len(real) == len(set(real)) <= min(beams, len(codes))


def test_beam_at_least_the_catalog_equals_brute_force():
    sizes = [4, 3, 5]
    codes = random_catalog(45, sizes, seed=1)
    decoder = StubDecoder(sizes, batch_size=3, seed=1)
    result = search(decoder, codes, sizes, 3, beams=len(codes))
    expected = decoder.sid_scores(codes)  # [B, N]
    order = torch.argsort(expected, dim=1, descending=True, stable=True)
    assert torch.equal(result.items, order)
    assert torch.allclose(result.scores, expected.gather(1, order), atol=1e-5)
    narrow = search(StubDecoder(sizes, 3, seed=1), codes, sizes, 3, beams=5)
    assert torch.allclose(narrow.scores, expected.gather(1, narrow.items), atol=1e-5)
    assert bool((narrow.scores[:, :-1] >= narrow.scores[:, 1:]).all())
    # per-level temperature divides that level's scores
    hot = search(StubDecoder(sizes, 3, seed=1), codes, sizes, 3, beams=len(codes), temperature=[1.0, 0.5, 2.0])
    scaled = 0
    for level, tau in enumerate([1.0, 0.5, 2.0]):
        prefix = decoder.prefix_index(codes[:, :level])
        scaled = scaled + decoder.tables[level][:, prefix, codes[:, level]] / tau
    assert torch.allclose(hot.scores, scaled.sort(dim=1, descending=True).values, atol=1e-5)


def test_beams_without_valid_children_die_and_come_back_as_padding():
    sizes = [3, 3]
    codes = torch.tensor([[0, 0], [0, 1], [2, 2]])  # prefix 1 has no items; prefix 2 a single child
    decoder = StubDecoder(sizes, batch_size=1)
    result = search(decoder, codes, sizes, 1, beams=6)
    assert sorted(result.items[0, :3].tolist()) == [0, 1, 2]
    assert result.items[0, 3:].tolist() == [-1, -1, -1]
    assert bool(torch.isinf(result.scores[0, 3:]).all()) and (result.sids[0, 3:] == -1).all()
    _, width, valid = decoder.steps[1]
    assert width == 3  # the best 3 first codes, one of which (1) has no items: a dead beam
    assert sorted(valid[0].sum(-1).tolist()) == [0, 1, 2]  # it gets no children; (0,0), (0,1) and (2,2) remain


def test_items_that_share_a_sid_are_all_returned_with_its_score():
    sizes = [2, 2]
    codes = torch.tensor([[0, 0], [1, 1], [0, 1], [1, 1], [0, 1], [1, 0]])  # collisions kept
    decoder = StubDecoder(sizes, batch_size=2, seed=3)
    result = search(decoder, codes, sizes, 2, beams=4, k=6)
    expected = decoder.sid_scores(codes)
    for b in range(2):
        assert sorted(result.items[b].tolist()) == list(range(6))
        score_of = dict(zip(result.items[b].tolist(), result.scores[b].tolist()))
        assert score_of[1] == score_of[3] and score_of[2] == score_of[4]
        assert torch.allclose(torch.tensor([score_of[i] for i in range(6)]), expected[b], atol=1e-5)


def test_invalid_arguments_and_wrong_step_shapes():
    sizes = [2, 2]
    codes = torch.tensor([[0, 0], [1, 1]])
    with pytest.raises(ValueError, match="num_beams"):
        search(StubDecoder(sizes, 1), codes, sizes, 1, beams=0)

    class Wrong(StubDecoder):
        def decode_step(self, state, level, valid_mask, temperature):
            return torch.zeros(1, 1, 7)

    with pytest.raises(ValueError, match="decode_step returned"):
        search(Wrong(sizes, 1), codes, sizes, 1, beams=2)


def test_rescore_items_adds_weighted_item_log_probs_looked_up_by_sid_and_keeps_padding_last():
    """Items 1 and 2 share a SID: both take the score of item 1 (the lowest id), as they share its embedding."""
    from hf_genrec.generation import BeamSearchResult, rescore_items

    codes = torch.tensor([[0, 0], [0, 1], [0, 1], [1, 0]])
    trie = CatalogTrie.from_codes(codes, [2, 2])
    result = BeamSearchResult(items=torch.tensor([[0, 2, 3, -1]]), sids=torch.tensor([[[0, 0], [0, 1], [1, 0], [-1, -1]]]),
                              scores=torch.tensor([[-1.0, -2.0, -3.0, float("-inf")]]),
                              beam_sids=codes[None, :3], beam_scores=torch.tensor([[-1.0, -2.0, -3.0]]))
    item_log_probs = torch.tensor([[-5.0, 0.0, -9.0, -0.5]])
    out = rescore_items(result, trie, item_log_probs, 0.5, k=4)
    assert out.items.tolist() == [[2, 3, 0, -1]]  # -2 + 0.5*0 (item 1's score), -3 - 0.25, -1 - 2.5
    assert torch.allclose(out.scores[0, :3], torch.tensor([-2.0, -3.25, -3.5]))
    assert out.scores[0, 3] == float("-inf") and out.sids[0].tolist() == [[0, 1], [1, 0], [0, 0], [-1, -1]]
    assert rescore_items(result, trie, item_log_probs, 0.5, k=2).items.tolist() == [[2, 3]]
