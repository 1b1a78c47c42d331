"""PRISM end to end on a small synthetic dataset: ``hf-genrec build-sids --quantizer prism`` (LightGCN, popularity,
tags, the Purified Semantic Quantizer), then ``hf-genrec train`` of the recommender, reload and generate."""

import json
import shutil

import torch
from helpers.tiny import train_tiny_t5_folder

from hf_genrec.cli import main
from hf_genrec.commands.build_sids import popularity_scores
from hf_genrec.data.tags import load_tags


def test_popularity_is_log_min_max_of_training_counts():
    scores = popularity_scores([0, 1, 3, 7])
    expected = torch.log1p(torch.tensor([0.0, 1, 3, 7])) / torch.log1p(torch.tensor(7.0))
    assert torch.allclose(scores, expected)
    assert torch.equal(popularity_scores([5, 5]), torch.zeros(2))


def test_build_sids_then_train_prism(prepared_synthetic, tmp_path):
    prepared = tmp_path / "prepared"
    shutil.copytree(prepared_synthetic, prepared)  # LightGCN caches its embeddings in the prepared folder
    sids = tmp_path / "sids"
    assert main(["build-sids", "--data", str(prepared), "--out", str(sids), "--quantizer", "prism", "--levels", "3",
                 "--codebook-size", "16", "--collisions", "sinkhorn", "--epochs", "3",
                 "--lightgcn-max-minutes", "0.05"]) == 0
    summary = json.loads((sids / "summary.json").read_text())
    assert summary["prism"]["preset"] == "paper" and len(summary["prism"]["tag_classes"]) == 3
    assert set(summary["prism_table3"]) >= {"cr_layer_2", "cr_final", "perplexity", "perplexity_per_level"}
    assert summary["quality"]["collision_rate"] == 0.0  # sinkhorn keeps 3 levels and makes every SID unique
    assert (prepared / "collab_embeddings.safetensors").exists()
    tags, tag_embeddings = load_tags(sids / "tags")
    assert tags.labels.shape == (summary["inputs"]["items"], 3) and len(tag_embeddings) == 3

    result, model, tokenizer = train_tiny_t5_folder("prism", prepared, sids, tmp_path / "model", moe_dim=16)
    assert result["global_step"] > 0 and "recall@10" in result["test"]["metrics"]
    assert type(model).__name__ == "PrismForGenerativeRecommendation"
    assert model.config.tag_classes == summary["prism"]["tag_classes"]
    batch = tokenizer([[0, 1, 2], [3]], mode="item", return_tensors="pt")
    batch["timestamps"] = torch.tensor([[1, 5, 9], [0, 0, 3]])
    out = model.generate(**batch, num_beams=5)
    assert bool((out.items >= 0).all()) and int(out.items.max()) < tokenizer.num_items
