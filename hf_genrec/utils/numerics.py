"""Floating-point settings for CPU inference.

A subnormal ("denormal") float32 operand, a value below 1.2e-38, makes x86 CPU arithmetic many times slower. Trained
models can produce them in ordinary activations: decoder-only TIGER on a small Qwen3 decoded Beauty's test users 7x
slower than the same architecture trained with another dropout, and 2.4 s instead of 16.8 s per 256 users once
subnormals were flushed to zero, with the same rankings (docs/performance.md, 2026-12-07).

The x86 flush flags (FTZ/DAZ in MXCSR) belong to each thread, and ``torch.set_flush_denormal`` sets them on the
calling thread only. PyTorch's CPU kernels run on an OpenMP team, so :func:`flush_denormals` also sets them on every
thread of that team (through the OpenMP runtime that PyTorch loaded; on other runtimes only the calling thread).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import threading
from typing import Callable, Iterator, List, Optional

import torch

#: OpenMP's entry point for a parallel region, exported by libgomp and, for compatibility, by LLVM's libomp / libiomp5
_PARALLEL_REGION = "GOMP_parallel"
_OPENMP_LIBRARIES = ("libgomp", "libiomp5", "libomp")
_region_lock = threading.Lock()


def flushing_denormals() -> bool:
    """Whether PyTorch currently treats subnormal floats as zero on the calling thread (PyTorch has no getter: probed
    with one multiply)."""
    return (torch.tensor([1e-39], dtype=torch.float32) * 2.0).item() == 0.0


@functools.lru_cache(maxsize=1)
def _openmp_runtime() -> Optional[ctypes.CDLL]:
    """The OpenMP runtime already loaded into this process (the one PyTorch's kernels use), or None where there is
    none to find (not Linux, another parallel backend, or a runtime without ``GOMP_parallel``)."""
    if "OpenMP" not in torch.__config__.parallel_info():
        return None
    try:
        with open("/proc/self/maps") as maps:
            paths = [line.split()[-1] for line in maps if any(name in line for name in _OPENMP_LIBRARIES)]
    except OSError:
        return None
    for path in dict.fromkeys(paths):  # loading a library that is already loaded returns the same instance
        try:
            library = ctypes.CDLL(path)
            getattr(library, _PARALLEL_REGION)
            return library
        except (OSError, AttributeError):
            continue
    return None


def on_every_openmp_thread(function: Callable[[], object]) -> Optional[List[object]]:
    """Run ``function`` once on each thread of PyTorch's OpenMP team (``torch.get_num_threads()`` threads, the calling
    thread among them) and return the results, or None when the runtime cannot be reached. The threads take turns
    (each holds the GIL while it runs ``function``)."""
    runtime = _openmp_runtime()
    if runtime is None:
        return None
    results: List[object] = []
    errors: List[BaseException] = []

    def per_thread(_data) -> None:
        try:
            results.append(function())
        except BaseException as error:  # an exception must not cross into C
            errors.append(error)

    callback = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(per_thread)
    with _region_lock:  # ctypes releases the GIL during the call: one region at a time
        getattr(runtime, _PARALLEL_REGION)(callback, None, ctypes.c_uint(torch.get_num_threads()), ctypes.c_uint(0))
    if errors:
        raise errors[0]
    return results


def set_flush_denormal_everywhere(enabled: bool) -> bool:
    """``torch.set_flush_denormal(enabled)`` on the calling thread and on every thread of PyTorch's OpenMP team;
    returns whether the CPU supports flushing."""
    supported = torch.set_flush_denormal(enabled)
    if supported and torch.get_num_threads() > 1:
        on_every_openmp_thread(lambda: torch.set_flush_denormal(enabled))
    return bool(supported)


@contextlib.contextmanager
def flush_denormals(enabled: bool = True) -> Iterator[bool]:
    """Flush subnormal floats to zero on CPU while the block runs (``torch.set_flush_denormal``: x86 FTZ/DAZ) on the
    calling thread and on PyTorch's OpenMP threads, then restore the calling thread's previous setting on all of them.
    ``enabled=False`` leaves the setting alone. Yields whether flushing is active inside the block (False where the
    CPU cannot flush). Values that change are below float32's normal range, so results differ by less than its
    resolution."""
    if not enabled:
        yield flushing_denormals()
        return
    before = flushing_denormals()
    supported = set_flush_denormal_everywhere(True)
    try:
        yield supported
    finally:
        set_flush_denormal_everywhere(before)
