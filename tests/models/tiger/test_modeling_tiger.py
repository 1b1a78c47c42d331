"""TIGER: both architectures train (``transformers.Trainer`` too), the level loss, hashed user tokens, a LLaMA
backbone, save/load through ``AutoModel``. The minutes-long quality checks are in ``tests/e2e``."""

import pytest
import torch
from transformers import AutoConfig, AutoModel, Trainer, TrainingArguments

import hf_genrec  # noqa: F401
from hf_genrec.data import PreparedDataset
from hf_genrec.models.tiger import TigerConfig, TigerForGenerativeRecommendation
from hf_genrec.tokenization import SIDTokenizer
from hf_genrec.training import GenRecCollator

SMALL = dict(hidden_size=64, intermediate_size=256, num_layers=2, num_decoder_layers=2, num_heads=4, d_kv=16)


def tiny_setup(architecture="encoder_decoder", **extra):
    sizes = [4, 4, 3]
    codes = torch.unique(torch.stack([torch.randint(0, s, (40,), generator=torch.Generator().manual_seed(i))
                                      for i, s in enumerate(sizes)], 1), dim=0)
    tok = SIDTokenizer.from_sids(codes, sizes)
    torch.manual_seed(0)
    config = TigerConfig(architecture=architecture, codebook_sizes=sizes, num_items=len(codes), hidden_size=32, intermediate_size=64,
                         num_layers=2, num_decoder_layers=2, num_heads=2, d_kv=16, **extra)
    model = TigerForGenerativeRecommendation(config)
    model.set_catalog(tok)
    return model, tok


@pytest.mark.parametrize("architecture", ["encoder_decoder", "decoder_only"])
def test_forward_loss_and_overfit_one_batch(architecture):
    model, tok = tiny_setup(architecture, dropout_rate=0.0)  # a deterministic fit of three examples
    batch = tok([[0, 1, 2], [3, 4], [5]], return_tensors="pt")
    labels = tok.encode_targets([7, 8, 9])
    out = model(**batch, labels=labels)
    assert out.logits.shape == (3, 3, max(tok.codebook_sizes)) and out.loss.ndim == 0
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(60):
        optimizer.zero_grad()
        loss = model(**batch, labels=labels).loss
        loss.backward()
        optimizer.step()
    model.eval()  # judge the fit without dropout noise
    assert model(**batch, labels=labels).loss.item() < 0.2
    assert model.generate(**batch, num_beams=4, num_return_sequences=1).items[:, 0].tolist() == [7, 8, 9]


def test_level_loss_user_tokens_and_errors():
    model, tok = tiny_setup(loss_vocabulary="level", user_hash_buckets=16)
    batch = tok([[0, 1], [2]], return_tensors="pt")
    with pytest.raises(ValueError, match="pass user_ids"):
        model(**batch, labels=tok.encode_targets([3, 4]))
    model.eval()  # no dropout: the two forward passes below must agree
    out = model(**batch, labels=tok.encode_targets([3, 4]), user_ids=torch.tensor([5, 6]))
    assert torch.isfinite(out.loss)
    assert model.generate(**batch, user_ids=torch.tensor([5, 6]), num_beams=3).items.shape == (2, 3)
    first = model(**batch, user_ids=torch.tensor([5, 6]))  # no labels: the first level's logits
    assert first.loss is None and torch.allclose(first.logits[:, 0], out.logits[:, 0], atol=1e-6)
    with pytest.raises(ValueError, match="catalog has shape"):
        model.set_catalog(torch.zeros(3, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="architecture must be"):
        TigerConfig(architecture="rnn")


def test_input_dropout_acts_in_training_only_and_only_on_decoder_only_models():
    model, tok = tiny_setup("decoder_only", input_dropout=0.5)
    plain = TigerForGenerativeRecommendation(TigerConfig(**{**model.config.to_dict(), "input_dropout": 0.0}))
    plain.load_state_dict(model.state_dict())
    plain.set_catalog(tok)
    batch = tok([[0, 1, 2], [3, 4], [5]], return_tensors="pt")
    labels = tok.encode_targets([7, 8, 9])
    windows = {"input_ids": batch["input_ids"][:1], "attention_mask": batch["attention_mask"][:1],
               "labels": torch.stack([tok.encode_targets([1, 2, 7])])}  # sequence-level: a target after each item
    for inputs in ({**batch, "labels": labels}, windows):
        model.train(), plain.train()  # the tiny Qwen3 has no dropout of its own: only input_dropout is random
        torch.manual_seed(1)
        first, second = model(**inputs).loss, model(**inputs).loss
        assert not torch.allclose(first, second) and torch.allclose(plain(**inputs).loss, plain(**inputs).loss)
        model.eval(), plain.eval()
        assert torch.allclose(model(**inputs).loss, plain(**inputs).loss)
    with pytest.raises(ValueError, match="decoder-only architecture"):
        TigerConfig(input_dropout=0.1)
    with pytest.raises(ValueError, match=r"input_dropout must be in \[0, 1\)"):
        TigerConfig(architecture="decoder_only", input_dropout=1.0)


def test_residual_dropout_acts_in_training_only_and_only_on_causal_lm_backbones():
    model, tok = tiny_setup("decoder_only", residual_dropout=0.5)
    plain = TigerForGenerativeRecommendation(TigerConfig(**{**model.config.to_dict(), "residual_dropout": 0.0}))
    plain.load_state_dict(model.state_dict())
    plain.set_catalog(tok)
    inputs = {**tok([[0, 1, 2], [3, 4]], return_tensors="pt"), "labels": tok.encode_targets([7, 8])}
    model.train(), plain.train()
    torch.manual_seed(1)
    assert not torch.allclose(model(**inputs).loss, model(**inputs).loss)
    assert torch.allclose(plain(**inputs).loss, plain(**inputs).loss)
    model.eval(), plain.eval()
    assert torch.allclose(model(**inputs).loss, plain(**inputs).loss)
    for wrong in ({}, {"architecture": "decoder_only", "decoder_backbone": "hstu"}):
        with pytest.raises(ValueError, match="decoder-only causal LM backbone"):
            TigerConfig(residual_dropout=0.1, **wrong)


def test_item_id_loss_adds_the_weighted_catalog_cross_entropy_of_the_bos_state():
    """``item_id_loss_weight``: loss = TIGER's loss + w * CE(h_bos . E_item^T, next item), E the item-ID input table."""
    model, tok = tiny_setup("decoder_only", item_id_embedding=True, item_id_loss_weight=0.5)
    plain = TigerForGenerativeRecommendation(TigerConfig(**{**model.config.to_dict(), "item_id_loss_weight": 0.0}))
    plain.load_state_dict(model.state_dict())
    plain.set_catalog(tok)
    model.eval(), plain.eval()
    inputs = {**tok([[0, 1, 2], [3, 4], [5]], return_tensors="pt"), "labels": tok.encode_targets([7, 8, 9])}
    states = []
    hook = model.sid_head.register_forward_hook(lambda module, args, out: states.append(args[0]))
    out = model(**inputs)
    hook.remove()
    scores = states[0][:, 0] @ model.item_id_embeddings.weight[: model.config.num_items].t()
    item_loss = torch.nn.functional.cross_entropy(scores, torch.tensor([7, 8, 9]))
    assert torch.allclose(out.loss, plain(**inputs).loss + 0.5 * item_loss, atol=1e-6)
    assert torch.allclose(out.loss_terms["item_id"], item_loss, atol=1e-6)
    assert torch.allclose(out.logits, plain(**inputs).logits)  # decoding scores are TIGER's
    out.loss.backward()
    grad = model.item_id_embeddings.weight.grad
    assert grad[[7, 8, 9]].abs().sum() > 0 and grad[6].abs().sum() > 0  # targets pulled up, every other item pushed
    for wrong in ({"architecture": "decoder_only"}, {"item_id_embedding": True},
                  {"architecture": "decoder_only", "item_id_embedding": True, "decoding_architecture": "nezha"}):
        with pytest.raises(ValueError, match="item_id_loss_weight scores items"):
            TigerConfig(item_id_loss_weight=0.1, **wrong)


@pytest.mark.parametrize("backbone", ["causal_lm", "hstu"])
def test_item_score_weight_reranks_the_beam_items_by_sid_score_plus_weighted_item_log_probs(backbone):
    """``item_score_weight`` a: each returned item's score is its SID log-likelihood + a * log p_item(item | history),
    p_item the softmax of the <bos> state's item scores; the candidates are the plain beam search's items."""
    model, tok = tiny_setup("decoder_only", decoder_backbone=backbone, item_id_embedding=True, item_id_loss_weight=1.0)
    with torch.no_grad():  # item scores large enough to reorder the beam
        model.item_id_embeddings.weight.normal_(0.0, 1.0, generator=torch.Generator().manual_seed(3))
    model.eval()
    batch = tok([[0, 1, 2], [3, 4], [5]], return_tensors="pt")
    plain = model.generate(**batch, num_beams=8)
    log_probs = model.item_log_probs(**batch)
    assert log_probs.shape == (3, model.config.num_items)
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(3), atol=1e-5)
    model.config.item_score_weight = 2.0
    fused = model.generate(**batch, num_beams=8, num_return_sequences=5)
    reordered = 0
    for b in range(3):
        candidates = [(item, score + 2.0 * float(log_probs[b, item]))
                      for item, score in zip(plain.items[b].tolist(), plain.scores[b].tolist())]
        expected = sorted(candidates, key=lambda pair: -pair[1])[:5]
        assert fused.items[b].tolist() == [item for item, _ in expected]
        assert torch.allclose(fused.scores[b], torch.tensor([score for _, score in expected]), atol=1e-4)
        assert fused.sids[b].tolist() == [model.item_sids[item].tolist() for item, _ in expected]
        reordered += fused.items[b].tolist() != plain.items[b, :5].tolist()
    assert reordered > 0
    with pytest.raises(ValueError, match="item_score_weight reads"):
        TigerConfig(architecture="decoder_only", item_id_embedding=True, item_score_weight=0.5)
    with pytest.raises(ValueError, match="item_score_weight must be"):
        TigerConfig(item_score_weight=-1.0)


@pytest.mark.parametrize("architecture", ["encoder_decoder", "decoder_only"])
def test_save_and_auto_model_reload_generate_the_same(architecture, tmp_path):
    model, tok = tiny_setup(architecture)
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    assert AutoConfig.from_pretrained(tmp_path).model_type == "tiger"
    loaded = AutoModel.from_pretrained(tmp_path)
    assert isinstance(loaded, TigerForGenerativeRecommendation)
    assert torch.equal(loaded.item_sids, model.item_sids)
    batch = tok([[0, 1, 2], [3]], return_tensors="pt")
    a, b = model.generate(**batch, num_beams=5), loaded.generate(**batch, num_beams=5)
    assert torch.equal(a.items, b.items) and torch.allclose(a.scores, b.scores)


def test_decoder_only_accepts_a_llama_backbone():
    llama = {"model_type": "llama", "vocab_size": 8, "hidden_size": 32, "intermediate_size": 64,
             "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
             "max_position_embeddings": 256}
    model, tok = tiny_setup("decoder_only", backbone_config=llama)
    assert type(model.backbone).__name__ == "LlamaModel"
    batch = tok([[0, 1, 2]], return_tensors="pt")
    assert torch.isfinite(model(**batch, labels=tok.encode_targets([3])).loss)
    assert model.generate(**batch, num_beams=4).items.shape == (1, 4)


def test_trains_under_transformers_trainer(prepared_synthetic, synthetic_sids, tmp_path):
    """Plain ``transformers.Trainer`` with the GenRecCollator trains TIGER (a few steps; the loss goes down).
    The minutes-long quality check (beats most-popular) is ``tests/e2e/test_method_comparisons.py``."""
    prepared = PreparedDataset.load(prepared_synthetic)
    tok = SIDTokenizer.from_pretrained(synthetic_sids / "tokenizer")
    torch.manual_seed(0)
    model = TigerForGenerativeRecommendation(TigerConfig(codebook_sizes=tok.codebook_sizes, num_items=tok.num_items,
                                                         max_history=5, dropout_rate=0.0, **SMALL))
    model.set_catalog(tok)
    args = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=64, learning_rate=3e-3,
                             max_steps=30, save_strategy="no", report_to=[], remove_unused_columns=False, use_cpu=True,
                             disable_tqdm=True, seed=0, logging_steps=10)
    trainer = Trainer(model=model, args=args, train_dataset=prepared.splits["train"],
                      data_collator=GenRecCollator(tok, "flat", 5))
    trainer.train()
    losses = [row["loss"] for row in trainer.state.log_history if "loss" in row]
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert model.generate(**tok([[0, 1, 2]], return_tensors="pt"), num_beams=5).items.shape == (1, 5)


def test_catalog_trie_is_reused_until_the_catalog_changes():
    model, tok = tiny_setup()
    trie = model.catalog_trie()
    assert model.catalog_trie() is trie
    model.load_state_dict(model.state_dict())  # an in-place copy of the same catalog keeps the trie
    assert model.catalog_trie() is trie
    changed = model.item_sids.clone()
    changed[[0, 1]] = changed[[1, 0]]
    state = {**model.state_dict(), "item_sids": changed}
    model.load_state_dict(state)  # in place, other codes: rebuilt
    rebuilt = model.catalog_trie()
    assert rebuilt is not trie and rebuilt.first_items_of_codes(changed[:2]).tolist() == [0, 1]
    model.item_sids = changed.clone()  # another buffer object with equal codes: the same trie
    assert model.catalog_trie() is rebuilt
