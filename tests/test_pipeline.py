"""The ``recommendation`` pipeline: registered by ``import hf_genrec``, histories of ids / titles / indices in,
ranked items out (the same as ``model.generate``), batched like one by one, and shareable with remote code."""

import json
import subprocess
import sys

import pytest
import torch
from transformers import AutoModel, AutoTokenizer, pipeline

import hf_genrec  # noqa: F401 - registers the task
from helpers.remote_code import HIDE_HF_GENREC, run_without_hf_genrec
from helpers.tiny import save_tiny_tiger_folder
from hf_genrec.pipelines import RecommendationPipeline

TOP_K = 4


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_tiny_tiger_folder(tmp_path_factory.mktemp("pipeline"))


@pytest.fixture(scope="module")
def recommend(folder):
    return pipeline("recommendation", model=str(folder), device="cpu")


def reference(folder, histories, top_k=TOP_K, num_beams=None):
    """``model.generate`` on the batch, as ``hf-genrec recommend`` runs it."""
    model, tok = AutoModel.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)
    beams = max(num_beams or model.default_num_beams(), top_k)
    out = model.generate(**tok(histories, return_tensors="pt"), num_beams=beams, num_return_sequences=top_k)
    return out


@pytest.mark.parametrize("first", ["from transformers import pipeline",
                                   "from hf_genrec.pipelines.recommendation import RecommendationPipeline"])
def test_import_registers_the_task_lazily(folder, first):
    script = ("import sys, hf_genrec; assert 'transformers.pipelines' not in sys.modules, 'import hf_genrec is heavy'\n"
              f"{first}\n"
              "from transformers import pipeline\n"
              "from hf_genrec.pipelines import RecommendationPipeline\n"
              "recommend = pipeline('recommendation', model=sys.argv[1], device='cpu')\n"
              "assert type(recommend) is RecommendationPipeline and len(recommend([1, 2], top_k=3)) == 3\n")
    result = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-c", script, str(folder)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def test_ids_titles_and_indices_in_ranked_items_out(folder, recommend):
    assert isinstance(recommend, RecommendationPipeline)
    out = reference(folder, [[0, 3, 5]])
    expected = out.items[0].tolist()
    for history in (["I0", "Title 3", 5], "I0, title 3, 5", [0, 3, 5], torch.tensor([0, 3, 5])):
        results = recommend(history, top_k=TOP_K)
        assert [r["item_id"] for r in results] == expected
    assert [r["item"] for r in results] == [f"I{i}" for i in expected]
    assert [r["title"] for r in results] == [f"Title {i}" for i in expected]
    assert [r["sid"] for r in results] == out.sids[0].tolist()
    assert [r["score"] for r in results] == pytest.approx(out.scores[0].tolist(), abs=1e-5)
    assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)
    assert set(results[0]) == {"item_id", "item", "title", "sid", "score"}
    assert len(recommend([1, 2])) == 10  # default top_k
    wide = recommend([1, 2], top_k=2, num_beams=8)
    assert [r["item_id"] for r in wide] == reference(folder, [[1, 2]], top_k=2, num_beams=8).items[0].tolist()


def test_batched_equals_one_by_one_with_one_generate_per_batch(folder, recommend, monkeypatch):
    histories = [["I1", "I2"], [7], ["Title 9", 4, 11], "I20|I21"]
    singles = [recommend(h, top_k=TOP_K) for h in histories]
    calls = []
    generate = recommend.model.generate

    def counting(**batch):
        calls.append(batch["input_ids"].shape[0])
        return generate(**batch)

    monkeypatch.setattr(recommend.model, "generate", counting)
    batched = recommend(histories, top_k=TOP_K, batch_size=3)
    assert calls == [3, 1]
    assert len(batched) == len(histories)
    for one, many in zip(singles, batched):
        assert [r["item_id"] for r in one] == [r["item_id"] for r in many]
        assert [r["score"] for r in one] == pytest.approx([r["score"] for r in many], abs=1e-4)
    ids = reference(folder, [[1, 2], [7], [9, 4, 11], [20, 21]]).items.tolist()
    assert [[r["item_id"] for r in rows] for rows in batched] == ids
    assert recommend([]) == []


def test_save_pretrained_round_trip(recommend, tmp_path):
    recommend.save_pretrained(tmp_path / "saved")
    assert json.loads((tmp_path / "saved" / "items.json").read_text())["titles"][3] == "Title 3"
    assert "custom_pipelines" not in json.loads((tmp_path / "saved" / "config.json").read_text())
    reloaded = pipeline("recommendation", model=str(tmp_path / "saved"), device="cpu")
    assert reloaded(["I1", "Title 2"], top_k=TOP_K) == recommend(["I1", "Title 2"], top_k=TOP_K)


def test_unknown_items_and_bad_parameters_are_clear_errors(recommend):
    with pytest.raises(ValueError, match="'No such title'"):
        recommend(["I1", "No such title"])
    with pytest.raises(ValueError, match="history item 999 is not an item index"):
        recommend([1, 999])
    with pytest.raises(ValueError, match="the history is empty"):
        recommend(" , ")
    with pytest.raises(ValueError, match="top_k must be a positive integer"):
        recommend([1], top_k=0)
    with pytest.raises(TypeError, match="num_beam"):
        recommend([1], num_beam=3)


REMOTE_PIPELINE = HIDE_HF_GENREC + r"""
from transformers import pipeline
folder, histories = sys.argv[1], json.loads(sys.argv[2])
try:
    pipeline("recommendation", model=folder)
    raise SystemExit("the pipeline must need trust_remote_code")
except ValueError as error:
    assert "trust_remote_code" in str(error), error
recommend = pipeline("recommendation", model=folder, trust_remote_code=True, device="cpu")
rows = recommend(histories, top_k=4, batch_size=2)
recommend.save_pretrained(sys.argv[3])  # the bundled pipeline keeps its file (and the files it imports)
again = pipeline("recommendation", model=sys.argv[3], trust_remote_code=True, device="cpu")
assert again(histories, top_k=4, batch_size=2) == rows
print("RESULT " + json.dumps({"rows": rows, "pipeline": type(recommend).__module__,
                             "model": type(recommend.model).__module__, "hf_genrec": "hf_genrec" in sys.modules}))
"""


def test_remote_code_export_carries_the_pipeline(tmp_path):
    from hf_genrec.hub.remote_code import export_remote_code

    folder = save_tiny_tiger_folder(tmp_path)
    export_remote_code(folder)
    config = json.loads((folder / "config.json").read_text())
    assert config["custom_pipelines"] == {"recommendation": {"impl": "pipeline_recommendation.RecommendationPipeline",
                                                             "pt": ["AutoModel"]}}
    assert (folder / "pipeline_recommendation.py").exists() and (folder / "genrec_hub_items.py").exists()
    histories = [["I1", "Title 2"], [7], "I3, I4"]
    installed = pipeline("recommendation", model=str(folder), pipeline_class=RecommendationPipeline, device="cpu")
    expected = installed(histories, top_k=4)
    loaded = run_without_hf_genrec(REMOTE_PIPELINE, tmp_path, [str(folder), json.dumps(histories),
                                                                    str(tmp_path / "saved")])
    assert loaded["hf_genrec"] is False
    assert loaded["pipeline"].startswith("transformers_modules") and loaded["model"].startswith("transformers_modules")
    assert [[r["item"] for r in rows] for rows in loaded["rows"]] == [[r["item"] for r in rows] for rows in expected]
    assert [[r["title"] for r in rows] for rows in loaded["rows"]] == [[r["title"] for r in rows] for rows in expected]
    # with hf_genrec installed too, transformers lets a folder's custom_pipelines win over the registry: the
    # registered class is used with pipeline_class=..., the bundled one with trust_remote_code=True
    with pytest.raises(ValueError, match="trust_remote_code"):
        pipeline("recommendation", model=str(folder))
