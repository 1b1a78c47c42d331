"""A PNG of a prepared dataset's shape: user sequence lengths and item popularity."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def plot_dataset_statistics(sequence_lengths: np.ndarray, item_counts: np.ndarray, path: str | os.PathLike,
                            title: str = "") -> Path:
    """Two panels: histogram of interactions per user, and item popularity by rank (log-log)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    upper = int(np.percentile(sequence_lengths, 99)) + 1 if len(sequence_lengths) else 1
    lowest = int(sequence_lengths.min()) if len(sequence_lengths) else 0
    left.hist(np.minimum(sequence_lengths, upper), bins=range(lowest, upper + 2),
              color="#4c72b0")
    left.set_xlabel(f"interactions per user (clipped at p99 = {upper})")
    left.set_ylabel("users")
    ranked = np.sort(np.asarray(item_counts))[::-1]
    right.loglog(np.arange(1, len(ranked) + 1), np.maximum(ranked, 0.5), color="#dd8452")
    right.set_xlabel("item rank")
    right.set_ylabel("training occurrences")
    fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
