"""Floating-point settings for CPU inference.

A subnormal ("denormal") float32 operand, a value below 1.2e-38, makes x86 CPU arithmetic many times slower. Trained
models can produce them in ordinary activations: decoder-only TIGER on a small Qwen3 decoded Beauty's test users 7x
slower than the same architecture trained with another dropout, and 2.4 s instead of 16.8 s per 256 users once
subnormals were flushed to zero, with the same rankings (docs/performance.md, 2026-12-07).
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch


def flushing_denormals() -> bool:
    """Whether PyTorch currently treats subnormal floats as zero (PyTorch has no getter: probed with one multiply)."""
    return (torch.tensor([1e-39], dtype=torch.float32) * 2.0).item() == 0.0


@contextlib.contextmanager
def flush_denormals(enabled: bool = True) -> Iterator[bool]:
    """Flush subnormal floats to zero on CPU while the block runs (``torch.set_flush_denormal``: x86 FTZ/DAZ), then
    restore the previous setting. ``enabled=False`` leaves the setting alone. Yields whether flushing is active inside
    the block (False where the CPU cannot flush). The setting belongs to the calling thread (measured with one thread
    per process). Values that change are below float32's normal range, so results differ by less than its
    resolution."""
    if not enabled:
        yield flushing_denormals()
        return
    before = flushing_denormals()
    supported = torch.set_flush_denormal(True)
    try:
        yield bool(supported)
    finally:
        torch.set_flush_denormal(before)
