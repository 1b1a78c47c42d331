"""The CPU-load monitor that run summaries carry (threads, cores, load average while training)."""

import os

import pytest
import torch

from hf_genrec.utils import cpu_load
from hf_genrec.utils.cpu_load import CpuLoadMonitor, describe_cpu_load


def test_the_monitor_summarises_its_samples(monkeypatch):
    values = iter([(1.0, 0, 0), (3.0, 0, 0), (2.0, 0, 0)])
    monkeypatch.setattr(os, "getloadavg", lambda: next(values))
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monitor = CpuLoadMonitor()
    assert [monitor.sample() for _ in range(3)] == [1.0, 3.0, 2.0]
    summary = monitor.describe()
    assert summary == {"cores": 2, "torch_threads": torch.get_num_threads(), "load_samples": 3,
                       "load_average_mean": 2.0, "load_average_max": 3.0, "load_per_core": 1.0}
    assert describe_cpu_load({**summary, "torch_threads": 1}) == "1 thread, load 2.0 on 2 cores"
    assert describe_cpu_load({**summary, "torch_threads": 2}) == "2 threads, load 2.0 on 2 cores"


def test_without_a_load_average_only_threads_and_cores_are_recorded(monkeypatch):
    def missing():
        raise OSError("no load average here")

    monkeypatch.setattr(os, "getloadavg", missing)
    monitor = CpuLoadMonitor()
    assert monitor.sample() is None and cpu_load.load_average() is None
    summary = monitor.describe()
    assert summary["load_samples"] == 0 and summary["load_average_mean"] is None and summary["load_per_core"] is None
    assert describe_cpu_load(summary) == f"{summary['torch_threads']} thread" + ("s" if summary["torch_threads"] != 1
                                                                                 else "")
    assert describe_cpu_load(None) == ""


@pytest.mark.skipif(not hasattr(os, "getloadavg"), reason="the platform has no load average")
def test_the_real_load_average_is_a_number():
    assert cpu_load.load_average() >= 0.0
