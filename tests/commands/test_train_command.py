"""``hf-genrec train`` reads the cached item features a configured model declares, from their sources."""

import shutil

import pytest
import torch

from hf_genrec.commands.train import load_item_features
from hf_genrec.embeddings import load_item_embeddings
from hf_genrec.quantization import Quantizer
from hf_genrec.tokenization import SIDTokenizer


@pytest.fixture
def data(prepared_synthetic, synthetic_sids):
    return prepared_synthetic, synthetic_sids, SIDTokenizer.from_pretrained(synthetic_sids / "tokenizer")


def test_loads_exactly_the_features_the_configuration_reads(data):
    prepared, sids, tok = data
    features = load_item_features("comeir", {}, tok, prepared, sids)
    assert sorted(features) == ["codebooks", "item_embeddings"]
    assert torch.equal(torch.as_tensor(features["item_embeddings"]), torch.as_tensor(load_item_embeddings(prepared)[0]))
    books = Quantizer.from_pretrained(sids / "quantizer").codebooks
    assert len(features["codebooks"]) == len(books) and torch.equal(features["codebooks"][0], books[0].float())
    assert sorted(load_item_features("comeir", {"token_scoring": "mean"}, tok, prepared, sids)) == ["codebooks"]
    assert load_item_features("comeir", {"token_scoring": "mean", "codebook_embedding_dim": 0}, tok, prepared,
                              sids) == {}
    assert load_item_features("tiger", {}, tok, prepared, sids) == {}  # TIGER declares none


def test_a_missing_source_names_the_folder_and_the_opt_out(data, tmp_path):
    prepared, sids, tok = data
    copy = tmp_path / "sids"
    shutil.copytree(sids, copy)
    shutil.rmtree(copy / "quantizer")
    with pytest.raises(FileNotFoundError, match=r"quantizer is missing.*codebook_embedding_dim: 0"):
        load_item_features("comeir", {}, tok, prepared, copy)


def test_a_model_reading_longer_histories_than_the_data_holds_is_refused(run_config):
    from hf_genrec.commands.train import run_train

    run_config["model"] = {"type": "intrr", "hidden_size": 16, "num_layers": 1, "num_heads": 2, "d_kv": 8,
                           "max_history": 5, "history_setting": "ssl"}  # 5 items x 3 levels = 15 > 10 prepared
    with pytest.raises(ValueError, match=r"history_setting 'ssl' gives it 15\).*at most 10.*--max-history 15"):
        run_train(run_config)
