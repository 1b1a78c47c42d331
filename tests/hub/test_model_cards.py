"""Model cards: YAML front matter the Hub reads (licence, datasets, ``model-index`` with task, dataset, split and
metrics), the data and split names, and BibTeX of every method's paper (NEZHA when it decodes with it)."""

import re

import pytest
import yaml
from helpers.tiny import TINY_MODELS, shared_root, tiny_model

from hf_genrec.hub import render_model_card
from hf_genrec.hub.cards import add_card_tags, card_metadata, model_license
from hf_genrec.hub.citations import BIBTEX

METRICS = {"test": {"metrics": {"recall@5": 0.2, "ndcg@5": 0.1, "recall@10": 0.3, "ndcg@10": 0.15}, "num_users": 9},
           "validation": {"step": 40, "recall@10": 0.31, "ndcg@10": 0.16, "users": 9, "ci95": 0.01}}
#: the ../shared/papers copy behind each method's entry
PAPERS = {"comeir": "comeir.md", "intrr": "intrr.md", "prism": "prism.md", "decor": "decor.md"}
ARXIV = {"prism": "2601.16556", "decor": "2509.10468", "comeir": "2605.11447", "intrr": "2602.20704",
         "nezha": "2511.18793"}


def bibtex_title(entry: str) -> str:
    return " ".join(re.search(r"title = \{(.*?)\},\n  author", entry, re.S).group(1).split())


def test_front_matter_parses_with_licence_datasets_and_model_index():
    model, _ = tiny_model("tiger", "t5")
    card = render_model_card(model, METRICS, {"learning_rate": 0.01}, "amazon-beauty-2014",
                             dataset_id="org/beauty-prepared")
    metadata = card_metadata(card)
    assert metadata["library_name"] == "hf_genrec" and metadata["license"] == "apache-2.0"
    assert metadata["datasets"] == ["org/beauty-prepared"]
    (entry,) = metadata["model-index"]
    assert entry["name"] == "tiger-amazon-beauty-2014"
    test, validation = entry["results"]
    for result, split in ((test, "test"), (validation, "validation")):
        assert result["task"] == {"type": "other", "name": "Sequential recommendation"}
        assert result["dataset"] == {"name": "amazon-beauty-2014", "type": "org/beauty-prepared", "split": split}
        assert all(set(m) == {"type", "value", "name"} for m in result["metrics"])
    assert {m["type"]: m["value"] for m in test["metrics"]} == METRICS["test"]["metrics"]
    assert {m["name"] for m in validation["metrics"]} == {"Recall@10 (validation)", "NDCG@10 (validation)"}
    body = card.split("\n---", 1)[1]
    assert "`amazon-beauty-2014`" in body and "huggingface.co/datasets/org/beauty-prepared" in body
    assert "the `validation` and `test` splits" in body and "| test | 0.2000 | 0.1000 | 0.3000 | 0.1500 |" in body


def test_licence_follows_the_training_data():
    assert model_license() == "apache-2.0" and model_license("mit") == "mit"
    assert model_license(license_note="research use only") == "other"
    model, _ = tiny_model("sasrec", "ce")
    card = render_model_card(model, {}, {}, "yelp-2019", redistribution_restricted=True, license_note="Yelp terms")
    assert card_metadata(card)["license"] == "other" and "model-index" not in card_metadata(card)
    assert "Yelp terms" in card and "restricts redistribution" in card and "kang2018sasrec" in card


@pytest.mark.parametrize("model_type", sorted(TINY_MODELS))
def test_every_method_cites_its_paper_as_bibtex(model_type):
    model, _ = tiny_model(model_type, next(iter(TINY_MODELS[model_type])))
    card = render_model_card(model, METRICS, {}, "toy")
    citation = card.split("## Citation", 1)[1]
    assert "```bibtex" in citation and BIBTEX[model_type] in citation
    assert "@" in BIBTEX[model_type] and "author = {" in BIBTEX[model_type] and "year = {" in BIBTEX[model_type]
    assert "nezha" not in citation.lower()
    if model_type in ARXIV:
        assert ARXIV[model_type] in BIBTEX[model_type]
    yaml.safe_load(card.split("---\n")[1])  # the front matter is plain YAML


@pytest.mark.parametrize("model_type,variant", [("tiger", "nezha_t5_separate_rnn"), ("intrr", "nezha_hstu"),
                                                ("comeir", "nezha")])
def test_nezha_is_cited_when_used(model_type, variant):
    model, _ = tiny_model(model_type, variant)
    citation = render_model_card(model, {}, {}).split("## Citation", 1)[1]
    assert BIBTEX[model_type] in citation and BIBTEX["nezha"] in citation and ARXIV["nezha"] in citation


@pytest.mark.parametrize("method", sorted(PAPERS))
def test_titles_match_the_papers(method):
    paper = shared_root() / "papers" / PAPERS[method]
    if not paper.exists():
        pytest.skip(f"{paper} not found")
    head = " ".join(paper.read_text(encoding="utf-8")[:3000].replace("\\*", "").replace("#", " ").split()).lower()
    assert bibtex_title(BIBTEX[method]).lower() in head


def test_tags_are_added_to_the_front_matter():
    model, _ = tiny_model("tiger", "t5")
    card = add_card_tags(render_model_card(model, METRICS, {}, "toy"), ["mine", "tiger"])
    metadata = card_metadata(card)
    assert metadata["tags"][-1] == "mine" and metadata["tags"].count("tiger") == 1
    assert metadata["model-index"][0]["results"][0]["dataset"]["split"] == "test" and "## Citation" in card
