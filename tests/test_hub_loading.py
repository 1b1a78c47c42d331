"""Loading by repo id through the real Hugging Face cache, offline, and the self-contained model folder."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from transformers import AutoModel, AutoTokenizer

import hf_genrec  # noqa: F401
from hf_genrec.hub import load_items, save_model_folder
from hf_genrec.models import build_model
from hf_genrec.tokenization import CatalogTrie, SIDTokenizer

SIDS = torch.unique(torch.stack([torch.randint(0, s, (60,), generator=torch.Generator().manual_seed(i))
                                 for i, s in enumerate([5, 4, 3])], 1), dim=0)


def saved_folder(tmp_path: Path) -> Path:
    tok = SIDTokenizer.from_sids(SIDS, [5, 4, 3], item_keys=[f"I{i}" for i in range(len(SIDS))])
    torch.manual_seed(0)
    model = build_model("tiger", tok, d_model=32, d_ff=64, num_layers=1, num_decoder_layers=1, num_heads=2, d_kv=16)
    metrics = {"test": {"metrics": {"recall@10": 0.25, "ndcg@10": 0.125}, "num_users": 100}}
    return save_model_folder(model, tok, tmp_path / "folder", metrics=metrics, training={"learning_rate": 0.001},
                             item_titles=[f"Title {i}" for i in range(len(SIDS))], dataset_name="synthetic")


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


HIDDEN_PACKAGE_SCRIPT = r"""
import importlib.abc, importlib.util, json, sys

class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "hf_genrec" or name.startswith("hf_genrec."):
            raise ModuleNotFoundError(f"No module named {name!r} (hidden for this test)")
        return None

sys.meta_path.insert(0, Hide())
try:
    import hf_genrec
    raise SystemExit("hf_genrec must not be importable here")
except ModuleNotFoundError:
    pass
from transformers import AutoModel, AutoTokenizer
folder = sys.argv[1]
try:
    AutoModel.from_pretrained(folder)
    raise SystemExit("loading without trust_remote_code must fail")
except ValueError:
    pass
model = AutoModel.from_pretrained(folder, trust_remote_code=True)
tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
batch = tokenizer([[0, 1, 2], [5]], return_tensors="pt")
out = model.generate(**batch, num_beams=5)
print("RESULT " + json.dumps({"items": out.items.tolist(), "module": type(model).__module__,
                             "hf_genrec": "hf_genrec" in sys.modules}))
"""


def test_trust_remote_code_export_loads_without_hf_genrec(tmp_path):
    import subprocess
    import sys

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
    script = tmp_path / "load.py"
    script.write_text(HIDDEN_PACKAGE_SCRIPT)
    env = {k: v for k, v in __import__("os").environ.items()}
    env["HF_MODULES_CACHE"] = str(tmp_path / "modules")
    result = subprocess.run([sys.executable, str(script), str(folder)], capture_output=True, text=True, env=env,
                            timeout=300, stdin=subprocess.DEVNULL)  # the opt-in prompt gets "no"
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.split("RESULT ", 1)[1].splitlines()[0])
    assert loaded["items"] == items and loaded["module"].startswith("transformers_modules")
    assert loaded["hf_genrec"] is False
    assert len(names) >= 10
