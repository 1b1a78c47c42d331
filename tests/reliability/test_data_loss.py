"""No command ever deletes user data: outputs that are or contain an input, ``--overwrite`` of folders hf_genrec did
not write, quickstart into someone else's folder, a second training run into another run's folder, resuming a
checkpoint of another configuration, two runs writing one output at once, temporaries of killed runs."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.writers import write_two_file

from hf_genrec.cli import main
from hf_genrec.commands.train import run_train


def tree(folder: Path) -> dict:
    """Every file under ``folder`` with its bytes: what must stay untouched."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def source(tmp_path):
    return write_two_file(tmp_path / "parent" / "data", {"u": ["a", "b", "c", "d"], "v": ["b", "c", "d", "a"]},
                          items={"a": {"title": "A"}, "b": {"title": "B"}})


def prepare(data, out, *extra):
    return main(["prepare", "--data", str(data), "--out", str(out), "--no-embed", "--kcore", "1", *extra])


def test_an_output_that_is_or_contains_the_input_is_refused(source, tmp_path, capsys):
    before = tree(tmp_path / "parent")
    assert prepare(source, source, "--overwrite") == 2
    assert "is the input" in capsys.readouterr().err
    assert prepare(source, source.parent, "--overwrite") == 2
    assert "contains the input" in capsys.readouterr().err
    assert tree(tmp_path / "parent") == before


def test_overwrite_replaces_only_folders_hf_genrec_wrote(source, tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    assert prepare(source, mine, "--overwrite") == 2
    assert "not written by hf_genrec" in capsys.readouterr().err
    assert tree(mine) == {"notes.txt": b"my notes"}
    out = tmp_path / "out"
    assert prepare(source, out) == 0
    assert prepare(source, out) == 2 and "--overwrite" in capsys.readouterr().err
    assert prepare(source, out, "--overwrite", "--max-history", "2") == 0
    assert json.loads((out / "summary.json").read_text())["config"]["max_history"] == 2
    assert (out / ".hf_genrec").exists()


def test_quickstart_refuses_a_folder_it_did_not_write(tmp_path, capsys):
    target = tmp_path / "project"
    (target / "raw").mkdir(parents=True)
    (target / "raw" / "interactions.tsv").write_text("user_id\titem_id\nmine\tmine\n")
    before = tree(target)
    assert main(["quickstart", "--out", str(target), "--no-train"]) == 2
    assert "not a previous quickstart" in capsys.readouterr().err
    assert tree(target) == before


def test_a_second_training_run_never_mixes_with_the_first(run_config, tmp_path, capsys):
    run_config["training"].update(max_steps=3, eval_steps=3, final_test=False)
    run_train(run_config)
    output = Path(run_config["training"]["output_dir"])
    first = tree(output / "checkpoint-3")
    with pytest.raises(FileExistsError, match="another run's checkpoint-3"):
        run_train(run_config)
    assert tree(output / "checkpoint-3") == first
    # resuming under another configuration is refused and names what differs
    changed = {**run_config, "training": {**run_config["training"], "learning_rate": 0.5, "resume_from": "latest",
                                          "max_steps": 4}}
    with pytest.raises(ValueError, match=r"another configuration \(training.learning_rate: 0.005 -> 0.5"):
        run_train(changed)
    other_model = {**run_config, "model": {**run_config["model"], "hidden_size": 16},
                   "training": {**run_config["training"], "resume_from": "latest", "max_steps": 4}}
    with pytest.raises(ValueError, match="model.hidden_size: 32 -> 16"):
        run_train(other_model)
    # --overwrite starts afresh: the old checkpoints are gone, not mixed in
    path = tmp_path / "run.yaml"
    path.write_text(json.dumps({**run_config, "training": {**run_config["training"], "max_steps": 2,
                                                           "eval_steps": 2}}))
    assert main(["train", "--config", str(path), "--overwrite"]) == 0
    assert sorted(p.name for p in output.glob("checkpoint-*")) == ["checkpoint-2"]


def test_a_second_run_into_a_locked_output_fails_at_once(source, tmp_path, capsys):
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom hf_genrec.utils.io import output_lock\n"
                               f"with output_lock({str(out)!r}):\n    print('held', flush=True)\n    time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert prepare(source, out) == 2
        assert "being written by another hf-genrec run" in capsys.readouterr().err
        assert not out.exists()
    finally:
        holder.kill()
        holder.wait()
    assert prepare(source, out) == 0  # the lock went with the process that held it


def test_temporaries_of_a_killed_run_are_removed_by_the_next_run(source, tmp_path):
    stale = tmp_path / ".out.k1ll3d00.partial"
    (stale / "splits").mkdir(parents=True)
    old = tmp_path / ".out.old-12345"
    old.mkdir()
    unrelated = tmp_path / ".out.x.k1ll3d00.partial"  # another output's temporary (named out.x)
    unrelated.mkdir()
    assert prepare(source, tmp_path / "out") == 0
    assert not stale.exists() and not old.exists() and unrelated.exists()
    assert not list(tmp_path.glob(".out.lock"))
