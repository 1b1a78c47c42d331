"""What every command shares: the summary file name, timestamps, and reading a JSON file if present."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Dict, Optional

SUMMARY_FILE = "summary.json"


def now() -> str:
    """The local time, ISO 8601 with the UTC offset (``started`` / ``finished`` of a summary)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def read_json(path: Path) -> Optional[Dict[str, Any]]:
    """The JSON object in ``path``, or ``None`` when the file does not exist."""
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
