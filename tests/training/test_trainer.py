"""The accelerate trainer: outputs, early stopping, bit-exact resume, data-parallel processes, CLI, recommend."""

import json
from pathlib import Path

import pytest
import torch
import yaml
from helpers.launch import accelerate_two, torchrun_two
from safetensors.torch import load_file
from transformers import AutoModel

from hf_genrec.cli import main
from hf_genrec.commands.train import load_yaml_config, run_train
from hf_genrec.data import PreparedDataset
from hf_genrec.training import TrainingConfig


def test_train_writes_everything(run_config):
    run_config["training"]["report_to"] = ["tensorboard"]
    summary = run_train(run_config)
    out = Path(run_config["training"]["output_dir"])
    users = len(PreparedDataset.load(run_config["data"]["prepared"]).splits["test"])
    assert summary["epochs_completed"] == 2 and summary["global_step"] % 2 == 0
    assert summary["test"]["num_users"] == users and "recall@10" in summary["test"]["metrics"]
    assert summary["best_step"] is not None and (out / f"checkpoint-{summary['best_step']}").exists()
    assert len(list(out.glob("checkpoint-*"))) <= 3  # save_total_limit 2 + the best one
    folder = out / "model"
    for name in ("config.json", "model.safetensors", "generation_config.json", "tokenizer_config.json",
                 "semantic_ids.json", "catalog_trie.safetensors", "items.json", "metrics.json", "README.md"):
        assert (folder / name).exists(), name
    assert (out / "training_curves.png").read_bytes()[:4] == b"\x89PNG"
    card = (folder / "README.md").read_text()
    assert "collision rate per level before handling" in card and "rqkmeans" in card
    assert list(out.rglob("events.out.tfevents.*")), "TensorBoard events were not written"
    assert json.loads((out / "summary.json").read_text())["command"] == "train"
    memory = summary["peak_memory_gb"]  # the process's peak resident set: at least the loaded model and data
    assert 0.1 < memory["process_rss"] < 64 and (memory["accelerator"] is None) == (not torch.cuda.is_available())
    history = json.loads((out / "training_history.json").read_text())
    assert history["train"] and len(history["validation"]) == 2
    # the CPU the run had: this process's threads, and one load-average sample per logged training row
    assert summary["cpu"]["torch_threads"] == torch.get_num_threads()
    assert summary["cpu"]["load_samples"] in (0, len(history["train"]))  # 0 where the platform has no load average
    model = AutoModel.from_pretrained(folder)
    best = load_file(str(out / f"checkpoint-{summary['best_step']}" / "model.safetensors"))
    assert torch.equal(model.state_dict()["backbone.decoder.block.0.layer.0.SelfAttention.q.weight"],
                       best["backbone.decoder.block.0.layer.0.SelfAttention.q.weight"])


def test_early_stopping_with_patience(run_config, caplog, monkeypatch):
    run_config["training"].update(learning_rate=0.0, num_epochs=5, early_stopping_patience=1, warmup_steps=0,
                                  scheduler="constant")
    monkeypatch.setattr("hf_genrec.utils.logging._explicit", 20)  # verbosity info for this test only
    with caplog.at_level("INFO", logger="hf_genrec"):
        summary = run_train(run_config)
    # nothing can improve with lr 0: the second evaluation triggers the stop
    assert summary["early_stopped"] is True and summary["global_step"] == 2 * (summary["global_step"] // 2)
    assert summary["epochs_completed"] <= 2
    # every evaluation logs one line, also with show_progress off (a reproduce run's log follows its progress by it)
    history = json.loads((Path(run_config["training"]["output_dir"]) / "training_history.json").read_text())
    lines = [r.message for r in caplog.records if ": validation ndcg@10 " in r.message]
    assert len(lines) == len(history["validation"]) == 2 and lines[-1].startswith(f"step {summary['global_step']}:")


def test_resume_is_bit_exact(run_config, tmp_path):
    base = dict(run_config["training"], max_steps=8, eval_steps=4, num_epochs=1, warmup_steps=2, final_test=False,
                gradient_accumulation_steps=1)
    full = dict(base, output_dir=str(tmp_path / "full"))
    run_train({**run_config, "training": full})
    interrupted = dict(base, output_dir=str(tmp_path / "split"), stop_at_step=4)
    stopped = run_train({**run_config, "training": interrupted})
    assert stopped["stopped_at_step"] == 4 and not (tmp_path / "split" / "checkpoint-8").exists()
    resumed = dict(base, output_dir=str(tmp_path / "split"), resume_from="latest")
    run_train({**run_config, "training": resumed})
    a = load_file(str(tmp_path / "full" / "checkpoint-8" / "model.safetensors"))
    b = load_file(str(tmp_path / "split" / "checkpoint-8" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    state = json.loads((tmp_path / "split" / "checkpoint-8" / "trainer_state.json").read_text())
    assert state["global_step"] == 8 and state["resumed_from"].endswith("checkpoint-4")


def test_config_validation_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"training": {"learning_rate": 0.1}}))
    config = load_yaml_config(path, ["training.learning_rate=1e-4", "model.hidden_size=8", "training.report_to=[]"])
    assert config["training"]["learning_rate"] == 1e-4 and config["model"]["hidden_size"] == 8
    with pytest.raises(ValueError, match="section.key=value"):
        load_yaml_config(path, ["nonsense"])
    with pytest.raises(ValueError, match="unknown training option"):
        TrainingConfig.from_dict({"learning_rat": 1})
    with pytest.raises(ValueError, match="scheduler must be"):
        TrainingConfig(scheduler="exponential")
    # YAML 1.1 reads a bare `no` as false: both spellings mean no mixed precision
    assert load_yaml_config(path, ["training.mixed_precision=no"])["training"]["mixed_precision"] is False
    assert TrainingConfig(mixed_precision=False).mixed_precision == "no"
    with pytest.raises(ValueError, match="mixed_precision must be"):
        TrainingConfig(mixed_precision="fp8")


def test_cli_train_and_recommend(run_config, tmp_path, capsys):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(run_config))
    assert main(["train", "--config", str(path), "training.num_epochs=1"]) == 0
    folder = Path(run_config["training"]["output_dir"]) / "model"
    items = json.loads((folder / "items.json").read_text())
    title = items["titles"][3]
    code = main(["recommend", "--model", str(folder), "--history", f"0|{items['item_ids'][1]}|{title}",
                 "--top-k", "5", "--out", str(tmp_path / "rec")])
    assert code == 0
    rows = json.loads((tmp_path / "rec" / "recommendations.json").read_text())
    assert len(rows) == 5 and all(r["title"] for r in rows)
    summary = json.loads((tmp_path / "rec" / "summary.json").read_text())
    assert summary["history"] == [0, 1, 3]
    assert main(["recommend", "--model", str(folder), "--history", "no such item"]) == 2
    assert "is neither an item id, a title nor an item index" in capsys.readouterr().err


def test_two_processes_really_split_the_data(run_config, tmp_path):
    """``accelerate launch`` with 2 CPU processes (gloo): each trains on its own batches, metrics are gathered."""
    run_config["training"].update(num_epochs=1, output_dir=str(tmp_path / "ddp"))
    path = tmp_path / "ddp.yaml"
    path.write_text(yaml.safe_dump(run_config))
    accelerate_two(["-m", "hf_genrec.cli", "train", "--config", str(path)])
    summary = json.loads((tmp_path / "ddp" / "summary.json").read_text())
    assert summary["processes"] == 2
    prepared = PreparedDataset.load(run_config["data"]["prepared"])
    counts = summary["samples_per_process"]
    assert set(counts) == {"0", "1"} and abs(counts["0"] - counts["1"]) <= run_config["training"]["batch_size"]
    # together the two processes covered the training split once (accelerate evens out the ranks' batch counts by
    # repeating up to one batch per rank)
    assert len(prepared.splits["train"]) <= counts["0"] + counts["1"] < len(prepared.splits["train"]) + 2 * 64
    first = summary["first_batch_users_per_process"]
    assert first["0"] != first["1"]
    assert summary["test"]["num_users"] == len(prepared.splits["test"]) and summary["test"]["processes"] == 2


@pytest.mark.parametrize("stage", [2, 3])
def test_deepspeed_zero_on_cpu_with_two_processes(run_config, tmp_path, stage):
    """DeepSpeed ZeRO-2/3 under torchrun with 2 CPU processes (the engine is wrapped directly on CPU).

    A build lock left by a killed DeepSpeed extension build is planted: the run must not wait on it."""
    pytest.importorskip("deepspeed", reason="install the deepspeed extra: pip install -e '.[deepspeed]'")
    from helpers.tiny import REPO_ROOT as repo

    extensions = tmp_path / "torch_extensions"
    (extensions / "deepspeed_shm_comm").mkdir(parents=True)
    (extensions / "deepspeed_shm_comm" / "lock").touch()

    run_config["training"].update(num_epochs=1, output_dir=str(tmp_path / f"zero{stage}"),
                                  deepspeed_config=str(repo / "examples" / "deepspeed" / f"zero{stage}.json"))
    path = tmp_path / "ds.yaml"
    path.write_text(yaml.safe_dump(run_config))
    torchrun_two(["-m", "hf_genrec.cli", "train", "--config", str(path)], timeout=900,
                 TORCH_EXTENSIONS_DIR=str(extensions))
    summary = json.loads((tmp_path / f"zero{stage}" / "summary.json").read_text())
    assert summary["distributed_type"] == "DEEPSPEED" and summary["zero_stage"] == stage and summary["processes"] == 2
    assert set(summary["samples_per_process"]) == {"0", "1"}
    history = json.loads((tmp_path / f"zero{stage}" / "training_history.json").read_text())
    assert history["train"][-1]["loss"] < history["train"][0]["loss"]
    checkpoint = Path(summary["model_folder"]).parent / f"checkpoint-{summary['best_step']}"
    assert (checkpoint / "deepspeed").is_dir()
    model = AutoModel.from_pretrained(summary["model_folder"])  # gathered full weights, plain hf_genrec folder
    assert model.config.num_items == len(PreparedDataset.load(run_config["data"]["prepared"]).items)


def test_a_time_budget_validates_keeps_the_best_and_stops(run_config):
    run_config["training"].update(max_minutes=1e-6, num_epochs=5)
    summary = run_train(run_config)
    assert summary["stopped_by_time_budget"] and summary["global_step"] == 1
    assert summary["best_step"] == 1 and summary["test"]["num_users"] > 0


def test_sequence_examples_train_a_causal_model_and_an_encoder_is_refused(run_config, tmp_path):
    """``training.train_examples: sequence``: windows with a target at every position (as many targets as the
    prefix rows, in far fewer rows); a model whose backbone is not causal gets a clear error."""
    from hf_genrec.commands.train import run_train

    run_config["model"] = {"type": "sasrec", "hidden_size": 32, "num_layers": 1, "num_heads": 1, "max_history": 10}
    run_config["training"].update(train_examples="sequence", num_epochs=3, learning_rate=0.01,
                                  output_dir=str(tmp_path / "sequence"))
    summary = run_train(run_config)
    prepared = PreparedDataset.load(run_config["data"]["prepared"])
    train_rows = len(prepared.splits["train"])
    assert summary["train_examples"] == "sequence"
    assert summary["samples_per_process"][0] < train_rows  # windows, not prefixes
    assert summary["targets_per_second"] > summary["samples_per_second"]
    history = json.loads((tmp_path / "sequence" / "training_history.json").read_text())
    assert history["train"][-1]["loss"] < history["train"][0]["loss"]
    assert all(row["training_minutes"] >= 0 for row in history["validation"])
    assert summary["test"]["metrics"]["recall@10"] > 0

    from helpers.tiny import TINY_TIGER

    run_config["model"] = dict(TINY_TIGER)  # T5 encoder-decoder: the encoder sees the whole history
    run_config["training"].update(output_dir=str(tmp_path / "refused"))
    with pytest.raises(ValueError, match="train_examples: sequence is not available: TigerFor"):
        run_train(run_config)
    assert not (tmp_path / "refused").exists()  # refused before anything is written


def test_learning_rate_decays_over_the_time_budget_with_schedule_over_max_minutes(run_config, tmp_path):
    """``schedule_over: max_minutes``: warmup in steps, then the cosine follows the share of the budget used."""
    from hf_genrec.training.trainer import _scheduler

    used = [0.0]
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = _scheduler(optimizer, "cosine", warmup=2, total=10**9, budget_fraction=lambda: used[0])
    lrs = []
    for fraction in (0.0, 0.0, 0.0, 0.5, 1.0):
        used[0] = fraction
        optimizer.step()
        scheduler.step()
        lrs.append(scheduler.get_last_lr()[0])
    assert lrs == pytest.approx([0.5, 1.0, 1.0, 0.5, 0.0])

    with pytest.raises(ValueError, match="max_minutes must be set"):
        TrainingConfig(schedule_over="max_minutes")
    run_config["training"].update(max_minutes=0.1, num_epochs=1000, schedule_over="max_minutes", warmup_steps=0,
                                  logging_steps=1, eval_steps=10**6, output_dir=str(tmp_path / "budget"))
    summary = run_train(run_config)
    history = json.loads((tmp_path / "budget" / "training_history.json").read_text())["train"]
    assert summary["stopped_by_time_budget"]
    assert history[-1]["learning_rate"] < 0.2 * history[0]["learning_rate"]


def test_group_by_length_trains_on_every_row(run_config, tmp_path):
    run_config["training"].update(group_by_length=True, num_epochs=1, output_dir=str(tmp_path / "grouped"))
    summary = run_train(run_config)
    prepared = PreparedDataset.load(run_config["data"]["prepared"])
    assert summary["samples_per_process"][0] == len(prepared.splits["train"])


def test_two_trainings_in_one_process_may_use_different_precisions(run_config, tmp_path):
    """accelerate keeps one AcceleratorState per process; a bf16 training followed by an fp32 one (what
    ``hf-genrec reproduce`` does for a table of several experiments) must not fail on the second."""
    run_config["training"].update(num_epochs=1, max_steps=2, eval_max_users=10, mixed_precision="bf16",
                                  output_dir=str(tmp_path / "bf16"))
    assert run_train(run_config)["mixed_precision"] == "bf16"
    run_config["training"].update(mixed_precision="no", output_dir=str(tmp_path / "fp32"))
    assert run_train(run_config)["mixed_precision"] == "no"
