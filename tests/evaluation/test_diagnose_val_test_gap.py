"""``scripts/diagnose_val_test_gap.py``: per-segment metrics of a saved model against the reference rankers."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers.tiny import train_tiny_t5_folder

from hf_genrec.data import PreparedDataset
from hf_genrec.evaluation import Evaluator, TransitionBaseline, evaluate_ranker

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "diagnose_val_test_gap.py"


def _run(*args):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_segments_of_a_trained_model_match_the_evaluator(prepared_synthetic, synthetic_sids, tmp_path):
    _, model, tokenizer = train_tiny_t5_folder("tiger", prepared_synthetic, synthetic_sids, tmp_path / "run")
    out = tmp_path / "gap"
    stdout = _run(tmp_path / "run" / "model", prepared_synthetic, "--out", out, "--subset", 50, "--batch-size", 64)
    assert "| transition-known target |" in stdout
    report = json.loads((out / "val_test_gap.json").read_text())

    prepared = PreparedDataset.load(prepared_synthetic)
    test = prepared.splits["test"]
    expected = Evaluator(tokenizer, (5, 10, 20), batch_size=64, show_progress=False).evaluate(model, test).metrics
    got = report["splits"]["test"]["metrics"]["model"]
    assert got == pytest.approx(expected)
    train = prepared.splits["train"]
    transition = evaluate_ranker(TransitionBaseline(prepared.num_items).fit(train["history"], train["target"]),
                                 test["history"], test["target"])
    assert report["splits"]["test"]["metrics"]["transition"] == pytest.approx(transition)

    segments = report["splits"]["test"]["segments"]
    assert segments["all"]["model recall@10"] == pytest.approx(expected["recall@10"])
    known, unknown = segments["transition-known target"], segments["transition-unknown target"]
    assert known["users"] + unknown["users"] == len(test)
    weighted = (known["users"] * known["transition recall@10"] + unknown["users"] * unknown["transition recall@10"])
    assert weighted / len(test) == pytest.approx(transition["recall@10"])
    assert report["splits"]["validation"]["segments"]["trainer's random subset"]["users"] == 50
    assert np.load(out / "ranked_model_test.npy").shape == (len(test), 20)

    # a rerun with --reuse reads the saved rankings and never loads the model
    _run(tmp_path / "no-such-model", prepared_synthetic, "--out", out, "--subset", 50, "--reuse")
    assert json.loads((out / "val_test_gap.json").read_text())["splits"] == report["splits"]

    # --known-only --keep-last 1: only the transition-known users, each seen through its last item; the transition
    # model reads only that item, so its recall there equals the known segment's of the full run
    short = tmp_path / "gap-last1"
    _run(tmp_path / "run" / "model", prepared_synthetic, "--out", short, "--known-only", "--keep-last", 1,
         "--batch-size", 64)
    narrowed = json.loads((short / "val_test_gap.json").read_text())
    assert narrowed["keep_last"] == 1 and narrowed["known_only"] is True
    for split in ("validation", "test"):
        full_known = report["splits"][split]["segments"]["transition-known target"]
        got = narrowed["splits"][split]["segments"]
        assert got["all"]["users"] == got["transition-known target"]["users"] == full_known["users"]
        assert got["history 1-2"]["users"] == full_known["users"]  # every history is one item long now
        assert got["all"]["transition recall@10"] == pytest.approx(full_known["transition recall@10"])
    assert np.load(short / "ranked_model_test.npy").shape == (full_known["users"], 20)
