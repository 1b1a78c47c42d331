"""Errors for bad input data. Every message names the file and, where there is one, the line."""

from __future__ import annotations

import os
from typing import Optional


class DataFormatError(ValueError):
    """Raised when an input file or record cannot be used.

    Attributes ``path``, ``line`` (1-based, counting the header) and ``field`` say where the problem
    is, so callers (and the CLI) can point the user at it.
    """

    def __init__(self, message: str, path: Optional[str | os.PathLike] = None, line: Optional[int] = None,
                 field: Optional[str] = None):
        self.path = os.fspath(path) if path is not None else None
        self.line = line
        self.field = field
        self.reason = message
        where = []
        if self.path is not None:
            where.append(self.path)
        if line is not None:
            where.append(f"line {line}")
        if field is not None:
            where.append(f"field '{field}'")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)
