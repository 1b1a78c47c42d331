"""Reusable scratch buffers for inference passes.

On CPU every large fresh tensor is new memory from ``malloc``; glibc hands big blocks back to the
operating system when they are freed, so the next pass page-faults them in again (for a batch of 16
histories a T5 encoder pass alone faults in about 30 MB). A :class:`Workspace` keeps named buffers
alive between calls and hands out views of them, so steady-state decoding allocates almost nothing.

A buffer handed out under a name stays valid until the same name is requested again; callers pick
names so that tensors alive at the same time never share one. Workspaces are not thread-safe: use
one per thread (:func:`thread_workspace`).
"""

from __future__ import annotations

import math
import threading
import weakref
from typing import Dict, Sequence

import torch


class Workspace:
    def __init__(self) -> None:
        self._buffers: Dict[str, torch.Tensor] = {}

    def get(self, name: str, shape: Sequence[int], dtype: torch.dtype, device, keep: bool = False) -> torch.Tensor:
        """A tensor of ``shape`` backed by buffer ``name`` (contents undefined unless ``keep``).

        With ``keep=True`` a buffer that has to grow keeps its old contents at the front, so a caller can
        append rows to it across calls (the decoder's key/value row store)."""
        numel = math.prod(shape)
        buffer = self._buffers.get(name)
        if buffer is None or buffer.numel() < numel or buffer.dtype != dtype or buffer.device != torch.device(device):
            grown = torch.empty(max(numel, 1), dtype=dtype, device=device)
            if keep and buffer is not None and buffer.dtype == dtype and buffer.device == grown.device:
                grown[:buffer.numel()].copy_(buffer)
            self._buffers[name] = buffer = grown
        return buffer[:numel].view(*shape)


_per_owner: "weakref.WeakKeyDictionary[object, threading.local]" = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def thread_workspace(owner: object) -> Workspace:
    """The workspace of ``owner`` (e.g. a decoder) for the calling thread, created on first use and freed with the owner."""
    with _lock:
        local = _per_owner.get(owner)
        if local is None:
            local = _per_owner[owner] = threading.local()
    if not hasattr(local, "workspace"):
        local.workspace = Workspace()
    return local.workspace

