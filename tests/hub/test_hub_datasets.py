"""A prepared dataset on the Hub: the Parquet layout that ``load_dataset`` reads, the dataset card, and the
refusal to push data whose licence restricts redistribution (the push itself: ``test_hub_push.py``)."""

import pytest
from datasets import load_dataset
from helpers.writers import write_two_file

from hf_genrec.data import PrepareConfig, prepare_dataset, read_dataset
from hf_genrec.hub import export_dataset_folder, push_dataset, render_dataset_card


@pytest.fixture
def prepared(tmp_path):
    folder = write_two_file(tmp_path / "src", {"A": ["x", "y", "z", "x"], "B": ["y", "z", "w"]},
                            items={"x": {"title": "Ex"}, "y": {"title": "Why", "category_tokens": ["Root", "Leaf"]}},
                            timestamps={"A": [1, 2, 3, 4], "B": [5, 6, 86400 * 400]})
    return prepare_dataset(read_dataset(folder), PrepareConfig(min_user_interactions=1, min_item_interactions=1))


def test_hub_layout_loads_with_load_dataset(prepared, tmp_path):
    folder = export_dataset_folder(prepared, tmp_path / "hub")
    splits = load_dataset(str(folder))
    assert set(splits) == {"train", "validation", "test"}
    assert splits["test"].to_list() == prepared.splits["test"].to_list()
    items = load_dataset(str(folder), "items")["train"]
    assert items["title"] == prepared.items["title"]


def test_dataset_card_holds_statistics(prepared):
    card = render_dataset_card(prepared)
    assert card.startswith("---\n") and "config_name: items" in card
    assert f"| users | {prepared.statistics['users']} |" in card
    assert "| interactions | 7 |" in card and "leave-one-out" in card
    assert "1970-01-01 .. 1971-02-05" in card


def test_push_refuses_restricted_data(prepared):
    prepared.redistribution_restricted = True
    prepared.license_note = "Yelp terms"
    with pytest.raises(PermissionError, match="restricts redistribution"):
        push_dataset(prepared, "someone/yelp")
