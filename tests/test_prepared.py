"""Saving, loading, the Hub Parquet layout and the dataset card of a prepared dataset."""

import json

import pytest
from datasets import load_dataset
from fixtures import write_two_file

from hf_genrec.data import PrepareConfig, PreparedDataset, prepare_dataset, read_dataset

CONFIG = PrepareConfig(min_user_interactions=1, min_item_interactions=1)


@pytest.fixture
def prepared(tmp_path):
    folder = write_two_file(tmp_path / "src", {"A": ["x", "y", "z", "x"], "B": ["y", "z", "w"]},
                            items={"x": {"title": "Ex"}, "y": {"title": "Why", "category_tokens": ["Root", "Leaf"]}},
                            timestamps={"A": [1, 2, 3, 4], "B": [5, 6, 86400 * 400]})
    return prepare_dataset(read_dataset(folder), CONFIG)


def test_save_load_round_trip(prepared, tmp_path):
    prepared.save(tmp_path / "out")
    assert not list(tmp_path.glob(".out.*"))  # no temporary folder left behind
    assert (tmp_path / "out" / "statistics.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    loaded = PreparedDataset.load(tmp_path / "out")
    for split in ("train", "validation", "test"):
        assert loaded.splits[split].to_list() == prepared.splits[split].to_list()
    assert loaded.items.to_list() == prepared.items.to_list()
    assert loaded.statistics == json.loads(json.dumps(prepared.statistics))
    with pytest.raises(FileExistsError, match="already exists"):
        prepared.save(tmp_path / "out")
    prepared.save(tmp_path / "out", overwrite=True)


def test_failed_save_leaves_nothing(prepared, tmp_path, monkeypatch):
    def broken(self, *args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(type(prepared.items), "save_to_disk", broken)
    (tmp_path / "outputs").mkdir()
    with pytest.raises(RuntimeError, match="disk full"):
        prepared.save(tmp_path / "outputs" / "out")
    assert list((tmp_path / "outputs").iterdir()) == []


def test_hub_layout_loads_with_load_dataset(prepared, tmp_path):
    folder = prepared.export_hub_folder(tmp_path / "hub")
    splits = load_dataset(str(folder))
    assert set(splits) == {"train", "validation", "test"}
    assert splits["test"].to_list() == prepared.splits["test"].to_list()
    items = load_dataset(str(folder), "items")["train"]
    assert items["title"] == prepared.items["title"]


def test_dataset_card_holds_statistics(prepared):
    card = prepared.dataset_card()
    assert card.startswith("---\n") and "config_name: items" in card
    assert f"| users | {prepared.statistics['users']} |" in card
    assert "| interactions | 7 |" in card and "leave-one-out" in card
    assert "1970-01-01 .. 1971-02-05" in card


def test_push_refuses_restricted_data(prepared):
    prepared.redistribution_restricted = True
    prepared.license_note = "Yelp terms"
    with pytest.raises(PermissionError, match="restricts redistribution"):
        prepared.push_to_hub("someone/yelp")


def test_load_of_a_non_prepared_folder(tmp_path):
    from hf_genrec.data import DataFormatError

    with pytest.raises(DataFormatError, match="not a prepared dataset folder"):
        PreparedDataset.load(tmp_path)
