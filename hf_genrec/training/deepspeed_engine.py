"""DeepSpeed ZeRO without a GPU: the engine is created directly, next to accelerate's CPU processes.

On GPUs, accelerate runs DeepSpeed itself (``deepspeed_config`` becomes a ``DeepSpeedPlugin``). On CPU,
accelerate does not enable DeepSpeed (its state only selects DeepSpeed when ``cpu=False``, and with
``cpu=False`` and no accelerator it sees a single process). hf_genrec therefore keeps accelerate for the
processes (gloo), data sharding, gathering and logging, and wraps model, optimizer and scheduler with
``deepspeed.initialize`` itself, DeepSpeed using its CPU accelerator.

``"auto"`` entries of the JSON config are filled from the training options, as accelerate would.
ZeRO-3 partitions parameters: evaluation and export run inside :func:`gathered_parameters`.
"""

from __future__ import annotations

import contextlib

from ..utils.io import read_json_file
from typing import Any, Dict


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
