"""DeepSpeed ZeRO without a GPU: the engine is created directly, next to accelerate's CPU processes.

On GPUs, accelerate runs DeepSpeed itself (``deepspeed_config`` becomes a ``DeepSpeedPlugin``). On CPU,
accelerate does not enable DeepSpeed (its state only selects DeepSpeed when ``cpu=False``, and with
``cpu=False`` and no accelerator it sees a single process). hf_genrec therefore keeps accelerate for the
processes (gloo), data sharding, gathering and logging, and wraps model, optimizer and scheduler with
``deepspeed.initialize`` itself, DeepSpeed using its CPU accelerator.

``"auto"`` entries of the JSON config are filled from the training options, as accelerate would.
ZeRO-3 partitions parameters: evaluation and export run inside :func:`gathered_parameters`.

On CPU DeepSpeed would all-reduce through its shared-memory op ``deepspeed_shm_comm``, a C++ extension it
compiles at run time (about a minute on two cores, once per Python environment) into the torch extension
folder, guarded by a ``lock`` file. A build that is killed leaves that lock behind, and every later run on the
machine then waits on it forever. hf_genrec therefore lets gloo all-reduce by default
(``training.deepspeed_cpu_shm_allreduce: false``); turned on, a stale lock is a clear error instead of a hang.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any, Dict, Optional

from ..utils.io import read_json_file

#: DeepSpeed's run-time compiled shared-memory allreduce for CPU processes
SHM_ALLREDUCE_OP = "deepspeed_shm_comm"
#: a build lock older than this is left over from a killed build (a build takes about a minute)
STALE_LOCK_SECONDS = 15 * 60


def fill_config(path: str, batch_size: int, accumulation: int, max_grad_norm: float, world_size: int,
                mixed_precision: str) -> Dict[str, Any]:
    config = read_json_file(path)

    def auto(key, value, node=config):
        if node.get(key) == "auto":
            node[key] = value

    auto("train_micro_batch_size_per_gpu", batch_size)
    auto("gradient_accumulation_steps", accumulation)
    auto("gradient_clipping", max_grad_norm or 0.0)
    if config.get("train_batch_size") in (None, "auto"):
        config["train_batch_size"] = batch_size * accumulation * world_size
    for key, wanted in (("bf16", mixed_precision == "bf16"), ("fp16", mixed_precision == "fp16")):
        if isinstance(config.get(key), dict):
            auto("enabled", wanted, config[key])
    return config


def extension_lock(op_name: str = SHM_ALLREDUCE_OP) -> Optional[Path]:
    """The torch extension build lock of ``op_name`` if one exists (``TORCH_EXTENSIONS_DIR`` or torch's default)."""
    from torch.utils.cpp_extension import _get_build_directory

    lock = Path(_get_build_directory(op_name, verbose=False)) / "lock"
    return lock if lock.exists() else None


def configure_cpu_allreduce(use_shared_memory: bool) -> None:
    """Choose how DeepSpeed's CPU processes all-reduce, before its communication backend starts.

    Off (the default): DeepSpeed skips its shared-memory op and uses torch.distributed (gloo). On: the op is
    built if needed; a build lock older than :data:`STALE_LOCK_SECONDS` raises a ``RuntimeError`` naming it.
    """
    import deepspeed.ops

    compatible = getattr(deepspeed.ops, "__compatible_ops__", None)
    if not use_shared_memory:
        if isinstance(compatible, dict):
            compatible[SHM_ALLREDUCE_OP] = False
        return
    lock = extension_lock()
    if lock is not None and time.time() - os.path.getmtime(lock) > STALE_LOCK_SECONDS:
        raise RuntimeError(f"{lock} is a build lock left by a killed DeepSpeed build; DeepSpeed would wait on it "
                           "forever. Delete it (no build of that op is running) or set "
                           "training.deepspeed_cpu_shm_allreduce: false")


def initialize(model, optimizer, scheduler, config: Dict[str, Any]):
    import deepspeed

    engine, optimizer, _, scheduler = deepspeed.initialize(model=model, optimizer=optimizer, lr_scheduler=scheduler,
                                                           config=config, dist_init_required=False)
    return engine, optimizer, scheduler


def zero_stage(engine) -> int:
    return int(getattr(engine, "zero_optimization_stage", lambda: 0)())


@contextlib.contextmanager
def gathered_parameters(model, engine):
    """Materialise ZeRO-3 partitioned parameters on every process (read-only) for evaluation and export."""
    if engine is not None and zero_stage(engine) == 3:
        import deepspeed

        with deepspeed.zero.GatheredParameters(list(model.parameters()), modifier_rank=None):
            yield
    else:
        yield
