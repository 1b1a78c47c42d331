"""Two-process launches for the multi-process tests (torchrun or ``accelerate launch`` on CPU, gloo).

Tests may run in parallel workers: every launch takes a fresh rendezvous port, never a fixed one."""

import os
import subprocess
import sys
from pathlib import Path

from helpers.ports import free_port

BIN = Path(sys.executable).parent


def launch_env(**extra: str) -> dict:
    """The environment of a CPU launch: one thread per process, no progress bars, a free rendezvous port."""
    return dict(os.environ, ACCELERATE_USE_CPU="1", OMP_NUM_THREADS="1", HF_GENREC_DISABLE_PROGRESS="1",
                MASTER_PORT=str(free_port()), **extra)


def _run(command: list, env: dict, timeout: int) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def torchrun_two(target: list, timeout: int = 600, **env_extra: str) -> subprocess.CompletedProcess:
    """``torchrun --nproc_per_node 2 <target...>``; ``target`` is ``["-m", module, ...]`` or ``[script, ...]``.

    Fails the test with the tail of stderr when the launch exits non-zero."""
    env = launch_env(**env_extra)
    return _run([str(BIN / "torchrun"), "--nproc_per_node", "2", "--master_port", env["MASTER_PORT"], *target],
                env, timeout)


def accelerate_two(target: list, timeout: int = 600, **env_extra: str) -> subprocess.CompletedProcess:
    """``accelerate launch --multi_gpu --num_processes 2`` on CPU (``ACCELERATE_USE_CPU=1``), fp32, no dynamo."""
    env = launch_env(**env_extra)
    return _run([str(BIN / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                 "--main_process_port", env["MASTER_PORT"], "--mixed_precision", "no", "--dynamo_backend", "no",
                 *target], env, timeout)
