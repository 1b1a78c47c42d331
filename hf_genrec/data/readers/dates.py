"""``--date-from`` / ``--date-to``: keep the interactions of a time window, for every source format."""

from __future__ import annotations

import os
from typing import Optional

import numpy as np
import pandas as pd

from ..errors import DataFormatError
from ..schema import TIMESTAMP

DAY = 86_400


def date_to_seconds(date: Optional[str], label: str) -> Optional[int]:
    """Unix seconds of an ISO date (``"2019-01-01"``) or date-time, with an error naming the option."""
    if date is None:
        return None
    try:
        return int(pd.Timestamp(date, tz="UTC").timestamp())
    except (ValueError, TypeError):
        raise ValueError(f"{label} {date!r} is not a date (use YYYY-MM-DD)") from None


def keep_dates(frame: pd.DataFrame, date_from: Optional[str], date_to: Optional[str],
               path: Optional[str | os.PathLike] = None) -> pd.DataFrame:
    """The interactions with ``date_from <= time <= date_to`` (inclusive; a bare ``date_to`` includes that whole
    day). Without timestamps, or with nothing left, the window is an error that names the source."""
    if date_from is None and date_to is None:
        return frame
    low, high = date_to_seconds(date_from, "--date-from"), date_to_seconds(date_to, "--date-to")
    if TIMESTAMP not in frame.columns:
        raise DataFormatError("--date-from / --date-to need timestamps, and these interactions have none", path)
    if high is not None and len(date_to) <= 10:
        high += DAY - 1
    if low is not None and high is not None and low > high:
        raise ValueError(f"--date-from {date_from} is after --date-to {date_to}")
    times = frame[TIMESTAMP].to_numpy()
    keep = np.ones(len(frame), dtype=bool)
    if low is not None:
        keep &= times >= low
    if high is not None:
        keep &= times <= high
    if not keep.any():
        raise DataFormatError(f"no interactions between {date_from or 'the start'} and {date_to or 'the end'}", path)
    return frame[keep].reset_index(drop=True)
