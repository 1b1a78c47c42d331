"""The reproduction harness: every registry entry points at an existing config and at published rows that exist,
the published numbers are well formed, and a table runs end to end on the embedded default (tier ``test``)."""

import json
import math

import pytest
import torch

from helpers.tiny import REPO_ROOT

from hf_genrec.cli import main
from hf_genrec.reproduce import EXPERIMENTS, TABLES, published_rows
from hf_genrec.reproduce.registry import resolve_published


def test_every_experiment_has_a_config_tiers_and_the_published_rows_it_names():
    for experiment in EXPERIMENTS.values():
        assert (REPO_ROOT / "examples" / "configs" / experiment.config).exists(), experiment.key
        assert {"cpu", "gpu", "test"} <= set(experiment.tiers), experiment.key
    for (paper, table, dataset), spec in TABLES.items():
        for key in spec.experiments:
            for reference in EXPERIMENTS[key].compare_with:
                assert resolve_published(reference, dataset), f"{key}: no published row {reference} on {dataset}"


def test_the_hybrid_rows_and_their_controls_differ_from_the_published_model_only_as_labelled():
    """The laptop table separates the item-ID input from the dropout change: each row's model must differ from
    IntRR-HSTU's config in exactly the options its label names."""
    import yaml

    def model_of(key):
        experiment = EXPERIMENTS[key]
        config = yaml.safe_load((REPO_ROOT / "examples" / "configs" / experiment.config).read_text())
        model = dict(config["model"])
        model.update({k.split(".", 1)[1]: v for k, v in experiment.tiers["cpu"].items() if k.startswith("model.")})
        return model

    base = model_of("intrr-hstu-beauty")
    expected = {"intrr-hstu-beauty-dropout": {"dropout_rate": 0.5},
                "intrr-hstu-beauty-itemid": {"item_id_embedding": True},
                "intrr-hstu-beauty-itemid-dropout": {"dropout_rate": 0.5, "item_id_embedding": True}}
    for key, changes in expected.items():
        model = model_of(key)
        changed = {name: model.get(name) for name in set(model) | set(base) if model.get(name) != base.get(name)}
        assert changed == changes, key
    for key in ("intrr-hstu-beauty-dropout", "intrr-hstu-beauty-itemid", "intrr-hstu-beauty-itemid-dropout"):
        training = {k: v for k, v in EXPERIMENTS[key].tiers["cpu"].items() if not k.startswith("model.")}
        assert training == EXPERIMENTS["intrr-hstu-beauty"].tiers["cpu"], key
    assert model_of("comeir-small-beauty-itemid") == {**model_of("comeir-small-beauty"), "item_id_embedding": True}
    assert model_of("tiger-beauty-itemid") == {**model_of("tiger-beauty"), "item_id_embedding": True}
    assert model_of("sasrec-beauty-h256") == {**model_of("sasrec-beauty"), "hidden_size": 256}
    assert model_of("sasrec-beauty-from-oldest") == {**model_of("sasrec-beauty"), "positions": "from_oldest"}
    assert model_of("hstu-flattened-beauty-recipe-itemid-dropout") == {
        **model_of("hstu-flattened-beauty-recipe"), "item_id_embedding": True, "dropout_rate": 0.5}
    assert (EXPERIMENTS["hstu-flattened-beauty-recipe-itemid-dropout"].tiers["cpu"]
            == {**EXPERIMENTS["hstu-flattened-beauty-recipe"].tiers["cpu"], "model.item_id_embedding": True,
                "model.dropout_rate": 0.5})
    assert model_of("tiger-decoder-only-beauty-itemid") == {**model_of("tiger-decoder-only-beauty"),
                                                             "item_id_embedding": True}
    assert model_of("tiger-decoder-only-beauty-itemid-dropout") == {**model_of("tiger-decoder-only-beauty-itemid"),
                                                                     "input_dropout": 0.5}
    hybrid = EXPERIMENTS["tiger-decoder-only-beauty-itemid-dropout"]
    assert model_of("tiger-decoder-only-beauty-itemid-dropout-itemloss") == {
        **model_of("tiger-decoder-only-beauty-itemid-dropout"), "item_id_loss_weight": 1.0}
    for key, source in (("collab", "collab"), ("contentcollab", "content+collab")):  # only the SIDs' inputs differ
        experiment = EXPERIMENTS[f"tiger-decoder-only-beauty-itemid-dropout-{key}"]
        assert experiment.tiers == hybrid.tiers and experiment.config == hybrid.config, key
        assert dict(experiment.recipe.quantizer_options) == {**dict(hybrid.recipe.quantizer_options),
                                                           "embeddings": source, "lightgcn_max_minutes": 10}, key
    # the same recipe and effective batch as the flattened HSTU (256 windows, accumulated in two halves)
    recipe, decoder_only = (EXPERIMENTS[key].tiers["cpu"] for key in ("hstu-flattened-beauty-recipe",
                                                                       "tiger-decoder-only-beauty"))
    assert decoder_only["training.batch_size"] * decoder_only["training.gradient_accumulation_steps"] == 256
    assert {**decoder_only, "training.batch_size": 256, "training.gradient_accumulation_steps": 1} == {
        **recipe, "training.gradient_accumulation_steps": 1}
    plain = EXPERIMENTS["hstu-flattened-beauty"].tiers["cpu"]
    assert plain["training.batch_size"] == 256 and "training.mixed_precision" not in plain
    assert "training.batch_size" not in EXPERIMENTS["hstu-flattened-beauty"].tiers["gpu"]  # the paper's 512


def test_published_rows_are_as_printed_and_sourced():
    rows = published_rows()
    assert len(rows) > 150
    keys = [(r.paper, r.table, r.dataset, r.method) for r in rows]
    assert len(keys) == len(set(keys)), "each published row is named once"
    for row in rows:
        assert row.source and all(0 <= value for value in row.metrics.values())
        if row.metrics and all(key.startswith(("recall", "ndcg", "hr")) for key in row.metrics):
            assert all(value <= 1 for value in row.metrics.values()), row
    intrr = {r.method: r.metrics for r in rows if r.paper == "intrr" and r.table == "1" and r.dataset == "beauty"}
    assert intrr["HSTU + IntRR [RK-Means]"] == {"recall@5": 0.0423, "recall@10": 0.0612, "ndcg@5": 0.0292,
                                                "ndcg@10": 0.0353}
    comeir = [r for r in rows if r.paper == "comeir"]
    assert comeir and all(not r.metrics for r in comeir)  # its values are images in the paper text: never guessed


def test_a_table_runs_end_to_end_on_the_embedded_default(tmp_path, capsys):
    out = tmp_path / "reproduce" / "smoke"
    code = main(["reproduce", "--paper", "hf_genrec", "--table", "smoke", "--dataset", "synthetic", "--tier", "test",
                 "--out", str(out), "training.eval_max_users=50", "training.eval_num_beams=5"])
    assert code == 0
    result = json.loads((out / "results.json").read_text())
    assert {run["experiment"] for run in result["runs"]} == {"sasrec-synthetic", "tiger-synthetic"}
    assert all(run["metrics"]["recall@10"] >= 0 for run in result["runs"])
    assert set(result["baselines"]["synthetic-h10/rqkmeans-3x64-suffix"]) == {"most_popular", "item_transition"}
    table = (out / "results.md").read_text()
    assert "item transition" in table and "SASRec (CE)" in table and (out / "results.png").exists()
    printed = capsys.readouterr()
    assert "SASRec (CE)" in printed.out
    # the log names each run as it starts and its test metrics when it ends (reproduce runs show no progress bars)
    assert "sasrec-synthetic, seed 42: training (test tier) into" in printed.err
    assert "tiger-synthetic, seed 42: 3 steps, test recall@10 " in printed.err
    # validation Recall@10 against minutes for each run, and the transition model on the same 50 validation users
    for run in result["runs"]:
        curve = run["validation"]
        assert curve["users"] == 50 and len(curve["minutes"]) == len(curve["recall@10"]) >= 1
        assert 0 < curve["transition_recall@10"] < 1
        passed = curve["minutes_to_pass_transition"]
        assert passed is None or passed in curve["minutes"]
    assert "Time to pass the item-transition model" in table and (out / "curves.png").exists()
    # every run records the CPU it had (threads, load average) and the table shows it beside its steps
    for run in result["runs"]:
        assert run["cpu"]["torch_threads"] == torch.get_num_threads() and run["cpu"]["cores"] >= 1
        cell = f"| {run['global_step']} | {run['cpu']['torch_threads']} thread"
        assert any(line.startswith(f"| {run['label']} | 42 |") and cell in line for line in table.splitlines())
    # a second call reads the finished runs back instead of training again
    assert main(["reproduce", "--paper", "hf_genrec", "--table", "smoke", "--dataset", "synthetic", "--tier", "test",
                 "--out", str(out)]) == 0
    assert "sasrec-synthetic, seed 42: finished earlier, read back from" in capsys.readouterr().err
    # a later seed runs on its own (--first-seed) and joins seed 42 when the table is run again with --seeds 2
    common = ["reproduce", "--paper", "hf_genrec", "--table", "smoke", "--dataset", "synthetic", "--tier", "test",
              "--only", "sasrec-synthetic", "--out", str(out), "training.eval_max_users=50"]
    assert main(common + ["--first-seed", "43"]) == 0
    alone = json.loads((out / "results.json").read_text())
    assert [run["seed"] for run in alone["runs"]] == [43] and alone["first_seed"] == 43
    assert "1 seed(s) from 43" in (out / "results.md").read_text()
    seed43 = out / "runs" / "sasrec-synthetic-s43" / "summary.json"
    written = seed43.stat().st_mtime_ns
    assert main(common + ["--seeds", "2"]) == 0
    joined = json.loads((out / "results.json").read_text())
    assert [run["seed"] for run in joined["runs"]] == [42, 43] and seed43.stat().st_mtime_ns == written


def test_unknown_tables_and_experiments_are_clear_errors(tmp_path, capsys):
    assert main(["reproduce", "--paper", "intrr", "--table", "9", "--dataset", "beauty", "--out", str(tmp_path)]) == 2
    assert "no reproduction table" in capsys.readouterr().err
    assert main(["reproduce", "--paper", "hf_genrec", "--table", "smoke", "--dataset", "synthetic", "--only",
                 "nope", "--out", str(tmp_path)]) == 2
    assert "--only" in capsys.readouterr().err
    assert main(["reproduce", "--paper", "hf_genrec", "--table", "smoke", "--dataset", "synthetic", "--only",
                 "sasrec-synthetic", "tiger-synthetic", "--out", str(tmp_path)]) == 2
    assert "separated by commas" in capsys.readouterr().err


def test_the_budget_a_curve_needs_is_extrapolated_log_linearly():
    from hf_genrec.reproduce.runner import extrapolate_minutes

    # recall = 0.01 * ln(minutes): reaching 0.05 needs e^5 minutes
    curve = [(m, 0.01 * math.log(m)) for m in (2.0, 4.0, 8.0, 16.0, 32.0)]
    assert extrapolate_minutes(curve, 0.05) == pytest.approx(math.exp(5), rel=1e-3)
    assert extrapolate_minutes([(1.0, 0.02), (2.0, 0.02), (3.0, 0.01)], 0.05) is None  # not rising
    assert extrapolate_minutes([(1.0, 0.01), (2.0, 0.02)], 0.05) is None  # too short
    assert extrapolate_minutes([(21.2, 0.0323), (42.4, 0.034), (44.8, 0.0343)], 0.0857) is None  # flat: 10^10 min


def test_gains_over_a_reference_row_and_the_papers_own_gains():
    from hf_genrec.reproduce.runner import published_gains, reference_gains, render_markdown

    gains = {(g["dataset"], g["method"]): g["gain_pct"] for g in published_gains("decor", "2", "Base (TIGER)")}
    assert gains[("scientific", "DECOR (Full)")]["recall@10"] == pytest.approx((0.0469 / 0.0431 - 1) * 100)
    assert ("scientific", "Base (TIGER)") not in gains and len(gains) == 15  # 5 variants x 3 datasets

    def row(key, label, recall):
        return {"experiment": key, "label": label, "ours": {"recall@10": {"mean": recall, "std": 0.0, "n": 1}},
                "minutes": [1.0], "stopped_by_time_budget": False, "recipe": "r", "published": []}

    result = {"caption": "c", "tier": "cpu", "seeds": 1, "hardware": {"cpu_count": 2, "gpu": None}, "minutes": 1,
              "hf_genrec_version": "0", "baselines": {}, "runs": [], "reference": "base",
              "published_gains": published_gains("decor", "2", "Base (TIGER)"),
              "rows": [row("base", "Base (TIGER)", 0.04), row("full", "DECOR (Full)", 0.05)]}
    assert reference_gains(result) == {"full": {"recall@10": pytest.approx(25.0)}}
    text = render_markdown(result)
    assert "Relative to **Base (TIGER)**" in text and "| DECOR (Full) | +25.0% |" in text
    assert "| scientific | DECOR (Full) |" in text
