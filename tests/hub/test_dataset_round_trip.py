"""A prepared dataset pushed by ``hf-genrec push --data`` (or its Parquet export) loads back as a prepared dataset -
splits, item table, statistics, settings and item embeddings - through ``hf-genrec prepare --format hub``."""

import json

import numpy as np
import pytest
from helpers.hub_server import HubTestServer, online
from helpers.tiny import tiny_model
from helpers.writers import write_two_file

from hf_genrec.cli import main
from hf_genrec.commands.prepare import run_prepare
from hf_genrec.data import PrepareConfig, PreparedDataset, read_dataset
from hf_genrec.embeddings import load_item_embeddings
from hf_genrec.embeddings.encoder import EMBEDDINGS_FILE, save_item_embeddings
from hf_genrec.hub import export_dataset_folder, load_prepared_dataset, save_model_folder
from hf_genrec.hub.cards import card_metadata
from hf_genrec.hub.dataset_loading import hub_repo_of


@pytest.fixture
def hub():
    with HubTestServer(token="hf_test_token") as server, online(server):
        yield server


@pytest.fixture
def prepared(tmp_path):
    """A prepared folder (timestamps, list-valued item fields) with item embeddings, as ``hf-genrec prepare`` writes."""
    source = write_two_file(tmp_path / "src", {"A": ["x", "y", "z", "x"], "B": ["y", "z", "w"], "C": ["w", "x", "y"]},
                            items={"x": {"title": "Ex"}, "y": {"title": "Why", "category_tokens": ["Root", "Leaf"]}},
                            timestamps={"A": [1, 2, 3, 4], "B": [5, 6, 86400 * 400], "C": [7, 8, 9]})
    folder = tmp_path / "prepared"
    run_prepare(source, folder, config=PrepareConfig(min_user_interactions=1, min_item_interactions=1, max_history=3),
                encoder=None)
    vectors = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
    save_item_embeddings(folder / EMBEDDINGS_FILE, vectors, {"model": "test-encoder", "normalize": "False"})
    return folder


def assert_same_dataset(folder, reference) -> None:
    """Splits, items (rows and features), statistics, settings and embeddings of two prepared folders agree."""
    got, want = PreparedDataset.load(folder), PreparedDataset.load(reference)
    for split in ("train", "validation", "test"):
        assert got.splits[split].features == want.splits[split].features
        assert got.splits[split].to_list() == want.splits[split].to_list()
    assert got.items.features == want.items.features and got.items.to_list() == want.items.to_list()
    assert (got.name, got.statistics, got.config) == (want.name, want.statistics, want.config)
    (a, meta_a), (b, meta_b) = load_item_embeddings(folder), load_item_embeddings(reference)
    assert np.array_equal(a, b) and meta_a["model"] == meta_b["model"] == "test-encoder"


def test_push_then_prepare_from_the_repo_id(hub, prepared, tmp_path):
    push = ["push", "--data", str(prepared), "--repo", "test-user/toy-prepared", "--out", str(tmp_path / "p")]
    assert main(push) == 0
    files = hub.files("test-user/toy-prepared", repo_type="dataset")
    assert {"prepared.json", EMBEDDINGS_FILE, "README.md", "data/test-00000-of-00001.parquet"} <= set(files)
    assert not any(name.endswith((".pkl", ".pickle", ".bin", ".pt")) for name in files)
    assert b"item_embeddings.safetensors" in files["README.md"] and b"--format hub" in files["README.md"]
    out = tmp_path / "again"
    assert main(["prepare", "--data", "test-user/toy-prepared", "--format", "hub", "--out", str(out)]) == 0
    assert_same_dataset(out, prepared)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["inputs"]["format"] == "hub" and summary["embeddings"]["model"] == "test-encoder"
    assert hub_repo_of(out) == "test-user/toy-prepared"
    source = PreparedDataset.load(out).source
    assert source["hub"]["revision"] == hub.head("test-user/toy-prepared", repo_type="dataset")
    # a model trained on it (training_config.json names the prepared folder) links the dataset in its card
    model, tokenizer = tiny_model("tiger", "t5")
    folder = save_model_folder(model, tokenizer, tmp_path / "model", dataset_name="toy",
                               training={"data": {"prepared": str(out)}})
    assert card_metadata((folder / "README.md").read_text())["datasets"] == ["test-user/toy-prepared"]
    assert json.loads((folder / "data_license.json").read_text())["dataset_id"] == "test-user/toy-prepared"


def test_prepare_from_a_local_parquet_export_and_export_again(prepared, tmp_path):
    from datasets import load_dataset

    export_dataset_folder(PreparedDataset.load(prepared), tmp_path / "export", item_embeddings=prepared)
    assert (tmp_path / "export" / EMBEDDINGS_FILE).exists()  # datasets' loader reads the Parquet configs beside it
    test_rows = PreparedDataset.load(prepared).splits["test"].to_list()
    assert load_dataset(str(tmp_path / "export"))["test"].to_list() == test_rows
    out = tmp_path / "from-export"
    run_prepare(tmp_path / "export", out, format="hub", export_parquet=True)  # embeddings come with the data
    assert_same_dataset(out, prepared)
    assert hub_repo_of(out) is None
    loaded = load_prepared_dataset(out / "parquet")  # its own export holds the embeddings again
    assert loaded.embeddings is not None and loaded.prepared.statistics == PreparedDataset.load(prepared).statistics


def test_clear_errors(hub, prepared, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["prepare", "--data", str(tmp_path / "empty"), "--format", "hub", "--out", str(tmp_path / "o")]) == 2
    assert "no prepared.json" in capsys.readouterr().err
    assert main(["prepare", "--data", "test-user/missing", "--format", "hub", "--out", str(tmp_path / "o")]) == 2
    assert "no dataset repository of that name" in capsys.readouterr().err
    with pytest.raises(ValueError, match="not a raw log"):
        read_dataset(prepared, format="hub")
    with pytest.raises(ValueError, match="a prepared folder already"):
        load_prepared_dataset(prepared)
    export = export_dataset_folder(PreparedDataset.load(prepared), tmp_path / "export", item_embeddings=prepared)
    save_item_embeddings(export / EMBEDDINGS_FILE, np.zeros((3, 2), np.float32), {"model": "x"})
    with pytest.raises(ValueError, match="3 embedding rows for 4 items"):
        load_prepared_dataset(export)
    with pytest.raises(ValueError, match="3 embedding rows for the dataset's 4 items"):
        export_dataset_folder(PreparedDataset.load(prepared), tmp_path / "e2", item_embeddings=export / EMBEDDINGS_FILE)
    meta = json.loads((export / "prepared.json").read_text())
    meta["statistics"]["items"] = 5
    (export / "prepared.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="records 5 items but the item table has 4"):
        load_prepared_dataset(export)
