"""Sequence-level training rows rebuilt from a prepared training split (``training.train_examples: sequence``)."""

import numpy as np
import pytest

from hf_genrec.data.errors import DataFormatError
from hf_genrec.data.preprocessing import leave_one_out
from hf_genrec.data.prepared import _split_dataset
from hf_genrec.data.sequence_examples import sequence_windows, training_sequences, window_bounds


def _split(sequences, max_history=4, mode="all_prefixes", timestamps=True):
    items = np.concatenate([np.asarray(s) for s in sequences]).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in sequences])]).astype(np.int64)
    times = (np.arange(len(items)) * 10 + 5).astype(np.int64) if timestamps else None
    columns = leave_one_out(items, times, offsets, max_history, mode)["train"]
    return _split_dataset(columns, np.array([f"u{i}" for i in range(len(sequences))])), items, offsets


@pytest.mark.parametrize("length,window", [(2, 3), (5, 3), (7, 3), (9, 4), (4, 1)])
def test_windows_cover_every_target_once(length, window):
    bounds = window_bounds(length, window)
    covered = [p for a, b in bounds for p in range(a, b)]
    assert sorted(covered) == list(range(1, length)) and all(0 < b - a <= window for a, b in bounds)


def test_training_sequences_are_rebuilt_from_the_prefix_rows():
    sequences = [[3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 5], [10, 11, 12, 13, 14, 15, 16, 17, 18, 19]]
    split, _, _ = _split(sequences)
    rebuilt = training_sequences(split)
    for u, seq in enumerate(sequences):
        part = rebuilt["items"][rebuilt["offsets"][u]:rebuilt["offsets"][u + 1]]
        assert part.tolist() == seq[:-2]  # everything but the validation and test items
    assert rebuilt["users"].tolist() == [0, 1, 2] and rebuilt["timestamps"] is not None


def test_sequence_rows_hold_every_training_target_with_its_history_in_the_window():
    sequences = [[3, 4, 5, 6, 7, 8, 9, 20, 21, 22], [1, 2, 3, 4, 5]]
    split, _, _ = _split(sequences, max_history=4)
    rows = sequence_windows(split, window=3)
    prefix_targets = sorted(zip(split["user_idx"], split["target"]))
    sequence_targets = sorted((u, t) for u, targets in zip(rows["user_idx"], rows["targets"]) for t in targets)
    assert sequence_targets == prefix_targets  # every training target exactly once
    for row in rows:
        assert len(row["history"]) == len(row["targets"]) <= 3
        assert row["history"][1:] == row["targets"][:-1]  # the target after each position is the next input
        assert row["target_timestamps"][:-1] == row["history_timestamps"][1:]
    user0 = [r for r in rows if r["user_idx"] == 0]
    assert [r["targets"] for r in user0] == [[4], [5, 6, 7], [8, 9, 20]]  # the last window ends at the last target


def test_without_timestamps_and_empty_splits():
    split, _, _ = _split([[1, 2, 3, 4, 5]], timestamps=False)
    rows = sequence_windows(split, window=8)
    assert rows.column_names == ["user_idx", "history", "targets"] and rows[0]["targets"] == [2, 3]
    assert len(sequence_windows(split.select([]), window=8)) == 0


def test_rows_that_are_not_consecutive_prefixes_are_a_clear_error():
    split, _, _ = _split([[1, 2, 3, 4, 5, 6, 7]], max_history=4, mode="last")
    assert len(sequence_windows(split, 4)) == 1  # one row per user: its history and target are one window
    shuffled, _, _ = _split([[1, 2, 3, 4, 5, 6, 7], [8, 9, 10, 11, 12, 13]])
    shuffled = shuffled.select([0, 4, 1, 2, 3, 5, 6])
    with pytest.raises(DataFormatError, match="not grouped by user|does not continue"):
        sequence_windows(shuffled, 4)
    reversed_rows, _, _ = _split([[1, 2, 3, 4, 5, 6, 7]])
    with pytest.raises(DataFormatError, match="training row 1 .* does not continue"):
        sequence_windows(reversed_rows.select([0, 2, 1, 3]), 4)


def test_a_prepared_dataset_gives_as_many_targets_in_far_fewer_rows(prepared_synthetic):
    from hf_genrec.data import PreparedDataset

    prepared = PreparedDataset.load(prepared_synthetic)
    train = prepared.splits["train"]
    rows = sequence_windows(train, window=prepared.config["max_history"])
    assert sum(len(t) for t in rows["targets"]) == len(train)
    assert len(rows) < len(train) / 2
