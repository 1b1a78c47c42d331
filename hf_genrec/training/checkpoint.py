"""Training checkpoints without pickle: tensors in safetensors, everything else in JSON.

A checkpoint folder holds

* ``model.safetensors`` - the (unwrapped) model state dict;
* ``optimizer.safetensors`` + ``optimizer.json`` - optimizer state tensors and the JSON rest
  (param groups, non-tensor state);
* ``scheduler.json`` - the learning-rate scheduler state;
* ``rng_rank<r>.safetensors`` + ``rng_rank<r>.json`` - torch (CPU and CUDA), numpy and Python RNG
  states of each process, so that dropout and shuffling continue bit-exactly;
* ``trainer_state.json`` - step, epoch, batches done in the epoch, best metric, history.

Folders are written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np
import torch

from ..utils.io import atomic_output_dir, atomic_write_bytes, atomic_write_json, read_json_file

TRAINER_STATE = "trainer_state.json"


def _split_state(obj: Any, prefix: str, tensors: Dict[str, torch.Tensor]) -> Any:
    """Replace tensors inside a nested structure by ``{"__tensor__": key}`` references."""
    if isinstance(obj, torch.Tensor):
        tensors[prefix] = obj.detach().cpu().contiguous()
        return {"__tensor__": prefix}
    if isinstance(obj, dict):
        return {str(k): _split_state(v, f"{prefix}.{k}", tensors) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_split_state(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]
    return obj


def _join_state(obj: Any, tensors: Dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {"__tensor__"}:
            return tensors[obj["__tensor__"]]
        return {k: _join_state(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_join_state(v, tensors) for v in obj]
    return obj


def save_tensor_state(folder: Path, name: str, state: Any) -> None:
    from safetensors.torch import save

    tensors: Dict[str, torch.Tensor] = {}
    structure = _split_state(state, name, tensors)
    atomic_write_bytes(folder / f"{name}.safetensors", save(tensors) if tensors else save({"__empty__": torch.zeros(1)}))
    atomic_write_json(folder / f"{name}.json", structure)


def load_tensor_state(folder: Path, name: str) -> Any:
    tensors = read_safetensors(folder / f"{name}.safetensors")
    return _join_state(read_json_file(folder / f"{name}.json"), tensors)


def read_safetensors(path: Path) -> Dict[str, torch.Tensor]:
    """The tensors of a safetensors file; a missing, truncated or corrupt file is an error naming it."""
    from safetensors.torch import load_file

    if not Path(path).exists():
        raise FileNotFoundError(f"{path} does not exist")
    try:
        return load_file(str(path))
    except Exception as error:  # safetensors raises its own error types for every kind of damage
        raise ValueError(f"{path} is not a readable safetensors file ({error})") from None


def optimizer_state_from_json(state: Dict[str, Any]) -> Dict[str, Any]:
    """JSON turned the per-parameter state keys into strings; torch expects ints."""
    state = dict(state)
    state["state"] = {int(k): v for k, v in state.get("state", {}).items()}
    return state


def rng_state() -> Dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    numpy_state = state["numpy"]
    state["numpy"] = [numpy_state[0], torch.from_numpy(numpy_state[1].astype(np.int64)), *numpy_state[2:]]
    python_state = state["python"]
    state["python"] = [python_state[0], list(python_state[1]), python_state[2]]
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"].to(torch.uint8))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([t.to(torch.uint8) for t in state["cuda"]])


def deduplicate_shared(state: Dict[str, torch.Tensor]):
    """Tied weights share storage; safetensors stores each once. Returns ``(tensors, {alias: canonical})``."""
    tensors, aliases, seen = {}, {}, {}
    for name, tensor in state.items():
        key = (tensor.device.type, tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape))
        if key in seen:
            aliases[name] = seen[key]
            continue
        seen[key] = name
        tensors[name] = tensor.detach().cpu().contiguous()
    return tensors, aliases


def load_model_state(path: str | os.PathLike) -> Dict[str, torch.Tensor]:
    """A state dict saved by :func:`save_checkpoint`, tied names restored."""
    from safetensors import safe_open

    if not Path(path).exists():
        raise FileNotFoundError(f"{path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as handle:
            state = {key: handle.get_tensor(key) for key in handle.keys()}
            aliases = json.loads((handle.metadata() or {}).get("aliases", "{}"))
    except Exception as error:  # safetensors raises its own error types for every kind of damage
        raise ValueError(f"{path} is not a readable safetensors file ({error})") from None
    for alias, canonical in aliases.items():
        state[alias] = state[canonical]
    return state


def save_checkpoint(folder: str | os.PathLike, model_state: Dict[str, torch.Tensor], optimizer, scheduler,
                    trainer_state: Dict[str, Any], rank_rng: Dict[int, Dict[str, Any]], overwrite: bool = True) -> Path:
    from safetensors.torch import save

    folder = Path(folder)
    with atomic_output_dir(folder, overwrite=overwrite, command="checkpoint") as tmp:
        tensors, aliases = deduplicate_shared(model_state)
        atomic_write_bytes(tmp / "model.safetensors", save(tensors, metadata={"aliases": json.dumps(aliases)}))
        save_tensor_state(tmp, "optimizer", optimizer.state_dict())
        atomic_write_json(tmp / "scheduler.json", scheduler.state_dict())
        for rank, state in rank_rng.items():
            save_tensor_state(tmp, f"rng_rank{rank}", state)
        atomic_write_json(tmp / TRAINER_STATE, trainer_state)
    return folder


def load_checkpoint(folder: str | os.PathLike, model, optimizer, scheduler, rank: int = 0) -> Dict[str, Any]:
    """Restore model, optimizer, scheduler and this rank's RNG; return the trainer state."""

    folder = Path(folder)
    if not (folder / TRAINER_STATE).exists():
        raise FileNotFoundError(f"{folder} is not a complete hf_genrec checkpoint (no {TRAINER_STATE})")
    weights = folder / "model.safetensors"
    try:
        model.load_state_dict(load_model_state(weights))
        optimizer.load_state_dict(optimizer_state_from_json(load_tensor_state(folder, "optimizer")))
    except (RuntimeError, KeyError) as error:  # shapes or names that do not fit this model / optimizer
        raise ValueError(f"the checkpoint {folder} does not fit this model ({str(error).splitlines()[0]})") from None
    scheduler.load_state_dict(read_json_file(folder / "scheduler.json"))
    rng_file = folder / f"rng_rank{rank}.json"
    if rng_file.exists():
        set_rng_state(load_tensor_state(folder, f"rng_rank{rank}"))
    return read_json_file(folder / TRAINER_STATE)


def latest_checkpoint(output_dir: str | os.PathLike) -> Optional[Path]:
    """The complete ``checkpoint-<step>`` folder with the highest step, if any."""
    folders = [p for p in Path(output_dir).glob("checkpoint-*") if p.is_dir() and (p / TRAINER_STATE).exists()]
    folders = [p for p in folders if p.name.split("-")[-1].isdigit()]
    return max(folders, key=lambda p: int(p.name.split("-")[-1])) if folders else None
