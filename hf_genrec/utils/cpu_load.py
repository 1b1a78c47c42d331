"""How busy the machine was while a run trained: its threads, the cores, and the load average beside them.

A CPU run's steps per minute depend as much on what else runs on the machine as on the model: on 2 cores, one
decoder-only TIGER run on 2 threads took twice the steps of the same run next to another job (docs/performance.md).
Results tables used to state that contention by hand; :class:`CpuLoadMonitor` records it with every run summary.

The 1-minute load average (``os.getloadavg``; Unix only) counts the runnable threads of every process, this run's
included, so ``load_per_core`` near 1 means the cores were fully used and above 1 that threads waited for a core.
"""

from __future__ import annotations

import os
import statistics
from typing import Any, Dict, List, Optional


def load_average() -> Optional[float]:
    """The 1-minute load average, or ``None`` where the platform has none (Windows)."""
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return None


class CpuLoadMonitor:
    """Samples the load average at points the caller chooses (the trainer: every logging step) and summarises them."""

    def __init__(self) -> None:
        self.samples: List[float] = []

    def sample(self) -> Optional[float]:
        value = load_average()
        if value is not None:
            self.samples.append(value)
        return value

    def describe(self) -> Dict[str, Any]:
        """``cores`` (logical CPUs), ``torch_threads`` (this process's intra-op threads), and over the samples the
        mean and largest load average and the mean per core (``None`` without samples)."""
        import torch

        cores = os.cpu_count() or 1
        mean = statistics.fmean(self.samples) if self.samples else None
        return {"cores": cores, "torch_threads": torch.get_num_threads(), "load_samples": len(self.samples),
                "load_average_mean": None if mean is None else round(mean, 2),
                "load_average_max": round(max(self.samples), 2) if self.samples else None,
                "load_per_core": None if mean is None else round(mean / cores, 2)}


def describe_cpu_load(cpu: Optional[Dict[str, Any]]) -> str:
    """A table cell for a run's ``cpu`` summary: ``2 threads, load 2.1 on 2 cores`` (empty when not recorded)."""
    if not cpu:
        return ""
    text = f"{cpu['torch_threads']} thread{'s' if cpu['torch_threads'] != 1 else ''}"
    if cpu.get("load_average_mean") is not None:
        text += f", load {cpu['load_average_mean']:.1f} on {cpu['cores']} cores"
    return text
