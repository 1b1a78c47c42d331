"""Sequence-level training examples: one row per window of a user's training sequence, a target at every position.

A prepared training split holds one row per prefix (history -> next item, ``train_examples: all_prefixes``), so a
user with ``n`` interactions costs ``n - 3`` backbone passes. A causal backbone (HSTU, SASRec, a decoder-only LM)
predicts the next item at every position of one pass, which is how HSTU and SASRec are trained. This module
rebuilds each user's training sequence from the prefix rows (the first row's history, then every row's target)
and cuts it into windows of ``window`` inputs that cover every training target once:

* the last window ends at the last training target; each earlier window ends where the next one starts;
* a window's row holds ``history`` (its inputs ``s[a-1:b-1]``) and ``targets`` (``s[a:b]``, same length), plus
  ``history_timestamps`` / ``target_timestamps`` when the split has timestamps.

A target at position ``j`` of a window sees the ``j + 1`` inputs before it in the window (the first windows of a long
user see fewer items than the prefix row would give them): the price of one pass per window, as in SASRec and HSTU.
The training loss at every position then equals the mean of the prefix losses of the same window for a causal model
whose positions do not depend on where the sequence ends (tested per model).
"""

from __future__ import annotations

from typing import Dict, Optional

import numpy as np

from .errors import DataFormatError


def _list_column(table, name: str):
    """``(flat values, offsets)`` of a list column of an Arrow table."""
    import pyarrow as pa

    column = table.column(name).combine_chunks()
    if isinstance(column, pa.ChunkedArray):  # an empty table
        column = pa.array([], type=column.type)
    offsets = np.asarray(column.offsets)
    flat = np.asarray(column.values)
    return flat[offsets[0]:offsets[-1]], offsets - offsets[0]


def training_sequences(split) -> Dict[str, Optional[np.ndarray]]:
    """Each user's training sequence rebuilt from a prepared training split (rows grouped by user, in order).

    Returns CSR arrays: ``items``, ``timestamps`` (or ``None``), ``offsets`` and ``users``. Raises a
    :class:`DataFormatError` when the rows are not consecutive prefixes of one sequence per user.
    """
    table = split.with_format("arrow")[:]
    if not {"user_idx", "history", "target"} <= set(table.column_names):
        raise DataFormatError(f"a training split needs the columns user_idx, history and target; it has "
                              f"{table.column_names}")
    users = np.asarray(table.column("user_idx"))
    targets = np.asarray(table.column("target"))
    history, history_offsets = _list_column(table, "history")
    timed = "history_timestamps" in table.column_names and "target_timestamp" in table.column_names
    if timed:
        history_times, _ = _list_column(table, "history_timestamps")
        target_times = np.asarray(table.column("target_timestamp"))
    if len(users) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return {"items": empty, "timestamps": empty if timed else None, "offsets": np.zeros(1, np.int64), "users": empty}
    first = np.concatenate([[True], users[1:] != users[:-1]])
    heads, head_counts = np.unique(users[first], return_counts=True)
    if (head_counts > 1).any():
        raise DataFormatError(f"the training split's rows are not grouped by user (user_idx {int(heads[head_counts > 1][0])}"
                              " appears in two places); sequence training needs the split as `hf-genrec prepare` "
                              "writes it")
    # every row after a user's first continues the previous row: its last history item is the previous target
    continuing = ~first
    last_history = history[np.maximum(history_offsets[1:] - 1, 0)]
    broken = np.flatnonzero(continuing & ((np.diff(history_offsets) == 0) | (last_history != np.roll(targets, 1))))
    if broken.size:
        row = int(broken[0])
        raise DataFormatError(f"training row {row} (user_idx {int(users[row])}) does not continue the row before it; "
                              "sequence training needs one row per prefix (prepare with --train-examples "
                              "all_prefixes)")
    rows = np.flatnonzero(first)
    head_lengths = np.diff(history_offsets)[rows]
    counts = np.diff(np.concatenate([rows, [len(users)]]))
    lengths = head_lengths + counts
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    items = np.empty(offsets[-1], dtype=np.int64)
    times = np.empty(offsets[-1], dtype=np.int64) if timed else None
    head_index = np.concatenate([np.arange(history_offsets[r], history_offsets[r + 1]) for r in rows])
    head_slots = np.concatenate([np.arange(offsets[u], offsets[u] + head_lengths[u]) for u in range(len(rows))])
    items[head_slots] = history[head_index]
    mask = np.ones(offsets[-1], dtype=bool)
    mask[head_slots] = False
    items[mask] = targets  # the targets follow each head, in row order
    if timed:
        times[head_slots] = history_times[head_index]
        times[mask] = target_times
    return {"items": items, "timestamps": times, "offsets": offsets, "users": users[rows]}


def window_bounds(length: int, window: int):
    """``[(a, b), ...]`` target ranges of a sequence of ``length`` items: targets ``s[a:b]``, inputs ``s[a-1:b-1]``,
    ``b - a <= window``, covering positions ``1 .. length - 1`` once; the last window first."""
    bounds, end = [], length
    while end > 1:
        start = max(1, end - window)
        bounds.append((start, end))
        end = start
    return bounds


def sequence_windows(split, window: int):
    """The sequence-level training rows of a prepared training split (see the module docstring)."""
    import pyarrow as pa
    from datasets import Dataset

    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    sequences = training_sequences(split)
    items, times, offsets, users = (sequences[k] for k in ("items", "timestamps", "offsets", "users"))
    starts, rows_user = [], []
    for u, user in enumerate(users):
        base = offsets[u]
        for a, b in reversed(window_bounds(int(offsets[u + 1] - base), window)):
            rows_user.append(user)
            starts.append((base + a - 1, base + b - 1))
    begin = np.array([s for s, _ in starts], dtype=np.int64)
    end = np.array([e for _, e in starts], dtype=np.int64)
    lengths = end - begin
    list_offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    index = np.arange(list_offsets[-1]) - np.repeat(list_offsets[:-1], lengths) + np.repeat(begin, lengths)

    def as_list(values):
        return pa.ListArray.from_arrays(pa.array(list_offsets, type=pa.int64()), pa.array(values, type=pa.int64()))

    table = {"user_idx": pa.array(np.asarray(rows_user, dtype=np.int64), type=pa.int64()),
             "history": as_list(items[index]), "targets": as_list(items[index + 1])}
    if times is not None:
        table["history_timestamps"] = as_list(times[index])
        table["target_timestamps"] = as_list(times[index + 1])
    return Dataset(pa.table(table))
