"""``hf-genrec build-sids``: quantizer, tokenizer and quality report from a prepared dataset."""

import json

import pytest
from transformers import AutoTokenizer

from hf_genrec.cli import main
from hf_genrec.quantization import Quantizer
from hf_genrec.tokenization import SIDTokenizer


@pytest.mark.parametrize("quantizer, collisions, extra", [
    ("rqkmeans", "suffix", []),
    ("rqkmeans", "sinkhorn", ["--balanced"]),
    ("rqvae", "sinkhorn", ["--epochs", "5", "--beta", "1.0"]),
    ("vqvae", "none", ["--epochs", "3", "--latent-dim", "16"]),
])
def test_build_sids_cli(prepared_synthetic, tmp_path, quantizer, collisions, extra):
    out = tmp_path / "sids"
    code = main(["build-sids", "--data", str(prepared_synthetic), "--out", str(out), "--quantizer", quantizer,
                 "--levels", "2", "--codebook-size", "16", "--collisions", collisions, *extra])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["command"] == "build-sids" and summary["quantizer"]["quantizer_type"] == quantizer
    before = summary["quality_before_collision_handling"]
    assert len(before["collision_rate_per_level"]) == 2 and before["collision_rate"] > 0  # 240 items, 256 codes
    if collisions == "none":
        assert summary["quality"]["collision_rate"] == before["collision_rate"] and summary["round_trip_ok"] is None
    else:
        assert summary["quality"]["collision_rate"] == 0.0 and summary["round_trip_ok"] is True
    tokenizer = AutoTokenizer.from_pretrained(str(out / "tokenizer"))
    assert isinstance(tokenizer, SIDTokenizer) and tokenizer.codebook_sizes == summary["codebook_sizes"]
    assert tokenizer.item_keys[0].startswith("SYN")
    quantizer_model = Quantizer.from_pretrained(out / "quantizer")
    assert quantizer_model.quantizer_type == quantizer
    assert (out / "sid_quality.png").exists()
    assert (out / "training_loss.png").exists() == (quantizer != "rqkmeans")
    if quantizer == "rqvae":
        assert summary["quantizer"]["beta"] == 1.0


def test_build_sids_needs_a_prepared_folder(tmp_path, capsys):
    assert main(["build-sids", "--data", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "not a prepared dataset folder" in capsys.readouterr().err


def test_build_sids_on_collaborative_embeddings(prepared_synthetic, tmp_path):
    """--embeddings collab quantizes LightGCN's item vectors (cached in the prepared folder); content+collab
    concatenates both halves, each row L2-normalised; PRISM refuses the option (it reads both itself)."""
    import shutil

    import numpy as np
    import torch

    from hf_genrec.embeddings import load_collab_embeddings, load_item_embeddings
    from hf_genrec.quantization import build_semantic_ids

    prepared = tmp_path / "prepared"
    shutil.copytree(prepared_synthetic, prepared)  # the LightGCN cache is written into the prepared folder
    out = tmp_path / "collab"
    assert main(["build-sids", "--data", str(prepared), "--out", str(out), "--levels", "2", "--codebook-size", "8",
                 "--embeddings", "collab", "--lightgcn-max-minutes", "0.05"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    collab, meta = load_collab_embeddings(prepared)
    assert summary["inputs"]["embeddings"]["source"] == "collab"
    assert summary["inputs"]["embedding_dim"] == collab.shape[1]
    assert summary["inputs"]["embeddings"]["lightgcn"]["options"]["max_minutes"] == 0.05
    expected = build_semantic_ids(collab.float(), "rqkmeans", levels=2, codebook_size=8, collisions="suffix",
                                  seed=0, quantizer_options={"balanced": False, "iterations": 50})[1]
    tokenizer = SIDTokenizer.from_pretrained(str(out / "tokenizer"))
    assert np.array_equal(tokenizer.item_codes(torch.arange(tokenizer.num_items)).numpy(), np.asarray(expected.codes))

    both = tmp_path / "both"
    assert main(["build-sids", "--data", str(prepared), "--out", str(both), "--levels", "2", "--codebook-size", "8",
                 "--embeddings", "content+collab", "--lightgcn-max-minutes", "0.05"]) == 0
    content = load_item_embeddings(prepared)[0]
    assert json.loads((both / "summary.json").read_text())["inputs"]["embedding_dim"] == (
        content.shape[1] + collab.shape[1])

    with pytest.raises(ValueError, match="quantizers other than prism"):
        from hf_genrec.commands.build_sids import run_build_sids
        run_build_sids(prepared, tmp_path / "prism", "prism", 2, 8, quantizer_options={"embeddings": "collab"})
