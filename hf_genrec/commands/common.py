"""What every command shares: the summary file name, timestamps, reading a JSON file if present, and taking
hold of an output folder before any work."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Sequence

from ..utils.io import check_output_folder, output_lock, read_json_file

SUMMARY_FILE = "summary.json"


def now() -> str:
    """The local time, ISO 8601 with the UTC offset (``started`` / ``finished`` of a summary)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def read_json(path: Path) -> Optional[Dict[str, Any]]:
    """The JSON object in ``path``, or ``None`` when the file does not exist."""
    return read_json_file(path) if Path(path).exists() else None


@contextlib.contextmanager
def writing(out: str | os.PathLike, overwrite: bool = False,
            inputs: Sequence[Optional[str | os.PathLike]] = ()) -> Iterator[Path]:
    """Lock the output folder and check it (:func:`~hf_genrec.utils.io.check_output_folder`) before the command
    does any work; the lock is held until the block ends."""
    with output_lock(out):
        check_output_folder(out, overwrite, inputs)
        yield Path(out)
