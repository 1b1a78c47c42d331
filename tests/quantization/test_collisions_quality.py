"""Collision handling (suffix, sinkhorn, none) and SID quality numbers."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hf_genrec.quantization import (build_quantizer, build_semantic_ids, parse_sid_tokens, prefix_collision_rates,
                                    prefix_duplicate_rates, prism_table3, resolve_collisions, sid_quality, suffix_codes)
from hf_genrec.quantization.collisions import round_plan, sinkhorn_plans


@settings(max_examples=50, deadline=None)
@given(rows=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), min_size=1, max_size=40))
def test_suffix_makes_sids_unique_and_keeps_the_prefix(rows):
    codes = torch.tensor(rows)
    new, size = suffix_codes(codes)
    assert torch.equal(new[:, :2], codes)
    assert len(torch.unique(new, dim=0)) == len(codes)
    for row in range(len(codes)):
        same = [i for i in range(len(codes)) if rows[i] == rows[row]]
        assert int(new[row, 2]) == same.index(row)  # 0 for the first item of a group, then 1, 2, ...
    assert size == max(rows.count(r) for r in rows)


def test_sinkhorn_plans_have_the_right_marginals_and_round_to_a_matching():
    cost = torch.rand(2, 3, 5, generator=torch.Generator().manual_seed(0))
    plans = sinkhorn_plans(cost, torch.tensor([3, 2]), torch.tensor([5, 4]), epsilon=0.05, iterations=500)
    assert torch.allclose(plans[0].sum(1), torch.ones(3), atol=1e-3)
    assert bool((plans[0].sum(0) <= 1 + 1e-3).all())
    assert torch.allclose(plans[1, :2, :4].sum(1), torch.ones(2), atol=1e-3)
    assert float(plans[1, 2:].sum()) == 0.0 and float(plans[1, :, 4:].sum()) == 0.0
    match = round_plan(plans[0], cost[0])
    assert len(set(match.tolist())) == 3
    # on a cost matrix with an obvious optimum the rounding finds it
    eye_cost = 1 - torch.eye(3)
    assert round_plan(sinkhorn_plans(eye_cost[None], torch.tensor([3]), torch.tensor([3]))[0], eye_cost).tolist() == [0, 1, 2]


def fitted_rqkmeans(x, sizes):
    q = build_quantizer("rqkmeans", input_dim=x.shape[1], levels=len(sizes), codebook_size=sizes)
    q.fit(x)
    return q


def test_sinkhorn_dedup_is_collision_free_and_moves_only_colliding_items():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(300, 8, generator=g)
    q = fitted_rqkmeans(x, [4, 4, 32])
    raw = q.encode(x)
    assert sid_quality(raw, q.codebook_sizes)["collision_rate"] > 0
    codes, sizes, report = resolve_collisions(raw, "sinkhorn", q, x)
    assert sizes == [4, 4, 32] and sid_quality(codes, sizes)["collision_rate"] == 0.0
    changed = (codes != raw).any(1)
    _, inverse, counts = np.unique(raw.numpy(), axis=0, return_inverse=True, return_counts=True)
    colliding = torch.from_numpy(counts[inverse.reshape(-1)] > 1)
    assert not bool((changed & ~colliding).any())  # unique items keep their SID
    assert int(changed.sum()) == report["moved_items"] == int(colliding.sum()) - int((counts > 1).sum())
    # movers that stayed in their prefix only changed the last level
    inside = changed & (codes[:, :2] == raw[:, :2]).all(1)
    assert int(inside.sum()) == report["moved_items"] - report["moved_outside_prefix"]
    assert report["mean_distortion_after"] >= report["mean_distortion_before"]


def test_sinkhorn_overflow_uses_other_prefixes():
    """Two tiny last-level codebooks: many identical items cannot all fit behind one prefix."""
    # 6 identical items per cluster (with noise, whether k-means splits a cluster at level 2 depends on the seeding),
    # 4 last-level codes per prefix
    x = torch.cat([torch.zeros(6, 4), torch.ones(6, 4)])
    q = fitted_rqkmeans(x, [2, 2, 4])
    codes, sizes, report = resolve_collisions(q.encode(x), "sinkhorn", q, x)
    assert len(torch.unique(codes, dim=0)) == 12 and report["moved_outside_prefix"] > 0
    with pytest.raises(ValueError, match="cannot get unique SIDs"):
        resolve_collisions(q.encode(torch.zeros(17, 4)), "sinkhorn", q, torch.zeros(17, 4))


def test_none_and_unknown_modes():
    codes = torch.tensor([[0, 1], [0, 1], [1, 0]])
    same, sizes, report = resolve_collisions(codes, "none")
    assert torch.equal(same, codes) and sizes == [2, 2] and report == {"mode": "none"}
    with pytest.raises(ValueError, match="unknown collision mode"):
        resolve_collisions(codes, "random")
    with pytest.raises(ValueError, match="needs the fitted quantizer"):
        resolve_collisions(codes, "sinkhorn")


def test_quality_numbers_by_hand():
    codes = np.array([[0, 0], [0, 1], [0, 1], [1, 2]])
    assert prefix_collision_rates(codes) == [0.75, 0.5]
    quality = sid_quality(codes, [2, 4])
    assert quality["unique_sids"] == 3 and quality["max_items_per_sid"] == 2 and quality["colliding_items"] == 2
    assert quality["utilization"] == [1.0, 0.75]
    p = np.array([0.75, 0.25])
    assert quality["perplexity"][0] == pytest.approx(math.exp(-(p * np.log(p)).sum()), abs=1e-3)
    uniform = sid_quality(np.arange(8)[:, None], [8])
    assert uniform["perplexity"] == [8.0] and uniform["collision_rate"] == 0.0
    with pytest.raises(ValueError, match="codebook sizes"):
        sid_quality(codes, [2])


def test_table3_duplicate_rate_and_perplexity_by_hand():
    codes = np.array([[0, 0, 0], [0, 0, 0], [0, 1, 2], [1, 1, 2], [1, 1, 3], [1, 1, 3]])
    # unique prefixes: {0, 1}, {00, 01, 11}, {000, 012, 112, 113} among 6 items
    assert prefix_duplicate_rates(codes) == pytest.approx([1 - 2 / 6, 1 - 3 / 6, 1 - 4 / 6])
    assert prefix_collision_rates(codes)[2] == pytest.approx(4 / 6)  # the other definition: items in shared SIDs
    quality = sid_quality(codes, [2, 2, 4])
    assert quality["duplicate_rate_per_level"] == pytest.approx([0.666667, 0.5, 0.333333], abs=1e-6)
    assert quality["duplicate_rate"] == pytest.approx(1 / 3, abs=1e-6)
    h = -(1 / 3 * math.log(1 / 3) + 2 / 3 * math.log(2 / 3))
    assert quality["perplexity"] == pytest.approx([2.0, math.exp(h), 3.0], abs=1e-3)  # level 3 uses 3 codes evenly
    assert quality["perplexity_mean"] == pytest.approx((5 + math.exp(h)) / 3, abs=1e-3)
    row = prism_table3(codes, [2, 2, 4])
    assert row["cr_layer_2"] == pytest.approx(0.5) and row["cr_final"] == pytest.approx(1 / 3)
    assert row["perplexity"] == quality["perplexity_mean"]


def test_table3_collision_rates_reproduce_the_papers_beauty_counts():
    """PRISM on Beauty: 12,101 items, 9,975 distinct 2-prefixes, 217 items colliding at the last level
    -> CR Layer 2 = 17.57 %, CR Final = 1.79 % (Table 3)."""
    n, prefixes, colliding = 12101, 9975, 217
    first = np.arange(prefixes)
    again = np.arange(n - prefixes)  # these items reuse the first prefixes
    last = np.concatenate([np.zeros(prefixes), np.ones(n - prefixes - colliding), np.zeros(colliding)])
    index = np.concatenate([first, again])
    codes = np.stack([index // 256, index % 256, last], 1).astype(np.int64)
    row = prism_table3(codes, [256, 256, 256])
    assert round(100 * row["cr_layer_2"], 2) == 17.57 and round(100 * row["cr_final"], 2) == 1.79


def test_parse_published_sid_tokens():
    codes, sizes = parse_sid_tokens([["<a_3>", "<b_0>"], ["<a_1>", "<b_7>"]])
    assert codes.tolist() == [[3, 0], [1, 7]] and sizes == [4, 8]
    with pytest.raises(ValueError, match="not of the form"):
        parse_sid_tokens([["<b_3>", "<a_0>"]])


def test_build_semantic_ids_end_to_end():
    x = torch.randn(200, 8, generator=torch.Generator().manual_seed(1))
    quantizer, sids = build_semantic_ids(x, "rqkmeans", levels=2, codebook_size=8, collisions="suffix")
    assert sids.codes.shape == (200, 3) and sids.codebook_sizes[:2] == [8, 8]
    assert sids.quality["collision_rate"] == 0.0 and sids.quality_before["collision_rate"] > 0
    summary = sids.summary()
    assert summary["collision_handling"]["mode"] == "suffix" and "history" not in summary["fit"]
