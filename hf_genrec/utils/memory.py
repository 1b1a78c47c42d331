"""Peak memory of this process, for run summaries (how many runs fit on one machine)."""

from __future__ import annotations

import sys
from typing import Dict, Optional


def peak_memory_gb() -> Dict[str, Optional[float]]:
    """``process_rss``: the largest resident set this process has had (GB; ``None`` where the platform does not say);
    ``accelerator``: the most memory PyTorch allocated on the current CUDA device (GB; ``None`` without CUDA)."""
    try:
        import resource

        # ru_maxrss is in kilobytes on Linux and in bytes on macOS
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
        process = round(rss / 2 ** 30, 2)
    except (ImportError, OSError):  # pragma: no cover - Windows has no resource module
        process = None
    import torch

    accelerator = round(torch.cuda.max_memory_allocated() / 2 ** 30, 2) if torch.cuda.is_available() else None
    return {"process_rss": process, "accelerator": accelerator}
