"""Constrained beam search: exactness against brute force, catalog validity, collisions, temperatures,
the beam-sharing T5 decoder and tree attention against plain transformers forward passes."""

import math

import pytest
import torch
from helpers.hf_reference import trie_prefix_allowed_tokens_fn
from helpers.tiny import random_catalog
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import DynamicCache

from hf_genrec.generation import AdaptiveTemperature
from hf_genrec.generation.t5_beam_decoder import T5BeamDecoder
from hf_genrec.generation.tree_decoding import tree_extend, tree_prompt
from hf_genrec.models.tiger import TigerConfig, TigerForGenerativeRecommendation
from hf_genrec.modules.backbones import prompt_positions
from hf_genrec.modules.hstu import HSTU
from hf_genrec.tokenization import SIDTokenizer

TINY = dict(hidden_size=32, intermediate_size=64, num_layers=2, num_decoder_layers=2, num_heads=2, d_kv=16, dropout_rate=0.0)


def tiny_tiger(architecture, codes, sizes, seed=0, **extra):
    torch.manual_seed(seed)
    model = TigerForGenerativeRecommendation(TigerConfig(architecture=architecture, codebook_sizes=sizes,
                                                         num_items=len(codes), **TINY, **extra)).eval()
    model.set_catalog(codes)
    return model


def brute_force_scores(model, batch, codes, temperature=1.0):
    """Score every catalog SID for every user by teacher forcing: sum_l log p(c_l | c_<l)."""
    B, N = batch["input_ids"].shape[0], len(codes)
    repeat = {k: v.repeat_interleave(N, 0) for k, v in batch.items() if k != "item_ids"}
    labels = codes.repeat(B, 1)
    with torch.no_grad():
        logits = model.vocab_logits(**repeat, labels=labels) / temperature
    total = torch.zeros(B * N)
    for level in range(codes.shape[1]):
        log_probs = model.vocab_log_probs(logits[:, level], level)
        total += log_probs.gather(1, labels[:, level:level + 1]).squeeze(1)
    return total.view(B, N)


@pytest.mark.parametrize("architecture", ["encoder_decoder", "decoder_only", "decoder_only_hstu"])
@pytest.mark.parametrize("loss_vocabulary", ["vocab", "level"])
def test_full_beam_equals_brute_force_ranking(architecture, loss_vocabulary):
    sizes = [4, 3, 5]
    codes = random_catalog(40, sizes)
    extra = {"decoder_backbone": "hstu"} if architecture.endswith("_hstu") else {}
    model = tiny_tiger(architecture.replace("_hstu", ""), codes, sizes, loss_vocabulary=loss_vocabulary, **extra)
    tok = SIDTokenizer.from_sids(codes, sizes)
    batch = tok([[0, 1, 2], [5], [7, 3]], return_tensors="pt")
    out = model.generate(**batch, num_beams=len(codes), num_return_sequences=len(codes))
    expected = brute_force_scores(model, batch, codes)
    order = torch.argsort(expected, dim=1, descending=True)
    assert torch.equal(out.items, order)
    assert torch.allclose(out.scores, expected.gather(1, order), atol=1e-4)
    assert torch.equal(out.sids, codes[out.items])
    # a narrower beam returns a prefix-consistent subset whose scores are exact for the items it found
    narrow = model.generate(**batch, num_beams=6, num_return_sequences=6)
    assert torch.allclose(narrow.scores, expected.gather(1, narrow.items), atol=1e-4)
    assert bool((narrow.scores[:, :-1] >= narrow.scores[:, 1:]).all())


def test_temperature_per_level_matches_brute_force():
    sizes = [3, 4]
    codes = random_catalog(12, sizes, seed=2)
    model = tiny_tiger("encoder_decoder", codes, sizes, seed=2)
    tok = SIDTokenizer.from_sids(codes, sizes)
    batch = tok([[0, 1]], return_tensors="pt")
    out = model.generate(**batch, num_beams=len(codes), temperature=0.5)
    expected = brute_force_scores(model, batch, codes, temperature=0.5)
    assert torch.allclose(out.scores[0], expected[0].sort(descending=True).values, atol=1e-4)
    per_level = model.generate(**batch, num_beams=len(codes), temperature=[0.5, 0.5])
    assert torch.equal(per_level.items, out.items)


def test_adaptive_temperature_formula():
    schedule = AdaptiveTemperature(num_items=400, tau_min=0.5, tau_max=1.0, alpha=0.5)
    assert schedule.n_ref == pytest.approx(10.0)
    tau = schedule(0, torch.tensor([0, 10, 1000]))
    assert tau[0] == pytest.approx(1.0) and tau[1] == pytest.approx(0.5 + 0.5 * math.exp(-0.5))
    assert tau[2] == pytest.approx(0.5, abs=1e-6)
    sizes = [3, 4]
    codes = random_catalog(12, sizes)
    model = tiny_tiger("encoder_decoder", codes, sizes)
    batch = SIDTokenizer.from_sids(codes, sizes)([[0, 1]], return_tensors="pt")
    adaptive = model.generate(**batch, num_beams=len(codes), adaptive_temperature=True)
    plain = model.generate(**batch, num_beams=len(codes))
    assert set(adaptive.items[0].tolist()) == set(plain.items[0].tolist())
    assert not torch.allclose(adaptive.scores, plain.scores)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), beams=st.integers(1, 12), architecture=st.sampled_from(["encoder_decoder", "decoder_only"]))
def test_every_returned_item_is_in_the_catalog(seed, beams, architecture):
    sizes = [5, 4, 3]
    codes = random_catalog(30, sizes, seed=seed)
    model = tiny_tiger(architecture, codes, sizes, seed=seed)
    tok = SIDTokenizer.from_sids(codes, sizes)
    g = torch.Generator().manual_seed(seed)
    histories = [torch.randint(0, len(codes), (int(torch.randint(1, 5, (1,), generator=g)),), generator=g).tolist()
                 for _ in range(3)]
    out = model.generate(**tok(histories, return_tensors="pt"), num_beams=beams)
    found = out.items[out.items >= 0]
    assert len(found) and bool((found < len(codes)).all())
    assert torch.equal(out.sids[out.items >= 0], codes[found])
    for row in out.items:
        real = row[row >= 0].tolist()
        assert len(real) == len(set(real))


def test_collisions_kept_rank_each_item_by_its_sid_score():
    sizes = [2, 2]
    codes = torch.tensor([[0, 0], [0, 1], [0, 1], [1, 0], [1, 1], [1, 1], [1, 1]])
    model = tiny_tiger("encoder_decoder", codes, sizes)
    tok = SIDTokenizer.from_sids(codes, sizes, collisions="none")
    batch = tok([[0, 3]], return_tensors="pt")
    out = model.generate(**batch, num_beams=4, num_return_sequences=7)
    assert sorted(out.items[0].tolist()) == list(range(7))
    score_of = dict(zip(out.items[0].tolist(), out.scores[0].tolist()))
    assert score_of[1] == score_of[2] and score_of[4] == score_of[5] == score_of[6]
    fewer = model.generate(**batch, num_beams=1, num_return_sequences=1)
    assert fewer.items.shape == (1, 1)


def test_fewer_catalog_items_than_beams_are_padded():
    sizes = [2, 2]
    codes = torch.tensor([[0, 1], [1, 0]])
    model = tiny_tiger("encoder_decoder", codes, sizes)
    out = model.generate(**SIDTokenizer.from_sids(codes, sizes)([[0]], return_tensors="pt"), num_beams=5)
    assert sorted(out.items[0, :2].tolist()) == [0, 1]
    assert out.items[0, 2:].tolist() == [-1, -1, -1] and bool(torch.isinf(out.scores[0, 2:]).all())
    with pytest.raises(NotImplementedError, match="sampling"):
        model.generate(**SIDTokenizer.from_sids(codes, sizes)([[0]], return_tensors="pt"), do_sample=True)
    wide = model.generate(**SIDTokenizer.from_sids(codes, sizes)([[0]], return_tensors="pt"), num_beams=1,
                          num_return_sequences=3)  # unique SIDs: one beam finds one item, the rest is padding
    assert wide.items[0, 1:].tolist() == [-1, -1]


@pytest.mark.parametrize("feed_forward", ["relu", "gated-gelu"])
def test_t5_beam_decoder_matches_transformers(feed_forward):
    sizes = [4, 4, 4]
    codes = random_catalog(30, sizes)
    model = tiny_tiger("encoder_decoder", codes, sizes, feed_forward_proj=feed_forward)
    if feed_forward == "gated-gelu":  # also the tied head's d_model^-1/2 output rescaling
        model.backbone.config.scale_decoder_outputs = True
    tok = SIDTokenizer.from_sids(codes, sizes)
    batch = tok([[0, 1, 2], [4]], return_tensors="pt")  # the second history is padded
    t5 = model.backbone
    decoder = T5BeamDecoder(t5)
    embeds = t5.shared(batch["input_ids"])
    memory = decoder.encode(embeds, batch["attention_mask"])
    assert memory.keys[0].shape[:2] == (2, 2) and memory.keys[0].ndim == 4  # [B, heads, S, d_kv]: one per user
    # the fused encoder equals T5's encoder followed by the cross-attention projections
    encoded = t5.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    valid = batch["attention_mask"].bool()[:, None, :, None]
    for layer, block in enumerate(t5.decoder.block):
        attention = block.layer[1].EncDecAttention
        for ours, projection in ((memory.keys[layer], attention.k), (memory.values[layer], attention.v)):
            theirs = projection(encoded).view(*encoded.shape[:2], TINY["num_heads"], TINY["d_kv"]).transpose(1, 2)
            assert torch.allclose(ours * valid, theirs * valid, atol=1e-5)
    sequences = torch.tensor([[[1, 3, 8, 12], [1, 4, 9, 11], [1, 5, 7, 13]],
                              [[1, 6, 10, 14], [1, 3, 7, 11], [1, 4, 8, 12]]])  # [B, W, t]
    cache = None
    for t in range(sequences.shape[-1]):
        ours, cache = decoder.step(sequences[..., t:t + 1], memory, cache)
        for w in range(sequences.shape[1]):
            reference = t5(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                           decoder_input_ids=sequences[:, w, :t + 1]).logits[:, -1]
            assert torch.allclose(ours[:, w], reference, atol=1e-5)
    assert cache.rows.shape == (6, 4) and cache.next_row == 24
    # re-ranking beams re-indexes the rows only; decoding on from re-ordered beams equals decoding the
    # re-ordered sequences from scratch
    parent = torch.tensor([[2, 2, 0], [1, 0, 0]])
    reordered = cache.select(parent)
    assert torch.equal(reordered.rows[0], cache.rows[2]) and torch.equal(reordered.rows[3], cache.rows[4])
    following = torch.tensor([[[7], [8], [9]], [[10], [11], [12]]])
    ours, _ = decoder.step(following, memory, reordered)
    for b in range(2):
        for w in range(3):
            sequence = torch.cat([sequences[b, parent[b, w]], following[b, w]])[None]
            reference = t5(input_ids=batch["input_ids"][b:b + 1], attention_mask=batch["attention_mask"][b:b + 1],
                           decoder_input_ids=sequence).logits[0, -1]
            assert torch.allclose(ours[b, w], reference, atol=1e-5)


def test_t5_decoding_reuses_buffers_and_follows_weight_updates():
    import copy
    sizes = [4, 4, 4]
    codes = random_catalog(30, sizes)
    model = tiny_tiger("encoder_decoder", codes, sizes)
    tok = SIDTokenizer.from_sids(codes, sizes)
    one, three = tok([[0, 1, 2]], return_tensors="pt"), tok([[5], [0, 1, 2], [7, 8]], return_tensors="pt")
    first = model.generate(**one, num_beams=6)
    wide = model.generate(**three, num_beams=6)  # larger batch: the scratch buffers grow
    again = model.generate(**one, num_beams=6)  # and are reused by a smaller one
    assert torch.equal(first.items, again.items) and torch.allclose(first.scores, again.scores)
    assert torch.equal(wide.items[1], first.items[0]) and torch.allclose(wide.scores[1], first.scores[0], atol=1e-5)
    decoder = T5BeamDecoder.for_model(model.backbone, owner=model)
    assert T5BeamDecoder.for_model(model.backbone, owner=model) is decoder  # cached while the weights stand still
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    model(**three, labels=tok.encode_targets([1, 2, 3])).loss.backward()
    optimizer.step()  # in-place update: the fused weights must be rebuilt
    assert T5BeamDecoder.for_model(model.backbone, owner=model) is not decoder
    fresh = copy.deepcopy(model)
    fresh.__dict__.pop("_t5_beam_decoder", None)
    updated, reference = model.generate(**three, num_beams=6), fresh.generate(**three, num_beams=6)
    assert torch.equal(updated.items, reference.items) and torch.allclose(updated.scores, reference.scores)
    assert not torch.allclose(updated.scores, wide.scores)


def test_concurrent_t5_decoding_in_threads_uses_separate_buffers():
    from concurrent.futures import ThreadPoolExecutor
    sizes = [4, 4, 4]
    codes = random_catalog(30, sizes)
    model = tiny_tiger("encoder_decoder", codes, sizes)
    tok = SIDTokenizer.from_sids(codes, sizes)
    batches = [tok([[u % 30, (u + 3) % 30]], return_tensors="pt") for u in range(8)]
    expected = [model.generate(**b, num_beams=5).items for b in batches]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda b: model.generate(**b, num_beams=5).items, batches))
    assert all(torch.equal(r, e) for r, e in zip(results, expected))


def test_tree_attention_matches_separate_sequences():
    sizes = [4, 4, 4]
    codes = random_catalog(30, sizes)
    model = tiny_tiger("decoder_only", codes, sizes)
    backbone = model.backbone
    g = torch.Generator().manual_seed(0)
    prompt = torch.randn(2, 5, 32, generator=g)
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    state = tree_prompt(backbone, prompt, mask, DynamicCache(config=backbone.config))
    step1 = torch.randn(2, 3, 32, generator=g)
    state = tree_extend(backbone, state, torch.zeros(2, 3, dtype=torch.long), step1)
    parent = torch.tensor([[2, 0], [1, 1]])
    step2 = torch.randn(2, 2, 32, generator=g)
    state = tree_extend(backbone, state, parent, step2)
    for b in range(2):
        for w in range(2):
            sequence = torch.cat([prompt[b], step1[b, parent[b, w]][None], step2[b, w][None]])[None]
            full_mask = torch.cat([mask[b], torch.ones(2, dtype=torch.long)])[None]
            reference = backbone(inputs_embeds=sequence, attention_mask=full_mask,
                                 position_ids=prompt_positions(full_mask)).last_hidden_state[0, -1]
            assert torch.allclose(state.hidden[b, w], reference, atol=1e-5)
    with pytest.raises(ValueError, match="left-padded"):
        tree_prompt(backbone, prompt, torch.tensor([[1, 1, 1, 0, 0]] * 2), DynamicCache(config=backbone.config))


def test_hstu_key_value_cache_matches_separate_sequences():
    hstu = HSTU(dim=32, num_layers=2, num_heads=2, dropout=0.0, max_positions=16, attention_scale=0.1).eval()
    with torch.no_grad():  # non-zero relative biases, so that a wrong query index would show
        for bias in hstu.biases:
            bias.position.normal_()
    g = torch.Generator().manual_seed(0)
    prompt = torch.randn(2, 5, 32, generator=g)
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    step1, step2 = torch.randn(2, 3, 32, generator=g), torch.randn(2, 2, 32, generator=g)
    parent = torch.tensor([[2, 0], [1, 1]])
    with torch.no_grad():
        cache = hstu.start_decoding(prompt, mask)
        assert torch.allclose(cache.hidden[:, 0], hstu(prompt, mask)[:, -1], atol=1e-5)
        cache = hstu.extend_decoding(cache.select(torch.zeros(2, 3, dtype=torch.long)), step1)
        cache = hstu.extend_decoding(cache.select(parent), step2)
        for b in range(2):
            for w in range(2):
                sequence = torch.cat([prompt[b], step1[b, parent[b, w]][None], step2[b, w][None]])[None]
                full_mask = torch.cat([mask[b], torch.ones(2, dtype=torch.long)])[None]
                assert torch.allclose(cache.hidden[b, w], hstu(sequence, full_mask)[0, -1], atol=1e-5)
    with pytest.raises(ValueError, match="left-padded"):
        hstu.start_decoding(prompt, torch.tensor([[1, 1, 1, 0, 0]] * 2))


def test_transformers_generate_with_prefix_fn_returns_the_same_items():
    sizes = [4, 4, 4]
    codes = random_catalog(40, sizes, seed=5)
    model = tiny_tiger("encoder_decoder", codes, sizes, seed=5)
    tok = SIDTokenizer.from_sids(codes, sizes)
    batch = tok([[0, 1, 2], [3, 9]], return_tensors="pt")
    ours = model.generate(**batch, num_beams=8, num_return_sequences=8)
    allowed = trie_prefix_allowed_tokens_fn(model.catalog_trie(), tok.token_offsets, tok.eos_token_id)
    reference = model.backbone.generate(**batch, num_beams=8, num_return_sequences=8, max_new_tokens=3,
                                        prefix_allowed_tokens_fn=allowed, do_sample=False, early_stopping=True,
                                        decoder_start_token_id=tok.bos_token_id, length_penalty=0.0)
    items = torch.tensor([[i[0] for i in tok.decode_items(row[1:4])] for row in reference]).view(2, 8)
    assert torch.equal(items, ours.items)
