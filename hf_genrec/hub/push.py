"""Pushing model folders and prepared datasets to the Hugging Face Hub, with clear errors.

``push_model_folder`` uploads a self-contained model folder (:func:`~hf_genrec.hub.export.save_model_folder`)
as one commit; :func:`~hf_genrec.hub.datasets.push_dataset` does the same for datasets. Failures are translated into
messages that say what to do: a missing or wrong token, a repository that does not exist (and may not
be created), or an upload that broke off - in which case nothing was committed and the repository is
still at its previous revision.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional


class HubPushError(RuntimeError):
    """A push that did not happen; the message says why and what to do."""


def _explain(error: Exception, repo_id: str, endpoint: Optional[str]) -> HubPushError:
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    where = f"{endpoint or 'the Hub'}"
    if isinstance(error, RepositoryNotFoundError):
        return HubPushError(f"repository {repo_id!r} was not found on {where} (or your token cannot see it); "
                            "create it or check the name")
    if isinstance(error, HfHubHTTPError):
        status = getattr(getattr(error, "response", None), "status_code", None)
        if status in (401, 403):
            return HubPushError(f"{where} refused the token for {repo_id!r} (HTTP {status}): log in with "
                                "`hf auth login`, or pass a token with write access (--token / HF_TOKEN)")
        if status is not None and status >= 500:
            return HubPushError(f"the upload to {repo_id!r} was interrupted by a server error (HTTP {status}); "
                                "nothing was committed - run the push again")
    if isinstance(error, (ConnectionError, OSError)) or type(error).__name__ in ("ConnectError", "ReadError",
                                                                             "RemoteProtocolError"):
        return HubPushError(f"the connection to {where} broke off while pushing {repo_id!r} ({error}); nothing was "
                            "committed - run the push again")
    return HubPushError(f"pushing {repo_id!r} failed: {error}")


def push_folder(folder: str | os.PathLike, repo_id: str, repo_type: str = "model", token: Optional[str] = None,
                private: Optional[bool] = None, revision: Optional[str] = None,
                commit_message: str = "Upload with hf_genrec", endpoint: Optional[str] = None,
                create: bool = True, commit_description: Optional[str] = None, create_pr: bool = False) -> str:
    """Upload every file of ``folder`` to ``repo_id`` in one commit (a pull request with ``create_pr``); returns the
    commit URL."""
    from huggingface_hub import HfApi

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    api = HfApi(endpoint=endpoint, token=token)
    try:
        if create:
            api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
        info = api.upload_folder(repo_id=repo_id, repo_type=repo_type, folder_path=str(folder), revision=revision,
                                 commit_message=commit_message, commit_description=commit_description,
                                 create_pr=create_pr)
    except Exception as error:  # translate into an actionable message
        raise _explain(error, repo_id, endpoint) from error
    return str(getattr(info, "commit_url", info))


def push_model_folder(folder: str | os.PathLike, repo_id: str, allow_restricted: bool = False, **kwargs) -> str:
    """Push a saved hf_genrec model folder; it must hold the weights, config and tokenizer. A folder trained on data
    whose licence restricts redistribution (``data_license.json``; it holds every item's id and title) is refused
    unless ``allow_restricted`` (a private repository you are entitled to hold, say)."""
    from .model_files import DATA_LICENSE_FILE

    folder = Path(folder)
    for names in (("config.json",), ("model.safetensors", "model.safetensors.index.json"), ("tokenizer_config.json",)):
        if not any((folder / name).exists() for name in names):
            raise FileNotFoundError(f"{folder} has no {names[0]}; save it with model.save_pretrained, "
                                    "hf_genrec.hub.save_model_folder or hf-genrec train first")
    license_file = folder / DATA_LICENSE_FILE
    if license_file.exists() and not allow_restricted:
        from ..utils.io import read_json_file

        data = read_json_file(license_file)
        if data.get("redistribution_restricted"):
            raise PermissionError(f"{folder} was trained on {data.get('dataset') or 'data'} whose licence restricts "
                                  f"redistribution ({data.get('license_note') or 'see its source'}), and it holds every "
                                  "item's id and title; refusing to push it (--allow-restricted only for a private "
                                  "repository you are entitled to use)")
    return push_folder(folder, repo_id, "model", **kwargs)
