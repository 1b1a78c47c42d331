"""The ``hf-genrec`` command line: prepare, synthetic and quickstart write summaries; errors exit cleanly."""

import json
import os
import subprocess
import sys

from helpers.writers import write_lines, write_two_file

from hf_genrec.cli import main
from hf_genrec.commands.quickstart import run_quickstart
from hf_genrec.data import PreparedDataset, SyntheticConfig
from hf_genrec.embeddings import load_item_embeddings


def test_console_entry_point_is_installed():
    bin_dir = os.path.dirname(sys.executable)
    result = subprocess.run([os.path.join(bin_dir, "hf-genrec"), "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and "hf_genrec" in result.stdout


def test_help_and_a_mistyped_command_answer_without_loading_torch_or_transformers():
    """``hf-genrec --help`` starts like a light tool (``scripts/bench_startup.py`` measures how fast)."""
    probe = ("import sys\nfrom hf_genrec.cli import main\n"
             "try:\n    main(sys.argv[1:])\nexcept SystemExit as exit:\n    code = exit.code\n"
             "print('LOADED', sorted(m for m in ('torch', 'transformers', 'datasets', 'pandas') if m in sys.modules))")
    for args, code in ((["--help"], 0), (["train", "--help"], 0), (["evaluate", "--help"], 0), (["trian"], 2)):
        result = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stdout.strip().splitlines()[-1] == "LOADED []", (args, result.stdout[-500:])
        if args == ["trian"]:
            assert "invalid choice: 'trian'" in result.stderr


def test_synthetic_then_prepare_with_embeddings(tmp_path, capsys):
    assert main(["synthetic", "--out", str(tmp_path / "raw"), "--users", "120", "--items", "200", "--seed", "3"]) == 0
    assert json.loads((tmp_path / "raw" / "summary.json").read_text())["command"] == "synthetic"
    code = main(["prepare", "--data", str(tmp_path / "raw"), "--out", str(tmp_path / "prep"), "--kcore", "2",
                 "--max-history", "5", "--export-parquet"])
    assert code == 0
    summary = json.loads((tmp_path / "prep" / "summary.json").read_text())
    assert summary["command"] == "prepare" and summary["config"]["max_history"] == 5
    assert summary["embeddings"]["dim"] == 384 and summary["embeddings"]["cache"] == "miss"
    prepared = PreparedDataset.load(tmp_path / "prep")
    assert max(len(h) for h in prepared.splits["train"]["history"]) <= 5
    embeddings, meta = load_item_embeddings(tmp_path / "prep")
    assert embeddings.shape == (prepared.num_items, 384)
    assert (tmp_path / "prep" / "parquet" / "data" / "train-00000-of-00001.parquet").exists()
    assert "users" in capsys.readouterr().out


def test_prepare_table_format_with_column_mapping(tmp_path):
    rows = ["who;what;when"] + [f"u{u};i{(u + k) % 4};{k}" for u in range(3) for k in range(4)]
    write_lines(tmp_path / "log.csv", [r.replace(";", ",") for r in rows])
    code = main(["prepare", "--data", str(tmp_path / "log.csv"), "--format", "table", "--user-col", "who",
                 "--item-col", "what", "--time-col", "when", "--time-unit", "s", "--kcore", "1", "--no-embed",
                 "--out", str(tmp_path / "out")])
    assert code == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["statistics"]["interactions"] == 12 and summary["embeddings"] is None


def test_bad_input_exits_with_message_and_no_output(tmp_path, capsys):
    write_lines(tmp_path / "bad" / "interactions.tsv", ["user_id\titem_id\ttimestamp", "u\ti\tnot-a-time"])
    code = main(["prepare", "--data", str(tmp_path / "bad"), "--out", str(tmp_path / "out"), "--no-embed"])
    err = capsys.readouterr().err
    assert code == 2 and "line 2" in err and "interactions.tsv" in err
    assert not (tmp_path / "out").exists()
    write_two_file(tmp_path / "ok", {"u": ["a", "b", "c"]})
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("x")
    code = main(["prepare", "--data", str(tmp_path / "ok"), "--out", str(tmp_path / "out"), "--no-embed", "--kcore", "1"])
    assert code == 2 and "already exists" in capsys.readouterr().err


def test_quickstart_pipeline_small(tmp_path):
    summary = run_quickstart(tmp_path / "qs", synthetic=SyntheticConfig(num_users=300, num_items=200, seed=0),
                             epochs=1)
    assert json.loads((tmp_path / "qs" / "summary.json").read_text())["command"] == "quickstart"
    steps = summary["steps"]
    assert steps["prepare"]["embeddings"]["dim"] == 384
    baselines = steps["baselines"]
    assert baselines["item_transition"]["recall@10"] > baselines["most_popular"]["recall@10"]
    assert (tmp_path / "qs" / "prepared" / "item_embeddings.safetensors").exists()
    assert steps["sids"]["quality"]["collision_rate"] == 0.0
    assert (tmp_path / "qs" / "sids" / "tokenizer" / "semantic_ids.json").exists()
    assert steps["train"]["test"]["num_users"] > 0 and (tmp_path / "qs" / "tiger" / "model" / "model.safetensors").exists()
    reload = steps["reload"]
    assert len(reload["recommendations"]) == 5 and all(r["title"] for r in reload["recommendations"])


def test_prepare_summary_warns_about_items_without_text_in_the_chosen_fields(tmp_path):
    from hf_genrec.commands.prepare import run_prepare
    from hf_genrec.data import PrepareConfig

    source = write_two_file(tmp_path / "src", {"A": ["x", "y", "z"], "B": ["y", "z", "x"]},
                            items={"x": {"title": "Ex"}, "y": {"category_tokens": ["Root", "Leaf"]},
                                   "z": {"title": "Zed"}})
    summary = run_prepare(source, tmp_path / "prepared", encoder=None,
                          config=PrepareConfig(min_user_interactions=1, min_item_interactions=1,
                                               text_fields=("title",)))
    (warning,) = summary["warnings"]
    assert "1 of 3 items (33%) have no text in the fields ['title']" in warning
    assert "'category_path' has text for 1 of them" in warning
    written = json.loads((tmp_path / "prepared" / "summary.json").read_text())
    assert written["warnings"] == summary["warnings"]
    full = run_prepare(source, tmp_path / "full", encoder=None,
                       config=PrepareConfig(min_user_interactions=1, min_item_interactions=1))
    assert "warnings" not in full
