"""TIGER: both architectures train (``transformers.Trainer`` too), save/load through ``AutoModel``, and a small
TIGER trained for a couple of minutes on the embedded default beats most-popular on Recall@10."""

import pytest
import torch
from transformers import AutoConfig, AutoModel, Trainer, TrainingArguments

import hf_genrec  # noqa: F401
from hf_genrec.data import PreparedDataset, SyntheticConfig, generate_synthetic
from hf_genrec.evaluation import Evaluator, MostPopular, evaluate_ranker
from hf_genrec.models.tiger import TigerConfig, TigerForGenerativeRecommendation
from hf_genrec.tokenization import SIDTokenizer
from hf_genrec.training import GenRecCollator

SMALL = dict(d_model=64, d_ff=256, num_layers=2, num_decoder_layers=2, num_heads=4, d_kv=16)


def tiny_setup(architecture="encoder_decoder", **extra):
    sizes = [4, 4, 3]
    codes = torch.unique(torch.stack([torch.randint(0, s, (40,), generator=torch.Generator().manual_seed(i))
                                      for i, s in enumerate(sizes)], 1), dim=0)
    tok = SIDTokenizer.from_sids(codes, sizes)
    torch.manual_seed(0)
    config = TigerConfig(architecture=architecture, codebook_sizes=sizes, num_items=len(codes), d_model=32, d_ff=64,
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
    assert out.logits.shape == (3, 3, tok.vocab_size) and out.loss.ndim == 0
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
    out = model(**batch, labels=tok.encode_targets([3, 4]), user_ids=torch.tensor([5, 6]))
    assert torch.isfinite(out.loss)
    assert model.generate(**batch, user_ids=torch.tensor([5, 6]), num_beams=3).items.shape == (2, 3)
    with pytest.raises(ValueError, match="needs the target SID codes"):
        model(**batch)
    with pytest.raises(ValueError, match="catalog has shape"):
        model.set_catalog(torch.zeros(3, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="architecture must be"):
        TigerConfig(architecture="rnn")


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


@pytest.fixture(scope="module")
def embedded_default(tmp_path_factory):
    """The quickstart's embedded default: synthetic catalog -> prepared -> RQ-KMeans SIDs."""
    from hf_genrec.pipeline import run_build_sids, run_prepare

    root = tmp_path_factory.mktemp("embedded")
    generate_synthetic(root / "raw", SyntheticConfig(seed=0))
    run_prepare(root / "raw", root / "prepared", cache_dir=str(root / "cache"))
    run_build_sids(root / "prepared", root / "sids", "rqkmeans", levels=3, codebook_size=64, collisions="suffix")
    return root


def test_small_tiger_trained_with_transformers_trainer_beats_most_popular(embedded_default, tmp_path):
    prepared = PreparedDataset.load(embedded_default / "prepared")
    tok = SIDTokenizer.from_pretrained(embedded_default / "sids" / "tokenizer")
    torch.manual_seed(0)
    model = TigerForGenerativeRecommendation(TigerConfig(codebook_sizes=tok.codebook_sizes, num_items=tok.num_items,
                                                         max_history=10, **SMALL))
    model.set_catalog(tok)
    args = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=256, learning_rate=3e-3,
                             num_train_epochs=3, warmup_steps=30, weight_decay=0.01, save_strategy="no", report_to=[],
                             remove_unused_columns=False, use_cpu=True, disable_tqdm=True, seed=0, logging_steps=50)
    Trainer(model=model, args=args, train_dataset=prepared.splits["train"],
            data_collator=GenRecCollator(tok, "flat", 10)).train()
    result = Evaluator(tok, ks=(10,), num_beams=20, batch_size=256, show_progress=False).evaluate(
        model, prepared.splits["test"], prepared.items["train_count"])
    train = prepared.splits["train"]
    popular = evaluate_ranker(MostPopular(prepared.num_items).fit(train["history"], train["target"]),
                              prepared.splits["test"]["history"], prepared.splits["test"]["target"], ks=(10,))
    print(f"TIGER recall@10 {result.metrics['recall@10']:.4f} vs most-popular {popular['recall@10']:.4f}")
    assert result.metrics["recall@10"] > 1.5 * popular["recall@10"]
    assert result.groups["popular"]["users"] > 0
