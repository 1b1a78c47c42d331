"""The packed layout of per-position target segments (:mod:`hf_genrec.modules.packed_targets`) and HSTU's explicit
attention pattern / positions."""

import torch

from hf_genrec.modules.hstu import HSTU
from hf_genrec.modules.packed_targets import item_anchors, packed_target_layout


def test_layout_of_two_items_of_two_tokens_with_left_padding():
    # history: one padding token, then items A (tokens 1-2) and B (token 3, 4)... here: [pad, a1, a2, b1, b2] minus 1
    mask = torch.tensor([[0, 1, 1, 1, 1]]).bool()
    anchors = torch.tensor([[2, 4]])  # last token of each item
    allowed, positions = packed_target_layout(mask, anchors, 2)
    expected = torch.tensor([
        # pad a1 a2 b1 b2 | s0 s0' s1 s1'
        [1, 0, 0, 0, 0, 0, 0, 0, 0],  # pad reads itself only
        [0, 1, 0, 0, 0, 0, 0, 0, 0],
        [0, 1, 1, 0, 0, 0, 0, 0, 0],
        [0, 1, 1, 1, 0, 0, 0, 0, 0],
        [0, 1, 1, 1, 1, 0, 0, 0, 0],
        [0, 1, 1, 0, 0, 1, 0, 0, 0],  # segment 0: item A, then causal within
        [0, 1, 1, 0, 0, 1, 1, 0, 0],
        [0, 1, 1, 1, 1, 0, 0, 1, 0],  # segment 1: items A and B
        [0, 1, 1, 1, 1, 0, 0, 1, 1],
    ]).bool()
    assert torch.equal(allowed[0], expected)
    assert positions.tolist() == [[0, 0, 1, 2, 3, 2, 3, 4, 5]]
    assert item_anchors(2, 2, 1, offset=1).tolist() == [[2, 4]]


def test_hstu_explicit_pattern_and_positions_equal_separate_prefix_passes():
    torch.manual_seed(0)
    hstu = HSTU(dim=8, num_layers=2, num_heads=2, dropout=0.0, max_positions=16, use_time=False).eval()
    with torch.no_grad():
        for bias in hstu.biases:
            bias.position.normal_()
    history = torch.randn(1, 4, 8)
    segments = torch.randn(1, 4, 2, 8)  # one 2-token segment per history token
    mask = torch.tensor([[False, True, True, True]])
    allowed, positions = packed_target_layout(mask, item_anchors(4, 1, 1), 2)
    packed = hstu(torch.cat([history, segments.flatten(1, 2)], 1), torch.cat([mask, torch.ones(1, 8).bool()], 1),
                  allowed=allowed, positions=positions)[:, 4:].view(1, 4, 2, 8)
    for j in range(1, 4):
        sequence = torch.cat([history[:, 1: j + 1], segments[:, j]], 1)
        alone = hstu(sequence, torch.ones(1, sequence.shape[1]).bool())[:, -2:]
        assert torch.allclose(packed[0, j], alone[0], atol=1e-5), j
    causal = torch.ones(4, 4).bool().tril()[None]
    assert torch.equal(hstu(history, mask, allowed=causal, positions=torch.arange(4)[None]), hstu(history, mask))
