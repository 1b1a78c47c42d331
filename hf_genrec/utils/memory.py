"""Peak memory of this process, for run summaries and benchmarks (how many runs fit on one machine)."""

from __future__ import annotations

import sys
from typing import Dict, Optional


def peak_rss_bytes() -> Optional[int]:
    """The largest resident set this process has had, in bytes (``None`` where the platform does not say)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows has no resource module
        return None
    try:
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    except OSError:  # pragma: no cover
        return None
    return maxrss * (1 if sys.platform == "darwin" else 1024)  # kilobytes on Linux, bytes on macOS


def peak_memory_gb() -> Dict[str, Optional[float]]:
    """``process_rss``: :func:`peak_rss_bytes` in GB; ``accelerator``: the most memory PyTorch allocated on the
    current CUDA device (GB; ``None`` without CUDA)."""
    import torch

    rss = peak_rss_bytes()
    accelerator = round(torch.cuda.max_memory_allocated() / 2 ** 30, 2) if torch.cuda.is_available() else None
    return {"process_rss": None if rss is None else round(rss / 2 ** 30, 2), "accelerator": accelerator}
