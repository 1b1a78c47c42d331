"""Saving and loading a prepared dataset (its Hub layout, card and push: ``tests/hub/test_hub_datasets.py``)."""

import json

import pytest
from helpers.writers import write_two_file

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


def test_load_of_a_non_prepared_folder(tmp_path):
    from hf_genrec.data import DataFormatError

    with pytest.raises(DataFormatError, match="not a prepared dataset folder"):
        PreparedDataset.load(tmp_path)
