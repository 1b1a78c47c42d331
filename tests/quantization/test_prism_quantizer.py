"""PRISM's Purified Semantic Quantizer: each equation (Eq. 2-9) on tiny tensors, the ablation switches, the
official-code options, a short fit, save/load and collision handling."""

import dataclasses
import json
import math

import pytest
import torch

from hf_genrec.quantization import (PrismQuantizer, PrismQuantizerConfig, Quantizer, build_quantizer,
                                    build_semantic_ids, resolve_collisions, sid_quality)
from hf_genrec.quantization.prism import PRESET_COLLISIONS, acd_losses, class_weight_scale, soft_anchor

CONTENT, COLLAB, TAG = 24, 8, 12
CLASSES = [3, 5, 7]


def catalog(n=300, seed=0):
    """Embeddings with cluster structure, a popularity the gate can read off e_collab, tags tied to clusters."""
    g = torch.Generator().manual_seed(seed)
    cluster = torch.randint(12, (n,), generator=g)
    centers = torch.randn(12, CONTENT + COLLAB, generator=g) * 0.4
    x = centers[cluster] + 0.06 * torch.randn(n, CONTENT + COLLAB, generator=g)
    popularity = torch.sigmoid(10 * x[:, CONTENT])
    labels = torch.stack([cluster % 3 + 1, cluster % 5 + 1, cluster % 7 + 1], dim=1)
    labels[:10, 2] = 0  # some items have no tag at the deepest level
    tables = [torch.randn(c, TAG, generator=g) for c in CLASSES]
    return x, popularity, labels, tables


SMALL = dict(content_dim=CONTENT, collab_dim=COLLAB, levels=3, codebook_size=16, hidden_dims=[64, 32], latent_dim=8,
             gate_hidden_dim=16, batch_size=100, learning_rate=3e-3, epochs=3, kmeans_iterations=10)


def config(preset="paper", **overrides):
    return PrismQuantizerConfig.from_preset(preset, **{**SMALL, **overrides})


def fitted(preset="paper", **overrides):
    x, popularity, labels, tables = catalog()
    q = PrismQuantizer(config(preset, **overrides))
    report = q.fit(x, popularity=popularity, tag_labels=labels, tag_embeddings=tables)
    return q, report, (x, popularity, labels, tables)


def with_tags(**overrides):
    """An unfitted quantizer whose HSA modules exist (tag structure given in the config)."""
    return PrismQuantizer(config(tag_classes=CLASSES, tag_dim=TAG, **overrides))


# ---------------------------------------------------------------------------------------------- ACD
def test_gate_is_in_unit_interval_per_collab_dimension_and_gates_the_collab_part():
    q, _, (x, *_) = fitted(epochs=1)
    gate = q.gate_values(x)
    assert gate.shape == (300, COLLAB) and bool(((gate > 0) & (gate < 1)).all())
    q.eval()
    with torch.no_grad():
        parts = q.encode_parts(x)
    assert torch.allclose(parts.gate, gate)
    assert torch.allclose(parts.gated_collab, gate * x[:, CONTENT:])  # Eq. 3
    assert torch.equal(parts.content, x[:, :CONTENT])


def test_acd_loss_variants_match_a_hand_computation():
    gate = torch.tensor([[0.2, 0.4, 0.9, 0.5], [0.1, 0.1, 0.3, 0.3]])
    popularity = torch.tensor([0.7, 0.0])
    means = [0.5, 0.2]
    alignment = ((0.5 - 0.7) ** 2 + (0.2 - 0.0) ** 2) / 2
    # within one item: population variance of its 4 gate elements
    var = [sum((v - m) ** 2 for v in row) / 4 for row, m in zip(gate.tolist(), means)]
    within = sum(max(0.0, 0.1 - v) for v in var) / 2
    a, d = acd_losses(gate, popularity, "within_item", margin=0.1)
    assert float(a) == pytest.approx(alignment) and float(d) == pytest.approx(within)
    assert 0 < var[1] < var[0] < 0.1  # both hinges active
    # across the batch (2c5e414): unbiased variance of the per-item mean gate
    batch_var = ((0.5 - 0.35) ** 2 + (0.2 - 0.35) ** 2) / 1
    a, d = acd_losses(gate, popularity, "across_batch", margin=0.09)
    assert float(a) == pytest.approx(alignment) and float(d) == pytest.approx(max(0.0, 0.09 - batch_var))
    assert float(acd_losses(gate, popularity, "across_batch", margin=0.01)[1]) == 0.0  # hinge inactive
    assert float(acd_losses(gate[:1], popularity[:1], "across_batch")[1]) == 0.0  # one item: no batch variance


def test_acd_term_in_the_loss_uses_the_diversity_weight():
    x, popularity, labels, _ = catalog(n=40)
    q = with_tags(acd_diversity_weight=3.5, gate_variance="across_batch", acd_margin=0.5)
    with torch.no_grad():
        terms, _, _ = q.losses(x, popularity=popularity, tag_labels=labels)
    assert float(terms["acd"]) == pytest.approx(float(terms["acd_alignment"] + 3.5 * terms["acd_diversity"]))
    with pytest.raises(ValueError, match="popularity"):
        q.losses(x, tag_labels=labels)


# ---------------------------------------------------------------------------------------------- HSA
def test_soft_anchor_is_eq6_against_an_explicit_softmax():
    g = torch.Generator().manual_seed(1)
    anchors, codebook, tau = torch.randn(3, 4, generator=g), torch.randn(5, 4, generator=g), 0.15
    for squared in (True, False):
        prototypes, alpha = soft_anchor(anchors, codebook, tau, squared=squared)
        for t in range(3):
            distance = [float(((anchors[t] - codebook[k]) ** 2).sum()) for k in range(5)]
            distance = distance if squared else [math.sqrt(d) for d in distance]
            weights = [math.exp(-d / tau) for d in distance]
            expected_alpha = [w / sum(weights) for w in weights]
            assert alpha[t].tolist() == pytest.approx(expected_alpha, rel=1e-4, abs=1e-6)
            expected = sum(a * codebook[k] for k, a in enumerate(expected_alpha))
            assert torch.allclose(prototypes[t], expected, atol=1e-5)


@pytest.mark.parametrize("update", ["ema", "gradient"])
def test_anchor_trains_the_projector_and_moves_codebooks_only_without_ema(update):
    q = with_tags(codebook_update=update)
    for level, table in enumerate(catalog()[3]):
        getattr(q, f"tag_embeddings_{level}").copy_(table)
    q.anchor_loss(1).backward()
    assert q.tag_projectors[1].weight.grad.abs().sum() > 0 and q.tag_projectors[0].weight.grad is None
    assert q.codebooks[1].requires_grad == (update == "gradient")
    if update == "gradient":
        assert q.codebooks[1].grad.abs().sum() > 0 and q.codebooks[0].grad is None


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_tag_classifiers_read_the_concatenated_codewords_of_levels_1_to_l(kind):
    q = PrismQuantizer(PrismQuantizerConfig(tag_classes=[9, 41, 130], tag_dim=768, tag_classifier=kind, tag_projector=kind))
    for level, classifier in enumerate(q.tag_classifiers):
        linears = [m for m in classifier.modules() if isinstance(m, torch.nn.Linear)]
        assert linears[0].in_features == 32 * (level + 1)
        assert linears[-1].out_features == [9, 41, 130][level] + 1  # class 0 = PAD
        if kind == "mlp":  # official widths h, h/2 with h = max(64 l, 128)
            assert [m.out_features for m in linears[:-1]] == [max(64 * (level + 1), 128), max(64 * (level + 1), 128) // 2]
    projector = [m for m in q.tag_projectors[0].modules() if isinstance(m, torch.nn.Linear)]
    assert (projector[0].in_features, projector[-1].out_features) == (768, 32)
    assert len(projector) == (1 if kind == "linear" else 2)


def test_classification_ignores_pad_and_level_reduction():
    x, popularity, labels, tables = catalog(n=50)
    labels[:, 2] = 0  # no deepest tag in this batch at all
    for reduction in ("sum", "mean"):
        q = with_tags(hsa_level_reduction=reduction)
        q.eval()
        with torch.no_grad():
            terms, codes, _ = q.losses(x, popularity=popularity, tag_labels=labels)
            vectors = torch.stack([c[codes[:, l]] for l, c in enumerate(q.codebooks)], 1)
            ce = [torch.nn.functional.cross_entropy(q.tag_classifiers[l](vectors[:, :l + 1].flatten(1)), labels[:, l])
                  for l in range(2)]
        expected = (ce[0] + ce[1]) / (2 if reduction == "mean" else 1)
        assert float(terms["hsa_class"]) == pytest.approx(float(expected), rel=1e-5)


# ---------------------------------------------------------------------------------------------- DHR
def test_dual_head_shapes_targets_and_the_mse_and_cosine_variants():
    x, popularity, labels, _ = catalog(n=20)
    for loss, reduction in [("mse", "sum"), ("mse", "mean"), ("cosine", "sum")]:
        q = with_tags(recon_loss=loss, norm_reduction=reduction, collab_recon_weight=2.0)
        q.eval()
        with torch.no_grad():
            parts = q.encode_parts(x)
            outputs = q.decode(parts.latent)
            terms = q.reconstruction_losses(outputs, parts)
        assert outputs["content"].shape == (20, CONTENT) and outputs["collab"].shape == (20, COLLAB)
        if loss == "cosine":
            content = (1 - torch.nn.functional.cosine_similarity(outputs["content"], x[:, :CONTENT])).mean()
            collab = (1 - torch.nn.functional.cosine_similarity(outputs["collab"], parts.gated_collab)).mean()
        else:
            per_row = (lambda d: d.sum(-1).mean()) if reduction == "sum" else (lambda d: d.mean())
            content = per_row((outputs["content"] - x[:, :CONTENT]) ** 2)
            collab = per_row((outputs["collab"] - parts.gated_collab) ** 2)  # target: the gated collab
        assert float(terms["content_reconstruction"]) == pytest.approx(float(content), rel=1e-5)
        assert float(terms["collab_reconstruction"]) == pytest.approx(float(collab), rel=1e-5)
        assert float(terms["reconstruction"]) == pytest.approx(float(content + 2.0 * collab), rel=1e-5)
    # official head widths for 768 / 64: 512 -> 1536 -> 768 and 512 -> 256 -> 64
    full = PrismQuantizer(PrismQuantizerConfig())
    widths = {name: [m.out_features for m in head.modules() if isinstance(m, torch.nn.Linear)]
              for name, head in full.decoder.heads.items()}
    assert widths == {"content": [1536, 768], "collab": [256, 64]}
    assert [m.out_features for m in full.decoder.trunk if isinstance(m, torch.nn.Linear)] == [128, 256, 512]


# ---------------------------------------------------------------------------------------------- commitment
@pytest.mark.parametrize("mode", ["all", "first", "total"])
def test_commitment_gradient_reaches_the_encoder_from_the_chosen_levels(mode):
    options = {"commitment": "total"} if mode == "total" else {"commit_level_grad": mode}
    q = with_tags(**options)
    z = torch.randn(6, 8, generator=torch.Generator().manual_seed(2), requires_grad=True)
    terms, quantized = q.quantize_with_losses(z)
    (grad,) = torch.autograd.grad(terms["commitment"], z)
    inputs = [r.detach() for r in quantized.inputs]
    chosen = [e.detach() for e in quantized.chosen]
    if mode == "total":
        expected = 2 * (z.detach() - sum(chosen)) / 6
    else:
        levels = range(3) if mode == "all" else range(1)
        expected = sum(2 * (inputs[l] - chosen[l]) / 6 for l in levels)
    assert torch.allclose(grad, expected, atol=1e-6)
    # the classifier input q_2 passes gradient to the encoder only when every level does
    q2 = [r + (e - r).detach() for r, e in zip(quantized.inputs, quantized.chosen)][1]
    assert q2.requires_grad == (mode != "first")


# ---------------------------------------------------------------------------------------------- Eq. 9 and training
@pytest.mark.parametrize("preset", ["paper", "official"])
def test_short_fit_lowers_the_losses_and_the_total_is_eq9(preset):
    # paper: with the squared error, an un-detached target g * e_collab pulls the gate towards 0 and the ACD
    # alignment up on this data; detaching the target lets the gate follow the popularity
    q, report, (x, *_) = fitted(preset, epochs=12, detach_collab_target=preset == "paper")
    history = report["history"]
    first, last = history[0], history[-1]
    for term in ("loss", "reconstruction", "hsa_class", "hsa_anchor", "acd_alignment"):  # (k-means starts commitment low)
        assert last[term] < first[term], term
    c = q.config
    for row in history:  # the epoch means are linear in the batch terms, so Eq. 9 holds for them too
        scale = class_weight_scale(row["epoch"]) if preset == "official" else 1.0
        total = (row["reconstruction"] + c.beta * row["commitment"] + c.acd_weight * row["acd"]
                 + scale * c.class_weight * row["hsa_class"] + c.anchor_weight * row["hsa_anchor"])
        assert row["loss"] == pytest.approx(total, rel=1e-5)
    assert report["best_loss"] == pytest.approx(min(row["loss"] for row in history))
    codebook = q.config.codebook_sizes
    assert all(len(row["code_perplexity"]) == 3 and all(1 <= p <= k for p, k in zip(row["code_perplexity"], codebook))
               and len(row["unused_codes"]) == 3 for row in history)  # the collapse diagnostics of every epoch
    json.dumps(report)
    assert q.encode(x).shape == (300, 3) and q.item_quantized_vectors(x).shape == (300, 3, 8)
    tags = q.predict_tags(x)
    assert tags.shape == (300, 3) and bool((tags[:, 0] <= 3).all())


def test_official_curriculum_schedule():
    assert [class_weight_scale(e) for e in range(7)] == [0, 0, 0, 0, 0, 0.05, 0.1]
    assert class_weight_scale(23) == pytest.approx(0.95) and class_weight_scale(24) == 1 == class_weight_scale(400)


def test_save_load_round_trips_sids_tags_gates_and_tag_tables(tmp_path):
    q, _, (x, _, _, tables) = fitted(epochs=2)
    q.save_pretrained(tmp_path)
    loaded = Quantizer.from_pretrained(tmp_path)
    assert type(loaded) is PrismQuantizer
    assert loaded.state_dict().keys() == q.state_dict().keys()
    for key, value in q.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key
    assert torch.equal(loaded.encode(x), q.encode(x))
    assert torch.equal(loaded.predict_tags(x), q.predict_tags(x))
    assert torch.equal(loaded.gate_values(x), q.gate_values(x))
    assert all(torch.equal(a, b) for a, b in zip(loaded.tag_embeddings(), tables))
    saved = json.loads((tmp_path / "quantizer_config.json").read_text())
    assert saved["tag_classes"] == CLASSES and saved["tag_dim"] == TAG and saved["quantizer_type"] == "prism"


def test_ablation_switches_remove_exactly_their_component():
    x, popularity, labels, tables = catalog(n=120)

    def run(**switches):
        q = PrismQuantizer(config(epochs=1, **switches))
        report = q.fit(x, popularity=popularity, tag_labels=labels, tag_embeddings=tables)
        prefixes = {key.split(".")[0] for key in q.state_dict()}
        return q, set(report["final"]), prefixes

    full, full_terms, full_modules = run()
    assert {"gate", "tag_projectors", "tag_classifiers", "tag_embeddings_0"} <= full_modules
    assert {"acd", "hsa_class", "hsa_anchor", "content_reconstruction", "collab_reconstruction"} <= full_terms
    _, terms, modules = run(use_acd=False)
    assert full_modules ^ modules == {"gate"} and full_terms ^ terms == {"acd", "acd_alignment", "acd_diversity", "gate_mean"}
    _, terms, modules = run(use_hsa=False)
    assert full_modules ^ modules == {"tag_projectors", "tag_classifiers", "tag_embeddings_0", "tag_embeddings_1",
                                      "tag_embeddings_2"}
    assert full_terms ^ terms == {"hsa_class", "hsa_anchor"}
    no_dhr, terms, modules = run(use_dhr=False)
    assert modules == full_modules and set(no_dhr.decoder.heads) == {"joint"} and set(full.decoder.heads) == {"content", "collab"}
    assert full_terms ^ terms == {"content_reconstruction", "collab_reconstruction"}
    with torch.no_grad():  # the single head reconstructs e_cont || e_collab with the *un-gated* collab
        no_dhr.eval()
        parts = no_dhr.encode_parts(x)
        recon = no_dhr.reconstruction_losses(no_dhr.decode(parts.latent), parts)["reconstruction"]
        assert float(recon) == pytest.approx(float((no_dhr.decode(parts.latent)["joint"] - x).pow(2).sum(-1).mean()), rel=1e-5)
    # switched-off components need no inputs
    PrismQuantizer(config(epochs=1, use_acd=False, use_hsa=False)).fit(x)
    with pytest.raises(RuntimeError, match="use_acd is off"):
        PrismQuantizer(config(use_acd=False)).gate_values(x)
    # the official fusion LayerNorm exists only with ACD
    assert "fusion_norm" in run(fusion_norm=True)[2] and "fusion_norm" not in run(fusion_norm=True, use_acd=False)[2]


@pytest.mark.parametrize("update", ["ema", "gradient"])
def test_codebook_update_modes(update):
    q, report, _ = fitted(epochs=1, codebook_update=update)
    names = set(q.state_dict())
    assert ("ema_count_0" in names) == (update == "ema")
    assert ("codebook" in report["final"]) == (update == "gradient")
    assert all(p.requires_grad == (update == "gradient") for p in q.codebooks)


# ---------------------------------------------------------------------------------------------- collisions
def test_sinkhorn_and_first_free_deduplicate_prism_sids():
    x, popularity, labels, tables = catalog(n=150)
    q = PrismQuantizer(config(codebook_size=[3, 3, 24], epochs=2))
    q.fit(x, popularity=popularity, tag_labels=labels, tag_embeddings=tables)
    raw = q.encode(x)
    assert sid_quality(raw, q.codebook_sizes)["collision_rate"] > 0
    for mode in ("sinkhorn", "first_free"):
        codes, sizes, report = resolve_collisions(raw, mode, q, x)
        assert sizes == [3, 3, 24] and len(torch.unique(codes, dim=0)) == 150, mode
        assert report["moved_items"] == 150 - len(torch.unique(raw, dim=0))
    _, sids = build_semantic_ids(x, quantizer=q, collisions=PRESET_COLLISIONS["paper"])
    assert sids.quality["collision_rate"] == 0.0 and torch.equal(sids.raw_codes, raw)


def test_first_free_gives_the_lowest_free_code_under_the_prefix():
    codes = torch.tensor([[0, 0, 0], [0, 0, 0], [0, 0, 1], [0, 0, 0], [1, 1, 2], [1, 1, 2]])
    new, sizes, report = resolve_collisions(codes, "first_free", quantizer=None)
    # sizes inferred as max + 1 = [2, 2, 3]; item 0 keeps (0,0,0), item 1 takes the free (0,0,2),
    # item 3 finds (0,0,*) full and takes the lowest free SID under (0,*): (0,1,0); item 5 takes (1,1,0)
    assert new.tolist() == [[0, 0, 0], [0, 0, 2], [0, 0, 1], [0, 1, 0], [1, 1, 2], [1, 1, 0]]
    assert report == {"mode": "first_free", "moved_items": 3, "moved_outside_prefix": 1}


# ---------------------------------------------------------------------------------------------- config
def test_presets_and_config_errors():
    official = PrismQuantizerConfig.from_preset("official")
    assert (official.recon_loss, official.commit_level_grad, official.gate_variance, official.fusion_norm) == \
        ("cosine", "first", "across_batch", True)
    assert (official.class_weight, official.anchor_weight, official.collab_recon_weight) == (0.25, 0.3, 2.0)
    paper = PrismQuantizerConfig.from_preset("paper")
    assert paper == PrismQuantizerConfig()
    assert (paper.class_weight, paper.anchor_weight, paper.acd_weight, paper.acd_margin, paper.beta) == (0.2, 0.2, 0.8, 0.1, 0.25)
    assert (paper.levels, paper.codebook_sizes, paper.latent_dim, paper.input_dim, paper.ema) == (3, [256] * 3, 32, 832, True)
    assert (paper.learning_rate, paper.weight_decay, paper.batch_size, paper.epochs, paper.max_grad_norm) == \
        (1e-4, 1e-4, 512, 500, 1.0)
    assert build_quantizer("prism", input_dim=832).config == dataclasses.replace(paper, quantizer_type="prism")
    with pytest.raises(ValueError, match="preset must be one of"):
        PrismQuantizerConfig.from_preset("head")
    with pytest.raises(ValueError, match=r"input_dim \(100\) must equal content_dim \(768\) \+ collab_dim \(64\)"):
        PrismQuantizerConfig(input_dim=100)
    with pytest.raises(ValueError, match="recon_loss must be one of"):
        PrismQuantizerConfig(recon_loss="l1")
    with pytest.raises(ValueError, match="contradicts codebook_update"):
        PrismQuantizerConfig(ema=False)
    assert PrismQuantizerConfig(codebook_update="gradient").ema is False


def test_fit_input_errors_name_the_argument():
    x, popularity, labels, tables = catalog(n=30)
    q = PrismQuantizer(config(epochs=1))
    with pytest.raises(ValueError, match="popularity"):
        q.fit(x, tag_labels=labels, tag_embeddings=tables)
    with pytest.raises(ValueError, match=r"popularity must lie in \[0, 1\]"):
        q.fit(x, popularity=popularity * 5, tag_labels=labels, tag_embeddings=tables)
    with pytest.raises(ValueError, match="tag_embeddings"):
        q.fit(x, popularity=popularity, tag_labels=labels)
    with pytest.raises(ValueError, match="tag_labels of level l must be in 0..n_l"):
        q.fit(x, popularity=popularity, tag_labels=labels + 5, tag_embeddings=tables)
    with pytest.raises(ValueError, match=r"tag_labels must be integer \[30, 3\]"):
        q.fit(x, popularity=popularity, tag_labels=labels[:, :2], tag_embeddings=tables)
    with pytest.raises(TypeError, match="no per-item inputs"):
        build_quantizer("rqvae", input_dim=32, epochs=1).fit(x, popularity=popularity)
    assert not bool(q.fitted)
