"""The real benchmarks in ../shared/datasets: published statistics and split sizes.

Skipped with a reason when the folder is absent. The full embedding run on Beauty is marked slow.
"""

import json
from pathlib import Path

import pytest
from helpers.tiny import REPO_ROOT

from hf_genrec.data import PrepareConfig, prepare_dataset, read_dataset

pytestmark = pytest.mark.real_data

PUBLISHED = {  # users, items, interactions (P5 / S3-Rec / TIGER versions)
    "amazon-beauty-2014": (22_363, 12_101, 198_502),
    "amazon-sports-2014": (35_598, 18_357, 296_337),
    "amazon-toys-2014": (19_412, 11_924, 167_597),
    "yelp-2019": (30_431, 20_033, 316_354),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_counts_and_leave_one_out_sizes(shared_datasets, name):
    log = read_dataset(shared_datasets / name)
    prepared = prepare_dataset(log, PrepareConfig())
    users, items, interactions = PUBLISHED[name]
    stats = prepared.statistics
    assert (stats["users"], stats["items"], stats["interactions"]) == (users, items, interactions)
    assert stats["kcore"]["removed_interactions"] == 0  # already 5-core
    assert stats["split_sizes"] == {"train": interactions - 3 * users, "validation": users, "test": users}
    assert max(len(h) for h in prepared.splits["test"]["history"]) == 20
    assert log.redistribution_restricted == (name == "yelp-2019")


def test_beauty_items_align_with_published_ids_and_letter_sids(shared_datasets):
    prepared = prepare_dataset(read_dataset(shared_datasets / "amazon-beauty-2014"), PrepareConfig())
    items = prepared.items
    assert items["source_item_idx"] == [i + 1 for i in items["item_idx"]]
    assert all(len(sid) == 4 for sid in items["letter_sid"])
    assert items["text"][0].startswith("OPI Nail Lacquer") and "Makeup > Nails > Nail Polish" in items["text"][0]
    assert prepared.statistics["items_without_text"] <= 7  # the DHR titles: 7 empty
    assert all(len(p) >= 1 for p in items["category_path"][:100])
    assert prepared.statistics["avg_length"] == pytest.approx(8.876, abs=1e-3)
    assert prepared.statistics["median_length"] == 6


def test_yelp_repeat_visits_can_be_removed(shared_datasets):
    log = read_dataset(shared_datasets / "yelp-2019")
    prepared = prepare_dataset(log, PrepareConfig(remove_consecutive_duplicates=True))
    assert prepared.statistics["removed_consecutive_duplicates"] == 3873
    assert prepared.statistics["interactions"] < 316_354 - 3873 + 1


@pytest.mark.slow
def test_cli_prepare_beauty_with_embeddings(shared_datasets, tmp_path):
    from hf_genrec.cli import main

    out = tmp_path / "beauty"
    assert main(["prepare", "--data", str(shared_datasets / "amazon-beauty-2014"), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["embeddings"]["num_items"] == 12_101 and summary["embeddings"]["dim"] == 384


@pytest.fixture(scope="module")
def beauty_prepared(tmp_path_factory):
    from helpers.tiny import shared_root

    from hf_genrec.commands.prepare import run_prepare
    from hf_genrec.embeddings.encoder import default_cache_dir

    folder = shared_root() / "datasets" / "amazon-beauty-2014"
    if not folder.is_dir():
        pytest.skip(f"real benchmark data not found at {folder}")
    out = tmp_path_factory.mktemp("beauty") / "prepared"
    # a persistent embedding cache: the 12,101 titles take ~1.5 min to embed on 2 CPU cores
    run_prepare(folder, out, cache_dir=str(default_cache_dir()))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("quantizer, collisions", [("rqkmeans", "suffix"), ("rqkmeans", "sinkhorn"),
                                                   ("rqvae", "suffix"), ("rqvae", "sinkhorn")])
def test_beauty_semantic_ids(beauty_prepared, tmp_path, quantizer, collisions):
    """Issue acceptance: both quantizers run on CPU, collide before dedup, reach 0 after it, round-trip."""
    from hf_genrec.commands.build_sids import run_build_sids

    summary = run_build_sids(beauty_prepared, tmp_path / "sids", quantizer, levels=3, codebook_size=256,
                             collisions=collisions)
    assert summary["quality_before_collision_handling"]["collision_rate"] > 0
    assert summary["quality"]["collision_rate"] == 0.0 and summary["round_trip_ok"] is True
    letter = summary["reference_sids"]["letter"]
    assert letter["items"] == 12_101 and letter["levels"] == 4 and letter["unique_sids"] < 12_101  # LETTER: 24 share


@pytest.mark.slow
def test_beauty_short_tiger_run_writes_validation_and_test_metrics(beauty_prepared, tmp_path):
    """Issue acceptance (3/7): a short CPU run on Beauty trains, evaluates and writes metrics for both splits."""
    from hf_genrec.commands.build_sids import run_build_sids
    from hf_genrec.commands.train import load_yaml_config, run_train

    sids = tmp_path / "sids"
    run_build_sids(beauty_prepared, sids, "rqkmeans", levels=3, codebook_size=256, collisions="suffix")
    repo = REPO_ROOT
    config = load_yaml_config(repo / "examples" / "configs" / "tiger_beauty_short.yaml", [
        f"data.prepared={beauty_prepared}", f"data.sids={sids}", f"training.output_dir={tmp_path / 'run'}",
        "training.max_steps=120", "training.eval_steps=60", "training.eval_max_users=1000", "training.report_to=[]"])
    summary = run_train(config)
    metrics = json.loads((Path(summary["model_folder"]) / "metrics.json").read_text())
    assert metrics["test"]["num_users"] == 22_363 and metrics["validation"]["recall@10"] >= 0.0
    assert 0.0 < metrics["test"]["metrics"]["recall@20"] <= 1.0


@pytest.mark.slow
def test_beauty_short_comeir_run_from_the_example_config(beauty_prepared, tmp_path):
    """ComeIR's Beauty config (paper settings) with a tiny random Qwen3 instead of Qwen3-0.6B (offline) and
    small tables: SIDs 3 x 128 without a suffix level (sinkhorn), trains briefly, evaluates, reloads."""
    from transformers import AutoModel

    from hf_genrec.commands.build_sids import run_build_sids
    from hf_genrec.commands.train import load_yaml_config, run_train

    sids = tmp_path / "sids"
    run_build_sids(beauty_prepared, sids, "rqkmeans", levels=3, codebook_size=128, collisions="sinkhorn")
    repo = REPO_ROOT
    config = load_yaml_config(repo / "examples" / "configs" / "comeir_beauty.yaml", [
        f"data.prepared={beauty_prepared}", f"data.sids={sids}", f"training.output_dir={tmp_path / 'run'}",
        "model.backbone_name_or_path=null", "model.hidden_size=64", "model.num_layers=2", "model.num_heads=4",
        "model.engram_dim=64", "model.intra_scale=0.25", "model.inter_scale=0.5", "training.mixed_precision=no",
        "training.learning_rate=3e-3", "training.batch_size=128", "training.gradient_accumulation_steps=1",
        "training.max_steps=60", "training.eval_steps=60", "training.eval_max_users=500", "training.report_to=[]"])
    summary = run_train(config)
    metrics = json.loads((Path(summary["model_folder"]) / "metrics.json").read_text())
    assert metrics["test"]["num_users"] == 22_363 and 0.0 < metrics["test"]["metrics"]["recall@20"] <= 1.0
    model = AutoModel.from_pretrained(summary["model_folder"])
    assert model.config.model_type == "comeir" and model.config.codebook_sizes == [128, 128, 128]
    assert bool(model.features_ready.all())
