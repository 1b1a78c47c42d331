"""DECOR: each equation (9-19) against a hand computation on tiny tensors, Table 2's ablation switches, the all-off
model against TIGER, and the fast decoder's embedding inputs. The common model suite covers decoding, saving and
loading, remote code and gradients."""

import warnings

import pytest
import torch
from helpers.tiny import CODES, SIZES, TINY_TIGER_T5, item_features
from torch.nn import functional as F

from hf_genrec.generation.t5_beam_decoder import T5BeamDecoder
from hf_genrec.models import build_model
from hf_genrec.models.decor import DecorConfig, DecorForGenerativeRecommendation, decor_ablation
from hf_genrec.models.decor.composition import AttentionPooledContext, DecomposedEmbeddingFusion, TokenComposition
from hf_genrec.tokenization import SIDTokenizer

SMALL = dict(TINY_TIGER_T5, dropout_rate=0.0, num_bos_queries=4)
HISTORIES = [[0, 1, 2], [5], [7, 3]]


def decor(seed=0, **options):
    tok = SIDTokenizer.from_sids(CODES, SIZES)
    torch.manual_seed(seed)
    model = build_model("decor", tok, **item_features("decor", CODES, SIZES, seed), **{**SMALL, **options})
    return model.eval(), tok


def flat_batch(tok, targets=(4, 6, 8)):
    batch = dict(tok(HISTORIES, mode="flat", return_tensors="pt"))
    batch["labels"] = CODES[torch.tensor(targets)]
    return batch


def test_eq9_11_fusion_by_hand_and_zero_codewords_for_special_and_uncoded_tokens():
    torch.manual_seed(0)
    fusion = DecomposedEmbeddingFusion(codebook_dim=3, hidden_size=4, projection_dim=5)
    pre, collab = torch.randn(6, 3), torch.randn(6, 4)
    hand = fusion.fuse(torch.cat([F.layer_norm(pre @ fusion.pretrained_projection.weight.t(), (5,)),
                                  F.layer_norm(collab @ fusion.collab_projection.weight.t(), (5,))], -1))
    assert torch.allclose(fusion(pre, collab), hand, atol=1e-6)

    model, _ = decor()
    table = model.static_table()
    pretrained = torch.cat([torch.zeros(3, model.codebook_vectors.shape[1]), model.codebook_vectors])
    assert torch.allclose(table, model.fusion(pretrained, model.backbone.shared.weight))
    # the special tokens read a zero codeword: their fused row depends on E_collab only
    assert torch.allclose(model.fusion.pretrained_norm(model.fusion.pretrained_projection(torch.zeros(1, 6))),
                          model.fusion.pretrained_norm.bias[None], atol=1e-6)


def test_eq9_pretrained_table_is_frozen_and_the_rest_trains():
    model, tok = decor()
    model.train()
    before = model.codebook_vectors.clone()
    assert "codebook_vectors" not in dict(model.named_parameters())
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model(**flat_batch(tok)).loss.backward()
    for name in ("fusion.pretrained_projection.weight", "fusion.collab_projection.weight", "fusion.fuse.weight",
                 "context_pool.score_projection.weight", "composition.query.weight", "bos_queries",
                 "backbone.shared.weight"):
        assert dict(model.named_parameters())[name].grad.abs().sum() > 0, name
    optimizer.step()
    assert torch.equal(model.codebook_vectors, before)


def test_eq13_15_attention_pooling_by_hand_with_padding_masked():
    torch.manual_seed(0)
    pool = AttentionPooledContext(hidden_size=4, projection_dim=3, num_layers=2)
    tokens = torch.randn(2, 5, 4)
    mask = torch.tensor([[1, 1, 1, 0, 0], [0, 1, 1, 1, 1]]).bool()
    scores = torch.tanh(tokens @ pool.score_projection.weight.t() + pool.score_projection.bias) @ pool.score_vector.weight.t()
    weights = torch.softmax(scores.squeeze(-1).masked_fill(~mask, float("-inf")), -1)
    hand = pool.mlp((weights[..., None] * tokens).sum(1))
    assert torch.allclose(pool(tokens, mask), hand, atol=1e-6)
    changed = tokens.clone()
    changed[0, 3:] = 100.0  # padding does not matter
    changed[1, 0] = -7.0
    assert torch.allclose(pool(changed, mask), hand, atol=1e-6)
    # the running sums extended by more tokens equal pooling over the concatenation
    more = torch.randn(2, 2, 4)
    extended = pool.read(pool.extend(pool.summarize(tokens, mask), more[:, None], torch.ones(2, 1, 2).bool()))[:, 0]
    assert torch.allclose(extended, pool(torch.cat([tokens, more], 1), torch.cat([mask, torch.ones(2, 2).bool()], 1)),
                          atol=1e-5)


def test_eq16_17_composition_weights_sum_to_one_over_the_level_region():
    torch.manual_seed(0)
    composition = TokenComposition(hidden_size=4)
    context, candidates = torch.randn(3, 4), torch.randn(5, 4)
    weights = composition.weights(context, candidates)
    hand = torch.softmax((context @ composition.query.weight.t()) @ (candidates @ composition.key.weight.t()).t(), -1)
    assert torch.allclose(weights, hand, atol=1e-6) and torch.allclose(weights.sum(-1), torch.ones(3))
    assert torch.allclose(composition(context, candidates), hand @ candidates, atol=1e-6)
    scaled = TokenComposition(hidden_size=4, scale="sqrt_d")
    scaled.load_state_dict(composition.state_dict())
    logits = (context @ composition.query.weight.t()) @ (candidates @ composition.key.weight.t()).t() / 2.0
    assert torch.allclose(scaled.weights(context, candidates), torch.softmax(logits, -1), atol=1e-6)


def test_eq18_decoder_inputs_mix_the_level_composition_with_the_static_embedding():
    model, tok = decor(composition_weight=0.3)
    batch = flat_batch(tok)
    with torch.no_grad():
        table = model.static_table()
        inputs = model.decoder_inputs_embeds(batch["input_ids"], batch["attention_mask"], batch["labels"], table)
        user = model.context_pool(F.embedding(batch["input_ids"], table), batch["attention_mask"].bool())
        for level in range(len(SIZES) - 1):
            start = model.token_offset_list[level]
            rows = table[start: start + SIZES[level]]
            composed = model.composition(user, rows)
            static = table[batch["labels"][:, level] + start]
            assert torch.allclose(inputs[:, level + 1], 0.3 * composed + 0.7 * static, atol=1e-6)


def test_history_context_makes_the_composed_term_the_same_for_every_token_of_a_level():
    model, tok = decor(composition_weight=0.4)
    batch = flat_batch(tok)
    other = CODES[torch.tensor([4, 6, 8])].clone()
    other[:, :2] = torch.tensor([[3, 2], [0, 0], [1, 1]])
    with torch.no_grad():
        table = model.static_table()
        a = model.decoder_inputs_embeds(batch["input_ids"], batch["attention_mask"], batch["labels"], table)
        b = model.decoder_inputs_embeds(batch["input_ids"], batch["attention_mask"], other, table)
        for level in range(2):
            start = model.token_offset_list[level]
            composed_a = a[:, level + 1] - 0.6 * table[batch["labels"][:, level] + start]
            composed_b = b[:, level + 1] - 0.6 * table[other[:, level] + start]
            assert torch.allclose(composed_a, composed_b, atol=1e-6)


def test_history_and_prefix_context_pools_the_generated_tokens_before_each_token():
    model, tok = decor(context="history_and_prefix", composition_weight=0.5)
    batch = flat_batch(tok)
    labels = batch["labels"]
    with torch.no_grad():
        table = model.static_table()
        inputs = model.decoder_inputs_embeds(batch["input_ids"], batch["attention_mask"], labels, table)
        for row in range(len(HISTORIES)):
            history = batch["input_ids"][row][batch["attention_mask"][row].bool()]
            for level in range(len(SIZES) - 1):
                prefix = labels[row, :level] + torch.tensor(model.token_offset_list[:level], dtype=torch.long)
                tokens = torch.cat([history, prefix])
                user = model.context_pool(table[tokens][None], torch.ones(1, len(tokens)).bool())
                token = labels[row, level] + model.token_offset_list[level]
                expected = 0.5 * model.compose(user, level, table)[0] + 0.5 * table[token]
                assert torch.allclose(inputs[row, level + 1], expected, atol=1e-5)


def test_eq19_bos_queries_by_hand_with_and_without_the_residual():
    model, tok = decor(composition_weight=0.25, num_bos_queries=3)
    batch = flat_batch(tok)
    with torch.no_grad():
        table = model.static_table()
        user = model.context_pool(F.embedding(batch["input_ids"], table), batch["attention_mask"].bool())
        weights = torch.softmax(model.composition.query(user) @ model.composition.key(model.bos_queries).t(), -1)
        composed = weights @ model.bos_queries
        inputs = model.decoder_inputs_embeds(batch["input_ids"], batch["attention_mask"], batch["labels"], table)
        assert torch.allclose(inputs[:, 0], 0.25 * composed + 0.75 * table[model.config.bos_token_id], atol=1e-6)
        model.config.bos_residual = False
        inputs = model.decoder_inputs_embeds(batch["input_ids"], batch["attention_mask"], batch["labels"], table)
        assert torch.allclose(inputs[:, 0], composed, atol=1e-6)


def test_everything_off_is_tiger_bit_for_bit_in_training_mode():
    tok = SIDTokenizer.from_sids(CODES, SIZES)
    options = dict(TINY_TIGER_T5)  # dropout on: both draw the same masks
    torch.manual_seed(3)
    tiger = build_model("tiger", tok, **options).train()
    torch.manual_seed(3)
    base = build_model("decor", tok, **options, **decor_ablation("base")).train()
    assert set(dict(base.named_parameters())) == set(dict(tiger.named_parameters()))
    for name, value in tiger.state_dict().items():
        assert torch.equal(value, base.state_dict()[name]), name
    batch = flat_batch(tok)
    torch.manual_seed(7)
    expected = tiger(**batch)
    torch.manual_seed(7)
    got = base(**batch)
    assert torch.equal(got.logits, expected.logits) and torch.equal(got.loss, expected.loss)


@pytest.mark.parametrize("row", ["base", "composition", "composition_bos", "pretrained", "pretrained_composition",
                                 "full"])
def test_table2_rows_build_and_train_a_step(row):
    model, tok = decor(**decor_ablation(row))
    options = decor_ablation(row)
    assert hasattr(model, "fusion") == options["use_pretrained"]
    assert hasattr(model, "composition") == options["use_composition"]
    assert hasattr(model, "bos_queries") == (row in ("composition_bos", "full"))
    assert hasattr(model, "codebook_vectors") == options["use_pretrained"]
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    loss = model(**flat_batch(tok)).loss
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)


def test_config_checks():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        DecorConfig(codebook_sizes=SIZES, num_items=5, composition_weight=1.5)
    with pytest.raises(ValueError, match="use_composition"):
        DecorConfig(codebook_sizes=SIZES, num_items=5, use_composition=False, num_bos_queries=8)
    with pytest.raises(NotImplementedError, match="decoder_only"):
        DecorConfig(codebook_sizes=SIZES, num_items=5, architecture="decoder_only")
    with pytest.warns(UserWarning, match="collapse"):
        DecorConfig(codebook_sizes=SIZES, num_items=5, composition_weight=0.7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        DecorConfig(codebook_sizes=SIZES, num_items=5, composition_weight=0.55)
    with pytest.raises(ValueError, match="codebook_dim"):  # the fusion needs the codebooks' width
        DecorForGenerativeRecommendation(DecorConfig(codebook_sizes=SIZES, num_items=len(CODES)))
    with pytest.raises(ValueError, match="unknown DECOR ablation"):
        decor_ablation("nope")


def test_missing_codebooks_are_a_clear_error():
    tok = SIDTokenizer.from_sids(CODES, SIZES)
    model = build_model("decor", tok, codebook_dim=6, **SMALL)
    with pytest.raises(ValueError, match="codebooks"):
        model(**flat_batch(tok))


def test_composition_usage_reports_assigned_and_above_uniform_codes():
    model, tok = decor()
    batches = [dict(tok(HISTORIES, mode="flat", return_tensors="pt"))]
    usage = model.composition_usage(batches)
    assert usage["users"] == 3 and len(usage["levels"]) == len(SIZES)
    for level, row in enumerate(usage["levels"]):
        assert row["assigned"] == pytest.approx(len(CODES[:, level].unique()) / SIZES[level])
        assert 0.0 < row["composed"] <= 1.0  # a softmax over K codes puts more than 1/K on at least one
        assert row["active"] >= max(row["assigned"], row["composed"])
    without, _ = decor(**decor_ablation("pretrained"))
    assert all(row["composed"] == 0.0 for row in without.composition_usage(batches)["levels"])


def test_fast_decoder_takes_embeddings_and_other_output_tables():
    model, tok = decor(output_embeddings="fused")
    decoder = T5BeamDecoder.for_model(model.backbone, owner=model)
    batch = dict(tok(HISTORIES, mode="flat", return_tensors="pt"))
    with torch.no_grad():
        memory = decoder.encode(model.backbone.shared(batch["input_ids"]), batch["attention_mask"])
        tokens = torch.tensor([[[1], [5]], [[7], [1]], [[4], [4]]])
        by_id, _ = decoder.step(tokens, memory)
        by_embedding, _ = decoder.step(None, memory, inputs_embeds=decoder.embed_weight[tokens[..., 0]])
        assert torch.allclose(by_id, by_embedding, atol=1e-6)
        assert torch.allclose(decoder.head_for(model.backbone.lm_head.weight), decoder.head_weight)
        table = torch.randn_like(model.backbone.shared.weight)
        other, _ = decoder.step(tokens, memory, head_weight=decoder.head_for(table))
        assert not torch.allclose(other, by_id)


def test_overfits_a_tiny_catalog():
    model, tok = decor(composition_weight=0.25)
    model.train()
    batch = flat_batch(tok)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-2)
    for _ in range(60):
        optimizer.zero_grad()
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.1
    out = model.generate(**{k: v for k, v in batch.items() if k != "labels"}, num_beams=5)
    assert out.items[:, 0].tolist() == [4, 6, 8]


def test_decoding_tables_follow_training_steps_and_new_codebooks():
    model, tok = decor(output_embeddings="fused")
    batch = dict(tok(HISTORIES, mode="flat", return_tensors="pt"))
    labels = CODES[torch.tensor([4, 6, 8])]

    def check():
        out = model.generate(**batch, num_beams=len(CODES), num_return_sequences=len(CODES))
        with torch.no_grad():
            scores = model.sid_log_likelihood(model(**batch, labels=CODES[out.items[:, 0]]).logits, CODES[out.items[:, 0]])
        assert torch.allclose(out.scores[:, 0], scores, atol=1e-4)

    check()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    model.train()
    model(**batch, labels=labels).loss.backward()
    optimizer.step()
    model.eval()
    check()
    model.set_item_features(codebooks=[torch.randn(size, 6) for size in SIZES])
    check()
