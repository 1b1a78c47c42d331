"""Atomic file and folder output, and the rules that keep a command from ever destroying user data.

* Nothing hf_genrec writes is ever half-written: files go to a temporary name in the same folder and are
  renamed into place (``os.replace`` is atomic on POSIX); folders are built under a temporary name and
  renamed only when complete (:func:`atomic_output_dir`).
* An output folder may not be, or contain, one of the command's inputs (:func:`check_output_folder`).
* An existing, non-empty output folder is replaced only with ``overwrite`` and only when hf_genrec wrote it:
  every folder it writes carries a ``.hf_genrec`` marker (folders of earlier versions are recognised by their
  ``summary.json``, ``prepared.json``, ``trainer_state.json`` or model files).
* One run at a time writes an output: :func:`output_lock` takes an exclusive lock (``.<name>.lock`` beside the
  folder, removed when released); a second run fails at once with a clear message. Temporary folders that a killed run left beside
  its output are removed by the next run that takes the lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, Optional, Sequence

MARKER = ".hf_genrec"
#: files by which folders written by earlier hf_genrec versions (before the marker) are recognised
LEGACY_SIGNS = ("prepared.json", "trainer_state.json", "quantizer_config.json", "semantic_ids.json",
                "synthetic_config.json")


class OutputBusyError(FileExistsError):
    """Another run holds the lock of this output folder."""


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(value: Any) -> Any:
    """Make numpy scalars/arrays and paths JSON-serialisable."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"object of type {type(value).__name__} is not JSON serialisable")


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    text = json.dumps(obj, indent=2, sort_keys=False, default=_json_default, ensure_ascii=False)
    return atomic_write_text(path, text + "\n")


def read_json_file(path: str | os.PathLike) -> Any:
    """The JSON in ``path``; a missing file, bad encoding or broken JSON is an error that names the file."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} does not exist") from None
    except (UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"{path} is not valid JSON ({error})") from None


def written_by_hf_genrec(folder: str | os.PathLike) -> bool:
    """Whether hf_genrec wrote this folder: its marker, or the files earlier versions always wrote."""
    folder = Path(folder)
    if (folder / MARKER).exists() or any((folder / name).exists() for name in LEGACY_SIGNS):
        return True
    summary = folder / "summary.json"
    if summary.exists():
        try:
            return "hf_genrec_version" in json.loads(summary.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            return False
    return False


def marker_of(folder: str | os.PathLike) -> Dict[str, Any]:
    """The contents of a folder's ``.hf_genrec`` marker (empty when it has none)."""
    try:
        return json.loads((Path(folder) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def write_marker(folder: str | os.PathLike, command: Optional[str] = None) -> Path:
    """Mark ``folder`` as written by hf_genrec (``command`` names what wrote it)."""
    from .._version import __version__

    return atomic_write_json(Path(folder) / MARKER, {"written_by": "hf_genrec", "command": command,
                                                    "hf_genrec_version": __version__,
                                                    "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})


def check_output_folder_is_not_an_input(path: str | os.PathLike,
                                        inputs: Sequence[Optional[str | os.PathLike]] = ()) -> None:
    """An output folder that is, or contains, one of the inputs would destroy them when it is (re)written."""
    target = Path(path).resolve()
    for given in inputs:
        if given is None or not Path(given).exists():
            continue
        source = Path(given).resolve()
        if source == target or target in source.parents:
            relation = "is" if source == target else "contains"
            raise ValueError(f"the output folder {path} {relation} the input {given}: choose another output folder")


def check_output_folder(path: str | os.PathLike, overwrite: bool = False,
                        inputs: Sequence[Optional[str | os.PathLike]] = ()) -> Path:
    """Refuse, before any work, an output that would destroy data: one that is or contains an input, an existing
    file, a non-empty folder without ``overwrite``, or (even with it) a folder that hf_genrec did not write."""
    path = Path(path)
    check_output_folder_is_not_an_input(path, inputs)
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"output path {path} exists and is not a folder")
    if path.is_dir() and any(path.iterdir()):
        if not overwrite:
            raise FileExistsError(f"output folder {path} already exists and is not empty (use --overwrite to replace "
                                  "a folder hf_genrec wrote)")
        if not written_by_hf_genrec(path):
            raise FileExistsError(f"output folder {path} was not written by hf_genrec (it has no {MARKER} marker or "
                                  "summary.json), so --overwrite will not replace it: remove it yourself or choose "
                                  "another output folder")
    return path


_HELD_LOCKS: set = set()  # lock files this process holds: it may enter its own lock again (a command, then its writer)


@contextlib.contextmanager
def output_lock(path: str | os.PathLike) -> Iterator[Path]:
    """Hold the exclusive lock of the output ``path`` while the block runs (re-entrant within a process)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.parent / f".{path.name}.lock"
    key = str(lock.resolve())
    if key in _HELD_LOCKS:
        yield lock
        return
    try:
        import fcntl
    except ImportError:  # not POSIX: no locking
        yield lock
        return
    fd = _lock_file(lock, fcntl)
    if fd is None:
        raise OutputBusyError(f"{path} is being written by another hf-genrec run (it holds {lock}); wait for it to "
                              "finish or choose another output")
    _HELD_LOCKS.add(key)
    try:
        _remove_stale_temporaries(path)
        yield lock
    finally:
        _HELD_LOCKS.discard(key)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)  # while still holding it: nobody can take a lock on a file that is then removed
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _lock_file(lock: Path, fcntl) -> Optional[int]:
    """An open descriptor holding the exclusive lock of ``lock``, or ``None`` if another process holds it."""
    while True:
        fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None
        try:  # the holder before us may have removed the file between our open and our lock: start again
            if os.stat(lock).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _remove_stale_temporaries(path: Path) -> None:
    """Temporary folders of ``path`` left by a run that was killed (we hold the lock, so no live run owns them)."""
    # mkdtemp's random part is 8 characters: the pattern cannot match another output's temporaries
    for stale in list(path.parent.glob(f".{path.name}.{'?' * 8}.partial")) + list(path.parent.glob(f".{path.name}.old-*")):
        shutil.rmtree(stale, ignore_errors=True)


@contextlib.contextmanager
def atomic_output_dir(path: str | os.PathLike, overwrite: bool = False,
                      inputs: Sequence[Optional[str | os.PathLike]] = (), command: Optional[str] = None) -> Iterator[Path]:
    """Build a folder under a temporary name; rename it to ``path`` only if the block succeeds.

    The output is checked first (:func:`check_output_folder`) and locked while the block runs; the finished folder
    carries the ``.hf_genrec`` marker. With ``overwrite=True`` the old folder is replaced only once the new one is
    complete.
    """
    path = Path(path)
    with output_lock(path):
        check_output_folder(path, overwrite, inputs)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
        try:
            yield tmp
            if not (tmp / MARKER).exists():
                write_marker(tmp, command)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def sha256_of_strings(strings: Iterable[str], prefix: str = "") -> str:
    """Order-sensitive SHA-256 over a sequence of strings (length-prefixed, so joins can't collide)."""
    digest = hashlib.sha256(prefix.encode("utf-8"))
    for text in strings:
        data = text.encode("utf-8")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()
