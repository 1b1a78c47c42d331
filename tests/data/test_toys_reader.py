"""The two-file reader on the Toys layout: ``categories`` is a list of raw Amazon 2014 category paths per item."""

import pytest
from helpers.writers import write_two_file

from hf_genrec.data import PrepareConfig, prepare_dataset, read_dataset, read_two_file
from hf_genrec.data.tags import build_tag_hierarchy

ROOT = "Toys & Games"
TOYS_ITEMS = {
    "T1": {"title": "Carcassonne", "categories": [[ROOT, "Games", "Board Games"]]},
    # the store's path comes second (Amazon sorts paths by name): it is still the one kept
    "T2": {"title": "Wagon", "categories": [["Automotive", "Cargo Carriers"],
                                            [ROOT, "Tricycles, Scooters & Wagons", "Pull-Along Wagons"]]},
    "T3": {"title": "Mystery box", "categories": [[ROOT]]},
    "T4": {"title": "Doll shoes", "categories": [[ROOT, "Dolls & Accessories", "Doll Accessories"],
                                                 [ROOT, "Dolls & Accessories", "Dolls"]]},
    # the first path under the root, not the longest (which lies in another store's tree)
    "T5": {"title": "Costume", "categories": [[ROOT, "Baby & Toddler Toys"],
                                              ["Clothing, Shoes & Jewelry", "Novelty", "Costumes", "Kids & Baby", "Boys"]]},
    "T6": {"title": "No categories", "categories": []},
}


def _toys(tmp_path):
    return write_two_file(tmp_path / "toys", {"u1": ["T1", "T2", "T3"], "u2": ["T4", "T5", "T6"]}, items=TOYS_ITEMS)


def test_toys_category_paths_become_the_store_path_without_root(tmp_path):
    items = read_two_file(_toys(tmp_path)).items.set_index("item_id")
    assert items.loc["T1", "category_path"] == ["Games", "Board Games"]
    assert items.loc["T2", "category_path"] == ["Tricycles, Scooters & Wagons", "Pull-Along Wagons"]
    assert items.loc["T3", "category_path"] == [] and items.loc["T6", "category_path"] == []
    assert items.loc["T4", "category_path"] == ["Dolls & Accessories", "Doll Accessories"]
    assert items.loc["T5", "category_path"] == ["Baby & Toddler Toys"]
    # categories: the de-duplicated union of every path's names, never a stringified list
    assert items.loc["T4", "categories"] == [ROOT, "Dolls & Accessories", "Doll Accessories", "Dolls"]
    assert items.loc["T2", "categories"][:2] == ["Automotive", "Cargo Carriers"]
    assert not any("[" in name for names in items["categories"] for name in names)


def test_toys_prepared_text_and_tags(tmp_path):
    prepared = prepare_dataset(read_dataset(_toys(tmp_path)), PrepareConfig(min_user_interactions=1,
                                                                             min_item_interactions=1))
    texts = dict(zip(prepared.items["item_id"], prepared.items["text"]))
    assert "Category path: Games > Board Games" in texts["T1"] and "['" not in texts["T1"]
    tags = build_tag_hierarchy(prepared.items, levels=2)
    assert tags.vocab[0] == ["Baby & Toddler Toys", "Dolls & Accessories", "Games", "Tricycles, Scooters & Wagons"]
    row = list(prepared.items["item_id"]).index("T3")
    assert tags.labels[row].tolist() == [0, 0]


def test_flat_categories_and_category_tokens_are_left_as_they_were(tmp_path):
    yelp_like = write_two_file(tmp_path / "flat", {"u": ["b1", "b2", "b3"]},
                               items={"b1": {"name": "Diner", "categories": ["Diners", "Greek"]}})
    items = read_two_file(yelp_like).items.set_index("item_id")
    assert items.loc["b1", "categories"] == ["Diners", "Greek"] and "category_path" not in items.columns
    both = write_two_file(tmp_path / "both", {"u": ["B1", "B2", "B3"]},
                          items={"B1": {"categories": [["Beauty", "Makeup"]], "category_tokens": ["Makeup", "Lips"]}})
    items = read_two_file(both).items.set_index("item_id")
    assert items.loc["B1", "category_path"] == ["Makeup", "Lips"]  # an explicit path wins
    assert items.loc["B1", "categories"] == ["Beauty", "Makeup"]


def test_real_toys_items_have_store_paths(shared_datasets):
    folder = shared_datasets / "amazon-toys-2014"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    items = read_dataset(folder).items
    paths = items["category_path"].tolist()
    assert len(paths) == 11_924 and all(isinstance(path, list) for path in paths)
    assert not any(path and path[0] == ROOT for path in paths)
    assert sum(bool(path) for path in paths) > 0.95 * len(paths)  # only items filed under the root alone are empty
    assert not any("[" in name for names in items["categories"] for name in names)
