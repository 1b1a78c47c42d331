"""``model.save_pretrained`` / ``model.push_to_hub`` write the whole self-contained folder (tokenizer in the model's
layout, catalog trie, items, card), the same one ``save_model_folder`` writes; a tokenizer of the wrong layout is a
clear error."""

import json
from pathlib import Path

import pytest
import torch
from helpers.hub_server import HubTestServer, online
from helpers.tiny import HISTORIES, NUM_ITEMS, tiny_model
from helpers.tiny import save_tiny_tiger_folder as saved_folder
from transformers import AutoModel, AutoTokenizer

from hf_genrec.hub import attach_model_files, save_model_folder
from hf_genrec.hub.cards import card_metadata
from hf_genrec.tokenization import SIDTokenizer

FOLDER_FILES = {"config.json", "model.safetensors", "generation_config.json", "tokenizer_config.json",
                "semantic_ids.json", "catalog_trie.safetensors", "items.json", "metrics.json", "training_config.json",
                "data_license.json", "README.md"}


@pytest.fixture
def hub():
    with HubTestServer(token="hf_test_token") as server, online(server):
        yield server


def names(folder: Path) -> set:
    return {p.name for p in folder.iterdir() if p.is_file()}


def ranked(model, tokenizer, histories=HISTORIES):
    return model.generate(**tokenizer([list(h) for h in histories], return_tensors="pt"), num_beams=5).items


def test_save_pretrained_writes_the_whole_folder_in_the_models_layout(tmp_path):
    model, _ = tiny_model("intrr", "t5")  # reads one position per item
    model.save_pretrained(tmp_path / "m")
    assert FOLDER_FILES <= names(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "tokenizer_config.json").read_text())["default_mode"] == "item"
    loaded, tokenizer = AutoModel.from_pretrained(tmp_path / "m").eval(), AutoTokenizer.from_pretrained(tmp_path / "m")
    assert torch.equal(ranked(loaded, tokenizer), ranked(model, tokenizer))  # no mode argument needed
    items = json.loads((tmp_path / "m" / "items.json").read_text())
    assert items["item_ids"] == [str(i) for i in range(NUM_ITEMS)]  # no tokenizer attached: ids are the indices
    assert card_metadata((tmp_path / "m" / "README.md").read_text())["library_name"] == "hf_genrec"


def test_a_trainer_checkpoint_keeps_the_models_layout(tmp_path):
    """transformers.Trainer saves the model, then its processing_class: the folder's tokenizer still fits the model."""
    from transformers import Trainer, TrainingArguments

    model, tokenizer = tiny_model("comeir", "comeir")
    assert tokenizer.default_mode == "flat" and model.config.input_mode == "item"
    trainer = Trainer(model=model, processing_class=tokenizer,
                      args=TrainingArguments(output_dir=str(tmp_path / "run"), report_to=[], use_cpu=True))
    trainer.save_model(str(tmp_path / "ckpt"))
    assert json.loads((tmp_path / "ckpt" / "tokenizer_config.json").read_text())["default_mode"] == "item"
    reloaded = AutoTokenizer.from_pretrained(tmp_path / "ckpt")
    assert torch.equal(ranked(AutoModel.from_pretrained(tmp_path / "ckpt").eval(), reloaded), ranked(model, reloaded))


def test_a_tokenizer_of_the_other_layout_is_a_clear_error():
    model, tokenizer = tiny_model("intrr", "t5")
    with pytest.raises(ValueError, match="default_mode = 'item'"):
        model.generate(**tokenizer([[0, 1]], mode="flat", return_tensors="pt"), num_beams=3)
    flat_model, _ = tiny_model("tiger", "t5")
    with pytest.raises(ValueError, match="mode='item'.*default_mode = 'flat'"):
        flat_model.generate(**tokenizer([[0, 1]], mode="item", return_tensors="pt"), num_beams=3)


def test_save_model_folder_and_save_pretrained_write_the_same_folder(tmp_path):
    folder = saved_folder(tmp_path)  # ids I0.., titles, metrics, card
    model = AutoModel.from_pretrained(folder)
    model.save_pretrained(tmp_path / "again")  # a loaded model takes ids, titles and licence from its folder
    for name in ("semantic_ids.json", "items.json", "catalog_trie.safetensors", "tokenizer_config.json"):
        assert (tmp_path / "again" / name).read_bytes() == (folder / name).read_bytes(), name
    assert json.loads((tmp_path / "again" / "data_license.json").read_text())["dataset"] == "synthetic"
    assert json.loads((tmp_path / "again" / "metrics.json").read_text()) == {}  # stale after further training


def test_an_attached_tokenizer_must_match_the_catalog(tmp_path):
    model, tokenizer = tiny_model("tiger", "t5")
    other = SIDTokenizer.from_sids(tokenizer.item_sid_table.flip(0), tokenizer.codebook_sizes)
    with pytest.raises(ValueError, match="another SID"):
        attach_model_files(model, other)
    with pytest.raises(ValueError, match="titles"):
        attach_model_files(model, tokenizer, item_titles=["only one"])
    keyed = SIDTokenizer.from_sids(tokenizer.item_sid_table, tokenizer.codebook_sizes,
                                   item_keys=[f"K{i}" for i in range(NUM_ITEMS)])
    save_model_folder(model, keyed, tmp_path / "folder", item_titles=[f"T{i}" for i in range(NUM_ITEMS)])
    model.save_pretrained(tmp_path / "plain")  # save_model_folder attached them: the same files again
    for name in ("semantic_ids.json", "items.json", "README.md", "data_license.json"):
        assert (tmp_path / "plain" / name).read_bytes() == (tmp_path / "folder" / name).read_bytes(), name


def test_push_to_hub_pushes_the_whole_folder_and_loads_by_repo_id(hub, tmp_path):
    model, tokenizer = tiny_model("intrr", "t5")
    keyed = SIDTokenizer.from_sids(tokenizer.item_sid_table, tokenizer.codebook_sizes,
                                   item_keys=[f"K{i}" for i in range(NUM_ITEMS)])
    attach_model_files(model, keyed, item_titles=[f"T{i}" for i in range(NUM_ITEMS)], dataset_name="toy",
                       metrics={"test": {"metrics": {"recall@10": 0.5}}})
    url = model.push_to_hub("test-user/intrr-toy", tags=["my-tag"])
    assert "test-user/intrr-toy" in url
    files = hub.files("test-user/intrr-toy")
    assert FOLDER_FILES <= set(files)
    card = files["README.md"].decode()
    metadata = card_metadata(card)
    assert metadata["library_name"] == "hf_genrec" and "my-tag" in metadata["tags"]  # hf_genrec's card, not the generic
    assert metadata["model-index"][0]["results"][0]["dataset"]["split"] == "test"
    assert json.loads(files["items.json"])["titles"][3] == "T3"
    assert json.loads(files["tokenizer_config.json"])["default_mode"] == "item"
    loaded = AutoModel.from_pretrained("test-user/intrr-toy", cache_dir=tmp_path / "c").eval()
    reloaded = AutoTokenizer.from_pretrained("test-user/intrr-toy", cache_dir=tmp_path / "c")
    assert reloaded.item_keys[5] == "K5"
    assert torch.equal(ranked(loaded, reloaded), ranked(model, reloaded))


def test_save_pretrained_push_to_hub_and_restricted_data(hub, tmp_path):
    model, tokenizer = tiny_model("tiger", "t5")
    model.save_pretrained(tmp_path / "local", push_to_hub=True, repo_id="test-user/via-save")
    assert set(hub.files("test-user/via-save")) == names(tmp_path / "local")
    attach_model_files(model, tokenizer, redistribution_restricted=True, license_note="Yelp terms")
    with pytest.raises(PermissionError, match="restricts redistribution"):
        model.push_to_hub("test-user/yelp")
    assert hub.get_repo("test-user/yelp") is None
