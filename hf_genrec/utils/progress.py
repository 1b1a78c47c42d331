"""One progress-bar factory so every long loop looks the same and can be silenced.

Bars are off when ``HF_GENREC_DISABLE_PROGRESS=1`` or ``HF_HUB_DISABLE_PROGRESS_BARS=1`` is set, or after
``transformers.utils.logging.disable_progress_bar()`` (the switches Hugging Face users already know).
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterable, Optional

from tqdm.auto import tqdm


def _truthy(name: str) -> bool:
    return os.environ.get(name, "0").strip().lower() in {"1", "true", "yes", "on"}


def progress_disabled() -> bool:
    """Whether bars are switched off (see the module docstring)."""
    if _truthy("HF_GENREC_DISABLE_PROGRESS") or _truthy("HF_HUB_DISABLE_PROGRESS_BARS"):
        return True
    try:
        from transformers.utils import logging as transformers_logging
    except ImportError:  # pragma: no cover - transformers is a dependency
        return False
    return not transformers_logging.is_progress_bar_enabled()


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
