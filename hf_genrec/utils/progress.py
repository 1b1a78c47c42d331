"""One progress-bar factory so every long loop looks the same and can be silenced.

Set ``HF_GENREC_DISABLE_PROGRESS=1`` to turn bars off (tests, logs).
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterable, Optional

from tqdm.auto import tqdm


def progress_disabled() -> bool:
    return os.environ.get("HF_GENREC_DISABLE_PROGRESS", "0").lower() in {"1", "true", "yes"}


def progress(iterable: Optional[Iterable] = None, desc: str = "", total: Optional[int] = None, unit: str = "it",
             disable: bool = False, **kwargs):
    """Return a tqdm bar (or a silent pass-through when disabled here or by the environment)."""
    return tqdm(iterable, desc=desc, total=total, unit=unit, disable=disable or progress_disabled(), dynamic_ncols=True,
                **kwargs)


@contextlib.contextmanager
def quiet_datasets_progress():
    """Silence ``datasets``' own bars (e.g. "Saving the dataset" for every split); ours cover the work."""
    from datasets.utils import logging as ds_logging

    was_enabled = ds_logging.is_progress_bar_enabled()
    ds_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            ds_logging.enable_progress_bar()
