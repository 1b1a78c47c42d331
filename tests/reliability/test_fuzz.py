"""Malformed input, generated: every case ends with exit status 2 and a one-line message that names the file, line,
field or option at fault; nothing is written and no input is touched. Never a traceback.

* interaction files: a valid two-file dataset with one line mutated (truncated, fields dropped or added, bytes
  replaced, quotes, non-UTF-8, a huge or non-numeric timestamp) must either prepare or fail cleanly;
* option values: every numeric option of every command, given text, zero, negative, NaN or infinite values;
* run configs: unknown sections and keys, and wrongly typed values, anywhere in a YAML run config;
* damaged files a command reads: truncated safetensors and JSON of a model folder, of item embeddings and of a
  checkpoint.
"""

import contextlib
import io
import json
import shutil
from pathlib import Path

import pytest
import yaml
from helpers.writers import write_two_file
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hf_genrec.cli import main

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
                derandomize=True)


def run_cli(args):
    """``(exit status, stderr)`` of the command line; a traceback fails the test."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main([str(a) for a in args])
        except SystemExit as exit:  # argparse
            code = exit.code
    return code, err.getvalue()


def error_line(stderr: str) -> str:
    """The message a user reads: the last line, after any progress-bar carriage returns."""
    lines = [line for line in stderr.replace("\r", "\n").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def assert_clean_failure(code, stderr, *names):
    line = error_line(stderr)
    assert code == 2, (code, stderr[-500:])
    assert line.startswith("hf-genrec") and ": error: " in line, stderr[-500:]
    assert "Traceback" not in stderr
    assert any(name in line for name in names), (names, line)


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    users = {f"u{u}": [f"i{(u * 3 + k) % 7}" for k in range(5)] for u in range(6)}
    folder = write_two_file(root / "data", users, items={f"i{i}": {"title": f"Item {i}"} for i in range(7)},
                            timestamps={u: [1_500_000_000 + 86_400 * k for k in range(5)] for u in users})
    return folder


MUTATIONS = st.sampled_from(["truncate", "drop_field", "add_field", "garbage", "quote", "latin1", "timestamp_huge",
                             "timestamp_text", "empty_field", "blank_file", "binary"])


@FUZZ
@given(mutation=MUTATIONS, line=st.integers(1, 30), junk=st.text(min_size=1, max_size=8))
def test_malformed_interaction_files_prepare_or_fail_cleanly(dataset, tmp_path_factory, mutation, line, junk):
    work = tmp_path_factory.mktemp("case")
    data = work / "data"
    shutil.copytree(dataset, data)
    path = data / "interactions.tsv"
    lines = path.read_text().splitlines()
    index = min(line, len(lines) - 1)
    fields = lines[index].split("\t")
    if mutation == "truncate":
        lines[index] = lines[index][: len(lines[index]) // 2]
    elif mutation == "drop_field":
        lines[index] = "\t".join(fields[:-1])
    elif mutation == "add_field":
        lines[index] = lines[index] + "\t" + junk
    elif mutation == "garbage":
        lines[index] = junk
    elif mutation == "quote":
        lines[index] = '"' + lines[index]
    elif mutation == "timestamp_huge":
        fields[2] = "1e30"
        lines[index] = "\t".join(fields)
    elif mutation == "timestamp_text":
        fields[2] = junk
        lines[index] = "\t".join(fields)
    elif mutation == "empty_field":
        fields[0] = ""
        lines[index] = "\t".join(fields)
    text = "\n".join(lines) + "\n"
    if mutation == "blank_file":
        text = ""
    payload = text.encode("utf-8")
    if mutation == "latin1":
        payload = payload.replace(b"i1", b"\xe9\xff", 1)
    if mutation == "binary":
        payload = b"\x00\x01\x02" + payload[:40]
    path.write_bytes(payload)
    before = snapshot(data)
    out = work / "out"
    code, stderr = run_cli(["prepare", "--data", data, "--out", out, "--no-embed", "--kcore", "1",
                            "--drop-short-users"])
    assert snapshot(data) == before
    if code == 0:  # a mutation the format tolerates (e.g. a quote inside a TSV id)
        assert (out / "summary.json").exists()
    else:
        assert_clean_failure(code, stderr, "interactions.tsv", "items.jsonl")
        assert not out.exists()


NUMERIC_OPTIONS = {
    "prepare": ["--kcore", "--min-user-interactions", "--min-item-interactions", "--max-history", "--batch-size"],
    "build-sids": ["--levels", "--codebook-size", "--epochs", "--lr", "--batch-size", "--latent-dim",
                   "--kmeans-iterations", "--beta"],
    "evaluate": ["--num-beams", "--batch-size", "--max-users", "--ks"],
    "recommend": ["--top-k", "--num-beams"],
    "synthetic": ["--users", "--items"],
    "quickstart": ["--epochs"],
}
REQUIRED = {"prepare": ["--data", "x", "--out", "y"], "build-sids": ["--data", "x", "--out", "y"],
            "evaluate": ["--model", "x", "--data", "y"], "recommend": ["--model", "x", "--history", "1"],
            "synthetic": ["--out", "y"], "quickstart": []}
BAD_VALUES = st.sampled_from(["0", "-1", "-3.5", "nan", "inf", "abc", "", "1e999", "0x10", "1,2,-1"])


@FUZZ
@given(command=st.sampled_from(sorted(NUMERIC_OPTIONS)), data=st.data(), value=BAD_VALUES)
def test_bad_option_values_name_the_option(tmp_path_factory, command, data, value):
    option = data.draw(st.sampled_from(NUMERIC_OPTIONS[command]))
    if option == "--beta" and value in ("0",):
        return  # beta 0 is a valid commitment weight
    work = tmp_path_factory.mktemp("options")
    code, stderr = run_cli([command, *REQUIRED[command], option, value])
    assert_clean_failure(code, stderr, f"argument {option}")
    assert not any(work.iterdir())


SECTIONS = st.sampled_from(["data", "model", "finetuning", "training", "trainng", "extra"])
KEYS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=3, max_size=12)


@FUZZ
@given(section=SECTIONS, key=KEYS, value=st.one_of(st.integers(), st.text(max_size=5), st.none()))
def test_unknown_run_config_keys_are_named(run_config, tmp_path_factory, section, key, value):
    known = {"data": {"prepared", "sids"}, "finetuning": {"mode", "lora"}}
    config = json.loads(json.dumps(run_config))
    if section in ("model", "training"):
        from hf_genrec.models import config_options
        from hf_genrec.models.tiger import TigerConfig
        from hf_genrec.training import TrainingConfig

        names = config_options(TigerConfig) if section == "model" else set(TrainingConfig.__dataclass_fields__)
        if key in names or key == "type":
            return
    elif key in known.get(section, set()):
        return
    config.setdefault(section, {})[key] = value
    path = tmp_path_factory.mktemp("config") / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    code, stderr = run_cli(["train", "--config", path])
    assert_clean_failure(code, stderr, key if section in ("data", "model", "finetuning", "training") else section)
    assert not Path(config["training"]["output_dir"]).exists()


TRAINING_VALUES = {"batch_size": ["abc", 0, -5, 2.5, None], "learning_rate": ["fast", -1, None, [1]],
                   "num_epochs": [-1, 0, "x"], "metric_for_best_model": ["mrr", 3], "eval_max_users": [0, "all"],
                   "mixed_precision": ["fp8", 1], "report_to": ["tensorboard", [1]], "seed": [1.5, "x"]}


@pytest.mark.parametrize("key,value", [(k, v) for k, values in TRAINING_VALUES.items() for v in values])
def test_wrongly_typed_training_values_are_named(run_config, tmp_path, key, value):
    run_config["training"][key] = value
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(run_config))
    code, stderr = run_cli(["train", "--config", path])
    assert_clean_failure(code, stderr, key)
    assert not Path(run_config["training"]["output_dir"]).exists()


def test_yaml_syntax_errors_name_the_file_and_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("data:\n  prepared: x\n model: [unclosed\n")
    code, stderr = run_cli(["train", "--config", path])
    assert_clean_failure(code, stderr, "broken.yaml")
    assert "line" in error_line(stderr)


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    from helpers.tiny import save_tiny_tiger_folder

    return save_tiny_tiger_folder(tmp_path_factory.mktemp("model"))


DAMAGE = [(name, how) for name in ("model.safetensors", "config.json", "semantic_ids.json", "tokenizer_config.json")
          for how in ("truncate", "garbage", "delete")
          if (name, how) != ("tokenizer_config.json", "delete")]  # the tokenizer then loads from config + SIDs


@pytest.mark.parametrize("damaged,how", DAMAGE)
def test_a_damaged_model_folder_is_a_one_line_error(model_folder, tmp_path, damaged, how):
    folder = tmp_path / "model"
    shutil.copytree(model_folder, folder)
    target = folder / damaged
    if how == "delete":
        target.unlink()
    elif how == "truncate":
        target.write_bytes(target.read_bytes()[: len(target.read_bytes()) // 3])
    else:
        target.write_bytes(b"\x00garbage\xff" * 10)
    code, stderr = run_cli(["recommend", "--model", folder, "--history", "0,1", "--out", tmp_path / "rec"])
    assert_clean_failure(code, stderr, str(folder), damaged)
    assert not (tmp_path / "rec").exists()


def test_a_mistyped_model_path_is_not_reported_as_a_network_error(tmp_path):
    code, stderr = run_cli(["recommend", "--model", tmp_path / "runs" / "modle", "--history", "0"])
    assert_clean_failure(code, stderr, "does not exist")


@pytest.mark.parametrize("how", ["truncate", "nan", "garbage"])
def test_damaged_item_embeddings_are_a_one_line_error(prepared_synthetic, tmp_path, how):
    import numpy as np

    from hf_genrec.embeddings import save_item_embeddings
    from hf_genrec.embeddings.encoder import EMBEDDINGS_FILE

    prepared = tmp_path / "prepared"
    shutil.copytree(prepared_synthetic, prepared)
    path = prepared / EMBEDDINGS_FILE
    if how == "truncate":
        path.write_bytes(path.read_bytes()[:100])
    elif how == "garbage":
        path.write_bytes(b"not safetensors at all")
    else:
        from hf_genrec.embeddings import load_item_embeddings

        table, _ = load_item_embeddings(prepared_synthetic)
        table = np.array(table)
        table[3, 0] = np.nan
        save_item_embeddings(path, table, {"model": "x"})
    before = snapshot(prepared)
    code, stderr = run_cli(["build-sids", "--data", prepared, "--out", tmp_path / "sids", "--levels", "2",
                            "--codebook-size", "8"])
    assert_clean_failure(code, stderr, EMBEDDINGS_FILE)
    assert snapshot(prepared) == before and not (tmp_path / "sids").exists()


def test_a_damaged_checkpoint_is_a_one_line_error(run_config, tmp_path):
    run_config["training"].update(max_steps=2, eval_steps=2, final_test=False)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(run_config))
    assert run_cli(["train", "--config", path])[0] == 0
    checkpoint = Path(run_config["training"]["output_dir"]) / "checkpoint-2"
    weights = checkpoint / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:200])
    code, stderr = run_cli(["train", "--config", path, "training.resume_from=latest", "training.max_steps=3"])
    assert_clean_failure(code, stderr, "model.safetensors")


def test_resuming_a_deepspeed_checkpoint_needs_an_explicit_opt_in(run_config, tmp_path):
    """DeepSpeed checkpoints load with pickle: refused unless ``training.allow_pickled_checkpoints``."""
    from hf_genrec.training import GenRecTrainer, TrainingConfig

    folder = tmp_path / "checkpoint-4"
    (folder / "deepspeed").mkdir(parents=True)
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": 4}))
    deepspeed = TrainingConfig(output_dir=str(tmp_path), deepspeed_config="examples/deepspeed/zero2.json",
                               report_to=[])
    trainer = GenRecTrainer(None, None, [], config=deepspeed)
    with pytest.raises(ValueError, match="allow_pickled_checkpoints"):
        trainer._check_resumable(folder)
    plain = GenRecTrainer(None, None, [], config=TrainingConfig(output_dir=str(tmp_path), report_to=[]))
    with pytest.raises(ValueError, match="written by a DeepSpeed run"):
        plain._check_resumable(folder)


def test_pickled_weights_are_refused(model_folder, tmp_path):
    """hf_genrec loads weights from safetensors only: a folder with a pickled ``pytorch_model.bin`` is refused."""
    import torch
    from safetensors.torch import load_file

    folder = tmp_path / "model"
    shutil.copytree(model_folder, folder)
    state = load_file(str(folder / "model.safetensors"))
    (folder / "model.safetensors").unlink()
    torch.save(state, folder / "pytorch_model.bin")
    code, stderr = run_cli(["recommend", "--model", folder, "--history", "0,1", "--out", tmp_path / "rec"])
    assert_clean_failure(code, stderr, "cannot load the model")


def test_missing_data_folders_of_a_run_config_are_named(run_config, tmp_path):
    for key in ("sids", "prepared"):
        config = json.loads(json.dumps(run_config))
        config["data"][key] = str(tmp_path / "nowhere")
        path = tmp_path / f"{key}.yaml"
        path.write_text(yaml.safe_dump(config))
        code, stderr = run_cli(["train", "--config", path])
        assert_clean_failure(code, stderr, f"data.{key}")


def test_yelp_data_stays_restricted_whatever_the_format_or_folder(tmp_path):
    """The same Yelp rows read as a plain table, without SOURCE.txt, are still marked restricted."""
    from hf_genrec.data import read_dataset

    rows = ["user_id,business_id,timestamp"] + [f"u{u},b{(u + k) % 4},{1_500_000_000 + k}" for u in range(3)
                                                 for k in range(4)]
    (tmp_path / "reviews.csv").write_text("\n".join(rows) + "\n")
    from hf_genrec.data import InteractionColumns

    log = read_dataset(tmp_path / "reviews.csv", format="table",
                       interaction_columns=InteractionColumns(item="business_id", timestamp_unit="s"))
    assert log.redistribution_restricted and "Yelp" in log.license_note
