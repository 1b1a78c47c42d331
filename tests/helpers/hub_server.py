"""Test double of the Hugging Face Hub HTTP API, used only by hf_genrec's tests.

Nothing here talks to the real Hub: :class:`HubTestServer` is a small in-memory imitation of the part of the
Hub API that ``huggingface_hub`` 2.4 calls for creating repositories, committing files and downloading them.
It is served on ``127.0.0.1`` from a background thread (standard library only), so tests can exercise
``HfApi.upload_folder`` / ``create_commit`` / ``snapshot_download`` / ``hf_hub_download`` and
``push_to_hub`` helpers end to end without network access.

Usage::

    from helpers.hub_server import HubTestServer, online

    with HubTestServer(token="hf_test_token") as server, online(server):
        api = HfApi(token=server.token)               # endpoint comes from online(); or pass endpoint=
        api.create_repo("test-user/tiny", exist_ok=True)
        api.upload_folder(repo_id="test-user/tiny", folder_path=folder)
        path = snapshot_download("test-user/tiny", cache_dir=tmp_path / "cache")
        assert server.files("test-user/tiny")["config.json"] == (folder / "config.json").read_bytes()

Endpoint and offline mode: use :func:`online`
    ``huggingface_hub`` reads ``HF_ENDPOINT`` and ``HF_HUB_OFFLINE`` once, when ``huggingface_hub.constants`` is
    imported (``tests/conftest.py`` sets ``HF_HUB_OFFLINE=1``; ``HF_ENDPOINT`` set before that import would work,
    but conftest and other tests import huggingface_hub first), so environment variables set by a test come too
    late. ``with online(server):`` patches what is read at call time instead: ``constants.HF_HUB_OFFLINE`` (read by
    the request hook through ``is_offline_mode()``), ``constants.ENDPOINT`` and the resolve-URL template, the
    endpoint of the module-level ``HfApi`` behind ``huggingface_hub.upload_file`` & co, ``datasets.config`` and
    transformers' cached ``HfApi`` when loaded, and clears cached ``HfFileSystem`` instances. So code that builds
    ``HfApi()`` without an endpoint (transformers' ``push_to_hub``, ``PreparedDataset.push_to_hub``) talks to the
    double; passing ``endpoint=server.endpoint`` explicitly works too. It also pre-seeds huggingface_hub's "agent
    harness" registry (otherwise fetched from ``{ENDPOINT}/api/agent-harnesses`` and written under
    ``~/.cache/huggingface``), disables telemetry, points the default Hub cache at a temporary folder (or
    ``cache_dir=``) and hf_xet's logs at another, sets ``HF_TOKEN=server.token`` (``use_token=True``), removes the
    sleeps between automatic retries (``fast_retries=True``) and refuses to resolve any non-loopback host name
    (``block_internet=True``; refused names land in ``server.blocked_hosts``). All is restored on exit.

What is implemented (repo types "model" and "dataset"; ``{repo}`` is always ``namespace/name``)
    - ``POST /api/repos/create``, ``DELETE /api/repos/delete``, ``GET /api/whoami-v2``, ``POST /api/validate-yaml``
      (README metadata check of ``create_commit``; always valid), ``GET /api/agent-harnesses`` (empty registry)
    - ``GET /api/{models|datasets}/{repo}[/revision/{rev}]`` (repo_info / model_info / dataset_info)
    - ``GET .../tree/{rev}[/{path}]`` (list_repo_tree / list_repo_files, no pagination),
      ``POST .../paths-info/{rev}``, ``GET .../commits/{rev}``, ``GET .../refs``, ``POST .../branch/{name}``
    - ``POST .../preupload/{rev}``: always answers ``uploadMode: "regular"``, so file contents arrive base64-inline
      in the NDJSON body of ``POST .../commit/{rev}`` (no LFS/Xet transfer is ever needed; multi-MB files are fine).
      It also returns the remote git blob id, so unchanged files are skipped by the client as on the Hub.
    - ``HEAD``/``GET /[datasets/]{repo}/resolve/{rev}/{path}`` with ``X-Repo-Commit``, ``ETag`` (git blob id),
      ``Content-Length`` and single ``Range`` requests.
    Anything else answers 404 and is recorded in ``server.unhandled``.

Errors (as ``huggingface_hub.hf_raise_for_status`` turns them into exceptions)
    - Write requests (create/delete repo, preupload, commit, branch) need ``Authorization: Bearer <server.token>``;
      otherwise 401 ``{"error": "Invalid credentials in Authorization header"}`` -> ``huggingface_hub.errors.
      HfHubHTTPError`` with ``err.response.status_code == 401`` (there is no dedicated "unauthorized" class).
      Note that ``create_repo(..., exist_ok=True)`` with a bad token still succeeds when the repo exists and is
      public, exactly as on the Hub.
    - A missing repo answers 404 with ``X-Error-Code: RepoNotFound`` -> ``RepositoryNotFoundError``; reading a
      private repo without the right token answers 401 with the same code (also ``RepositoryNotFoundError``).
    - Unknown revision: 404 ``RevisionNotFound`` -> ``RevisionNotFoundError``; missing file: 404
      ``EntryNotFound`` (with ``X-Repo-Commit``) -> ``RemoteEntryNotFoundError``.

Simulating an interrupted upload
    ``server.fail_commits = n`` makes the next ``n`` commit requests fail without changing anything;
    ``server.fail_next_commit = True`` is ``fail_commits = 1``; inside ``with server.failing_commits():`` every
    commit request fails. ``server.commit_failure`` chooses how: ``"disconnect"`` (default: the body is read, then
    the connection is closed without an answer -> ``httpx2.RemoteProtocolError``) or ``"error"`` (HTTP 500 ->
    ``HfHubHTTPError``). How many attempts a client call makes before raising:
    - ``create_commit``, ``upload_file`` and transformers' ``push_to_hub`` send the commit once: 1 failure suffices.
    - ``upload_folder`` (pipelined upload, used because ``hf_xet`` is installed) retries the commit 5 times
      (6 attempts, :data:`UPLOAD_FOLDER_COMMIT_ATTEMPTS`; 1+2+4+8+8 s of back-off without ``fast_retries``):
      use ``fail_commits = UPLOAD_FOLDER_COMMIT_ATTEMPTS`` or ``with server.failing_commits():``.
    Either way nothing is applied: the branch keeps its previous commit and files.

``server.requests`` lists ``(method, path)`` of every request (path without query string) for debugging;
``server.errors`` holds tracebacks of bugs in the double itself (answered as HTTP 500).
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import itertools
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import threading
import time
import traceback
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, Iterator, List, Mapping, Optional, Tuple
from unittest import mock
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_TOKEN = "hf_test_token"
DEFAULT_USERNAME = "test-user"
#: Commit attempts made by ``HfApi.upload_folder`` (pipelined upload: 1 try + 5 retries) before it raises.
UPLOAD_FOLDER_COMMIT_ATTEMPTS = 6

_REPO_TYPES = {"models": "model", "datasets": "dataset"}
_URL_PREFIXES = {"model": "", "dataset": "datasets/"}
_INVALID_TOKEN = "Invalid credentials in Authorization header"
_EMPTY_AGENT_REGISTRY = {"standardEnvVars": [], "harnesses": {}}


# --------------------------------------------------------------------------------------------- data model


def git_blob_oid(data: bytes) -> str:
    """Git's blob id of ``data`` (what the Hub reports as ``oid`` / ``ETag`` for regular files)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _now() -> str:
    """Current UTC time in the Hub's format (``2024-01-31T12:00:00.000Z``)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass(frozen=True)
class Blob:
    """File content with its git blob id."""

    data: bytes
    oid: str

    @classmethod
    def of(cls, data: bytes) -> "Blob":
        return cls(bytes(data), git_blob_oid(data))


@dataclass(frozen=True)
class Commit:
    """One commit: a full snapshot of the files (path -> :class:`Blob`) plus metadata."""

    oid: str
    title: str
    message: str
    date: str
    parent: Optional[str]
    files: Mapping[str, Blob]


@dataclass
class Repo:
    """An in-memory repository: branches point at commits, commits hold file snapshots."""

    repo_type: str
    repo_id: str
    private: bool = False
    created_at: str = field(default_factory=_now)
    branches: Dict[str, str] = field(default_factory=dict)
    commits: Dict[str, Commit] = field(default_factory=dict)

    @property
    def url_path(self) -> str:
        """Path of the repo page relative to the endpoint (``datasets/ns/name`` for datasets)."""
        return _URL_PREFIXES[self.repo_type] + self.repo_id

    def resolve(self, revision: str) -> Optional[Commit]:
        """The commit for a branch name or a (full or >= 7 chars abbreviated) commit sha, or None."""
        if revision in self.branches:
            return self.commits[self.branches[revision]]
        if revision in self.commits:
            return self.commits[revision]
        matches = [oid for oid in self.commits if len(revision) >= 7 and oid.startswith(revision)]
        return self.commits[matches[0]] if len(matches) == 1 else None

    def history(self, revision: str) -> List[Commit]:
        """Commits reachable from ``revision``, newest first."""
        commit, out = self.resolve(revision), []
        while commit is not None:
            out.append(commit)
            commit = self.commits.get(commit.parent) if commit.parent else None
        return out


class HubError(Exception):
    """A Hub-style error answer: JSON ``{"error": message}`` plus ``X-Error-Code`` / ``X-Error-Message``."""

    def __init__(self, status: int, message: str, code: Optional[str] = None,
                 headers: Optional[Dict[str, str]] = None, body: Optional[dict] = None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code
        self.headers = dict(headers or {})
        self.body = {"error": message, **(body or {})}


class _DropConnection(Exception):
    """Close the connection without answering (a simulated network failure)."""


def _repo_not_found(status: int = 404) -> HubError:
    return HubError(status, "Repository not found", code="RepoNotFound")


# --------------------------------------------------------------------------------------------- the server


class HubTestServer:
    """In-memory Hub API double served on 127.0.0.1 from a background thread (see the module docstring).

    Use as a context manager (``with HubTestServer() as server:``) or call :meth:`start` / :meth:`stop`.
    ``server.endpoint`` is the base URL, ``server.token`` the only token accepted for writes and private reads,
    ``server.username`` the namespace of repos created without one.
    """

    def __init__(self, token: str = DEFAULT_TOKEN, username: str = DEFAULT_USERNAME, host: str = "127.0.0.1",
                 port: int = 0):
        self.token, self.username = token, username
        self._address = (host, port)
        self._repos: Dict[Tuple[str, str], Repo] = {}
        self._lock = threading.RLock()
        self._commit_counter = itertools.count()
        self._httpd: Optional[_HTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        #: ``(method, path)`` of every request received (path without query string).
        self.requests: List[Tuple[str, str]] = []
        #: ``(method, path)`` of requests no route matched (answered 404).
        self.unhandled: List[Tuple[str, str]] = []
        #: Tracebacks of exceptions raised by the double itself (answered 500).
        self.errors: List[str] = []
        #: Non-loopback host names whose resolution :func:`online` refused (e.g. datasets' viewer service).
        self.blocked_hosts: List[str] = []
        #: Number of upcoming commit requests to fail (decremented per failed request).
        self.fail_commits = 0
        #: How a failed commit fails: ``"disconnect"`` (no answer) or ``"error"`` (HTTP 500).
        self.commit_failure = "disconnect"
        #: Number of commit requests failed on purpose so far.
        self.failed_commit_requests = 0
        self._fail_all_commits = False

    # -- lifecycle

    def start(self) -> "HubTestServer":
        """Bind a free port and serve from a daemon thread."""
        self._httpd = _HTTPServer(self._address, self)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,),
                                        name="hub-test-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close open keep-alive connections."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.close_connections()
        self._httpd.server_close()
        self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> "HubTestServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def endpoint(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``."""
        if self._httpd is None:
            raise RuntimeError("HubTestServer is not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # -- failure injection

    @property
    def fail_next_commit(self) -> bool:
        return self.fail_commits > 0

    @fail_next_commit.setter
    def fail_next_commit(self, value: bool) -> None:
        self.fail_commits = 1 if value else 0

    @contextmanager
    def failing_commits(self, mode: Optional[str] = None) -> Iterator["HubTestServer"]:
        """Every commit request fails while inside the block (retries included); ``mode`` overrides
        :attr:`commit_failure` for the block."""
        previous_mode = self.commit_failure
        self.commit_failure = mode or previous_mode
        self._fail_all_commits = True
        try:
            yield self
        finally:
            self._fail_all_commits = False
            self.commit_failure = previous_mode

    def should_fail_commit(self) -> bool:
        """Called once per commit request: whether to fail it (and count it as failed)."""
        with self._lock:
            if not self._fail_all_commits and self.fail_commits <= 0:
                return False
            if not self._fail_all_commits:
                self.fail_commits -= 1
            self.failed_commit_requests += 1
            return True

    # -- state: inspection and seeding (also used by the HTTP handlers)

    def get_repo(self, repo_id: str, repo_type: str = "model") -> Optional[Repo]:
        with self._lock:
            return self._repos.get((repo_type, repo_id))

    def create_repo(self, repo_id: str, repo_type: str = "model", private: bool = False) -> Repo:
        """Create an empty repo (one initial commit without files) on branch ``main``."""
        if repo_type not in _URL_PREFIXES:
            raise HubError(400, f"repo type {repo_type!r} is not supported by the test double")
        with self._lock:
            if (repo_type, repo_id) in self._repos:
                raise HubError(409, f"You already created this {repo_type} repo",
                               body={"url": f"{self.endpoint}/{_URL_PREFIXES[repo_type]}{repo_id}"})
            repo = Repo(repo_type=repo_type, repo_id=repo_id, private=private)
            self._repos[(repo_type, repo_id)] = repo
            self._add_commit(repo, "main", "initial commit", "", {})
            return repo

    def delete_repo(self, repo_id: str, repo_type: str = "model") -> None:
        with self._lock:
            if self._repos.pop((repo_type, repo_id), None) is None:
                raise _repo_not_found()

    def commit_files(self, repo_id: str, files: Optional[Mapping[str, bytes]] = None, deletions: Tuple[str, ...] = (),
                     repo_type: str = "model", branch: str = "main", message: str = "seed files") -> Commit:
        """Commit directly (no HTTP), creating the repo if needed: add/overwrite ``files``, delete ``deletions``."""
        repo = self.get_repo(repo_id, repo_type) or self.create_repo(repo_id, repo_type)
        operations = [("file", {"path": path, "content": base64.b64encode(data).decode(), "encoding": "base64"})
                      for path, data in (files or {}).items()]
        operations += [("deletedFile", {"path": path}) for path in deletions]
        return self.apply_commit(repo, branch, {"summary": message}, operations)

    def files(self, repo_id: str, repo_type: str = "model", revision: str = "main") -> Dict[str, bytes]:
        """Files (path -> bytes) of ``repo_id`` at ``revision``."""
        commit = self._require_repo(repo_id, repo_type).resolve(revision)
        if commit is None:
            raise KeyError(f"unknown revision {revision!r}")
        return {path: blob.data for path, blob in commit.files.items()}

    def head(self, repo_id: str, repo_type: str = "model", branch: str = "main") -> str:
        """Commit sha of ``branch``."""
        return self._require_repo(repo_id, repo_type).branches[branch]

    def commits(self, repo_id: str, repo_type: str = "model", revision: str = "main") -> List[Commit]:
        """History of ``revision``, newest first (the initial empty commit last)."""
        return self._require_repo(repo_id, repo_type).history(revision)

    def _require_repo(self, repo_id: str, repo_type: str) -> Repo:
        repo = self.get_repo(repo_id, repo_type)
        if repo is None:
            raise KeyError(f"no {repo_type} repo {repo_id!r}")
        return repo

    def apply_commit(self, repo: Repo, branch: str, header: dict, operations: List[Tuple[str, dict]]) -> Commit:
        """Apply parsed commit operations on top of ``branch`` atomically; raises :class:`HubError` on bad input."""
        with self._lock:
            if branch not in repo.branches:
                raise HubError(404, f"Invalid rev id: {branch}", code="RevisionNotFound")
            head = repo.commits[repo.branches[branch]]
            parent = header.get("parentCommit")
            if parent and parent != head.oid:
                raise HubError(412, "A commit has happened since. Please refresh and try again.")
            files = dict(head.files)
            for key, value in operations:
                _apply_operation(files, key, value)
            return self._add_commit(repo, branch, header.get("summary") or "", header.get("description") or "",
                                    files)

    def create_branch(self, repo: Repo, branch: str, oid: str) -> None:
        with self._lock:
            if branch in repo.branches:
                raise HubError(409, f"Reference already exists: refs/heads/{branch}")
            repo.branches[branch] = oid

    def _add_commit(self, repo: Repo, branch: str, title: str, message: str, files: Dict[str, Blob]) -> Commit:
        parent = repo.branches.get(branch)
        tree = sorted((path, blob.oid) for path, blob in files.items())
        fingerprint = json.dumps([next(self._commit_counter), parent, title, tree])
        commit = Commit(oid=hashlib.sha1(fingerprint.encode()).hexdigest(), title=title, message=message,
                        date=_now(), parent=parent, files=dict(files))
        repo.commits[commit.oid] = commit
        repo.branches[branch] = commit.oid
        return commit

    # -- access control

    def is_authorized(self, headers) -> bool:
        """Whether the request carries ``Authorization: Bearer <self.token>``."""
        return headers.get("Authorization", "") == f"Bearer {self.token}"

    def require_write(self, headers) -> None:
        if not self.is_authorized(headers):
            raise HubError(401, _INVALID_TOKEN)

    def readable_repo(self, repo_type: str, repo_id: str, headers) -> Repo:
        """The repo if it exists and the caller may read it; Hub-like errors otherwise."""
        repo = self.get_repo(repo_id, repo_type)
        if repo is None:
            raise _repo_not_found()
        if repo.private and not self.is_authorized(headers):
            raise _repo_not_found(401)
        return repo

    def writable_repo(self, repo_type: str, repo_id: str, headers) -> Repo:
        self.require_write(headers)
        repo = self.get_repo(repo_id, repo_type)
        if repo is None:
            raise _repo_not_found()
        return repo

    def record(self, method: str, path: str) -> None:
        with self._lock:
            self.requests.append((method, path))

    def repo_url(self, repo: Repo) -> str:
        return f"{self.endpoint}/{repo.url_path}"


def _apply_operation(files: Dict[str, Blob], key: str, value: dict) -> None:
    """Apply one NDJSON commit operation (``file``, ``deletedFile``, ``deletedFolder``) to ``files``."""
    path = value.get("path", "").strip("/")
    if key == "file":
        if value.get("encoding") == "base64":
            data = base64.b64decode(value["content"])
        else:
            data = str(value.get("content", "")).encode()
        files[path] = Blob.of(data)
    elif key == "deletedFile":
        if files.pop(path, None) is None:
            raise HubError(404, f"A file with this name doesn't exist: {path}", code="EntryNotFound")
    elif key == "deletedFolder":
        for name in [name for name in files if name.startswith(path + "/")]:
            del files[name]
    elif key == "lfsFile":
        raise HubError(400, "LFS/Xet files are not supported by the test double (preupload answers 'regular')")
    else:
        raise HubError(400, f"unknown commit operation {key!r}")


def _parse_ndjson_commit(body: bytes) -> Tuple[dict, List[Tuple[str, dict]]]:
    """Split a commit NDJSON body into its header value and its ``(key, value)`` operations."""
    try:
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
    except ValueError as err:
        raise HubError(400, f"malformed NDJSON commit payload: {err}")
    header = next((line["value"] for line in lines if line.get("key") == "header"), None)
    if header is None:
        raise HubError(400, "commit payload has no header line")
    return header, [(line["key"], line["value"]) for line in lines if line.get("key") != "header"]


# --------------------------------------------------------------------------------------------- JSON views


def _file_entry(path: str, blob: Blob) -> dict:
    return {"type": "file", "oid": blob.oid, "size": len(blob.data), "path": path}


def _folder_entry(path: str) -> dict:
    return {"type": "directory", "oid": hashlib.sha1(path.encode()).hexdigest(), "size": 0, "path": path}


def _tree_entries(files: Mapping[str, Blob], folder: str, recursive: bool) -> Optional[List[dict]]:
    """Tree listing of ``folder`` ("" = root), like ``/api/.../tree``; None if the folder does not exist."""
    prefix = f"{folder}/" if folder else ""
    if folder and not any(path.startswith(prefix) for path in files):
        return None
    entries, folders = [], set()
    for path in sorted(files):
        if not path.startswith(prefix):
            continue
        parts = path[len(prefix):].split("/")
        depths = range(1, len(parts)) if recursive else range(1, min(len(parts), 2))
        for depth in depths:
            sub = prefix + "/".join(parts[:depth])
            if sub not in folders:
                folders.add(sub)
                entries.append(_folder_entry(sub))
        if recursive or len(parts) == 1:
            entries.append(_file_entry(path, files[path]))
    return entries


def _repo_info(repo: Repo, commit: Commit, with_blobs: bool) -> dict:
    """Body of ``GET /api/{models|datasets}/{repo}``."""
    siblings = []
    for path in sorted(commit.files):
        sibling = {"rfilename": path}
        if with_blobs:
            sibling.update(size=len(commit.files[path].data), blobId=commit.files[path].oid)
        siblings.append(sibling)
    return {"id": repo.repo_id, "author": repo.repo_id.split("/")[0], "sha": commit.oid, "private": repo.private,
            "gated": False, "disabled": False, "lastModified": commit.date, "createdAt": repo.created_at,
            "tags": [], "downloads": 0, "likes": 0, "siblings": siblings}


def _byte_range(header: str, size: int) -> Tuple[int, int]:
    """Inclusive ``(start, end)`` of a single ``Range: bytes=...`` header; raises 416 when unsatisfiable."""
    match = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header)
    if match and (match[1] or match[2]):
        if match[1]:
            start, end = int(match[1]), min(int(match[2]) if match[2] else size - 1, size - 1)
        else:
            start, end = max(size - int(match[2]), 0), size - 1
        if start <= end:
            return start, end
    raise HubError(416, f"Range not satisfiable: {header}", headers={"Content-Range": f"bytes */{size}"})


def _flag(query: Dict[str, List[str]], name: str) -> bool:
    return query.get(name, [""])[-1].lower() in ("1", "true")


# --------------------------------------------------------------------------------------------- HTTP layer


class _HTTPServer(ThreadingHTTPServer):
    """Threaded HTTP server that knows its :class:`HubTestServer` and can close idle keep-alive connections."""

    daemon_threads = True

    def __init__(self, address, hub: HubTestServer):
        super().__init__(address, _Handler)
        self.hub = hub
        self._connections = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request, client_address):
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


_API_REPO = r"^/api/(?P<type>models|datasets)/(?P<repo>[^/]+/[^/]+)"
_ROUTES = [
    ("POST", r"^/api/repos/create$", "create_repo"),
    ("DELETE", r"^/api/repos/delete$", "delete_repo"),
    ("GET", r"^/api/whoami-v2$", "whoami"),
    ("GET", r"^/api/agent-harnesses$", "agent_harnesses"),
    ("POST", r"^/api/validate-yaml$", "validate_yaml"),
    ("GET", _API_REPO + r"(?:/revision/(?P<rev>[^/]+))?$", "repo_info"),
    ("GET", _API_REPO + r"/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?$", "tree"),
    ("POST", _API_REPO + r"/paths-info/(?P<rev>[^/]+)$", "paths_info"),
    ("GET", _API_REPO + r"/commits/(?P<rev>[^/]+)$", "list_commits"),
    ("GET", _API_REPO + r"/refs$", "refs"),
    ("POST", _API_REPO + r"/branch/(?P<branch>[^/]+)$", "create_branch"),
    ("POST", _API_REPO + r"/preupload/(?P<rev>[^/]+)$", "preupload"),
    ("POST", _API_REPO + r"/commit/(?P<rev>[^/]+)$", "commit"),
    ("GET", r"^/(?:(?P<type>datasets)/)?(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$", "resolve"),
    ("HEAD", r"^/(?:(?P<type>datasets)/)?(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$", "resolve"),
]
_COMPILED_ROUTES = [(method, re.compile(pattern), name) for method, pattern, name in _ROUTES]


class _Handler(BaseHTTPRequestHandler):
    """Parses a request, dispatches it to a ``route_*`` method and turns :class:`HubError` into answers."""

    protocol_version = "HTTP/1.1"
    server_version = "HubTestServer/1.0"

    def log_message(self, format, *args):  # noqa: A002 - keep test output quiet
        pass

    def do_GET(self):
        self._dispatch()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_GET

    @property
    def hub(self) -> HubTestServer:
        return self.server.hub

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        self.query = parse_qs(url.query)
        self.hub.record(self.command, url.path)
        self.body = self._read_body()  # always consume the body so keep-alive connections stay in sync
        try:
            route, match = self._route(url.path)
            if route is None:
                self.hub.unhandled.append((self.command, url.path))
                raise HubError(404, f"not implemented by the Hub test double: {self.command} {url.path}")
            route(match)
        except _DropConnection:
            self.close_connection = True
        except HubError as err:
            self._reply_json(err.body, err.status, self._error_headers(err))
        except Exception as err:  # a bug in the double: make it visible instead of hanging the client
            self.hub.errors.append(traceback.format_exc())
            self._reply_json({"error": f"Hub test double crashed: {err!r}"}, 500)

    def _route(self, path: str):
        for method, pattern, name in _COMPILED_ROUTES:
            match = pattern.match(path) if method == self.command else None
            if match:
                return getattr(self, f"route_{name}"), match
        return None, None

    # -- request / response helpers

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():  # optional trailers
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _json_body(self) -> dict:
        try:
            return json.loads(self.body or b"{}")
        except ValueError as err:
            raise HubError(400, f"invalid JSON body: {err}")

    def _reply(self, status: int, body: bytes, headers: Optional[Dict[str, str]] = None,
               content_type: str = "application/json") -> None:
        """Send an answer; for HEAD the headers (Content-Length included) but not the body."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _reply_json(self, payload, status: int = 200, headers: Optional[Dict[str, str]] = None) -> None:
        self._reply(status, json.dumps(payload).encode(), headers)

    @staticmethod
    def _error_headers(err: HubError) -> Dict[str, str]:
        message = err.message.encode("latin-1", "replace").decode("latin-1")  # headers must be latin-1
        headers = {"X-Error-Message": message, **err.headers}
        if err.code:
            headers["X-Error-Code"] = err.code
        return headers

    def _repo_key(self, match) -> Tuple[str, str]:
        plural = match["type"] or "models"
        return _REPO_TYPES[plural], match["repo"]

    def _commit_at(self, repo: Repo, quoted_revision: Optional[str]) -> Commit:
        revision = unquote(quoted_revision or "main")
        commit = repo.resolve(revision)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {revision}", code="RevisionNotFound")
        return commit

    # -- routes: account and repositories

    def route_whoami(self, match) -> None:
        self.hub.require_write(self.headers)
        self._reply_json({"type": "user", "name": self.hub.username, "fullname": "Test User", "orgs": [],
                          "auth": {"type": "access_token", "accessToken": {"displayName": "test", "role": "write"}}})

    def route_agent_harnesses(self, match) -> None:
        self._reply_json(_EMPTY_AGENT_REGISTRY)

    def route_validate_yaml(self, match) -> None:
        """README metadata check made by ``create_commit``: everything is accepted."""
        self._reply_json({"errors": [], "warnings": []})

    def route_create_repo(self, match) -> None:
        self.hub.require_write(self.headers)
        payload = self._json_body()
        if not payload.get("name"):
            raise HubError(400, "repository name is required")
        repo_id = f"{payload.get('organization') or self.hub.username}/{payload['name']}"
        private = payload.get("visibility") == "private" or bool(payload.get("private"))
        repo = self.hub.create_repo(repo_id, payload.get("type") or "model", private=private)
        self._reply_json({"url": self.hub.repo_url(repo), "name": repo_id, "id": repo_id})

    def route_delete_repo(self, match) -> None:
        self.hub.require_write(self.headers)
        payload = self._json_body()
        repo_id = f"{payload.get('organization') or self.hub.username}/{payload.get('name')}"
        self.hub.delete_repo(repo_id, payload.get("type") or "model")
        self._reply_json({})

    def route_repo_info(self, match) -> None:
        repo = self.hub.readable_repo(*self._repo_key(match), self.headers)
        commit = self._commit_at(repo, match["rev"])
        self._reply_json(_repo_info(repo, commit, with_blobs=_flag(self.query, "blobs")))

    def route_tree(self, match) -> None:
        repo = self.hub.readable_repo(*self._repo_key(match), self.headers)
        commit = self._commit_at(repo, match["rev"])
        folder = unquote(match["path"] or "").strip("/")
        entries = _tree_entries(commit.files, folder, recursive=_flag(self.query, "recursive"))
        if entries is None:
            raise HubError(404, f"{folder} does not exist on {commit.oid}", code="EntryNotFound")
        self._reply_json(entries)

    def route_paths_info(self, match) -> None:
        repo = self.hub.readable_repo(*self._repo_key(match), self.headers)
        commit = self._commit_at(repo, match["rev"])
        form = parse_qs(self.body.decode()) if self.body else {}
        entries = []
        for path in (p.strip("/") for p in form.get("paths", [])):
            if path in commit.files:
                entries.append(_file_entry(path, commit.files[path]))
            elif any(name.startswith(path + "/") for name in commit.files):
                entries.append(_folder_entry(path))
        self._reply_json(entries)

    def route_list_commits(self, match) -> None:
        repo = self.hub.readable_repo(*self._repo_key(match), self.headers)
        self._commit_at(repo, match["rev"])  # 404 on unknown revision
        self._reply_json([{"id": c.oid, "title": c.title, "message": c.message, "date": c.date,
                           "authors": [{"user": self.hub.username}]}
                          for c in repo.history(unquote(match["rev"]))])

    def route_refs(self, match) -> None:
        repo = self.hub.readable_repo(*self._repo_key(match), self.headers)
        branches = [{"name": name, "ref": f"refs/heads/{name}", "targetCommit": oid}
                    for name, oid in sorted(repo.branches.items())]
        self._reply_json({"branches": branches, "tags": [], "converts": [], "pullRequests": []})

    def route_create_branch(self, match) -> None:
        repo = self.hub.writable_repo(*self._repo_key(match), self.headers)
        branch = unquote(match["branch"])
        start = self._commit_at(repo, self._json_body().get("startingPoint"))
        self.hub.create_branch(repo, branch, start.oid)
        self._reply_json({})

    # -- routes: upload

    def route_preupload(self, match) -> None:
        repo = self.hub.writable_repo(*self._repo_key(match), self.headers)
        commit = self._commit_at(repo, match["rev"])
        files = []
        for item in self._json_body().get("files", []):
            existing = commit.files.get(item["path"])
            files.append({"path": item["path"], "uploadMode": "regular", "shouldIgnore": False,
                          "oid": existing.oid if existing else None})
        self._reply_json({"files": files, "commitOid": commit.oid})

    def route_commit(self, match) -> None:
        repo = self.hub.writable_repo(*self._repo_key(match), self.headers)
        if _flag(self.query, "create_pr"):
            raise HubError(400, "create_pr is not supported by the Hub test double")
        header, operations = _parse_ndjson_commit(self.body)
        if self.hub.should_fail_commit():
            if self.hub.commit_failure == "disconnect":
                raise _DropConnection()
            raise HubError(500, "Simulated server error: commit not applied")
        commit = self.hub.apply_commit(repo, unquote(match["rev"]), header, operations)
        self._reply_json({"success": True, "commitOid": commit.oid, "hookOutput": "", "pullRequestUrl": None,
                          "commitUrl": f"{self.hub.repo_url(repo)}/commit/{commit.oid}"})

    # -- routes: download

    def route_resolve(self, match) -> None:
        repo = self.hub.readable_repo(*self._repo_key(match), self.headers)
        commit = self._commit_at(repo, match["rev"])
        path = unquote(match["path"])
        blob = commit.files.get(path)
        if blob is None:
            raise HubError(404, "Entry not found", code="EntryNotFound", headers={"X-Repo-Commit": commit.oid})
        headers = {"X-Repo-Commit": commit.oid, "ETag": f'"{blob.oid}"', "Accept-Ranges": "bytes"}
        status, data = 200, blob.data
        if self.command == "GET" and self.headers.get("Range"):
            start, end = _byte_range(self.headers["Range"], len(blob.data))
            status, data = 206, blob.data[start:end + 1]
            headers["Content-Range"] = f"bytes {start}-{end}/{len(blob.data)}"
        self._reply(status, data, headers, content_type="application/octet-stream")


# --------------------------------------------------------------------------------------------- client side


_LOOPBACK_HOSTS = {None, "", "127.0.0.1", "localhost", "::1"}


class _NoSleepTime:
    """Stand-in for the ``time`` module inside huggingface_hub's retry loops: same clocks, no waiting."""

    def __getattr__(self, name):
        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        time.sleep(0)


def _loopback_only_getaddrinfo(server: HubTestServer):
    """``socket.getaddrinfo`` that refuses non-loopback hosts (recorded in ``server.blocked_hosts``)."""
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if name not in _LOOPBACK_HOSTS:
            server.blocked_hosts.append(name)
            raise socket.gaierror(socket.EAI_NONAME, f"network access to {name!r} is blocked by hub_server.online()")
        return real_getaddrinfo(host, *args, **kwargs)

    return getaddrinfo


def _with_localhost(no_proxy: Optional[str]) -> str:
    hosts = [h for h in (no_proxy or "").split(",") if h]
    return ",".join(hosts + [h for h in ("127.0.0.1", "localhost") if h not in hosts])


_PROCESS_SCRATCH: List[str] = []


def _xet_folder() -> str:
    """Folder for hf_xet's logs and caches: its session is process-wide, so the folder lives until exit."""
    if not _PROCESS_SCRATCH:
        _PROCESS_SCRATCH.append(tempfile.mkdtemp(prefix="hub-test-xet-"))
        atexit.register(shutil.rmtree, _PROCESS_SCRATCH[0], ignore_errors=True)
    return _PROCESS_SCRATCH[0]


def _environment(server: HubTestServer, use_token: bool, cache_dir: str) -> Dict[str, Optional[str]]:
    """Environment variables for the block (None = unset), for code that reads them at call or import time."""
    return {"HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0",
            "HF_ENDPOINT": server.endpoint, "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_CACHE": cache_dir,
            "HF_XET_CACHE": _xet_folder(), "HF_XET_TELEMETRY_ENABLED": "0",
            "HF_TOKEN": server.token if use_token else None, "HUGGING_FACE_HUB_TOKEN": None,
            "NO_PROXY": _with_localhost(os.environ.get("NO_PROXY")),
            "no_proxy": _with_localhost(os.environ.get("no_proxy"))}


def _attribute_patches(server: HubTestServer, cache_dir: str, use_token: bool, fast_retries: bool,
                       block_internet: bool) -> list:
    """``(object, attribute, value)`` for every import-time copy of the endpoint / offline flag that matters."""
    import huggingface_hub.constants as hf_constants
    from huggingface_hub import file_download, hf_api
    from huggingface_hub.utils import _detect_agent, _http

    endpoint = server.endpoint
    patches = [
        (hf_constants, "HF_HUB_OFFLINE", False),
        (hf_constants, "ENDPOINT", endpoint),
        (hf_constants, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}"),
        (hf_constants, "HF_HUB_DISABLE_TELEMETRY", True),
        (hf_constants, "HF_HUB_DISABLE_IMPLICIT_TOKEN", not use_token),
        (hf_constants, "HF_HUB_CACHE", cache_dir),
        (hf_constants, "HF_XET_CACHE", _xet_folder()),
        (hf_constants, "HF_TOKEN_PATH", os.path.join(cache_dir, "no-saved-token")),  # ignore the machine's login
        (hf_api.api, "endpoint", endpoint),  # behind the module-level functions (huggingface_hub.upload_file, ...)
        (_detect_agent, "_registry", dict(_EMPTY_AGENT_REGISTRY)),  # else fetched from the Hub, cached in ~/.cache
    ]
    if fast_retries:
        patches += [(_http, "time", _NoSleepTime()), (file_download, "time", _NoSleepTime())]
    if block_internet:
        patches.append((socket, "getaddrinfo", _loopback_only_getaddrinfo(server)))
    if "datasets.config" in sys.modules:
        config = sys.modules["datasets.config"]
        patches += [(config, "HF_HUB_OFFLINE", False), (config, "HF_DATASETS_OFFLINE", False),
                    (config, "HF_ENDPOINT", endpoint),
                    (config, "HUB_DATASETS_URL", endpoint + "/datasets/{repo_id}/resolve/{revision}/{path}")]
    if "transformers.utils.hub" in sys.modules:  # transformers caches one HfApi (and so one endpoint)
        patches.append((sys.modules["transformers.utils.hub"], "_hf_api", None))
    if "huggingface_hub.hf_file_system" in sys.modules:
        hffs = sys.modules["huggingface_hub.hf_file_system"].hffs
        patches += [(hffs, "endpoint", endpoint), (hffs._api, "endpoint", endpoint)]
    return patches


def _forget_clients() -> None:
    """Drop pooled HTTP connections and cached ``HfFileSystem`` instances (they remember their endpoint)."""
    from huggingface_hub.utils import _http

    _http.close_session()
    if "huggingface_hub.hf_file_system" in sys.modules:
        sys.modules["huggingface_hub.hf_file_system"].HfFileSystem.clear_instance_cache()


def _reset_datasets_config_if_imported() -> None:
    """``datasets`` imported inside :func:`online` read the test settings: put back offline mode and endpoint."""
    config = sys.modules.get("datasets.config")
    if config is None:
        return
    import huggingface_hub.constants as hf_constants

    config.HF_HUB_OFFLINE = config.HF_DATASETS_OFFLINE = hf_constants.HF_HUB_OFFLINE
    config.HF_ENDPOINT = hf_constants.ENDPOINT
    config.HUB_DATASETS_URL = hf_constants.ENDPOINT + "/datasets/{repo_id}/resolve/{revision}/{path}"


@contextmanager
def online(server: HubTestServer, *, cache_dir: Optional[os.PathLike] = None, use_token: bool = True,
           fast_retries: bool = True, block_internet: bool = True) -> Iterator[HubTestServer]:
    """Route huggingface_hub (and transformers / datasets) to ``server``, with offline mode lifted, for the block.

    Works whatever ``HF_HUB_OFFLINE`` was when huggingface_hub was imported. Everything is restored on exit
    (offline mode included), so code outside the block cannot reach any Hub.

    Args:
        cache_dir: default Hub cache (``HF_HUB_CACHE``) for calls that pass no ``cache_dir``; if None, a temporary
            folder removed on exit, so paths downloaded there are only valid inside the block. (hf_xet's logs go
            to a temporary folder too, removed when the process exits.)
        use_token: if True (default), calls that pass no token authenticate with ``server.token`` (through
            ``HF_TOKEN``, like a logged-in user); if False, no token is sent implicitly. A token saved on the
            machine is never used.
        fast_retries: skip the back-off sleeps between huggingface_hub's automatic retries (default True).
        block_internet: refuse name resolution of any non-loopback host inside the block (default True), so
            an accidental request to the real Hub fails at once instead of hanging; the refused host names are
            listed in ``server.blocked_hosts``.
    """
    datasets_loaded_before = "datasets.config" in sys.modules
    with ExitStack() as stack:
        if cache_dir is None:
            cache_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="hub-test-cache-"))
        cache_dir = os.fspath(cache_dir)
        stack.enter_context(mock.patch.dict(os.environ))  # restores the whole environment on exit
        for name, value in _environment(server, use_token, cache_dir).items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if not datasets_loaded_before:  # registered first, so it runs after the patches are undone
            stack.callback(_reset_datasets_config_if_imported)
        stack.callback(_forget_clients)  # runs right after the patches are undone
        for target, name, value in _attribute_patches(server, cache_dir, use_token, fast_retries, block_internet):
            stack.enter_context(mock.patch.object(target, name, value))
        _forget_clients()
        yield server
