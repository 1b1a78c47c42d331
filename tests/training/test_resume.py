"""Resume is bit-exact wherever a run stops: inside the first epoch, exactly at an epoch boundary, and several
epochs later; in one process and in two; with and without gradient accumulation; with ComeIR's sparse tables.

A reference run checkpoints after every optimizer step. Each case copies the reference's checkpoint at step
``k`` into a fresh folder, resumes from it, and must end with exactly the reference's final weights.
"""

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from helpers.launch import torchrun_two
from safetensors.torch import load_file

from hf_genrec.commands.train import run_train

def _batch_for(run_config, batches_per_epoch: int) -> int:
    """A batch size that splits the training data into ``batches_per_epoch`` batches (the last one shorter)."""
    from hf_genrec.data import PreparedDataset

    train = len(PreparedDataset.load(run_config["data"]["prepared"]).splits["train"])
    return -(-train // batches_per_epoch)


def _config(run_config, output_dir, **training):
    base = dict(run_config["training"], batch_size=_batch_for(run_config, 3), eval_steps=1, save_total_limit=0, eval_max_users=8,
                eval_num_beams=4, final_test=False, warmup_steps=2, early_stopping_patience=0, output_dir=str(output_dir))
    base.update(training)
    return {**run_config, "training": base}


def _weights(folder: Path):
    return load_file(str(folder / "model.safetensors"))


def _same(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _resume_copy(reference: Path, step: int, target: Path) -> Path:
    target.mkdir(parents=True)
    shutil.copytree(reference / f"checkpoint-{step}", target / f"checkpoint-{step}")
    return target


def _steps_per_epoch(folder: Path) -> int:
    rows = json.loads((folder / "training_history.json").read_text())["train"]
    epochs = {}
    for row in rows:
        epochs.setdefault(row["epoch"], []).append(row["step"])
    return max(epochs[0])


@pytest.mark.parametrize("accumulation", [1, 2])
def test_single_process_resume_inside_at_and_after_epoch_boundaries(run_config, tmp_path, accumulation):
    total = 8 if accumulation == 1 else 6  # 3 batches an epoch: 3 (or 2 accumulated) steps
    reference = tmp_path / "reference"
    run_train(_config(run_config, reference, max_steps=total, gradient_accumulation_steps=accumulation, logging_steps=1))
    per_epoch = _steps_per_epoch(reference)
    assert total > 2 * per_epoch, "the reference must cover more than two epochs"
    expected = _weights(reference / f"checkpoint-{total}")
    for stop in (1, per_epoch, 2 * per_epoch + 1):  # inside epoch 0, exactly at its end, two epochs later
        folder = _resume_copy(reference, stop, tmp_path / f"resume-{stop}")
        run_train(_config(run_config, folder, max_steps=total, gradient_accumulation_steps=accumulation,
                          logging_steps=1, resume_from=str(folder / f"checkpoint-{stop}")))
        assert _same(_weights(folder / f"checkpoint-{total}"), expected), f"resumed after step {stop} diverges"


def test_sparse_tables_resume_across_an_epoch_boundary(run_config, tmp_path):
    run_config["model"] = {"type": "comeir", "hidden_size": 16, "num_layers": 1, "num_heads": 2, "engram_dim": 8,
                           "intra_scale": 0.5, "inter_scale": 0.25, "max_history": 5}
    reference = tmp_path / "reference"
    run_train(_config(run_config, reference, max_steps=7, logging_steps=1))
    per_epoch = _steps_per_epoch(reference)
    stop = per_epoch + 1
    folder = _resume_copy(reference, stop, tmp_path / "resume")
    run_train(_config(run_config, folder, max_steps=7, logging_steps=1, resume_from=str(folder / f"checkpoint-{stop}")))
    assert _same(_weights(folder / "checkpoint-7"), _weights(reference / "checkpoint-7"))


def _torchrun(config, tmp_path, name):
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    torchrun_two(["-m", "hf_genrec.cli", "train", "--config", str(path)])


def test_two_processes_resume_at_an_epoch_boundary_and_later_with_accumulation(run_config, tmp_path):
    reference = tmp_path / "reference"
    options = dict(max_steps=5, gradient_accumulation_steps=2, logging_steps=1, batch_size=_batch_for(run_config, 6))
    _torchrun(_config(run_config, reference, **options), tmp_path, "reference")
    per_epoch = _steps_per_epoch(reference)
    assert 5 > per_epoch + 1
    expected = _weights(reference / "checkpoint-5")
    for stop in (per_epoch, per_epoch + 1):
        folder = _resume_copy(reference, stop, tmp_path / f"resume-{stop}")
        _torchrun(_config(run_config, folder, resume_from=str(folder / f"checkpoint-{stop}"), **options), tmp_path,
                  f"resume-{stop}")
        assert _same(_weights(folder / "checkpoint-5"), expected), f"resumed after step {stop} diverges"
