"""The canonical in-memory form every reader produces.

Readers differ in what they parse; they all return an :class:`InteractionLog`:

* ``interactions``: one row per interaction with columns ``user_id`` (str), ``item_id`` (str),
  ``timestamp`` (int64 unix seconds; absent when the source has none) and ``source_line``
  (1-based line of the row in its file, used in error messages and as the stable tie-breaker).
* ``items``: one row per known item with ``item_id`` and any of ``title``, ``brand``,
  ``categories`` (list of str), ``category_path`` (list of str, coarse to fine), ``description``,
  plus source-specific extra columns (kept as they are, e.g. Beauty's ``letter_sid``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional

import pandas as pd

USER = "user_id"
ITEM = "item_id"
TIMESTAMP = "timestamp"
SOURCE_LINE = "source_line"

#: Item fields with a meaning to the library; any other column of the item table is an "extra".
ITEM_TEXT_FIELDS = ("title", "brand", "categories", "category_path", "description")
LIST_FIELDS = ("categories", "category_path")


@dataclass
class InteractionLog:
    """Raw interactions plus the item table, as read from disk (before any filtering)."""

    interactions: pd.DataFrame
    items: pd.DataFrame
    name: str = "dataset"
    source: Dict[str, Any] = field(default_factory=dict)
    #: True when the source's licence forbids redistribution (e.g. the Yelp Open Dataset):
    #: ``push_to_hub`` refuses such data.
    redistribution_restricted: bool = False
    #: A short licence/citation note carried into the dataset card.
    license_note: Optional[str] = None

    @property
    def has_timestamps(self) -> bool:
        return TIMESTAMP in self.interactions.columns

    def __repr__(self) -> str:
        return (f"InteractionLog(name={self.name!r}, interactions={len(self.interactions)}, "
                f"users={self.interactions[USER].nunique()}, items_in_table={len(self.items)})")


def empty_item_table() -> pd.DataFrame:
    return pd.DataFrame({ITEM: pd.Series([], dtype=object)})
