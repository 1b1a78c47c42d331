"""``hf-genrec reproduce``: a paper table's experiments end to end, reported next to the published numbers."""

from __future__ import annotations

from typing import Any, Dict

from ..reproduce.runner import run_reproduction

__all__ = ["run_reproduction", "run_reproduce"]


def run_reproduce(paper: str, table: str, dataset: str, tier: str = "cpu", seeds: int = 1, out=None, only=None,
                  shared=None, overrides=(), first_seed: int = 42) -> Dict[str, Any]:
    """See :func:`hf_genrec.reproduce.runner.run_reproduction`."""
    return run_reproduction(paper, table, dataset, tier, seeds, out, only, shared, overrides, first_seed)
