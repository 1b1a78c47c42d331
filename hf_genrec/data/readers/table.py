"""Column-mapped readers for interaction and item tables in CSV, TSV, JSONL or Parquet.

:func:`read_table_pair` reads any interaction table plus an optional item table, given which column
holds what. :func:`read_two_file` is the preset for the two-file layout of ``../shared/datasets/*``
(``interactions.tsv`` + ``items.jsonl``).
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from ..errors import DataFormatError
from ..schema import ITEM, LIST_FIELDS, SOURCE_LINE, TIMESTAMP, USER, InteractionLog, empty_item_table
from ._lines import iter_jsonl, read_delimited, sniff_format

Columns = Dict[str, List[Any]]
MISSING_BRANDS = {"unknown", "n/a", "na", "none", "null", "-"}


@dataclass
class InteractionColumns:
    """Which columns of an interaction table hold the user, the item and the time.

    ``timestamp=None`` means the table has no time column and the file order within each user is the
    chronological order. ``timestamp_unit`` is ``"s"`` (unix seconds), ``"ms"`` (unix milliseconds),
    ``"iso"`` (ISO-8601 date/time strings, read as UTC) or ``"auto"`` (numbers as seconds, else ISO).
    """

    user: str = USER
    item: str = ITEM
    timestamp: Optional[str] = TIMESTAMP
    timestamp_unit: str = "auto"


@dataclass
class ItemColumns:
    """Which columns of an item table hold the key and the text fields (``None`` = not present).

    List fields (``categories``, ``category_path``) may be JSON lists, Parquet lists, or strings split
    on ``list_separator``. Columns not mapped here are kept as extra item fields when ``keep_extra``.
    """

    item: str = ITEM
    title: Optional[str] = "title"
    brand: Optional[str] = "brand"
    categories: Optional[str] = "categories"
    category_path: Optional[str] = "category_path"
    description: Optional[str] = "description"
    list_separator: str = "|"
    keep_extra: bool = True

    def field_map(self) -> Dict[str, str]:
        names = ("title", "brand", "categories", "category_path", "description")
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}


# --------------------------------------------------------------------------------------------------
# Loading a table as columns + line numbers


def load_columns(path: str | os.PathLike, fmt: Optional[str] = None, encoding: str = "utf-8") -> Tuple[Columns, List[int], str]:
    """Load any supported table as ``({column: values}, line_numbers, location_word)``.

    ``location_word`` is ``"line"`` for text formats and ``"row"`` for Parquet.
    """
    fmt = fmt or sniff_format(path)
    if fmt in ("csv", "tsv"):
        header, rows, lines = read_delimited(path, "\t" if fmt == "tsv" else ",", encoding)
        columns = {name: [row[i] for row in rows] for i, name in enumerate(header)}
        return columns, lines, "line"
    if fmt == "jsonl":
        columns: Columns = {}
        lines: List[int] = []
        for count, (line_no, record) in enumerate(iter_jsonl(path, encoding)):
            for key in record:  # columns in order of first appearance (the file's own order)
                if key not in columns:
                    columns[key] = [None] * count
            for key, values in columns.items():
                values.append(record.get(key))
            lines.append(line_no)
        return columns, lines, "line"
    if fmt == "parquet":
        import pyarrow.parquet as pq

        if not Path(path).exists():
            raise DataFormatError("file not found", path)
        try:
            table = pq.read_table(path)
        except Exception as err:  # pyarrow raises several types for corrupt files
            raise DataFormatError(f"cannot read Parquet file: {err}", path) from None
        if table.num_rows == 0:
            raise DataFormatError("file has no rows", path)
        return table.to_pydict(), list(range(1, table.num_rows + 1)), "row"
    raise DataFormatError(f"unknown table format {fmt!r}; use csv, tsv, jsonl or parquet", path)


def _require(columns: Columns, name: str, path, what: str) -> List[Any]:
    if name not in columns:
        raise DataFormatError(f"missing {what} column '{name}' (columns found: {sorted(columns)})", path, field=name)
    return columns[name]


def _first_missing(values: Sequence[Any]) -> Optional[int]:
    for index, value in enumerate(values):
        if value is None or (isinstance(value, float) and np.isnan(value)) or (isinstance(value, str) and not value.strip()):
            return index
    return None


def located_error(message: str, path, lines: List[int], index: int, where: str, field: Optional[str]) -> DataFormatError:
    """An error at record ``index``: a line number for text files, ``(row N)`` in the message for Parquet."""
    if where == "line":
        return DataFormatError(message, path, lines[index], field)
    return DataFormatError(f"{message} ({where} {lines[index]})", path, None, field)


def _as_id_strings(values: Sequence[Any], path, lines: List[int], field: str, where: str) -> np.ndarray:
    bad = _first_missing(values)
    if bad is not None:
        raise located_error("empty value", path, lines, bad, where, field)
    return np.asarray([str(value).strip() for value in values], dtype=object)


EARLIEST_TIMESTAMP = -2_208_988_800  # 1900-01-01
LATEST_TIMESTAMP = 4_102_444_800  # 2100-01-01


def parse_timestamps(values: Sequence[Any], unit: str, path, lines: List[int], field: str, where: str = "line") -> np.ndarray:
    """Parse a timestamp column to int64 unix seconds; a missing or unparsable value is an error."""
    def fail(index: int, message: str):
        raise located_error(f"{message} (value {values[index]!r})", path, lines, index, where, field)

    bad = _first_missing(values)
    if bad is not None:
        fail(bad, "timestamp is missing; every interaction needs one when a timestamp column is named "
                  "(--time-col '' / InteractionColumns(timestamp=None) uses the file order instead)")
    if unit not in ("s", "ms", "iso", "auto"):
        raise ValueError(f"unknown timestamp_unit {unit!r}; use 's', 'ms', 'iso' or 'auto'")
    series = pd.Series(list(values), dtype=object)
    seconds = np.zeros(len(series), dtype=np.int64)
    numbers = pd.to_numeric(series, errors="coerce") if unit != "iso" else pd.Series(np.nan, index=series.index)
    is_number = ~numbers.isna().to_numpy()
    if unit in ("s", "ms") and not is_number.all():
        fail(int(np.flatnonzero(~is_number)[0]), f"timestamp is not a number (unit {unit!r})")
    if is_number.any():
        raw = numbers.to_numpy(dtype="float64")
        too_large = is_number & ~(np.abs(raw) < 1e15)  # inf, or beyond any date (int64 overflow)
        if too_large.any():
            fail(int(np.flatnonzero(too_large)[0]), "timestamp is not a finite number of a plausible size")
        scaled = raw[is_number] / (1000.0 if unit == "ms" else 1.0)
        seconds[is_number] = np.floor(scaled).astype(np.int64)
    if not is_number.all():  # "iso", or the non-numeric values of "auto"
        parsed = pd.to_datetime(series[~is_number].astype(str), utc=True, errors="coerce", format="ISO8601")
        if parsed.isna().any():
            bad = np.flatnonzero(~is_number)[int(np.flatnonzero(parsed.isna().to_numpy())[0])]
            fail(int(bad), "timestamp is neither a number nor an ISO-8601 date")
        seconds[~is_number] = ((parsed - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy(dtype=np.int64)
    outside = (seconds < EARLIEST_TIMESTAMP) | (seconds > LATEST_TIMESTAMP)
    if outside.any():
        index = int(np.flatnonzero(outside)[0])
        hint = ""
        if unit in ("s", "auto") and is_number[index] and seconds[index] > LATEST_TIMESTAMP:
            hint = "; it looks like milliseconds: use --time-unit ms (InteractionColumns(timestamp_unit='ms'))"
        fail(index, f"timestamp is outside the years 1900-2100 as unix {'milli' if unit == 'ms' else ''}seconds{hint}")
    return seconds


def build_interactions(columns: Columns, lines: List[int], mapping: InteractionColumns, path, where: str = "line") -> pd.DataFrame:
    """Turn loaded columns into the canonical interaction frame (see :mod:`hf_genrec.data.schema`)."""
    users = _as_id_strings(_require(columns, mapping.user, path, "user"), path, lines, mapping.user, where)
    items = _as_id_strings(_require(columns, mapping.item, path, "item"), path, lines, mapping.item, where)
    frame = {USER: users, ITEM: items}
    if mapping.timestamp is not None:
        raw = _require(columns, mapping.timestamp, path, "timestamp")
        frame[TIMESTAMP] = parse_timestamps(raw, mapping.timestamp_unit, path, lines, mapping.timestamp, where)
    frame[SOURCE_LINE] = np.asarray(lines, dtype=np.int64)
    return pd.DataFrame(frame)


_JSON_LIST = re.compile(r"^\s*\[.*\]\s*$", re.S)


def to_string_list(value: Any, separator: str = "|") -> List[str]:
    """Normalise a list-like field (JSON list, numpy array, separated string, None) to ``list[str]``."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, str):
        if _JSON_LIST.match(value):
            try:
                parsed = json.loads(value)
            except ValueError:
                parsed = None
            if isinstance(parsed, list):
                return [str(v).strip() for v in parsed if str(v).strip()]
        return [part.strip() for part in value.split(separator) if part.strip()]
    if isinstance(value, (list, tuple, np.ndarray)):
        return [str(v).strip() for v in value if v is not None and str(v).strip()]
    return [str(value).strip()]


def to_text(value: Any) -> str:
    """Normalise a text field: ``None`` -> ``""``, lists (e.g. 2023 descriptions) joined by spaces."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, (list, tuple, np.ndarray)):
        return " ".join(str(v).strip() for v in value if v is not None and str(v).strip())
    return str(value).strip()


def build_item_table(columns: Columns, lines: List[int], mapping: ItemColumns, path, where: str = "line",
                     drop_columns: Sequence[str] = ()) -> pd.DataFrame:
    """Turn loaded item columns into the canonical item frame; duplicate keys are an error."""
    keys = _as_id_strings(_require(columns, mapping.item, path, "item key"), path, lines, mapping.item, where)
    seen: Dict[str, int] = {}
    for index, key in enumerate(keys):
        if key in seen:
            raise located_error(f"item '{key}' appears twice (first at {where} {seen[key]})", path, lines, index,
                                where, mapping.item)
        seen[key] = lines[index]
    frame: Dict[str, Any] = {ITEM: keys}
    for field, column in mapping.field_map().items():
        if column not in columns:
            continue
        values = columns[column]
        if field in LIST_FIELDS:
            frame[field] = [to_string_list(v, mapping.list_separator) for v in values]
        else:
            frame[field] = [to_text(v) for v in values]
            if field == "brand":  # placeholder brands carry no information
                frame[field] = ["" if v.lower() in MISSING_BRANDS else v for v in frame[field]]
    if mapping.keep_extra:
        used = {mapping.item, *mapping.field_map().values(), *drop_columns}
        for column, values in columns.items():
            if column not in used and column not in frame:
                frame[column] = list(values)
    return pd.DataFrame(frame)


def read_table_pair(interactions: str | os.PathLike, items: Optional[str | os.PathLike] = None,
                    interaction_columns: Optional[InteractionColumns] = None,
                    item_columns: Optional[ItemColumns] = None, interactions_format: Optional[str] = None,
                    items_format: Optional[str] = None, name: Optional[str] = None, encoding: str = "utf-8",
                    redistribution_restricted: bool = False) -> InteractionLog:
    """Read any interaction table (CSV/TSV/JSONL/Parquet) and an optional item table.

    Example::

        log = read_table_pair("events.csv", "products.parquet",
                              InteractionColumns(user="customer", item="sku", timestamp="ts", timestamp_unit="ms"),
                              ItemColumns(item="sku", title="name", categories="tags", list_separator=";"))
    """
    interaction_columns = interaction_columns or InteractionColumns()
    item_columns = item_columns or ItemColumns()
    columns, lines, where = load_columns(interactions, interactions_format, encoding)
    frame = build_interactions(columns, lines, interaction_columns, interactions, where)
    item_cols = {}
    if items is not None:
        item_cols, item_lines, item_where = load_columns(items, items_format, encoding)
        item_frame = build_item_table(item_cols, item_lines, item_columns, items, item_where)
    else:
        item_frame = empty_item_table()
    yelp = looks_like_yelp(columns, item_cols)
    return InteractionLog(
        interactions=frame, items=item_frame, name=name or Path(interactions).stem,
        source={"format": "table", "interactions": os.fspath(interactions),
                "items": os.fspath(items) if items is not None else None},
        redistribution_restricted=redistribution_restricted or yelp, license_note=YELP_NOTE if yelp else None)


# --------------------------------------------------------------------------------------------------
# The two-file layout of ../shared/datasets


def _first_present(candidates: Sequence[str], available) -> Optional[str]:
    return next((c for c in candidates if c in available), None)


#: column names that only the Yelp Open Dataset uses: data carrying them is Yelp data, whatever its format or folder
YELP_COLUMNS = ("business_id",)
YELP_NOTE = ("Yelp Open Dataset (recognised by its business_id column): academic, non-commercial use; "
             "redistribution is restricted, use it for evaluation only.")


def looks_like_yelp(*column_sets) -> bool:
    return any(column in columns for columns in column_sets for column in YELP_COLUMNS)


def _looks_restricted(folder: Path) -> Tuple[bool, Optional[str]]:
    """A SOURCE.txt that names Yelp or restricted redistribution marks the data as not to be pushed."""
    source = folder / "SOURCE.txt"
    if not source.exists():
        return False, None
    text = source.read_text(encoding="utf-8", errors="replace")
    first_line = text.strip().splitlines()[0] if text.strip() else None
    # the title line names the source (a mention of Yelp further down, e.g. in a provenance note, does not count)
    names_yelp = bool(first_line and re.search(r"\byelp\b", first_line, re.I))
    states_restriction = bool(re.search(r"redistribution (is )?restricted|restricts? redistribution", text, re.I))
    return names_yelp or states_restriction, first_line


def _is_path_list(value: Any) -> bool:
    """A list of category paths (raw Amazon 2014 ``categories``), as opposed to a flat list of names."""
    return isinstance(value, (list, tuple)) and any(isinstance(p, (list, tuple)) for p in value)


def _paths_of(value: Any) -> List[List[str]]:
    if _is_path_list(value):
        return [path for path in (to_string_list(p) for p in value if isinstance(p, (list, tuple))) if path]
    flat = to_string_list(value)  # nothing, or a flat list of names: one path
    return [flat] if flat else []


def _store_category_path(paths: List[List[str]], root: Optional[str]) -> List[str]:
    """The item's path in the store's own tree, without the root: the first path that starts at ``root``
    (else the first path), minus its first name.

    The first path, not the longest: Amazon lists an item's paths in no order of relevance, and the longest is
    often in another store's tree (a toy's "Clothing, Shoes & Jewelry > ... > Costumes > Kids & Baby > Boys"),
    which would mix trees at every level; the first path under the store's root is what ``read_amazon2014`` and
    the P5 / S3-Rec data keep.
    """
    if not paths:
        return []
    chosen = next((path for path in paths if path[0] == root), paths[0])
    return chosen[1:]


def split_category_paths(values: Sequence[Any]) -> Tuple[List[List[str]], List[List[str]]]:
    """Raw Amazon 2014 ``categories`` (a list of coarse-to-fine paths per item) -> ``(categories, category_path)``.

    ``categories`` becomes the de-duplicated union of the item's names (as :func:`read_amazon2014` stores it) and
    ``category_path`` the path under the dataset's root (its most frequent first name, e.g. "Toys & Games") with
    that root dropped, stored like Beauty's ``category_tokens``: a list of names, coarse to fine.
    """
    paths = [_paths_of(value) for value in values]
    roots = Counter(path[0] for item_paths in paths for path in item_paths)
    root = roots.most_common(1)[0][0] if roots else None
    union = [list(dict.fromkeys(name for path in item_paths for name in path)) for item_paths in paths]
    return union, [_store_category_path(item_paths, root) for item_paths in paths]


def read_two_file(folder: str | os.PathLike, name: Optional[str] = None) -> InteractionLog:
    """Read ``<folder>/interactions.tsv`` and (if present) ``<folder>/items.jsonl``.

    Columns are detected: the item column is ``item_id`` or ``business_id``; ``timestamp`` is optional
    (without it the file order within a user is chronological). Item fields map ``title``/``name`` to
    the title, ``brand``/``brand_inferred`` to the brand, ``categories`` to the flat categories and
    ``category_path``/``category_tokens`` to the coarse-to-fine path. A ``categories`` field holding a list of
    category paths per item (Toys: raw Amazon 2014 metadata) is split by :func:`split_category_paths` into the
    flat ``categories`` union and the ``category_path`` under the store's root. The source's 1-based
    ``item_idx`` is kept as ``source_item_idx`` (hf_genrec's 0-based ids equal it minus one on these
    files, because both number items by first appearance).
    """
    folder = Path(folder)
    inter_path = folder / "interactions.tsv"
    if not inter_path.exists():
        raise DataFormatError("two-file dataset folder has no interactions.tsv", folder)
    columns, lines, where = load_columns(inter_path, "tsv")
    item_column = _first_present((ITEM, "business_id", "asin", "parent_asin"), columns)
    if item_column is None:
        raise DataFormatError(f"no item column (item_id/business_id/asin) among {sorted(columns)}", inter_path,
                              field=ITEM)
    mapping = InteractionColumns(user=USER, item=item_column,
                                 timestamp=TIMESTAMP if TIMESTAMP in columns else None, timestamp_unit="s")
    frame = build_interactions(columns, lines, mapping, inter_path, where)

    items_path = folder / "items.jsonl"
    if items_path.exists():
        item_cols, item_lines, item_where = load_columns(items_path, "jsonl")
        key = _first_present((item_column, ITEM, "asin", "business_id", "parent_asin"), item_cols)
        if key is None:
            raise DataFormatError(f"no item key column matching '{item_column}' among {sorted(item_cols)}", items_path,
                                  field=item_column)
        if any(_is_path_list(value) for value in item_cols.get("categories", [])):  # Toys: raw Amazon paths
            categories, paths = split_category_paths(item_cols["categories"])
            item_cols["categories"] = categories
            if _first_present(("category_path", "category_tokens"), item_cols) is None:
                item_cols["category_path"] = paths
        item_mapping = ItemColumns(
            item=key,
            title=_first_present(("title", "name"), item_cols),
            brand=_first_present(("brand", "brand_inferred"), item_cols),
            categories=_first_present(("categories",), item_cols),
            category_path=_first_present(("category_path", "category_tokens"), item_cols),
            description=_first_present(("description",), item_cols),
        )
        if "item_idx" in item_cols:
            item_cols["source_item_idx"] = item_cols.pop("item_idx")
        item_frame = build_item_table(item_cols, item_lines, item_mapping, items_path, item_where)
    else:
        item_frame = empty_item_table()
    restricted, description = _looks_restricted(folder)
    yelp = looks_like_yelp(columns)
    restricted = restricted or yelp
    return InteractionLog(
        interactions=frame, items=item_frame, name=name or folder.name,
        source={"format": "two-file", "folder": os.fspath(folder), "interactions": os.fspath(inter_path),
                "items": os.fspath(items_path) if items_path.exists() else None, "description": description},
        redistribution_restricted=restricted,
        license_note=(YELP_NOTE if yelp else "Source marks redistribution as restricted (see SOURCE.txt); use for "
                      "evaluation only." if restricted else None))
