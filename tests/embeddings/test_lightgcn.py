"""LightGCN collaborative embeddings (PRISM spec §1.1.1): graph, propagation, loss, training, keep modes, cache."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from hf_genrec.data import PrepareConfig, PreparedDataset, SyntheticConfig, generate_synthetic, prepare_dataset, read_dataset
from hf_genrec.data.schema import InteractionLog
from hf_genrec.embeddings import lightgcn
from hf_genrec.embeddings.lightgcn import (COLLAB_EMBEDDINGS_FILE, COLLAB_METADATA_FILE, InteractionGraph, bpr_loss,
                                           collab_embeddings, ego_l2, interaction_graph, load_collab_embeddings,
                                           normalized_adjacency, propagate, sample_negatives, train_lightgcn,
                                           validation_recall)

# Ranking quickly: a larger learning rate than the official 1e-3, few epochs.
FAST = dict(lr=1e-2, batch_size=512, eval_every=2)


def _prepared_from_sequences(sequences, max_history=20):
    rows = [(user, item, line) for line, (user, item) in
            enumerate(((u, i) for u, seq in sequences.items() for i in seq), start=2)]
    interactions = pd.DataFrame(rows, columns=["user_id", "item_id", "source_line"])
    log = InteractionLog(interactions=interactions, items=pd.DataFrame({"item_id": sorted(set(interactions.item_id))}))
    return prepare_dataset(log, PrepareConfig(min_user_interactions=1, min_item_interactions=1, max_history=max_history))


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """A small prepared synthetic dataset (no text encoder needed) in its own folder."""
    root = tmp_path_factory.mktemp("lightgcn")
    generate_synthetic(root / "raw", SyntheticConfig(num_users=400, num_items=240, seed=0))
    prepared = prepare_dataset(read_dataset(root / "raw"), PrepareConfig(max_history=10))
    prepared.save(root / "prepared")
    return root / "prepared"


@pytest.fixture(scope="module")
def runs(synthetic):
    """The same seeded run kept two ways; patience 3 stops it a few evaluations after its best."""
    prepared = PreparedDataset.load(synthetic)
    options = dict(FAST, epochs=40, patience=3, seed=0)
    return {keep: train_lightgcn(prepared, keep=keep, **options) for keep in ("best", "final")}, prepared


# ------------------------------------------------------------------------------------------ graph and propagation
def test_normalized_adjacency_and_propagation_equal_a_dense_reference():
    users, items = [0, 0, 1, 1, 2, 0], [0, 1, 1, 2, 3, 0]  # (0, 0) twice; item 4 has no training edge
    graph = InteractionGraph.from_pairs(users, items, num_users=3, num_items=5)
    dense = np.zeros((8, 8))
    for u, i in {(0, 0), (0, 1), (1, 1), (1, 2), (2, 3)}:
        dense[u, 3 + i] = dense[3 + i, u] = 1.0
    degree = dense.sum(1)
    scale = np.where(degree > 0, 1 / np.sqrt(np.maximum(degree, 1)), 0.0)
    expected = scale[:, None] * dense * scale[None, :]
    adjacency = normalized_adjacency(graph)
    assert adjacency.is_sparse
    assert np.allclose(adjacency.to_dense().numpy(), expected)
    assert np.isclose(expected[0, 3], 1 / np.sqrt(2 * 1))  # user 0 has degree 2 (the duplicate counts once)

    ego = torch.randn(8, 4, dtype=torch.float32)
    reference = np.mean([np.linalg.matrix_power(expected, k) @ ego.numpy() for k in range(4)], axis=0)
    assert np.allclose(propagate(adjacency, ego, 3).numpy(), reference, atol=1e-6)
    assert np.allclose(propagate(adjacency, ego, 3)[7].numpy(), ego[7].numpy() / 4)  # isolated item: ego / (K + 1)
    assert torch.equal(propagate(adjacency, ego, 0), ego)


def test_graph_holds_training_part_only_and_each_pair_once():
    sequences = {"A": ["i1", "i2", "i1", "i3", "i4", "i5"],  # train i1 i2 i1 i3 | valid i4 | test i5
                 "B": ["i2", "i3", "i4", "i6", "i7"]}  # train i2 i3 i4 | valid i6 | test i7
    for max_history in (20, 1):  # truncated histories must not lose training items
        prepared = _prepared_from_sequences(sequences, max_history=max_history)
        ids = {item: index for index, item in enumerate(prepared.items["item_id"])}
        graph = interaction_graph(prepared)
        pairs = {(int(u), int(i)) for u, i in zip(graph.users, graph.items)}
        assert len(pairs) == len(graph.users)  # i1 bought twice by A: one edge
        expected = {(0, ids[i]) for i in ("i1", "i2", "i3")} | {(1, ids[i]) for i in ("i2", "i3", "i4")}
        assert pairs == expected
        assert graph.num_users == 2 and graph.num_items == 7
        assert sorted(graph.valid_targets.tolist()) == sorted([ids["i4"], ids["i6"]])
        degrees = np.bincount(graph.items, minlength=7)
        assert all(degrees[ids[i]] == 0 for i in ("i5", "i6", "i7"))  # validation / test only: no edge


def test_graph_rejects_ids_out_of_range():
    with pytest.raises(ValueError, match=r"item ids must lie in \[0, 3\)"):
        InteractionGraph.from_pairs([0], [3], num_users=1, num_items=3)


# ------------------------------------------------------------------------------------------ loss and sampling
def test_bpr_loss_and_ego_l2_against_hand_computation():
    u = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    pos = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    neg = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    # s_pos = (2, 2), s_neg = (1, 0): mean(log(1 + e^-1), log(1 + e^-2))
    assert torch.isclose(bpr_loss(u, pos, neg), torch.tensor((np.log1p(np.exp(-1)) + np.log1p(np.exp(-2))) / 2,
                                                             dtype=torch.float32))
    # 0.5 * (1 + 4 + 4 + 1 + 2 + 1) / 2
    assert torch.isclose(ego_l2(u, pos, neg), torch.tensor(13 / 4))


def test_negatives_are_never_training_positives():
    graph = InteractionGraph.from_pairs([0, 0, 0, 1], [0, 1, 2, 0], num_users=2, num_items=4)
    rng = np.random.default_rng(0)
    users = np.array([0] * 200 + [1] * 200)
    negatives = sample_negatives(users, graph, rng)
    assert set(negatives[:200].tolist()) == {3}
    assert set(negatives[200:].tolist()) == {1, 2, 3}
    full = InteractionGraph.from_pairs([0, 0], [0, 1], num_users=1, num_items=2)
    with pytest.raises(ValueError, match="user 0"):
        sample_negatives(np.array([0]), full, rng, max_rounds=5)


def test_validation_recall_masks_training_items():
    graph = InteractionGraph.from_pairs([0], [0], num_users=1, num_items=3, valid_users=[0], valid_targets=[1])
    users = torch.tensor([[1.0]])
    items = torch.tensor([[3.0], [2.0], [1.0]])  # the training item 0 scores highest, the target second
    assert validation_recall(users, items, graph, k=1) == 1.0
    graph.valid_targets = np.array([2])
    assert validation_recall(users, items, graph, k=1) == 0.0


# ------------------------------------------------------------------------------------------ training
def test_training_lowers_bpr_loss_and_ranks_better_than_random(runs):
    (results, prepared) = runs
    result = results["final"]
    losses = [row["loss"] for row in result.history]
    assert losses[-1] < 0.5 * losses[0]
    graph = interaction_graph(prepared)
    train_counts = np.bincount(graph.users, minlength=graph.num_users)[graph.valid_users]
    random_recall = np.mean(np.minimum(1.0, 20 / (graph.num_items - train_counts)))
    assert result.best_validation_recall > 2.5 * random_recall
    assert result.item_embeddings.shape == (prepared.num_items, 64) and result.item_embeddings.dtype == torch.float32
    assert result.user_embeddings.shape == (graph.num_users, 64)


def test_keep_best_returns_the_best_checkpoint_and_final_the_last(runs):
    (results, prepared) = runs
    best, final = results["best"], results["final"]
    assert best.history == final.history  # same seed, same run
    recalls = [row["recall@20"] for row in best.history]
    assert final.stopped == "early_stopping" and final.epochs_run == best.best_epoch + 3 * 2 < 40
    assert best.best_epoch < final.epochs_run and max(recalls) > recalls[-1]  # the case where the modes differ
    assert best.validation_recall == max(recalls) and final.validation_recall == recalls[-1]
    graph = interaction_graph(prepared)
    for result in (best, final):  # the recorded recall is the one of the returned tables
        assert validation_recall(result.user_embeddings, result.item_embeddings, graph) == result.validation_recall
    assert not torch.equal(best.item_embeddings, final.item_embeddings)


def test_options_are_checked(synthetic):
    prepared = PreparedDataset.load(synthetic)
    with pytest.raises(ValueError, match="keep must be one of"):
        train_lightgcn(prepared, keep="last")
    with pytest.raises(ValueError, match="batch_size"):
        train_lightgcn(prepared, batch_size=0)


# ------------------------------------------------------------------------------------------ cache
def test_cache_reloads_matching_options_and_retrains_on_mismatch(synthetic, monkeypatch):
    calls = []
    real = lightgcn.train_lightgcn

    def counted(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(lightgcn, "train_lightgcn", counted)
    with pytest.raises(FileNotFoundError, match="no LightGCN embeddings"):
        load_collab_embeddings(synthetic)
    first = collab_embeddings(synthetic, epochs=2, **FAST)
    assert len(calls) == 1 and (synthetic / COLLAB_EMBEDDINGS_FILE).exists()
    meta = json.loads((synthetic / COLLAB_METADATA_FILE).read_text())
    assert meta["options"]["epochs"] == 2 and meta["options"]["dim"] == 64 and meta["options"]["keep"] == "best"
    assert 0.0 < meta["validation_recall@20"] <= 1.0 and meta["epochs_run"] == 2

    again = collab_embeddings(synthetic, epochs=2, **FAST)
    assert len(calls) == 1 and torch.equal(again, first)
    stored, stored_meta = load_collab_embeddings(synthetic)
    assert torch.equal(stored, first) and stored_meta["options_sha256"] == meta["options_sha256"]

    changed = collab_embeddings(synthetic, epochs=2, dim=16, **FAST)
    assert len(calls) == 2 and changed.shape == (first.shape[0], 16)
    assert json.loads((synthetic / COLLAB_METADATA_FILE).read_text())["options"]["dim"] == 16
    collab_embeddings(synthetic, epochs=2, dim=16, overwrite=True, **FAST)
    assert len(calls) == 3
    with pytest.raises(TypeError, match="unknown LightGCN option"):
        collab_embeddings(synthetic, layers=2)


def test_time_budget_stops_and_still_measures_the_returned_model(synthetic):
    prepared = PreparedDataset.load(synthetic)
    result = train_lightgcn(prepared, epochs=50, max_minutes=1e-9, keep="final", **FAST)
    assert result.stopped == "time_budget" and result.epochs_run == 1
    assert [row["epoch"] for row in result.history] == [1]  # evaluated although epoch 1 is not an eval epoch
    assert result.validation_recall == result.history[0]["recall@20"]
