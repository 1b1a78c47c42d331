"""Pushing models, tokenizers and datasets through a local Hub test double, and reading them back."""

import json
from pathlib import Path

import pytest
import torch
from helpers.hub_server import UPLOAD_FOLDER_COMMIT_ATTEMPTS, HubTestServer, online
from helpers.tiny import save_tiny_tiger_folder as saved_folder
from huggingface_hub import snapshot_download
from transformers import AutoModel, AutoTokenizer

from hf_genrec.cli import main
from hf_genrec.data import PrepareConfig, prepare_dataset, read_dataset
from hf_genrec.hub import HubPushError, push_dataset, push_model_folder


@pytest.fixture
def hub():
    with HubTestServer(token="hf_test_token") as server, online(server):
        yield server


def files_of(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_push_model_folder_round_trip_and_load_by_repo_id(hub, tmp_path):
    folder = saved_folder(tmp_path)
    url = push_model_folder(folder, "test-user/tiger-synthetic")
    assert "test-user/tiger-synthetic" in url
    assert hub.files("test-user/tiger-synthetic") == files_of(folder)
    snapshot = Path(snapshot_download("test-user/tiger-synthetic", cache_dir=tmp_path / "cache"))
    assert files_of(snapshot) == files_of(folder)  # bit-identical weights, tokenizer, trie, card
    model = AutoModel.from_pretrained("test-user/tiger-synthetic", cache_dir=tmp_path / "cache2")
    tokenizer = AutoTokenizer.from_pretrained("test-user/tiger-synthetic", cache_dir=tmp_path / "cache2")
    reference = AutoModel.from_pretrained(folder)
    batch = tokenizer([[0, 1]], return_tensors="pt")
    assert torch.equal(model.generate(**batch, num_beams=4).items, reference.generate(**batch, num_beams=4).items)


def test_model_and_tokenizer_push_to_hub(hub, tmp_path):
    folder = saved_folder(tmp_path)
    model = AutoModel.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model.push_to_hub("test-user/pushed")
    tokenizer.push_to_hub("test-user/pushed")
    names = set(hub.files("test-user/pushed"))
    assert {"config.json", "model.safetensors", "tokenizer_config.json", "semantic_ids.json"} <= names
    assert not any(name.endswith((".bin", ".pkl", ".pt")) for name in names)
    again = AutoModel.from_pretrained("test-user/pushed", cache_dir=tmp_path / "c")
    assert torch.equal(again.item_sids, model.item_sids)


def test_prepared_dataset_push_as_parquet_with_card(hub, tmp_path):
    from datasets import load_dataset
    from helpers.writers import write_two_file

    source = write_two_file(tmp_path / "src", {"A": ["x", "y", "z", "x"], "B": ["y", "z", "w"]},
                            items={"x": {"title": "Ex"}, "y": {"title": "Why"}},
                            timestamps={"A": [1, 2, 3, 4], "B": [5, 6, 7]})
    prepared = prepare_dataset(read_dataset(source), PrepareConfig(min_user_interactions=1, min_item_interactions=1))
    push_dataset(prepared, "test-user/toy-loo")
    files = hub.files("test-user/toy-loo", repo_type="dataset")
    assert {"README.md", "data/train-00000-of-00001.parquet", "items/items-00000-of-00001.parquet"} <= set(files)
    assert b"| users | 2 |" in files["README.md"]
    local = snapshot_download("test-user/toy-loo", repo_type="dataset", cache_dir=tmp_path / "c")
    splits = load_dataset(local)
    assert splits["test"].to_list() == prepared.splits["test"].to_list()
    assert load_dataset(local, "items")["train"]["title"][0] == "Ex"


def test_clear_errors(hub, tmp_path):
    folder = saved_folder(tmp_path)
    with pytest.raises(HubPushError, match="refused the token"):
        push_model_folder(folder, "test-user/secret", token="hf_wrong")
    with pytest.raises(HubPushError, match="was not found"):
        push_model_folder(folder, "test-user/never-created", create=False)
    push_model_folder(folder, "test-user/stable")
    before = hub.head("test-user/stable")
    changed = tmp_path / "changed"
    changed.mkdir()
    for name, data in files_of(folder).items():
        (changed / name).write_bytes(data)
    (changed / "metrics.json").write_text(json.dumps({"changed": True}))
    hub.fail_commits = UPLOAD_FOLDER_COMMIT_ATTEMPTS  # every retry of the commit breaks off
    with pytest.raises(HubPushError, match="nothing was committed"):
        push_model_folder(changed, "test-user/stable")
    assert hub.head("test-user/stable") == before  # the repository is still at its previous commit
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        push_model_folder(tmp_path / "empty", "test-user/x")


def test_push_cli_with_remote_code(hub, tmp_path):
    folder = saved_folder(tmp_path)
    code = main(["push", "--model", str(folder), "--repo", "test-user/remote", "--remote-code", "--out",
                 str(tmp_path / "push")])
    assert code == 0
    summary = json.loads((tmp_path / "push" / "summary.json").read_text())
    assert summary["repo"] == "test-user/remote" and summary["remote_code"] is True
    files = hub.files("test-user/remote")
    assert "modeling_tiger.py" in files and b"auto_map" in files["config.json"]
    assert main(["push", "--model", str(folder), "--repo", "test-user/remote", "--token", "bad",
                 "--out", str(tmp_path / "p2")]) == 2


def test_a_failed_remote_code_push_leaves_the_local_folder_untouched(hub, tmp_path):
    folder = saved_folder(tmp_path)
    before = files_of(folder)
    assert main(["push", "--model", str(folder), "--repo", "test-user/r2", "--remote-code", "--token", "bad",
                 "--out", str(tmp_path / "push")]) == 2
    assert files_of(folder) == before  # the code was bundled into a copy, not into the user's folder


def test_a_model_trained_on_restricted_data_is_not_pushed(hub, tmp_path, capsys):
    folder = saved_folder(tmp_path)
    (folder / "data_license.json").write_text(json.dumps({"dataset": "yelp-2019", "redistribution_restricted": True,
                                                          "license_note": "Yelp terms"}))
    assert main(["push", "--model", str(folder), "--repo", "test-user/yelp-model", "--out", str(tmp_path / "p")]) == 2
    assert "restricts redistribution" in capsys.readouterr().err
    assert hub.get_repo("test-user/yelp-model") is None
    assert main(["push", "--model", str(folder), "--repo", "test-user/yelp-model", "--allow-restricted",
                 "--out", str(tmp_path / "p")]) == 0
