"""Semantic-ID tables in the formats other projects publish: read them onto a prepared dataset's items, write ours.

Formats (``hf-genrec build-sids --import FILE --import-format ...`` and ``hf-genrec export-sids --format ...``):

* ``letter``: LETTER / LC-Rec ``<dataset>.index.json``, one JSON object mapping the item index (0-based, as a
  string) to its SID tokens, e.g. ``{"0": ["<a_183>", "<b_70>", "<c_232>", "<d_6>"], ...}``. The index is the
  item's number in the source item list: ``source_item_idx - 1`` when the prepared item table keeps the source's
  1-based ``item_idx`` (the two-file layout of ``../shared/datasets``, e.g. Beauty), hf_genrec's ``item_idx``
  otherwise (:func:`letter_index_labels`);
* ``table``: a plain item-to-codes table, CSV / TSV / JSON lines (Parquet too, when reading): the item key (the
  prepared ``item_id``), then one integer code per level. The key column is ``key_column``, by default the first
  of ``item_id``, ``asin``, ``parent_asin``, ``business_id``, ``item`` present (else the first column); the codes
  are a ``codes`` list column when there is one, else every other column in file order. Written as
  ``item_id, code_1 .. code_L`` (JSON lines: ``{"item_id": ..., "codes": [...]}``);
* ``beauty-letter`` (import only): the ``letter_sid`` field of an ``items.jsonl`` (the shared Beauty data: one
  record per item with ``asin`` and ``letter_sid``), matched to the prepared items by key.

Every error names the file and the item (key and line); codebook sizes are ``max code + 1`` per level unless
given. :mod:`hf_genrec.commands.sid_interop` turns an imported table into a ``build-sids`` folder.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..defaults import SID_EXPORT_FORMATS, SID_IMPORT_FORMATS
from ..utils.io import atomic_write_bytes, read_json_file

#: item key columns of a ``table`` file (and of an ``items.jsonl``), in order of preference
KEY_COLUMNS = ("item_id", "asin", "parent_asin", "business_id", "item")
#: a column holding the whole SID as a list (``table`` format)
CODE_LIST_COLUMNS = ("codes", "sid", "semantic_id")
_INTEGER = re.compile(r"^\s*[+-]?\d+\s*$")


@dataclass
class ImportedSIDs:
    """A SID table read from another project's file, one row per item of the file (in file order)."""

    path: str
    format: str
    key_name: str  # what the keys are: "item index" (LETTER), "item_id", "asin", ...
    keys: List[str]
    codes: np.ndarray  # [rows, levels]
    places: List[str]  # where each row is in the file ("line 4"), for messages

    def describe(self, row: int) -> str:
        return f"{self.key_name} {self.keys[row]!r} ({self.places[row]})"


# --------------------------------------------------------------------------------------------------------- reading
def read_letter_index(path: str | os.PathLike) -> ImportedSIDs:
    """A LETTER / LC-Rec ``.index.json``: ``{"<0-based item index>": ["<a_N>", "<b_N>", ...], ...}``."""
    from ..quantization.quality import parse_sid_tokens

    path = Path(path)
    data = read_json_file(path)
    if not isinstance(data, dict) or not data:
        raise ValueError(f"{path}: a LETTER .index.json is a non-empty JSON object mapping item indices to SID tokens "
                         f"(e.g. {{\"0\": [\"<a_183>\", \"<b_70>\"]}}), got {type(data).__name__}")
    keys = []
    for key in data:
        if not str(key).strip().isdigit():
            raise ValueError(f"{path}: key {key!r} is not an item index (LETTER's keys are 0-based item numbers)")
        keys.append(str(int(key)))
    codes, _ = parse_sid_tokens(list(data.values()), names=[f"{path}: item index {key!r}" for key in data])
    return ImportedSIDs(os.fspath(path), "letter", "item index", keys, codes, [f"key {key!r}" for key in data])


def read_beauty_letter(path: str | os.PathLike, field: str = "letter_sid",
                       key_column: Optional[str] = None) -> ImportedSIDs:
    """The ``letter_sid`` field of an ``items.jsonl`` (a file, or the folder holding it), keyed by the item key."""
    from ..data.errors import DataFormatError
    from ..data.readers._lines import iter_jsonl
    from ..quantization.quality import parse_sid_tokens

    path = Path(path)
    if path.is_dir():
        path = path / "items.jsonl"
    keys, tokens, lines, key_name = [], [], [], key_column
    for line, record in iter_jsonl(path):
        key_name = key_name or next((name for name in KEY_COLUMNS if name in record), None)
        if key_name is None or record.get(key_name) in (None, ""):
            raise DataFormatError(f"no item key ({key_column or '/'.join(KEY_COLUMNS)})", path, line)
        sid = record.get(field)
        if not sid:
            raise DataFormatError(f"item {record[key_name]!r} has no {field}", path, line, field)
        keys.append(str(record[key_name]))
        tokens.append(sid)
        lines.append(line)
    codes, _ = parse_sid_tokens(tokens, names=[f"{path}, line {line}, {key_name} {key!r}"
                                               for line, key in zip(lines, keys)])
    return ImportedSIDs(os.fspath(path), "beauty-letter", key_name, keys, codes, [f"line {line}" for line in lines])


def _code(value: Any) -> Optional[int]:
    """An integer code from a table cell (int, integral float or digit string), else ``None``."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return int(value) if float(value).is_integer() else None
    if isinstance(value, str) and _INTEGER.match(value):
        return int(value)
    return None


def read_sid_table(path: str | os.PathLike, key_column: Optional[str] = None,
                   fmt: Optional[str] = None) -> ImportedSIDs:
    """A plain item-to-codes table: key column, then one integer code per level (or a ``codes`` list column)."""
    from ..data.errors import DataFormatError
    from ..data.readers.table import load_columns

    path = Path(path)
    columns, lines, where = load_columns(path, fmt)
    names = list(columns)
    key = key_column or next((name for name in KEY_COLUMNS if name in columns), names[0])
    if key not in columns:
        raise DataFormatError(f"no item key column {key!r} among {names}", path, field=key)
    list_column = next((name for name in CODE_LIST_COLUMNS if name in columns and name != key), None)
    code_columns = [name for name in names if name != key]
    if not code_columns:
        raise DataFormatError(f"no code columns besides the item key column {key!r}", path)
    keys, rows = [], []
    for index, line in enumerate(lines):
        item = columns[key][index]
        if item in (None, ""):
            raise DataFormatError("empty item key", path, line, key)
        keys.append(str(item))
        if list_column is not None:
            cells = columns[list_column][index]
            if isinstance(cells, str):  # "12 7 3" or "12,7,3" in a CSV / TSV cell
                cells = cells.replace(",", " ").split()
            cells = list(cells) if isinstance(cells, (list, tuple, np.ndarray)) else [cells]
            labels = [f"{list_column}[{level}]" for level in range(len(cells))]
        else:
            cells, labels = [columns[name][index] for name in code_columns], code_columns
        row = [_code(cell) for cell in cells]
        for label, cell, code in zip(labels, cells, row):
            if code is None or code < 0:
                raise DataFormatError(f"item {keys[-1]!r}: code {cell!r} in column {label!r} is not a non-negative "
                                      "integer", path, line, label)
        if rows and len(row) != len(rows[0]):
            raise DataFormatError(f"item {keys[-1]!r} has {len(row)} codes but item {keys[0]!r} ({where} {lines[0]}) "
                                  f"has {len(rows[0])}", path, line)
        if not row:
            raise DataFormatError(f"item {keys[-1]!r} has no codes", path, line)
        rows.append(row)
    return ImportedSIDs(os.fspath(path), "table", key, keys, np.asarray(rows, dtype=np.int64),
                        [f"{where} {line}" for line in lines])


def read_sids(path: str | os.PathLike, fmt: str = "letter", key_column: Optional[str] = None) -> ImportedSIDs:
    """Read a published SID table in one of :data:`~hf_genrec.defaults.SID_IMPORT_FORMATS`."""
    if fmt == "letter":
        return read_letter_index(path)
    if fmt == "table":
        return read_sid_table(path, key_column)
    if fmt == "beauty-letter":
        return read_beauty_letter(path, key_column=key_column)
    raise ValueError(f"unknown SID import format {fmt!r}; use one of {', '.join(SID_IMPORT_FORMATS)}")


# --------------------------------------------------------------------------------------------------------- matching
def letter_index_labels(items) -> List[str]:
    """The LETTER / LC-Rec index (as a string) of every prepared item, in ``item_idx`` order: ``source_item_idx - 1``
    when the item table keeps the source's 1-based numbering, else ``item_idx``."""
    if "source_item_idx" in items.column_names:
        source = items["source_item_idx"]
        if all(value is not None for value in source):
            return [str(int(value) - 1) for value in source]
    return [str(int(value)) for value in items["item_idx"]] if "item_idx" in items.column_names else \
        [str(index) for index in range(len(items))]


def item_labels(items, fmt: str) -> List[str]:
    """Each prepared item's key in the key space of a format: LETTER indices, or the ``item_id``."""
    return letter_index_labels(items) if fmt == "letter" else [str(key) for key in items["item_id"]]


def align_sids(imported: ImportedSIDs, labels: Sequence[str], codebook_sizes: Optional[Sequence[int]] = None,
               ignore_unknown: bool = False, item_ids: Optional[Sequence[str]] = None
               ) -> Tuple[np.ndarray, List[int], Dict[str, Any]]:
    """The imported codes of every prepared item (row ``i`` = ``item_idx`` ``i``, whose key is ``labels[i]``).

    Fails, naming the file and the item, on a key listed twice, an item of the file that the prepared dataset does
    not have (unless ``ignore_unknown``: dropped and counted), a prepared item without a SID, and a code outside
    ``codebook_sizes`` (one size per level, or one for all; default ``max code + 1`` per level). Returns
    ``(codes [N, L], codebook sizes, report)``."""
    path, levels = imported.path, int(imported.codes.shape[1])
    position: Dict[str, int] = {}
    for row, key in enumerate(imported.keys):
        if key in position:
            raise ValueError(f"{path}: {imported.describe(row)} is listed twice "
                             f"(also {imported.places[position[key]]})")
        position[key] = row
    index = {label: item for item, label in enumerate(labels)}
    unknown = [row for row, key in enumerate(imported.keys) if key not in index]
    if unknown and not ignore_unknown:
        raise ValueError(f"{path}: {len(unknown)} of its {len(imported.keys)} items are not in the prepared dataset, "
                         f"e.g. {imported.describe(unknown[0])}; import SIDs made for this item table, or drop them "
                         "with --ignore-unknown-items")
    rows = np.asarray([position.get(label, -1) for label in labels], dtype=np.int64)
    missing = np.flatnonzero(rows < 0)
    if len(missing):
        item = int(missing[0])
        named = f", item_id {item_ids[item]!r}" if item_ids is not None and str(item_ids[item]) != labels[item] else ""
        raise ValueError(f"{path} has no SID for {len(missing)} of the prepared dataset's {len(labels)} items, e.g. "
                         f"item_idx {item} ({imported.key_name} {labels[item]!r}{named})")
    codes = imported.codes[rows]
    if codebook_sizes:
        sizes = [int(s) for s in codebook_sizes] * (levels if len(codebook_sizes) == 1 else 1)
        if len(sizes) != levels:
            raise ValueError(f"{path}: the SIDs have {levels} levels but {len(codebook_sizes)} codebook sizes were "
                             f"given ({list(codebook_sizes)})")
        bad = np.argwhere(codes >= np.asarray(sizes))
        if len(bad):
            item, level = (int(v) for v in bad[0])
            raise ValueError(f"{path}: {imported.describe(int(rows[item]))}: code {int(codes[item, level])} at level "
                             f"{level + 1} is outside its codebook of size {sizes[level]}")
    else:
        sizes = [int(c) + 1 for c in codes.max(axis=0)]
    report = {"file": path, "format": imported.format, "keys": imported.key_name, "rows": len(imported.keys),
              "items": len(labels), "levels": levels, "codebook_sizes": sizes,
              "codebook_sizes_inferred": not codebook_sizes, "ignored_unknown_items": len(unknown),
              "unknown_examples": [imported.keys[row] for row in unknown[:5]]}
    return codes, sizes, report


def duplicate_sids(codes, keys: Sequence[str], examples: int = 5) -> Dict[str, Any]:
    """SIDs shared by several items: how many, how many items share one, and a few groups of item keys."""
    codes = np.asarray(codes)
    _, inverse, counts = np.unique(codes, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    shared = np.flatnonzero(counts > 1)
    groups = [[str(keys[i]) for i in np.flatnonzero(inverse == group)] for group in shared[:examples]]
    return {"shared_sids": int(len(shared)), "items_sharing_a_sid": int(counts[shared].sum()), "examples": groups}


# --------------------------------------------------------------------------------------------------------- writing
def _write_text(path: Path, text: str) -> Path:
    data = text.encode("utf-8")
    return atomic_write_bytes(path, gzip.compress(data, mtime=0) if path.name.endswith(".gz") else data)


def write_letter_index(path: str | os.PathLike, codes, labels: Sequence[str]) -> Path:
    """Write a LETTER / LC-Rec ``.index.json`` (items in index order, compact JSON as LC-Rec writes it)."""
    from .tokenization_sid import SIDTokenizer

    codes = np.asarray(codes)
    order = sorted(range(len(labels)), key=lambda item: int(labels[item]))
    table = {labels[item]: [SIDTokenizer.code_token(level, int(code)) for level, code in enumerate(codes[item])]
             for item in order}
    return _write_text(Path(path), json.dumps(table) + "\n")


def write_sid_table(path: str | os.PathLike, codes, keys: Sequence[str], key_column: str = "item_id") -> Path:
    """Write the plain item-to-codes table, CSV / TSV / JSON lines by the file name (``.gz`` compresses)."""
    from ..data.readers._lines import sniff_format

    path = Path(path)
    fmt = sniff_format(path)
    codes = np.asarray(codes)
    header = [key_column, *(f"code_{level + 1}" for level in range(codes.shape[1]))]
    if fmt == "jsonl":
        text = "".join(json.dumps({key_column: str(key), "codes": [int(c) for c in row]}, ensure_ascii=False) + "\n"
                       for key, row in zip(keys, codes))
    elif fmt in ("csv", "tsv"):
        if fmt == "tsv":  # TSV has no quoting (as the readers read it): a key may not hold a tab or a line break
            bad = next((key for key in keys if re.search(r"[\t\r\n]", str(key))), None)
            if bad is not None:
                raise ValueError(f"{path}: item key {bad!r} holds a tab or line break; write a .csv or .jsonl instead")
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter="\t" if fmt == "tsv" else ",", lineterminator="\n",
                            quoting=csv.QUOTE_NONE if fmt == "tsv" else csv.QUOTE_MINIMAL, escapechar=None)
        writer.writerow(header)
        writer.writerows([str(key), *(int(c) for c in row)] for key, row in zip(keys, codes))
        text = buffer.getvalue()
    else:
        raise ValueError(f"{path}: SID tables are written as .csv, .tsv or .jsonl (optionally .gz), not {fmt}")
    return _write_text(path, text)


def write_sids(path: str | os.PathLike, fmt: str, codes, items) -> Path:
    """Write the SIDs of a prepared item table in one of :data:`~hf_genrec.defaults.SID_EXPORT_FORMATS`."""
    if fmt == "letter":
        return write_letter_index(path, codes, letter_index_labels(items))
    if fmt == "table":
        return write_sid_table(path, codes, [str(key) for key in items["item_id"]])
    raise ValueError(f"unknown SID export format {fmt!r}; use one of {', '.join(SID_EXPORT_FORMATS)}")
