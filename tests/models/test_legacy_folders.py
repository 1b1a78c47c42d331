"""Model folders saved by an earlier hf_genrec (``tests/assets/legacy_models``, commit cc52b36, before config fields
were renamed and modules moved) still load through the Auto classes and rank exactly as they did."""

import json

import pytest
import torch
from helpers.tiny import REPO_ROOT
from transformers import AutoModel, AutoTokenizer

import hf_genrec  # noqa: F401

LEGACY = REPO_ROOT / "tests" / "assets" / "legacy_models"
EXPECTED = json.loads((LEGACY / "expected.json").read_text())


@pytest.mark.parametrize("name", sorted(EXPECTED["models"]))
def test_legacy_folder_loads_and_ranks_as_before(name):
    folder = LEGACY / name
    model = AutoModel.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    batch = tokenizer(EXPECTED["histories"], return_tensors="pt")
    out = model.generate(**batch, num_beams=model.config.num_items, num_return_sequences=10)
    expected = EXPECTED["models"][name]
    assert out.items.tolist() == expected["items"]
    assert torch.allclose(out.scores, torch.tensor(expected["scores"]), atol=1e-4)
    saved = json.loads((folder / "config.json").read_text())
    if "d_model" in saved:  # the old field names read through the aliases
        assert model.config.hidden_size == saved["d_model"] and model.config.intermediate_size == saved["d_ff"]
