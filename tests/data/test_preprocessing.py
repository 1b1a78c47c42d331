"""k-core, ordering, leave-one-out and item-table behaviour, with property tests against brute force."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hf_genrec.data import DataFormatError, InteractionLog, PrepareConfig, prepare_dataset
from hf_genrec.data.items import build_item_table, item_text, validate_template
from hf_genrec.data.preprocessing import (as_lists, kcore_filter, leave_one_out, reindex, remove_consecutive_duplicates,
                                          sort_chronologically, training_counts, user_offsets)


def frame(rows, with_time=True):
    data = {"user_id": [r[0] for r in rows], "item_id": [r[1] for r in rows]}
    if with_time:
        data["timestamp"] = np.asarray([r[2] for r in rows], dtype=np.int64)
    data["source_line"] = np.arange(2, len(rows) + 2, dtype=np.int64)
    return pd.DataFrame(data)


def test_sort_groups_users_by_first_appearance_and_keeps_ties_in_file_order():
    rows = [("b", "x", 5), ("a", "y", 3), ("b", "z", 5), ("a", "w", 1), ("b", "v", 1), ("b", "u", 5)]
    out = sort_chronologically(frame(rows))
    assert out[["user_id", "item_id"]].values.tolist() == [
        ["b", "v"], ["b", "x"], ["b", "z"], ["b", "u"], ["a", "w"], ["a", "y"]]
    no_time = sort_chronologically(frame(rows, with_time=False))
    assert no_time["item_id"].tolist() == ["x", "z", "v", "u", "y", "w"]


def test_remove_consecutive_duplicates_only_within_a_user():
    rows = [("a", "x", 1), ("a", "x", 2), ("a", "y", 3), ("a", "x", 4), ("b", "x", 1), ("b", "x", 1)]
    out, removed = remove_consecutive_duplicates(frame(rows))
    assert removed == 2
    assert out[["user_id", "item_id"]].values.tolist() == [["a", "x"], ["a", "y"], ["a", "x"], ["b", "x"]]


def reference_kcore(pairs, user_k, item_k):
    rows = list(pairs)
    while True:
        users = pd.Series([u for u, _ in rows]).value_counts() if rows else pd.Series(dtype=int)
        items = pd.Series([i for _, i in rows]).value_counts() if rows else pd.Series(dtype=int)
        kept = [(u, i) for u, i in rows if users[u] >= user_k and items[i] >= item_k]
        if len(kept) == len(rows):
            return kept
        rows = kept


@settings(max_examples=60, deadline=None)
@given(pairs=st.lists(st.tuples(st.integers(0, 12), st.integers(0, 8)), min_size=0, max_size=120),
       user_k=st.integers(1, 5), item_k=st.integers(1, 5))
def test_kcore_matches_reference_and_is_a_fixed_point(pairs, user_k, item_k):
    rows = [(f"u{u}", f"i{i}", n) for n, (u, i) in enumerate(pairs)]
    out, report = kcore_filter(frame(rows), user_k, item_k)
    expected = reference_kcore([(r[0], r[1]) for r in rows], user_k, item_k)
    assert list(zip(out["user_id"], out["item_id"])) == expected
    if len(out):
        assert out["user_id"].value_counts().min() >= user_k
        assert out["item_id"].value_counts().min() >= item_k
    again, second = kcore_filter(out, user_k, item_k)
    assert len(again) == len(out) and second.removed_interactions == 0
    assert report.removed_interactions == len(rows) - len(out)


@settings(max_examples=60, deadline=None)
@given(lengths=st.lists(st.integers(3, 30), min_size=1, max_size=15), max_history=st.integers(1, 25),
       mode=st.sampled_from(["all_prefixes", "last"]), seed=st.integers(0, 1000))
def test_leave_one_out_against_brute_force(lengths, max_history, mode, seed):
    rng = np.random.default_rng(seed)
    sequences = [rng.integers(0, 50, size=n).tolist() for n in lengths]
    items = np.concatenate([np.asarray(s) for s in sequences]).astype(np.int64)
    times = np.arange(len(items), dtype=np.int64) * 10
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    splits = leave_one_out(items, times, offsets, max_history, mode)
    expected = {"train": [], "validation": [], "test": []}
    for user, seq in enumerate(sequences):
        n = len(seq)
        expected["test"].append((user, seq[:n - 1][-max_history:], seq[n - 1]))
        expected["validation"].append((user, seq[:n - 2][-max_history:], seq[n - 2]))
        targets = range(1, n - 2) if mode == "all_prefixes" else ([n - 3] if n - 3 > 0 else [])
        expected["train"].extend((user, seq[:t][-max_history:], seq[t]) for t in targets)
    for split, rows in expected.items():
        got = splits[split]
        histories = as_lists(*got["history"])
        assert list(zip(got["user_idx"].tolist(), histories, got["target"].tolist())) == rows
        stamps = as_lists(*got["history_timestamps"])
        assert all(len(a) == len(b) for a, b in zip(stamps, histories))
        assert all(all(x < t for x in s) for s, t in zip(stamps, got["target_timestamp"]))


def test_training_counts_exclude_validation_and_test_targets():
    items = np.array([0, 1, 2, 3, 4, 1, 1, 2, 0], dtype=np.int64)
    offsets = np.array([0, 5, 9])
    assert training_counts(items, offsets, 5).tolist() == [1, 3, 1, 0, 0]  # [0,1,2] + [1,1]


def small_log(sequences, items=None, with_time=True):
    rows = [(u, i, t) for u, seq in sequences.items() for t, i in enumerate(seq)]
    table = pd.DataFrame(items) if items is not None else pd.DataFrame({"item_id": pd.Series([], dtype=object)})
    return InteractionLog(interactions=frame(rows, with_time), items=table, name="toy",
                          source={"interactions": "toy.tsv"})


def test_prepare_dataset_contiguous_ids_and_split_sizes():
    log = small_log({"u1": ["a", "b", "c", "d", "e"], "u2": ["c", "a", "b"], "u3": ["e", "d", "c", "b"]},
                    items={"item_id": ["a", "c", "d"], "title": ["Apple", "Cherry", "Date"],
                           "category_path": [["Fruit"], [], []]})
    prepared = prepare_dataset(log, PrepareConfig(min_user_interactions=1, min_item_interactions=1, max_history=2))
    assert prepared.items["item_id"] == ["a", "b", "c", "d", "e"]
    assert prepared.items["item_idx"] == [0, 1, 2, 3, 4]
    assert prepared.items["text"][0] == "Apple. Category path: Fruit" and prepared.items["text"][1] == "Item b"
    assert prepared.statistics["items_missing_from_item_table"] == 2
    assert prepared.statistics["split_sizes"] == {"train": 2 + 0 + 1, "validation": 3, "test": 3}
    test = prepared.splits["test"]
    assert test["user_id"] == ["u1", "u2", "u3"]
    assert test["history"][0] == [2, 3] and test["target"][0] == 4
    assert prepared.items["train_count"] == [1, 1, 2, 1, 1]  # training parts: abc, c, ed


def test_short_user_error_names_user_and_line_and_can_be_dropped():
    log = small_log({"u1": ["a", "b", "c"], "u2": ["a", "b"]})
    config = PrepareConfig(min_user_interactions=1, min_item_interactions=1)
    with pytest.raises(DataFormatError) as err:
        prepare_dataset(log, config)
    assert "user 'u2' has 2 interaction(s)" in str(err.value) and "line 5" in str(err.value)
    assert "toy.tsv" in str(err.value)
    prepared = prepare_dataset(log, PrepareConfig(min_user_interactions=1, min_item_interactions=1, drop_short_users=True))
    assert prepared.statistics["users"] == 1 and prepared.statistics["removed_short_users"] == 1


def test_everything_filtered_and_missing_timestamps_are_errors():
    log = small_log({"u1": ["a", "b", "c"]})
    with pytest.raises(DataFormatError, match="no interactions left"):
        prepare_dataset(log, PrepareConfig())
    no_time = small_log({"u1": ["a", "b", "c"]}, with_time=False)
    with pytest.raises(DataFormatError, match="timestamps are required"):
        prepare_dataset(no_time, PrepareConfig(min_user_interactions=1, min_item_interactions=1, require_timestamps=True))
    prepared = prepare_dataset(no_time, PrepareConfig(min_user_interactions=1, min_item_interactions=1))
    assert "history_timestamps" not in prepared.splits["test"].column_names


def test_reindex_is_first_appearance():
    out = sort_chronologically(frame([("u", "z", 2), ("u", "y", 1), ("v", "z", 0)]))
    user_idx, item_idx, users, items = reindex(out)
    assert items.tolist() == ["y", "z"] and item_idx.tolist() == [0, 1, 1]
    assert user_offsets(user_idx).tolist() == [0, 2, 3]


def test_item_text_assembly_and_templates():
    row = {"item_id": "x1", "title": "Red Mug.", "brand": "Acme", "categories": ["Kitchen", "Mugs"],
           "category_path": ["Kitchen", "Mugs"], "description": "A mug"}
    assert item_text(row) == "Red Mug. Brand: Acme. Categories: Kitchen, Mugs. A mug"
    assert item_text(row, ("title", "category_path")) == "Red Mug. Category path: Kitchen > Mugs"
    assert item_text(row, template="{title} by {brand} [{item_id}]") == "Red Mug. by Acme [x1]"
    for bad in ("{title.__class__}", "{price}", "{title!r}", "{title:>10}"):
        with pytest.raises(ValueError):
            validate_template(bad)
    with pytest.raises(ValueError, match="unknown text field"):
        build_item_table(np.array(["x1"], dtype=object), pd.DataFrame(), np.zeros(1), fields=("price",))


def test_items_missing_from_the_item_table_are_counted_and_most_missing_is_an_error(caplog):
    sequences = {"u1": ["A1", "B2", "C3"], "u2": ["B2", "C3", "D4"]}
    partial = small_log(sequences, items={"item_id": ["A1", "B2", "C3"], "title": ["x", "y", "z"]})
    config = PrepareConfig(min_user_interactions=1, min_item_interactions=1)
    with caplog.at_level("WARNING", logger="hf_genrec"):
        prepared = prepare_dataset(partial, config)
    assert prepared.statistics["items_missing_from_item_table"] == 1 and "1 of 4 items" in caplog.text
    wrong_case = small_log(sequences, items={"item_id": ["a1", "b2", "c3", "d4"], "title": ["x", "y", "z", "w"]})
    with pytest.raises(DataFormatError, match=r"4 of the 4 items .* 'A1' is missing; the table has 'a1'"):
        prepare_dataset(wrong_case, config)


def test_items_without_text_in_the_chosen_fields_are_reported_with_the_fields_that_would_cover_them(caplog):
    """Amazon Sports has no titles and keeps its category tokens in ``category_path``: content from ``brand`` alone
    leaves the items without a brand with the fallback text 'Item <id>', and the warning names the field to add."""
    sequences = {"u1": ["A1", "B2", "C3"], "u2": ["B2", "C3", "A1"]}
    items = {"item_id": ["A1", "B2", "C3"], "brand": ["Ghost", "", ""],
             "category_path": [["Hunting"], ["Golf", "Balls"], []]}
    config = PrepareConfig(min_user_interactions=1, min_item_interactions=1, text_fields=("brand",))
    with caplog.at_level("WARNING", logger="hf_genrec"):
        prepared = prepare_dataset(small_log(sequences, items=items), config)
    stats = prepared.statistics
    assert stats["items_without_text"] == 2 and stats["items_without_text_covered_by"] == {"category_path": 1}
    assert "2 of 3 items (67%) have no text in the fields ['brand']" in caplog.text
    assert "'category_path' has text for 1 of them (add it to text_fields)" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="hf_genrec"):
        covered = prepare_dataset(small_log(sequences, items=items),
                                  PrepareConfig(min_user_interactions=1, min_item_interactions=1,
                                                text_fields=("brand", "category_path")))
    assert covered.statistics["items_without_text"] == 1 and covered.statistics["items_without_text_covered_by"] == {}
    assert "1 of 3 items (33%)" in caplog.text and "add it" not in caplog.text
