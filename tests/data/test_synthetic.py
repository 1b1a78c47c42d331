"""The embedded default: deterministic, in the two-file format, and with a learnable sequential signal."""

import hashlib

import pytest

from hf_genrec.data import SyntheticConfig, generate_synthetic, prepare_dataset, read_dataset
from hf_genrec.evaluation import MostPopular, TransitionBaseline, evaluate_ranker


def digest(folder):
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in ("interactions.tsv", "items.jsonl")}


def test_deterministic_by_seed(tmp_path):
    config = SyntheticConfig(num_users=200, num_items=300, seed=7)
    generate_synthetic(tmp_path / "a", config)
    generate_synthetic(tmp_path / "b", config)
    generate_synthetic(tmp_path / "c", SyntheticConfig(num_users=200, num_items=300, seed=8))
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert digest(tmp_path / "a") != digest(tmp_path / "c")


def test_two_file_format_with_category_tree(tmp_path):
    summary = generate_synthetic(tmp_path / "syn", SyntheticConfig(num_users=150, num_items=200, seed=1))
    log = read_dataset(tmp_path / "syn")
    assert log.source["format"] == "two-file"
    assert len(log.interactions) == summary["interactions"] and log.interactions["user_id"].nunique() == 150
    header = (tmp_path / "syn" / "interactions.tsv").read_text().splitlines()[0].split("\t")
    assert header == ["user_id", "item_id", "timestamp", "user_idx", "item_idx", "position"]
    paths = log.items["category_path"].tolist()
    assert all(len(p) == 3 for p in paths) and len({tuple(p) for p in paths}) == 54
    assert all(row.title and row.brand in row.title for row in log.items.itertuples())
    # timestamps are day-resolution and non-decreasing within each user, with some same-day ties
    frame = log.interactions
    diffs = frame.groupby("user_id", sort=False)["timestamp"].diff().dropna()
    assert (diffs >= 0).all() and (diffs == 0).any() and (frame["timestamp"] % 86400 == 0).all()


def test_too_few_items_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="num_items must be at least"):
        generate_synthetic(tmp_path / "x", SyntheticConfig(num_items=20))


def test_sequential_signal_beats_popularity(tmp_path):
    """A first-order transition model must clearly beat most-popular on the default catalog."""
    generate_synthetic(tmp_path / "syn", SyntheticConfig(seed=0))
    prepared = prepare_dataset(read_dataset(tmp_path / "syn"))
    train, test = prepared.splits["train"], prepared.splits["test"]
    popular = evaluate_ranker(MostPopular(prepared.num_items).fit(train["history"], train["target"]),
                              test["history"], test["target"])
    markov = evaluate_ranker(TransitionBaseline(prepared.num_items).fit(train["history"], train["target"]),
                             test["history"], test["target"])
    assert prepared.statistics["users"] > 2900 and prepared.statistics["items"] > 1100
    assert markov["recall@10"] > 2 * popular["recall@10"] and markov["recall@10"] > 0.15
    assert markov["ndcg@10"] > 2 * popular["ndcg@10"]
