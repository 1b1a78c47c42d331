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
