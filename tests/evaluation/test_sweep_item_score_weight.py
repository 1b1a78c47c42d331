"""``scripts/sweep_item_score_weight.py``: the decoding-time item-score weight chosen on validation, read on test."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers.tiny import train_tiny_t5_folder
from transformers import AutoModel

from hf_genrec.data import PreparedDataset
from hf_genrec.evaluation import Evaluator
from hf_genrec.evaluation.metrics import rank_metrics
from hf_genrec.training import GenRecCollator

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "sweep_item_score_weight.py"


def _run(*args):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, env=env)


def test_every_weight_matches_the_evaluator_and_the_saved_model_decodes_with_the_chosen_one(
        prepared_synthetic, synthetic_sids, tmp_path):
    _, model, tokenizer = train_tiny_t5_folder("tiger", prepared_synthetic, synthetic_sids, tmp_path / "run",
                                               architecture="decoder_only", item_id_embedding=True,
                                               item_id_loss_weight=1.0)
    out, saved = tmp_path / "sweep", tmp_path / "chosen"
    done = _run(tmp_path / "run" / "model", prepared_synthetic, "--out", out, "--weights", "0,0.5,3",
                "--max-users", 60, "--num-beams", 8, "--save-model", saved)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert (out / "sweep.png").stat().st_size > 0 and "| item transition |" in (out / "sweep.md").read_text()
    validation = summary["splits"]["validation"]["weights"]
    assert summary["chosen_weight"] == max(summary["weights"], key=lambda w: (validation[str(w)]["recall@10"],
                                                                             validation[str(w)]["ndcg@10"]))
    assert summary["splits"]["test"]["weights"]["3.0"] != summary["splits"]["test"]["weights"]["0.0"]  # it reranks
    test = PreparedDataset.load(prepared_synthetic).splits["test"]
    evaluator = Evaluator(tokenizer, num_beams=8, max_users=60, show_progress=False)
    assert summary["splits"]["test"]["weights"]["0.0"] == pytest.approx(evaluator.evaluate(model, test).metrics)
    chosen = AutoModel.from_pretrained(saved).eval()
    assert chosen.config.item_score_weight == summary["chosen_weight"]
    model.config.item_id_loss_weight, model.config.item_score_weight = 1.0, 3.0
    assert summary["splits"]["test"]["weights"]["3.0"] == pytest.approx(evaluator.evaluate(model, test).metrics)
    assert summary["test_at_chosen"] == pytest.approx(evaluator.evaluate(chosen, test).metrics)

    rows = evaluator.users(test)  # the item scores alone: the top items of item_log_probs over the whole catalog
    batch = GenRecCollator(tokenizer, mode="flat", max_history=10, with_labels=False)(
        [dict(zip(rows.column_names, values)) for values in zip(*(rows[name] for name in rows.column_names))])
    top = model.item_log_probs(**batch).topk(20, dim=-1).indices.numpy()
    alone = rank_metrics(top, np.asarray(rows["target"]))
    assert summary["splits"]["test"]["item_scores_alone"] == pytest.approx(alone)


def test_a_model_without_item_scores_is_refused(prepared_synthetic, synthetic_sids, tmp_path):
    train_tiny_t5_folder("tiger", prepared_synthetic, synthetic_sids, tmp_path / "run")
    done = _run(tmp_path / "run" / "model", prepared_synthetic, "--out", tmp_path / "sweep")
    assert done.returncode != 0 and "item_id_loss_weight" in done.stderr
    assert not (tmp_path / "sweep" / "summary.json").exists()
