"""Loading by repo id through the real Hugging Face cache, offline, and the self-contained model folder."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from helpers.remote_code import load_without_hf_genrec
from helpers.tiny import HUB_SIDS as SIDS
from helpers.tiny import save_tiny_tiger_folder as saved_folder
from transformers import AutoModel, AutoTokenizer

import hf_genrec  # noqa: F401
from hf_genrec.hub import load_items
from hf_genrec.tokenization import CatalogTrie


def place_in_hub_cache(folder: Path, cache: Path, repo_id: str, revision: str = "a" * 40) -> None:
    """The standard layout: models--org--name/refs/main + snapshots/<revision>/<files> (+ blobs)."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir()
    for path in folder.iterdir():
        blob = repo / "blobs" / f"blob-{path.name}"
        shutil.copyfile(path, blob)
        (snapshot / path.name).symlink_to(Path("..") / ".." / "blobs" / blob.name)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)


def test_self_contained_folder(tmp_path):
    folder = saved_folder(tmp_path)
    names = {p.name for p in folder.iterdir()}
    assert {"config.json", "model.safetensors", "generation_config.json", "tokenizer_config.json", "semantic_ids.json",
            "catalog_trie.safetensors", "items.json", "metrics.json", "training_config.json", "README.md"} <= names
    assert load_items(folder)["titles"][2] == "Title 2"
    trie = CatalogTrie.load(folder / "catalog_trie.safetensors")
    assert torch.equal(trie.sid_codes, torch.unique(SIDS, dim=0))
    card = (folder / "README.md").read_text()
    assert "library_name: hf_genrec" in card and "model-index" in card and "recall@10" in card
    assert "AutoModel.from_pretrained" in card and "Rajput" in card


def test_auto_model_from_repo_id_through_the_hub_cache(tmp_path, monkeypatch):
    folder = saved_folder(tmp_path)
    cache = tmp_path / "hub"
    place_in_hub_cache(folder, cache, "org/tiger-beauty")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = AutoModel.from_pretrained("org/tiger-beauty", cache_dir=str(cache))
    tokenizer = AutoTokenizer.from_pretrained("org/tiger-beauty", cache_dir=str(cache))
    reference = AutoModel.from_pretrained(folder)
    batch = tokenizer([[0, 1, 2]], return_tensors="pt")
    assert torch.equal(model.generate(**batch, num_beams=5).items, reference.generate(**batch, num_beams=5).items)
    with pytest.raises(OSError):
        AutoModel.from_pretrained("org/not-there", cache_dir=str(cache))


def test_trust_remote_code_export_loads_without_hf_genrec(tmp_path):
    from hf_genrec.hub.remote_code import export_remote_code

    folder = saved_folder(tmp_path)
    names = export_remote_code(folder)
    assert (folder / "modeling_tiger.py").exists() and (folder / "genrec_tokenization_trie.py").exists()
    config = json.loads((folder / "config.json").read_text())
    assert config["auto_map"]["AutoModel"] == "modeling_tiger.TigerForGenerativeRecommendation"
    import ast

    for path in folder.glob("*.py"):  # every import of the bundle is relative or of an installed third-party package
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.level == 1 or not (node.module or "").startswith("hf_genrec"), (path.name, node.module)
    expected = AutoModel.from_pretrained(folder)  # hf_genrec installed: the registered class, no remote code
    tok = AutoTokenizer.from_pretrained(folder)
    items = expected.generate(**tok([[0, 1, 2], [5]], return_tensors="pt"), num_beams=5).items.tolist()
    loaded = load_without_hf_genrec(folder, tmp_path, [[0, 1, 2], [5]])
    assert loaded["items"] == items and loaded["module"].startswith("transformers_modules")
    assert loaded["hf_genrec"] is False
    assert len(names) >= 10
