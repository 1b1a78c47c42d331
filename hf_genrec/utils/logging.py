"""The library's logger, which follows transformers' verbosity.

``hf_genrec.*`` loggers write to stderr (``hf_genrec: INFO: ...``) at the verbosity of, in this order: ``set_verbosity``
(this module), the ``HF_GENREC_VERBOSITY`` environment variable (``debug``, ``info``, ``warning``, ``error``), and
``transformers.logging``'s current verbosity (``transformers.logging.set_verbosity_info()`` shows hf_genrec's progress
messages too; the default ``warning`` shows warnings only). The ``hf-genrec`` command line shows ``info``. An
application that configures the ``hf_genrec`` logger itself (handlers, level) keeps full control.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Optional

ROOT = "hf_genrec"
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR,
          "critical": logging.CRITICAL}
_explicit: Optional[int] = None


def set_verbosity(level: int | str) -> None:
    """Set hf_genrec's verbosity (``logging.INFO`` or ``"info"``, ...), overriding the environment and transformers."""
    global _explicit
    _explicit = LEVELS[level.lower()] if isinstance(level, str) else int(level)


def get_verbosity() -> int:
    """The level hf_genrec's messages are shown at (see the module docstring)."""
    if _explicit is not None:
        return _explicit
    env = os.environ.get("HF_GENREC_VERBOSITY", "").lower()
    if env:
        if env not in LEVELS:
            raise ValueError(f"HF_GENREC_VERBOSITY={env!r}: use one of {sorted(LEVELS)}")
        return LEVELS[env]
    try:
        from transformers.utils import logging as transformers_logging
    except ImportError:  # pragma: no cover - transformers is a dependency
        return logging.WARNING
    return transformers_logging.get_verbosity()


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record is emitted (redirections and captures made later apply)."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):  # StreamHandler assigns it once; the property always answers sys.stderr
        pass


class _FollowVerbosity(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= get_verbosity()


def get_logger(name: str) -> logging.Logger:
    """The logger for module ``name`` (pass ``__name__``), under the ``hf_genrec`` root logger."""
    root = logging.getLogger(ROOT)
    if not root.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("hf_genrec: %(levelname)s: %(message)s"))
        handler.addFilter(_FollowVerbosity())
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)  # the handler's filter applies the verbosity when the record is emitted
        root.propagate = False
    return logging.getLogger(name if name.startswith(ROOT) else f"{ROOT}.{name}")
