"""The item table of a prepared dataset: one row per contiguous ``item_idx`` with a ``text`` field.

The text that the sentence encoder sees is assembled from configurable fields. Default layout
(fields that are empty are left out)::

    <title>. Brand: <brand>. Categories: <a, b>. Category path: <a > b > c>. <description>

A custom ``template`` uses ``str.format`` placeholders limited to the plain field names
(``{title}``, ``{brand}``, ``{categories}``, ``{category_path}``, ``{description}``, ``{item_id}``);
attribute or index access in a placeholder is rejected.
"""

from __future__ import annotations

import json
import string
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from ..defaults import DEFAULT_TEXT_FIELDS
from .schema import ITEM, ITEM_TEXT_FIELDS, LIST_FIELDS

TEMPLATE_FIELDS = (*ITEM_TEXT_FIELDS, ITEM)
_LABELS = {"brand": "Brand: ", "categories": "Categories: ", "category_path": "Category path: "}


def validate_template(template: str) -> None:
    for _, name, spec, conversion in string.Formatter().parse(template):
        if name is None:
            continue
        if name not in TEMPLATE_FIELDS:
            raise ValueError(f"text template placeholder {{{name}}} is not one of {TEMPLATE_FIELDS}")
        if spec or conversion:
            raise ValueError(f"text template placeholder {{{name}}} may not carry a format spec or conversion")


def _field_strings(row: Dict[str, object]) -> Dict[str, str]:
    values = {}
    for field in TEMPLATE_FIELDS:
        value = row.get(field)
        if field in LIST_FIELDS:
            values[field] = (" > " if field == "category_path" else ", ").join(value or [])
        else:
            values[field] = "" if value is None else str(value)
    return values


def item_text(row: Dict[str, object], fields: Sequence[str] = DEFAULT_TEXT_FIELDS, template: Optional[str] = None,
              max_chars: int = 2000) -> str:
    """Assemble the encoder text of one item (empty string when it has no text at all)."""
    values = _field_strings(row)
    if template is not None:
        text = template.format(**values)
    else:
        parts: List[str] = []
        for field in fields:
            value = values.get(field, "")
            if not value or (field == "category_path" and row.get("categories") == row.get("category_path")
                             and "categories" in fields):
                continue
            parts.append(_LABELS.get(field, "") + value.rstrip("."))
        text = ". ".join(parts)
    return text.strip()[:max_chars]


def _arrow_safe(values: List[object]) -> List[object]:
    """Extra columns of mixed types (e.g. price as str and float) become JSON strings for Arrow."""
    import pyarrow as pa

    try:
        pa.array(values)
        return values
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        return [None if v is None else (v if isinstance(v, str) else json.dumps(v, default=str)) for v in values]


def build_item_table(item_ids: np.ndarray, source_items: pd.DataFrame, train_counts: np.ndarray,
                     fields: Sequence[str] = DEFAULT_TEXT_FIELDS, template: Optional[str] = None,
                     max_chars: int = 2000) -> Tuple[pd.DataFrame, Dict[str, int]]:
    """Align the source item table with ``item_ids`` (position = ``item_idx``) and add ``text``.

    Items that the source table lacks, or that have no text in the chosen fields, get the text
    ``"Item <item_id>"`` so that every item still has an embedding; their number is reported.
    """
    if template is not None:
        validate_template(template)
    unknown = set(fields) - set(ITEM_TEXT_FIELDS)
    if unknown:
        raise ValueError(f"unknown text field(s) {sorted(unknown)}; choose from {ITEM_TEXT_FIELDS}")
    source = source_items.drop_duplicates(ITEM).set_index(ITEM) if len(source_items) else None
    in_table = np.array([source is not None and i in source.index for i in item_ids], dtype=bool)
    table = pd.DataFrame({"item_idx": np.arange(len(item_ids), dtype=np.int64), ITEM: item_ids.astype(str)})
    aligned = source.reindex(item_ids) if source is not None else pd.DataFrame(index=item_ids)
    for field in ITEM_TEXT_FIELDS:
        if field in aligned.columns:
            column = aligned[field].tolist()
            if field in LIST_FIELDS:
                column = [list(v) if isinstance(v, (list, tuple, np.ndarray)) else [] for v in column]
            else:
                column = ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in column]
        else:
            column = [[] for _ in item_ids] if field in LIST_FIELDS else ["" for _ in item_ids]
        table[field] = column
    records = table.to_dict("records")
    texts = [item_text(r, fields, template, max_chars) for r in records]
    no_text = [i for i, t in enumerate(texts) if not t]
    # for the items without text: how many of them the fields that were not chosen would have covered
    unused = {field: sum(1 for i in no_text if records[i][field]) for field in ITEM_TEXT_FIELDS
              if field not in fields and template is None}
    for i in no_text:
        texts[i] = f"Item {item_ids[i]}"
    table["text"] = texts
    table["train_count"] = train_counts.astype(np.int64)
    for column in aligned.columns:
        if column not in ITEM_TEXT_FIELDS:
            values = [None if (isinstance(v, float) and np.isnan(v)) else v for v in aligned[column].tolist()]
            table[column] = _arrow_safe(values)
    report = {"items_missing_from_item_table": int((~in_table).sum()), "items_without_text": len(no_text),
              "items_without_text_covered_by": {field: n for field, n in unused.items() if n}}
    return table, report
