"""``hf-genrec synthetic``: write the embedded default catalog in the two-file format."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict

from .._version import __version__
from ..data import SyntheticConfig, generate_synthetic
from ..utils.io import atomic_write_json
from .common import SUMMARY_FILE


def run_synthetic(out: str | os.PathLike, config: SyntheticConfig, overwrite: bool = False) -> Dict[str, Any]:
    summary = {"command": "synthetic", "hf_genrec_version": __version__,
               **generate_synthetic(out, config, overwrite=overwrite)}
    atomic_write_json(Path(out) / SUMMARY_FILE, summary)
    return summary
