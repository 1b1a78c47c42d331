"""PRISM's hierarchical category tags (spec §1.1 "tags", §5.3 item 2): classes, PAD, encoding, save/load."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from helpers.writers import write_two_file

from hf_genrec.data import PrepareConfig, SyntheticConfig, generate_synthetic, prepare_dataset, read_dataset
from hf_genrec.data.tags import PAD, TAGS_METADATA_FILE, build_tag_hierarchy, encode_tags, load_tags, save_tags
from hf_genrec.embeddings import ItemEncoder

PATHS = [["Makeup", "Eyes", "Eyebrow Pencil"],
         ["Skin Care", "Face"],
         [],
         ["Makeup", "Lips", "Lipstick", "Matte"],  # deeper than 3 levels: cut
         ["Makeup", "Eyes", "Mascara"]]


def test_classes_are_sorted_texts_per_level_with_pad_for_short_paths():
    tags = build_tag_hierarchy(PATHS, levels=3)
    assert tags.vocab == [["Makeup", "Skin Care"], ["Eyes", "Face", "Lips"], ["Eyebrow Pencil", "Lipstick", "Mascara"]]
    assert tags.labels.dtype == torch.int64 and tags.labels.tolist() == [[1, 1, 1], [2, 2, PAD], [PAD, PAD, PAD],
                                                                         [1, 3, 2], [1, 1, 3]]
    assert tags.counts == [[3, 1], [2, 1, 1], [1, 1, 1]]
    assert tags.num_classes == [2, 3, 3] and tags.levels == 3 and tags.num_items == 5
    assert tags.text_of(2, 3) == "Mascara" and tags.text_of(1, PAD) is None
    # ids do not depend on the item order
    shuffled = build_tag_hierarchy(PATHS[::-1], levels=3)
    assert shuffled.vocab == tags.vocab and torch.equal(shuffled.labels, tags.labels.flip(0))
    deeper = build_tag_hierarchy(PATHS, levels=4)
    assert deeper.vocab[3] == ["Matte"] and deeper.labels[:, 3].tolist() == [0, 0, 0, 1, 0]


def test_drop_root_skips_the_store_name():
    tags = build_tag_hierarchy([["Beauty", "Makeup", "Eyes"], ["Beauty", "Fragrance"]], levels=2, drop_root=True)
    assert tags.vocab == [["Fragrance", "Makeup"], ["Eyes"]] and tags.labels.tolist() == [[2, 1], [1, 0]]


def test_bad_inputs_name_the_item_and_field():
    with pytest.raises(ValueError, match=r"item 1: field 'category_path' must be a list"):
        build_tag_hierarchy([["Makeup"], "Makeup > Eyes"])
    with pytest.raises(ValueError, match="no 'category_path' column"):
        build_tag_hierarchy(pd.DataFrame({"title": ["a"]}))
    with pytest.raises(ValueError, match="no item has a tag in 'categories'"):
        build_tag_hierarchy({"categories": [[], None]}, source="categories")
    with pytest.raises(ValueError, match="levels must be"):
        build_tag_hierarchy(PATHS, levels=0)


def test_prepared_item_tables_give_their_category_paths(tmp_path):
    generate_synthetic(tmp_path / "raw", SyntheticConfig(num_users=60, num_items=162, seed=0))
    prepared = prepare_dataset(read_dataset(tmp_path / "raw"), PrepareConfig(min_item_interactions=1))
    tags = build_tag_hierarchy(prepared.items, levels=3)
    paths = prepared.items["category_path"]
    assert tags.num_items == prepared.num_items and (tags.labels > 0).all()
    for level in range(3):
        assert tags.vocab[level] == sorted({path[level] for path in paths})
        assert [tags.text_of(level, int(c)) for c in tags.labels[:, level]] == [path[level] for path in paths]
    # Beauty's layout: category_tokens (root already dropped) becomes category_path
    beauty = write_two_file(tmp_path / "beauty", {"A": ["B1", "B2", "B3"]},
                            items={"B1": {"title": "Pencil", "category_tokens": ["Makeup", "Eyes", "Eyebrow"]},
                                   "B2": {"title": "Cream", "category_tokens": ["Skin Care"]},
                                   "B3": {"title": "Gift", "category_tokens": []}})
    prepared = prepare_dataset(read_dataset(beauty), PrepareConfig(min_user_interactions=1, min_item_interactions=1))
    tags = build_tag_hierarchy(prepared.items, levels=3)
    assert tags.vocab == [["Makeup", "Skin Care"], ["Eyes"], ["Eyebrow"]]
    assert tags.labels.tolist() == [[1, 1, 1], [2, 0, 0], [0, 0, 0]]


def test_encode_tags_with_the_item_encoder(tmp_path):
    tags = build_tag_hierarchy(PATHS + [["Lips", "Makeup"]], levels=3)  # "Makeup" at two levels: one encoding
    encoder = ItemEncoder(cache_dir=tmp_path)
    tables = encode_tags(tags, encoder)
    assert [tuple(t.shape) for t in tables] == [(3, 384), (4, 384), (3, 384)]
    assert all(t.dtype == torch.float32 for t in tables)
    direct, _ = encoder.encode(["Mascara", "Makeup"])
    assert np.allclose(tables[2][tags.vocab[2].index("Mascara")].numpy(), direct[0], atol=1e-5)
    assert torch.equal(tables[0][tags.vocab[0].index("Makeup")], tables[1][tags.vocab[1].index("Makeup")])
    lipstick = tables[2][tags.vocab[2].index("Lipstick")]
    lips, face = (tables[1][tags.vocab[1].index(text)] for text in ("Lips", "Face"))
    assert float(lips @ lipstick) > float(face @ lipstick)  # real sentence embeddings, not placeholders


def test_save_and_load_round_trip_and_mismatch(tmp_path):
    tags = build_tag_hierarchy(PATHS, levels=3)
    with pytest.raises(FileNotFoundError, match="no category tags"):
        load_tags(tmp_path)
    save_tags(tmp_path, tags)
    loaded, embeddings = load_tags(tmp_path)
    assert embeddings is None and torch.equal(loaded.labels, tags.labels)
    assert loaded.vocab == tags.vocab and loaded.counts == tags.counts and loaded.source == "category_path"

    tables = [torch.randn(n, 8) for n in tags.num_classes]
    save_tags(tmp_path, tags, tables, encoder_name="m")
    loaded, embeddings = load_tags(tmp_path)
    assert all(torch.equal(a, b) for a, b in zip(embeddings, tables))
    assert json.loads((tmp_path / TAGS_METADATA_FILE).read_text())["encoder"] == "m"
    with pytest.raises(ValueError, match=r"level 1 must be \[3, dim\]"):
        save_tags(tmp_path, tags, [tables[0], tables[0], tables[2]])

    meta = json.loads((tmp_path / TAGS_METADATA_FILE).read_text())
    meta["vocab"][0] = ["Skin Care", "Makeup"]
    (tmp_path / TAGS_METADATA_FILE).write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="do not belong together"):
        load_tags(tmp_path)
