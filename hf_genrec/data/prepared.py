"""Prepared datasets: leave-one-out splits as a ``datasets.DatasetDict`` plus the item table.

:func:`prepare_dataset` runs the preprocessing of :mod:`hf_genrec.data.preprocessing` on an
:class:`~hf_genrec.data.schema.InteractionLog` and returns a :class:`PreparedDataset`, which saves
(``save_to_disk`` layout, written atomically). :mod:`hf_genrec.hub.datasets` writes its dataset card,
exports Parquet in the Hub layout and pushes it to the Hub.

Split columns: ``user_idx``, ``user_id``, ``history`` (item ids, oldest first, at most
``max_history``), ``target``, and ``history_timestamps`` / ``target_timestamp`` when the source has
time. Item columns: ``item_idx``, ``item_id``, ``title``, ``brand``, ``categories``,
``category_path``, ``description``, ``text`` (what the encoder sees), ``train_count`` (occurrences in
the training part; used for popularity groups) and source extras.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import numpy as np

from .._version import __version__
from ..defaults import DEFAULT_TEXT_FIELDS
from ..utils.io import atomic_output_dir, atomic_write_json, read_json_file
from ..utils.logging import get_logger
from .errors import DataFormatError
from .items import build_item_table
from .preprocessing import (TRAIN_EXAMPLE_MODES, check_sequence_lengths, drop_short_users, history_lengths,
                            kcore_filter, leave_one_out, reindex, remove_consecutive_duplicates, sequence_statistics,
                            sort_chronologically, split_sizes, training_counts, user_offsets)
from .schema import ITEM, TIMESTAMP, InteractionLog

logger = get_logger(__name__)

SPLITS = ("train", "validation", "test")
PREPARED_FILE = "prepared.json"


@dataclass
class PrepareConfig:
    """Options of the preprocessing protocol (defaults = the TIGER/P5 protocol of the papers)."""

    min_user_interactions: int = 5
    min_item_interactions: int = 5
    remove_consecutive_duplicates: bool = False
    max_history: int = 20
    train_examples: str = "all_prefixes"
    drop_short_users: bool = False
    require_timestamps: bool = False
    text_fields: Tuple[str, ...] = DEFAULT_TEXT_FIELDS
    text_template: Optional[str] = None
    max_text_chars: int = 2000

    def __post_init__(self):
        if self.train_examples not in TRAIN_EXAMPLE_MODES:
            raise ValueError(f"train_examples must be one of {TRAIN_EXAMPLE_MODES}, got {self.train_examples!r}")
        if self.max_history < 1:
            raise ValueError("max_history must be >= 1")
        self.text_fields = tuple(self.text_fields)

    def to_dict(self) -> Dict[str, Any]:
        out = asdict(self)
        out["text_fields"] = list(self.text_fields)
        return out


@dataclass
class PreparedDataset:
    """Splits + item table + statistics of one prepared dataset."""

    splits: Any  # datasets.DatasetDict
    items: Any  # datasets.Dataset
    statistics: Dict[str, Any]
    config: Dict[str, Any]
    name: str = "dataset"
    source: Dict[str, Any] = field(default_factory=dict)
    redistribution_restricted: bool = False
    license_note: Optional[str] = None
    #: Interactions per user, known right after :func:`prepare_dataset` (not stored on disk).
    sequence_lengths: Optional[np.ndarray] = field(default=None, repr=False)

    @property
    def num_items(self) -> int:
        return len(self.items)

    # ---------------------------------------------------------------------------------- metadata
    def metadata(self) -> Dict[str, Any]:
        return {"name": self.name, "hf_genrec_version": __version__, "config": self.config, "source": self.source,
                "statistics": self.statistics, "redistribution_restricted": self.redistribution_restricted,
                "license_note": self.license_note}

    # ---------------------------------------------------------------------------------- disk
    def write(self, folder: str | os.PathLike) -> Path:
        """Write into an existing folder (use :meth:`save` for the atomic version)."""
        from ..utils.progress import quiet_datasets_progress

        folder = Path(folder)
        with quiet_datasets_progress():
            self.splits.save_to_disk(str(folder / "splits"))
            self.items.save_to_disk(str(folder / "items"))
        atomic_write_json(folder / PREPARED_FILE, self.metadata())
        if self.sequence_lengths is not None:
            from ..utils.plots import plot_dataset_statistics

            plot_dataset_statistics(self.sequence_lengths, np.asarray(self.items["train_count"]),
                                    folder / "statistics.png", title=self.name)
        return folder

    def save(self, folder: str | os.PathLike, overwrite: bool = False) -> Path:
        """Save atomically: everything is written to a temporary folder and renamed when complete."""
        with atomic_output_dir(folder, overwrite=overwrite, command="prepared dataset") as tmp:
            self.write(tmp)
        return Path(folder)

    @classmethod
    def load(cls, folder: str | os.PathLike) -> "PreparedDataset":
        from datasets import load_from_disk

        folder = Path(folder)
        meta_path = folder / PREPARED_FILE
        if not meta_path.exists():
            raise DataFormatError(f"not a prepared dataset folder (no {PREPARED_FILE}); run `hf-genrec prepare` first",
                                  folder)
        return cls.from_metadata(load_from_disk(str(folder / "splits")), load_from_disk(str(folder / "items")),
                                 read_json_file(meta_path), folder.name)

    @classmethod
    def from_metadata(cls, splits, items, meta: Dict[str, Any], default_name: str = "dataset") -> "PreparedDataset":
        """A prepared dataset from its splits, item table and :meth:`metadata` (``prepared.json``)."""
        return cls(splits=splits, items=items, statistics=meta["statistics"], config=meta["config"],
                   name=meta.get("name", default_name), source=meta.get("source", {}),
                   redistribution_restricted=meta.get("redistribution_restricted", False),
                   license_note=meta.get("license_note"))


def _csr_list_array(flat: np.ndarray, offsets: np.ndarray):
    import pyarrow as pa

    return pa.ListArray.from_arrays(pa.array(offsets, type=pa.int64()), pa.array(flat, type=pa.int64()))


def _split_dataset(columns: Dict[str, Any], user_ids: np.ndarray):
    import pyarrow as pa
    from datasets import Dataset

    users = columns["user_idx"]
    table = {"user_idx": pa.array(users, type=pa.int64()), "user_id": pa.array(user_ids[users].astype(str)),
             "history": _csr_list_array(*columns["history"]), "target": pa.array(columns["target"], type=pa.int64())}
    if "history_timestamps" in columns:
        table["history_timestamps"] = _csr_list_array(*columns["history_timestamps"])
        table["target_timestamp"] = pa.array(columns["target_timestamp"], type=pa.int64())
    return Dataset(pa.table(table))


def prepare_dataset(log: InteractionLog, config: Optional[PrepareConfig] = None) -> PreparedDataset:
    """Run the whole preprocessing protocol on a raw log (see :mod:`hf_genrec.data.preprocessing`)."""
    from datasets import Dataset, DatasetDict

    config = config or PrepareConfig()
    source_name = log.source.get("interactions")
    if config.require_timestamps and not log.has_timestamps:
        raise DataFormatError("timestamps are required (--require-timestamps, PrepareConfig(require_timestamps=True)) but the interactions have none",
                              source_name, field=TIMESTAMP)
    raw_stats = {"interactions": len(log.interactions), "users": int(log.interactions["user_id"].nunique()),
                 "items": int(log.interactions["item_id"].nunique())}
    frame = sort_chronologically(log.interactions)
    removed_duplicates = 0
    if config.remove_consecutive_duplicates:
        frame, removed_duplicates = remove_consecutive_duplicates(frame)
    frame, kcore = kcore_filter(frame, config.min_user_interactions, config.min_item_interactions)
    removed_short = 0
    if config.drop_short_users:
        frame, removed_short = drop_short_users(frame, 3)
    if frame.empty:
        raise DataFormatError(f"no interactions left after {config.min_user_interactions}/{config.min_item_interactions}"
                              "-core filtering", source_name)
    user_idx, item_idx, user_ids, item_ids = reindex(frame)
    offsets = user_offsets(user_idx)
    check_sequence_lengths(frame, offsets, user_ids, source_name)
    timestamps = frame[TIMESTAMP].to_numpy(dtype=np.int64) if log.has_timestamps else None
    columns = leave_one_out(item_idx, timestamps, offsets, config.max_history, config.train_examples)
    splits = DatasetDict({name: _split_dataset(columns[name], user_ids) for name in SPLITS})
    counts = training_counts(item_idx, offsets, len(item_ids))
    item_frame, item_report = build_item_table(item_ids, log.items, counts, config.text_fields, config.text_template,
                                               config.max_text_chars)
    check_item_coverage(item_report["items_missing_from_item_table"], len(item_ids), log)
    text_warning = item_text_warning(item_report, len(item_ids), config.text_fields, log.name)
    if text_warning:
        logger.warning(text_warning)
    items = Dataset.from_pandas(item_frame, preserve_index=False)

    statistics: Dict[str, Any] = sequence_statistics(offsets, len(item_ids))
    statistics.update({
        "raw": raw_stats,
        "removed_consecutive_duplicates": removed_duplicates,
        "kcore": kcore.to_dict(),
        "removed_short_users": removed_short,
        "split_sizes": split_sizes(columns),
        "avg_history_length": history_lengths(columns),
        **item_report,
    })
    if timestamps is not None:
        import datetime as dt

        statistics["time_range"] = [dt.datetime.fromtimestamp(int(t), dt.timezone.utc).strftime("%Y-%m-%d")
                                    for t in (timestamps.min(), timestamps.max())]
    return PreparedDataset(splits=splits, items=items, statistics=statistics, config=config.to_dict(), name=log.name,
                           source=dict(log.source), redistribution_restricted=log.redistribution_restricted,
                           license_note=log.license_note, sequence_lengths=np.diff(offsets))


def check_item_coverage(missing: int, total: int, log: InteractionLog) -> None:
    """Items absent from the item table get the text ``"Item <id>"``: say how many, and refuse when most are absent
    (the ids of the two files do not match)."""
    source = log.source.get("items")
    if not len(log.items):
        logger.warning(f"{log.name}: no item table, so every item's text is 'Item <id>' (the item embeddings, and "
                       "SIDs built from them, then carry no content)")
        return
    if missing * 2 > total:
        known = set(log.items[ITEM])
        absent = next(item for item in log.interactions[ITEM] if item not in known)
        raise DataFormatError(f"{missing} of the {total} items of the interactions are not in the item table, so its "
                              f"ids do not match theirs (e.g. {absent!r} is missing; the table has "
                              f"{log.items[ITEM].iloc[0]!r}, ...): check case, prefixes or the item id column", source)
    if missing:
        logger.warning(f"{log.name}: {missing} of {total} items are not in the item table "
                       f"{source or ''}; their text is 'Item <id>'")


def item_text_warning(report: Dict[str, Any], total: int, fields, name: str) -> Optional[str]:
    """Why some items' content embeddings carry no content: ``report`` (from :func:`build_item_table`) counts the items
    whose chosen ``fields`` are all empty (their text falls back to ``"Item <id>"``) and the unchosen fields that
    would cover them. ``None`` when every item in the item table has text."""
    without = report.get("items_without_text", 0) - report.get("items_missing_from_item_table", 0)
    if without <= 0:
        return None
    message = (f"{name}: {without:,} of {total:,} items ({without / total:.0%}) have no text in the fields "
               f"{list(fields)}, so their text is 'Item <id>' and their content embeddings (and SIDs built from them) "
               "carry no content")
    covered = report.get("items_without_text_covered_by") or {}
    if covered:
        message += "; " + ", ".join(f"{field!r} has text for {n:,} of them" for field, n in covered.items())
        message += " (add it to text_fields)"
    return message


def format_statistics(stats: Dict[str, Any]) -> str:
    """A short human-readable block for the terminal."""
    sizes = stats.get("split_sizes", {})
    lines = [
        f"users          {stats['users']:>12,}",
        f"items          {stats['items']:>12,}",
        f"interactions   {stats['interactions']:>12,}",
        f"avg / median   {stats['avg_length']:>12.2f} / {stats['median_length']:g} interactions per user",
        f"sparsity       {stats['sparsity']:>12.4%}",
        "splits         " + ", ".join(f"{k} {v:,}" for k, v in sizes.items()),
    ]
    return "\n".join(lines)
