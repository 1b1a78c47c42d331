"""Evaluation: the evaluate metric module, popularity groups, the Evaluator and ``hf-genrec evaluate``."""

import json

import evaluate
import numpy as np
import pytest
import torch

from hf_genrec.evaluation import Evaluator, popularity_groups, rank_metrics, recall_ndcg_metric_path
from hf_genrec.models.tiger import TigerConfig, TigerForGenerativeRecommendation
from hf_genrec.tokenization import SIDTokenizer


def untrained_tiger(num_items: int):
    """A tiny random TIGER over a structured 3-level catalog of ``num_items`` items, and its tokenizer."""
    index = torch.arange(num_items)
    codes = torch.stack([index // 64, (index // 8) % 8, index % 8], 1)
    tok = SIDTokenizer.from_sids(codes, [int(codes[:, 0].max()) + 1, 8, 8])
    torch.manual_seed(0)
    model = TigerForGenerativeRecommendation(TigerConfig(codebook_sizes=tok.codebook_sizes, num_items=num_items,
                                                         hidden_size=32, intermediate_size=64, num_layers=1, num_decoder_layers=1,
                                                         num_heads=2, d_kv=16, max_history=5))
    model.set_catalog(tok)
    return model, tok


def test_evaluate_metric_module_matches_the_plain_function():
    rng = np.random.default_rng(0)
    ranked = np.stack([rng.permutation(30)[:20] for _ in range(50)])
    targets = rng.integers(0, 30, size=50)
    metric = evaluate.load(recall_ndcg_metric_path())
    result = metric.compute(predictions=ranked.tolist(), references=targets.tolist(), k_values=[5, 10, 20])
    expected = rank_metrics(ranked, targets, (5, 10, 20))
    assert result.keys() == expected.keys()
    for key in expected:
        assert result[key] == pytest.approx(expected[key])


def test_popularity_groups_have_equal_sizes_and_follow_counts():
    counts = [5, 0, 9, 9, 1, 3, 7, 2, 0]
    groups = popularity_groups(counts)
    assert np.bincount(groups).tolist() == [3, 3, 3]
    assert groups[[2, 3, 6]].tolist() == [0, 0, 0]  # the three most frequent items are "popular"
    assert set(groups[[1, 8, 4]].tolist()) == {2}


def test_evaluator_on_a_small_model(prepared_synthetic):
    from hf_genrec.data import PreparedDataset

    prepared = PreparedDataset.load(prepared_synthetic)
    model, tok = untrained_tiger(prepared.num_items)
    result = Evaluator(tok, ks=(5, 10), num_beams=10, batch_size=32, max_users=64, show_progress=False).evaluate(
        model, prepared.splits["test"], prepared.items["train_count"])
    assert result.num_users == 64 and set(result.metrics) == {"recall@5", "ndcg@5", "recall@10", "ndcg@10"}
    assert 0.0 <= result.metrics["recall@5"] <= result.metrics["recall@10"] <= 1.0
    assert sum(group["users"] for group in result.groups.values()) == 64
    assert result.latency["batches"] == 2 and result.latency["mean_ms_per_batch"] > 0
    assert result.subset == {"users": 64, "of": len(prepared.splits["test"]), "seed": 0}
    assert set(result.ci95) == set(result.metrics) and all(value >= 0 for value in result.ci95.values())


def test_validation_subset_is_random_fixed_and_seeded(prepared_synthetic):
    from hf_genrec.data import PreparedDataset

    split = PreparedDataset.load(prepared_synthetic).splits["validation"]
    pick = lambda seed: Evaluator(None, max_users=30, subset_seed=seed).users(split)["user_idx"]  # noqa: E731
    assert pick(0) == pick(0)  # the same users at every evaluation
    assert pick(0) != pick(1) and len(set(pick(1))) == 30
    assert pick(0) != split.select(range(30))["user_idx"]  # not the first users of the split
    assert len(Evaluator(None, max_users=10 ** 6).users(split)) == len(split)


def test_evaluate_cli_writes_metrics(prepared_synthetic, tmp_path, capsys, monkeypatch):
    from hf_genrec.cli import main
    from hf_genrec.data import PreparedDataset

    model, tok = untrained_tiger(PreparedDataset.load(prepared_synthetic).num_items)
    model.save_pretrained(tmp_path / "model")
    tok.save_pretrained(tmp_path / "model")
    (tmp_path / "model" / "metrics.json").write_text('{"test": "the training run\'s metrics"}')
    monkeypatch.chdir(tmp_path)
    code = main(["evaluate", "--model", str(tmp_path / "model"), "--data", str(prepared_synthetic), "--split",
                 "validation", "--max-users", "40", "--num-beams", "10", "--batch-size", "20", "--ks", "5,10"])
    assert code == 0
    out = tmp_path / "runs" / "evaluate" / "model-validation"  # its own folder by default
    assert json.loads((tmp_path / "model" / "metrics.json").read_text()) == {"test": "the training run's metrics"}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["split"] == "validation" and metrics["num_users"] == 40 and "recall@10" in metrics["metrics"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["command"] == "evaluate" and summary["latency"]["batches"] == 2
    printed = capsys.readouterr().out
    assert "recall@10" in printed and "95% CI" in printed and metrics["ci95"]["recall@10"] >= 0
    # a model for another catalog is refused with a clear message
    other = TigerForGenerativeRecommendation(TigerConfig(codebook_sizes=[2, 2], num_items=4, hidden_size=32, intermediate_size=64,
                                                         num_layers=1, num_decoder_layers=1, num_heads=2, d_kv=16))
    other.set_catalog(torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]]))
    other.save_pretrained(tmp_path / "other")
    SIDTokenizer.from_sids([[0, 0], [0, 1], [1, 0], [1, 1]], [2, 2]).save_pretrained(tmp_path / "other")
    assert main(["evaluate", "--model", str(tmp_path / "other"), "--data", str(prepared_synthetic)]) == 2
    assert "knows 4 items" in capsys.readouterr().err
