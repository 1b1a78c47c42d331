"""The Gradio demo (``examples/demo/app.py``): it builds without launching and recommends what the pipeline does."""

import importlib.util
import json

import pytest

from helpers.remote_code import HIDE_HF_GENREC, run_without_hf_genrec
from helpers.tiny import REPO_ROOT, save_tiny_tiger_folder

gr = pytest.importorskip("gradio", reason="gradio is not installed (pip install -e '.[demo]')")


def load_app():
    spec = importlib.util.spec_from_file_location("hf_genrec_demo_app", REPO_ROOT / "examples" / "demo" / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_builds_and_recommends(tmp_path):
    app = load_app()
    folder = save_tiny_tiger_folder(tmp_path)
    demo = app.build_demo(str(folder), top_k=5)
    assert isinstance(demo, gr.Blocks)
    dropdown = next(block for block in demo.blocks.values() if isinstance(block, gr.Dropdown))
    assert dropdown.multiselect and dropdown.choices[3] == ("Title 3 · I3", 3)
    rows = demo.recommend([0, 3, "5"], 5)
    expected = app.load_recommender(str(folder))([0, 3, 5], top_k=5)
    assert [row[0] for row in rows] == [1, 2, 3, 4, 5]
    assert [(row[1], row[2]) for row in rows] == [(r["title"], r["item"]) for r in expected]
    assert [row[4] for row in rows] == [" ".join(map(str, r["sid"])) for r in expected]
    with pytest.raises(gr.Error):
        demo.recommend([], 5)


def test_demo_needs_a_model(monkeypatch):
    app = load_app()
    monkeypatch.delenv(app.MODEL_ENV, raising=False)
    with pytest.raises(SystemExit):
        app.main([])


SPACE = HIDE_HF_GENREC + r"""
import importlib.util
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
app = importlib.util.module_from_spec(spec)
spec.loader.exec_module(app)
demo = app.build_demo(sys.argv[2], trust_remote_code=True, top_k=3)
print("RESULT " + json.dumps({"rows": demo.recommend([1, 2], 3), "hf_genrec": "hf_genrec" in sys.modules}))
"""


def test_demo_without_hf_genrec_runs_a_remote_code_export(tmp_path):
    """What a Space that installs only requirements.txt does."""
    from hf_genrec.hub.remote_code import export_remote_code

    app = load_app()
    folder = save_tiny_tiger_folder(tmp_path)
    export_remote_code(folder)
    expected = app.build_demo(str(folder), top_k=3).recommend([1, 2], 3)
    loaded = run_without_hf_genrec(SPACE, tmp_path, [str(REPO_ROOT / "examples" / "demo" / "app.py"), str(folder)])
    assert loaded["hf_genrec"] is False
    assert [row[:3] + row[4:] for row in loaded["rows"]] == [row[:3] + row[4:] for row in json.loads(json.dumps(expected))]
