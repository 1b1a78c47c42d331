"""Reader for the Yelp Open Dataset JSON dumps.

``yelp_academic_dataset_review.json`` (one JSON object per line: ``user_id``, ``business_id``,
``date`` as ``"YYYY-MM-DD HH:MM:SS"``) and ``yelp_academic_dataset_business.json`` (``business_id``,
``name``, ``categories`` as one comma-separated string or null, ``city``, ``state``, ``stars``,
``review_count``). The Yelp terms restrict redistribution: logs read here are marked so that
``hf_genrec.hub.push_dataset`` and ``hf-genrec push`` refuse them.
"""

from __future__ import annotations

import os
from typing import Optional

from ..schema import InteractionLog, empty_item_table
from .dates import keep_dates
from ._lines import collect_fields, iter_jsonl
from .table import InteractionColumns, ItemColumns, build_interactions, build_item_table, to_string_list

YELP_LICENSE = ("Yelp Open Dataset: academic, non-commercial use under Yelp's Dataset Terms of Use; "
                "redistribution is restricted, do not push it to any public hub.")


def read_yelp(reviews: str | os.PathLike, business: Optional[str | os.PathLike] = None, name: str = "yelp",
              date_from: Optional[str] = None, date_to: Optional[str] = None) -> InteractionLog:
    """Read Yelp reviews as interactions (+ businesses as items).

    ``date_from`` / ``date_to`` (inclusive, e.g. ``"2019-01-01"``) keep only reviews in that window, as
    in the Yelp-2019 benchmark of S3-Rec/P5.
    """
    columns, lines = collect_fields(iter_jsonl(reviews), ["user_id", "business_id", "date"])
    frame = build_interactions(columns, lines, InteractionColumns(user="user_id", item="business_id", timestamp="date",
                                                                  timestamp_unit="iso"), reviews)
    frame = keep_dates(frame, date_from, date_to, reviews)  # before the businesses: the window is what matters
    items = empty_item_table()
    if business is not None:
        item_columns, item_lines = collect_fields(iter_jsonl(business),
                                                  ["business_id", "name", "categories", "city", "state", "stars",
                                                   "review_count"])
        item_columns["categories"] = [to_string_list(c, ",") for c in item_columns["categories"]]
        items = build_item_table(item_columns, item_lines,
                                 ItemColumns(item="business_id", title="name", brand=None, category_path=None,
                                             description=None), business)
    return InteractionLog(interactions=frame, items=items, name=name,
                          source={"format": "yelp", "interactions": os.fspath(reviews),
                                  "items": os.fspath(business) if business is not None else None,
                                  "date_from": date_from, "date_to": date_to},
                          redistribution_restricted=True, license_note=YELP_LICENSE)
