"""The library's logger: ``hf_genrec.*`` loggers write warnings to stderr (``hf_genrec: warning: ...``) unless the
application configures logging itself."""

from __future__ import annotations

import logging

ROOT = "hf_genrec"


def get_logger(name: str) -> logging.Logger:
    """The logger for module ``name`` (pass ``__name__``), under the ``hf_genrec`` root logger."""
    root = logging.getLogger(ROOT)
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("hf_genrec: %(levelname)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.WARNING)
        root.propagate = False
    return logging.getLogger(name if name.startswith(ROOT) else f"{ROOT}.{name}")
