"""PRISM's Integrated Semantic Recommender: each equation (10-18) against a hand computation on tiny tensors, the
ablation switches, and the presets. The common model suite (tests/models/test_common.py) covers the rest."""

import pytest
import torch
from helpers.tiny import CODES, SIZES, TINY_TIGER_T5, item_features
from torch.nn import functional as F

from hf_genrec.generation.temperature import AdaptiveTemperature
from hf_genrec.models import build_model
from hf_genrec.models.prism import PrismConfig, prism_preset
from hf_genrec.models.prism.dsi import (DepthProjector, DynamicSemanticIntegration, EnhancedIdEmbedding,
                                        NoisyTopKMoE, interval_buckets)
from hf_genrec.tokenization import SIDTokenizer

SMALL = dict(TINY_TIGER_T5, moe_dim=8, content_proj_dim=8, collab_proj_dim=4, dropout_rate=0.0)


def prism(seed=0, **options):
    tok = SIDTokenizer.from_sids(CODES, SIZES)
    torch.manual_seed(seed)
    model = build_model("prism", tok, **item_features("prism", CODES, SIZES, seed), **{**SMALL, **options})
    return model.eval(), tok


def batch(tok, timestamps=True):
    enc = dict(tok([[0, 1, 2], [5], [7, 3]], mode="item", return_tensors="pt"))
    if timestamps:
        enc["timestamps"] = torch.tensor([[10, 12, 40], [0, 0, 5], [0, 3, 3]])
    enc["labels"] = CODES[torch.tensor([4, 6, 8])]
    enc["target_items"] = torch.tensor([4, 6, 8])
    return enc


def test_eq10_additive_and_official_enhanced_id_embedding():
    torch.manual_seed(0)
    layer = EnhancedIdEmbedding(4, max_items=5, levels=3, time="delta_t", time_buckets=6)
    tokens = torch.randn(1, 6, 4)
    position, level, bucket = torch.tensor([[0, 0, 0, 1, 1, 1]]), torch.tensor([[0, 1, 2, 0, 1, 2]]), torch.tensor(
        [[0, 0, 0, 3, 3, 3]])
    expected = tokens + layer.sequence_position(position) + layer.depth(level) + layer.time_table(bucket)
    assert torch.allclose(layer(tokens, position, level, bucket), expected)
    with pytest.raises(ValueError, match="timestamps"):
        layer(tokens, position, level, None)
    official = EnhancedIdEmbedding(4, 5, 3, time="position", mode="official", dropout=0.0, scale_init=0.1)
    extra = official.sequence_position(position) + official.depth(level) + official.time_table(position)
    hand = tokens + 0.1 * (F.layer_norm(tokens + extra, (4,)) - tokens)
    assert torch.allclose(official(tokens, position, level), hand, atol=1e-6)


def test_interval_buckets_are_log2_of_the_gap_to_the_previous_item():
    stamps = torch.tensor([[0, 0, 100, 101, 105, 1105]])
    mask = torch.tensor([[False, True, True, True, True, True]])
    # padding and the first real item -> 0; a gap g >= 1 -> 1 + floor(log2 g): 100 -> 7, 1 -> 1, 4 -> 3, 1000 -> 10
    assert interval_buckets(stamps, mask, 64).tolist() == [[0, 0, 7, 1, 3, 10]]
    assert interval_buckets(stamps, mask, 4).tolist() == [[0, 0, 3, 1, 3, 3]]  # capped at buckets - 1


def test_eq12_13_top_k_routing_weights():
    torch.manual_seed(0)
    moe = NoisyTopKMoE(6, 5, num_experts=3, top_k=2, noise_std=1.0).eval()
    x = torch.randn(50, 6)
    weights = moe.routing_weights(x)
    assert ((weights > 0).sum(-1) == 2).all()
    assert torch.allclose(weights.sum(-1), torch.ones(50))
    logits = moe.router(x)
    top, index = logits.topk(2, -1)
    assert torch.allclose(weights.gather(-1, index), F.softmax(top, -1))
    expected = sum(weights[:, i, None] * moe.experts[i](x) for i in range(3))
    assert torch.allclose(moe(x), expected, atol=1e-6)
    assert torch.equal(moe.routing_weights(x), weights)  # no noise in eval mode
    moe.train()
    assert not torch.equal(moe.routing_weights(x), weights)  # Eq. 12's noise in training


def test_eq11_14_composite_input_and_fusion():
    torch.manual_seed(0)
    dsi = DynamicSemanticIntegration(dim=4, content_dim=7, collab_dim=5, codebook_dim=3, levels=2, content_proj_dim=6,
                                     collab_proj_dim=2, num_experts=3, top_k=2, moe_dim=8, eta_init=0.3).eval()
    ids, content, collab, q = torch.randn(1, 4, 4), torch.randn(1, 2, 7), torch.randn(1, 2, 5), torch.randn(1, 4, 3)
    x = dsi.composite(ids, content, collab, q)
    assert x.shape == (1, 4, 4 + 6 + 2 + 3)
    # token (item 1, depth 1) carries depth 1's projection of item 1's content
    assert torch.allclose(x[0, 3, 4:10], dsi.content.layers[1](content[0, 1]))
    assert torch.allclose(x[0, 2, 4:10], dsi.content.layers[0](content[0, 1]))
    assert torch.allclose(dsi(ids, content, collab, q), ids + 0.3 * dsi.out(dsi.moe(x)), atol=1e-6)
    shared = DepthProjector(7, 6, levels=2, depth_specific=False)
    assert len(shared.layers) == 1 and len(dsi.content.layers) == 2


def test_eq16_temperatures_match_the_spec_tables():
    paper = AdaptiveTemperature(num_items=12_100)  # N_ref = 55
    for n, tau in ((1, 0.995), (20, 0.917), (100, 0.701), (250, 0.552)):
        assert float(paper(1, torch.tensor([n]))) == pytest.approx(tau, abs=1e-3)
    official = AdaptiveTemperature(12_100, tau_min=0.7, tau_max=0.8, n_ref=50.0, start_level=1)
    assert float(official(0, torch.tensor([250]))) == 1.0
    for n, tau in ((1, 0.799), (40, 0.767), (100, 0.737)):
        assert float(official(1, torch.tensor([n]))) == pytest.approx(tau, abs=1e-3)


def test_target_branching_counts_catalog_children():
    model, tok = prism()
    labels = CODES[:7]
    branching = model.target_branching(labels)
    for row, codes in zip(branching.tolist(), labels.tolist()):
        expected = [len({tuple(c[:level + 1]) for c in CODES.tolist() if c[:level] == codes[:level]})
                    for level in range(len(SIZES))]
        assert row == expected


def test_eq17_ats_loss_and_its_switch():
    model, tok = prism(use_ssa=False)
    inputs = batch(tok)
    labels = inputs["labels"]
    out = model(**inputs)
    # by hand: level-wise softmax over V_l of logits / tau(N_l)
    embeds, mask = model.fused_history(inputs["input_ids"], inputs["attention_mask"], inputs["item_ids"],
                                       inputs["timestamps"])
    bos = torch.full((3, 1), model.config.bos_token_id)
    dec = torch.cat([bos, (labels + model.token_offsets)[:, :-1]], 1)
    logits = model.backbone(inputs_embeds=embeds, attention_mask=mask, decoder_input_ids=dec).logits
    tau = AdaptiveTemperature(model.config.num_items)
    branching = model.target_branching(labels)
    total = 0.0
    for level in range(3):
        start, size = model.config.token_offsets[level], SIZES[level]
        scaled = logits[:, level, start:start + size] / tau(level, branching[:, level])[:, None]
        total = total + F.cross_entropy(scaled, labels[:, level], reduction="sum")
    assert torch.allclose(out.loss, total / labels.numel(), atol=1e-5)
    # a flat schedule (tau = 1) gives the loss of the model without ATS
    flat = prism(use_ssa=False, ats_tau_min=1.0, ats_tau_max=1.0)[0](**inputs).loss
    plain = prism(use_ssa=False, use_ats=False)[0](**inputs).loss
    assert torch.allclose(flat, plain, atol=1e-6)
    assert not torch.allclose(out.loss, plain)


def test_eq15_ssa_against_a_hand_computation():
    model, tok = prism()
    inputs = batch(tok)
    out = model(**inputs)
    states = torch.randn(3, 3, 16)
    terms = model.ssa_loss(states, inputs["labels"], inputs["target_items"])
    codewords = model.codebook_vectors
    offsets = model.config.code_offsets
    tags = model.item_tags[inputs["target_items"]].long()
    reg, cls = [], []
    for level in range(3):
        target = codewords[offsets[level] + inputs["labels"][:, level]]
        reg.append(((model.ssa_regressors[level](states[:, level]) - target) ** 2).sum(-1).mean())
        if (tags[:, level] > 0).any():
            cls.append(F.cross_entropy(model.ssa_classifiers[level](states[:, level]), tags[:, level], ignore_index=0))
    assert torch.allclose(terms["ssa_regression"], torch.stack(reg).mean(), atol=1e-6)
    assert torch.allclose(terms["ssa_tags"], torch.stack(cls).mean(), atol=1e-6)
    # Eq. 18: L = L_gen + gamma * L_ssa, with o_l the decoder's last states (what the LM head reads)
    expected = out.loss_terms["generation"] + 5e-4 * (out.loss_terms["ssa_regression"] + out.loss_terms["ssa_tags"])
    assert torch.allclose(out.loss, expected, atol=1e-6)
    # zero regression error when the heads output the targets exactly
    with torch.no_grad():
        for level in range(3):
            model.ssa_regressors[level].weight.zero_()
        one_target = codewords[offsets[0] + 2]
        model.ssa_regressors[0].bias.copy_(one_target)
    labels = torch.tensor([[2, 0, 0]])
    assert float(model.ssa_loss(states[:1], labels, torch.tensor([0]))["ssa_regression"].detach()) == pytest.approx(
        float(sum((codewords[offsets[lvl]] ** 2).sum() for lvl in (1, 2)) / 3), rel=1e-5)


def test_decoder_states_are_the_lm_head_inputs():
    model, tok = prism()
    inputs = batch(tok)
    embeds, mask = model.fused_history(inputs["input_ids"], inputs["attention_mask"], inputs["item_ids"],
                                       inputs["timestamps"])
    dec = torch.full((3, 1), model.config.bos_token_id)
    out = model.backbone(inputs_embeds=embeds, attention_mask=mask, decoder_input_ids=dec, output_hidden_states=True)
    assert torch.allclose(model.backbone.lm_head(out.decoder_hidden_states[-1]), out.logits, atol=1e-5)


@pytest.mark.parametrize("switch, absent", [("use_dsi", "dsi."), ("use_ssa", "ssa_")])
def test_ablation_switches_remove_exactly_their_component(switch, absent):
    full, tok = prism()
    ablated, _ = prism(**{switch: False})
    full_names = {n for n, _ in full.named_parameters()}
    ablated_names = {n for n, _ in ablated.named_parameters()}
    assert {n for n in full_names - ablated_names} == {n for n in full_names if n.startswith(absent)}
    assert not any(n.startswith(absent) for n in ablated_names)
    out = ablated(**batch(tok))
    assert torch.isfinite(out.loss)
    if switch == "use_ssa":
        assert set(out.loss_terms) == {"generation"}
    else:  # without DSI the encoder input is Eq. 10 alone, and the model reads no content/collab features
        names = {f.name for f in type(ablated).item_feature_spec(ablated.config)}
        assert "content_embeddings" not in names and "collab_embeddings" not in names


def test_presets_and_config_errors():
    official = prism_preset("official")
    assert official["ats_start_level"] == 1 and official["loss_vocabulary"] == "vocab"
    assert prism_preset("paper") == {}
    with pytest.raises(ValueError, match="unknown PRISM preset"):
        prism_preset("nope")
    with pytest.raises(ValueError, match="encoder_decoder"):
        PrismConfig(architecture="decoder_only")
    with pytest.raises(ValueError, match="moe_top_k"):
        PrismConfig(moe_top_k=4)
    with pytest.raises(ValueError, match="tag_classes"):
        build_model("prism", SIDTokenizer.from_sids(CODES, SIZES), content_embeddings=torch.randn(len(CODES), 4),
                    collab_embeddings=torch.randn(len(CODES), 4), codebooks=[torch.randn(s, 2) for s in SIZES],
                    tag_levels=3, **SMALL)


def test_delta_t_needs_timestamps_and_uses_them():
    model, tok = prism(time_encoding="delta_t")
    inputs = batch(tok)
    with pytest.raises(ValueError, match="timestamps"):
        model(**{k: v for k, v in inputs.items() if k != "timestamps"})
    moved = dict(inputs, timestamps=inputs["timestamps"] * 1000)
    assert not torch.allclose(model(**inputs).loss, model(**moved).loss)
    out = model.generate(**{k: v for k, v in inputs.items() if k not in ("labels", "target_items")}, num_beams=5)
    assert bool((out.items >= 0).all())
