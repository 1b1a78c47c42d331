"""``hf-genrec push``: a model folder (optionally with bundled remote code) or a prepared dataset to the Hub."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict, Optional

from .._version import __version__
from ..utils.io import atomic_write_json
from .common import SUMMARY_FILE


def run_push(repo: str, model: Optional[str] = None, data: Optional[str] = None, out: str = "runs/push",
             remote_code: bool = False, allow_restricted: bool = False, **options) -> Dict[str, Any]:
    """Push exactly one of ``model`` (a saved model folder) or ``data`` (a prepared dataset folder).

    ``options``: ``token``, ``private``, ``endpoint``, ``revision``."""
    if bool(model) == bool(data):
        raise ValueError("pass exactly one of --model (a model folder) or --data (a prepared dataset folder)")
    if model:
        from ..hub import export_remote_code, push_model_folder

        if remote_code:  # bundle the code into a copy: a failed push leaves the local folder as it was
            with tempfile.TemporaryDirectory() as tmp:
                copy = Path(tmp) / Path(model).name
                shutil.copytree(model, copy, ignore=shutil.ignore_patterns(".hf_genrec*"))
                export_remote_code(copy)
                url = push_model_folder(copy, repo, allow_restricted=allow_restricted, **options)
        else:
            url = push_model_folder(model, repo, allow_restricted=allow_restricted, **options)
        what = {"model": model, "remote_code": remote_code}
    else:
        from ..data import PreparedDataset
        from ..hub import push_dataset

        url = push_dataset(PreparedDataset.load(data), repo, allow_restricted=allow_restricted, item_embeddings=data,
                           **options)  # with the folder's item embeddings, when it has them
        what = {"data": data}
    summary = {"command": "push", "hf_genrec_version": __version__, "repo": repo, "commit": url, **what}
    atomic_write_json(Path(out) / SUMMARY_FILE, summary)
    return summary
