"""Preprocessing of an :class:`InteractionLog` into leave-one-out examples (the TIGER / P5 protocol).

Steps, in order (each a small function, tested on its own):

1. :func:`sort_chronologically` - users in order of first appearance; within a user by timestamp,
   ties (and logs without time) kept in file order.
2. :func:`remove_consecutive_duplicates` - optional: drop an interaction equal to the user's previous one.
3. :func:`kcore_filter` - iterative k-core: drop users and items with fewer than k interactions until
   none is left (default k = 5 for both).
4. :func:`reindex` - contiguous 0-based ids in order of first appearance (on the P5/S3-Rec files this
   reproduces their ``item_idx - 1``).
5. :func:`leave_one_out` - last item = test target, second-to-last = validation target, training
   examples from every prefix of the rest (``"all_prefixes"``, TIGER) or its last item only
   (``"last"``); histories keep the ``max_history`` most recent items.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np
import pandas as pd

from .errors import DataFormatError
from .schema import ITEM, SOURCE_LINE, TIMESTAMP, USER

TRAIN_EXAMPLE_MODES = ("all_prefixes", "last")


def sort_chronologically(frame: pd.DataFrame) -> pd.DataFrame:
    """Group rows by user (in order of first appearance) and sort each user's rows by time, stably."""
    lines = frame[SOURCE_LINE].to_numpy()
    order_by_line = np.argsort(lines, kind="stable")
    codes_in_line_order, _ = pd.factorize(frame[USER].to_numpy()[order_by_line])
    user_rank = np.empty(len(frame), dtype=np.int64)
    user_rank[order_by_line] = codes_in_line_order
    keys = [lines]
    if TIMESTAMP in frame.columns:
        keys.append(frame[TIMESTAMP].to_numpy())
    keys.append(user_rank)
    order = np.lexsort(keys)  # last key is primary: user, then time, then file line
    return frame.iloc[order].reset_index(drop=True)


def remove_consecutive_duplicates(frame: pd.DataFrame) -> Tuple[pd.DataFrame, int]:
    """Drop rows whose item equals the same user's previous item (frame must be sorted)."""
    users = frame[USER].to_numpy()
    items = frame[ITEM].to_numpy()
    repeat = np.zeros(len(frame), dtype=bool)
    repeat[1:] = (users[1:] == users[:-1]) & (items[1:] == items[:-1])
    return frame[~repeat].reset_index(drop=True), int(repeat.sum())


@dataclass
class KCoreReport:
    iterations: int
    removed_users: int
    removed_items: int
    removed_interactions: int

    def to_dict(self) -> Dict[str, int]:
        return dict(self.__dict__)


def kcore_filter(frame: pd.DataFrame, min_user_interactions: int = 5,
                 min_item_interactions: int = 5) -> Tuple[pd.DataFrame, KCoreReport]:
    """Iterative k-core filtering: repeat removing users/items below their threshold until stable.

    Counts are interactions (rows), as in the standard 5-core protocol. The result is the largest
    sub-log in which every user has >= ``min_user_interactions`` and every item >= ``min_item_interactions``.
    """
    user_codes, user_values = pd.factorize(frame[USER].to_numpy())
    item_codes, item_values = pd.factorize(frame[ITEM].to_numpy())
    keep = np.ones(len(frame), dtype=bool)
    iterations = 0
    while True:
        iterations += 1
        user_counts = np.bincount(user_codes[keep], minlength=len(user_values))
        item_counts = np.bincount(item_codes[keep], minlength=len(item_values))
        bad = keep & ((user_counts[user_codes] < min_user_interactions) | (item_counts[item_codes] < min_item_interactions))
        if not bad.any():
            break
        keep &= ~bad
    report = KCoreReport(
        iterations=iterations,
        removed_users=int(len(user_values) - np.unique(user_codes[keep]).size),
        removed_items=int(len(item_values) - np.unique(item_codes[keep]).size),
        removed_interactions=int((~keep).sum()))
    return frame[keep].reset_index(drop=True), report


def reindex(frame: pd.DataFrame) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Contiguous 0-based ids by first appearance. Returns ``(user_idx, item_idx, user_ids, item_ids)``."""
    user_idx, user_ids = pd.factorize(frame[USER].to_numpy())
    item_idx, item_ids = pd.factorize(frame[ITEM].to_numpy())
    return user_idx.astype(np.int64), item_idx.astype(np.int64), np.asarray(user_ids, dtype=object), np.asarray(item_ids, dtype=object)


def user_offsets(user_idx: np.ndarray) -> np.ndarray:
    """CSR offsets of a user-grouped id array: user ``u``'s rows are ``offsets[u]:offsets[u+1]``."""
    counts = np.bincount(user_idx)
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def check_sequence_lengths(frame: pd.DataFrame, offsets: np.ndarray, user_ids: np.ndarray, source: Optional[str],
                           minimum: int = 3) -> None:
    """Leave-one-out needs ``minimum`` interactions per user; name the first user who has fewer."""
    lengths = np.diff(offsets)
    short = np.flatnonzero(lengths < minimum)
    if short.size:
        user = int(short[0])
        first_line = int(frame[SOURCE_LINE].iloc[offsets[user]])
        raise DataFormatError(
            f"user '{user_ids[user]}' has {int(lengths[user])} interaction(s) after filtering (first at line "
            f"{first_line}); leave-one-out needs at least {minimum}. {short.size} user(s) are this short: raise the "
            "k-core threshold or drop them with --drop-short-users (PrepareConfig(drop_short_users=True))", source,
            field=USER)


def drop_short_users(frame: pd.DataFrame, minimum: int = 3) -> Tuple[pd.DataFrame, int]:
    counts = frame.groupby(USER, sort=False)[USER].transform("size").to_numpy()
    keep = counts >= minimum
    removed = int(frame.loc[~keep, USER].nunique())
    return frame[keep].reset_index(drop=True), removed


def example_positions(offsets: np.ndarray, mode: str) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """Global target positions and their user for each split: ``{split: (target_pos, user)}``."""
    if mode not in TRAIN_EXAMPLE_MODES:
        raise ValueError(f"train_examples must be one of {TRAIN_EXAMPLE_MODES}, got {mode!r}")
    starts, ends = offsets[:-1], offsets[1:]
    users = np.arange(len(starts))
    if mode == "last":
        ok = ends - 3 > starts
        train = ((ends - 3)[ok], users[ok])
    else:
        # targets start+1 .. end-3 (inclusive): every prefix of the training part s[:n-2]
        counts = np.maximum(ends - 3 - starts, 0)
        train_users = np.repeat(users, counts)
        within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        train = (starts[train_users] + 1 + within, train_users)
    return {"train": train, "validation": (ends - 2, users), "test": (ends - 1, users)}


def gather_histories(values: np.ndarray, targets: np.ndarray, starts: np.ndarray, max_history: int) -> Tuple[np.ndarray, np.ndarray]:
    """For each target position, the ``max_history`` values before it (not before the user's start).

    Returns ``(flat_values, offsets)`` in CSR form, ready for an Arrow ``ListArray``.
    """
    begin = np.maximum(starts, targets - max_history)
    lengths = targets - begin
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    index = np.arange(offsets[-1]) - np.repeat(offsets[:-1], lengths) + np.repeat(begin, lengths)
    return values[index], offsets


def leave_one_out(item_idx: np.ndarray, timestamps: Optional[np.ndarray], offsets: np.ndarray, max_history: int = 20,
                  train_examples: str = "all_prefixes") -> Dict[str, Dict[str, object]]:
    """Build the three splits as column dicts: ``user_idx``, ``history`` (CSR), ``target`` (+ timestamps)."""
    if max_history < 1:
        raise ValueError(f"max_history must be >= 1, got {max_history}")
    splits = {}
    for split, (targets, users) in example_positions(offsets, train_examples).items():
        starts = offsets[:-1][users]
        history, history_offsets = gather_histories(item_idx, targets, starts, max_history)
        columns: Dict[str, object] = {"user_idx": users, "history": (history, history_offsets), "target": item_idx[targets]}
        if timestamps is not None:
            columns["history_timestamps"] = (gather_histories(timestamps, targets, starts, max_history)[0], history_offsets)
            columns["target_timestamp"] = timestamps[targets]
        splits[split] = columns
    return splits


def training_counts(item_idx: np.ndarray, offsets: np.ndarray, num_items: int) -> np.ndarray:
    """How often each item occurs in the training part (everything but each user's last two items)."""
    starts, ends = offsets[:-1], offsets[1:]
    lengths = np.maximum(ends - 2 - starts, 0)
    index = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths) + np.repeat(starts, lengths)
    return np.bincount(item_idx[index], minlength=num_items).astype(np.int64)


def sequence_statistics(offsets: np.ndarray, num_items: int) -> Dict[str, float]:
    lengths = np.diff(offsets)
    users, interactions = len(lengths), int(lengths.sum())
    return {
        "users": users,
        "items": int(num_items),
        "interactions": interactions,
        "avg_length": round(float(lengths.mean()), 4) if users else 0.0,
        "median_length": float(np.median(lengths)) if users else 0.0,
        "min_length": int(lengths.min()) if users else 0,
        "max_length": int(lengths.max()) if users else 0,
        "sparsity": round(1.0 - interactions / (users * num_items), 6) if users and num_items else 1.0,
    }


def split_sizes(splits: Dict[str, Dict[str, object]]) -> Dict[str, int]:
    return {name: int(len(columns["target"])) for name, columns in splits.items()}


def history_lengths(splits: Dict[str, Dict[str, object]]) -> Dict[str, float]:
    out = {}
    for name, columns in splits.items():
        offsets = columns["history"][1]
        out[name] = round(float(np.diff(offsets).mean()), 4) if len(offsets) > 1 else 0.0
    return out


def as_lists(flat: np.ndarray, offsets: np.ndarray) -> List[List]:
    """CSR -> Python lists (tests and small data only)."""
    return [flat[offsets[i]:offsets[i + 1]].tolist() for i in range(len(offsets) - 1)]
