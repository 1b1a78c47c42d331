"""``hf-genrec build-sids --import`` and ``hf-genrec export-sids``: published SIDs become a SIDs folder that trains a
model here, and ours are written in the formats other projects read."""

import json

import numpy as np
import pytest
from transformers import AutoTokenizer

from hf_genrec.cli import main
from hf_genrec.commands.sid_interop import run_export_sids, run_import_sids
from hf_genrec.data import PreparedDataset
from hf_genrec.tokenization import SIDTokenizer


def letter_index(prepared_dir, codes):
    """A hand-written LETTER .index.json for the prepared items (keys: the source's 0-based item numbers)."""
    items = PreparedDataset.load(prepared_dir).items
    return {str(source - 1): [f"<{'abcd'[level]}_{int(code)}>" for level, code in enumerate(row)]
            for source, row in zip(items["source_item_idx"], codes)}


@pytest.fixture(scope="module")
def letter_codes(prepared_synthetic):
    """4-level codes, LETTER style: the 4th level separates most (not all: items 0 and 1 share a SID) collisions."""
    n = PreparedDataset.load(prepared_synthetic).num_items
    rng = np.random.default_rng(0)
    codes = np.stack([rng.integers(0, 8, n), rng.integers(0, 8, n), rng.integers(0, 6, n), np.zeros(n, int)], 1)
    _, inverse = np.unique(codes[:, :3], axis=0, return_inverse=True)
    for group in np.unique(inverse):
        members = np.flatnonzero(inverse.reshape(-1) == group)
        codes[members, 3] = np.arange(len(members))
    codes[1] = codes[0]
    return codes


def test_export_then_import_gives_the_same_tokenizer_table(prepared_synthetic, synthetic_sids, tmp_path):
    original = SIDTokenizer.from_pretrained(synthetic_sids / "tokenizer")
    for fmt, name in (("letter", "synthetic.index.json"), ("table", "synthetic.csv"), ("table", "synthetic.jsonl")):
        out = tmp_path / name
        assert main(["export-sids", "--sids", str(synthetic_sids), "--data", str(prepared_synthetic), "--format", fmt,
                     "--out", str(out)]) == 0
        summary = json.loads((tmp_path / f"{name}.summary.json").read_text())
        assert summary["command"] == "export-sids" and summary["items"] == original.num_items
        folder = tmp_path / f"imported-{name}"
        imported = run_import_sids(prepared_synthetic, out, folder, fmt, codebook_sizes=original.codebook_sizes)
        tokenizer = AutoTokenizer.from_pretrained(str(folder / "tokenizer"))
        assert isinstance(tokenizer, SIDTokenizer)
        assert tokenizer.item_sid_table.tolist() == original.item_sid_table.tolist()
        assert tokenizer.item_keys == original.item_keys and tokenizer.codebook_sizes == original.codebook_sizes
        assert imported["round_trip_ok"] is True and imported["quality"]["collision_rate"] == 0.0
        assert not (folder / "quantizer").exists() and (folder / "sid_quality.png").exists()
    with pytest.raises(FileExistsError, match="already exists .*--overwrite"):
        run_export_sids(synthetic_sids, prepared_synthetic, tmp_path / "synthetic.csv", "table")
    run_export_sids(synthetic_sids, prepared_synthetic, tmp_path / "synthetic.csv", "table", overwrite=True)


def test_import_a_letter_index_keeps_its_codes_or_adds_a_suffix(prepared_synthetic, letter_codes, tmp_path, capsys):
    path = tmp_path / "synthetic.index.json"
    path.write_text(json.dumps(letter_index(prepared_synthetic, letter_codes)))
    out = tmp_path / "sids"
    assert main(["build-sids", "--data", str(prepared_synthetic), "--import", str(path), "--out", str(out)]) == 0
    assert "1 SIDs shared by 2 items" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    items = PreparedDataset.load(prepared_synthetic).items["item_id"]
    assert summary["collisions"] == "none" and summary["quantizer"]["quantizer_type"] == "imported"
    assert summary["codebook_sizes"] == [int(c) + 1 for c in letter_codes.max(0)]  # inferred
    assert summary["collision_handling"]["duplicates"] == {"shared_sids": 1, "items_sharing_a_sid": 2,
                                                           "examples": [[items[0], items[1]]]}
    assert summary["quality"]["unique_sids"] == len(items) - 1 and summary["round_trip_ok"] is False
    tokenizer = SIDTokenizer.from_pretrained(out / "tokenizer")
    assert tokenizer.item_sid_table.tolist() == letter_codes.tolist() and tokenizer.collisions == "none"

    suffixed = tmp_path / "sids-suffix"
    assert main(["build-sids", "--data", str(prepared_synthetic), "--import", str(path), "--out", str(suffixed),
                 "--collisions", "suffix", "--codebook-sizes", "16"]) == 0
    summary = json.loads((suffixed / "summary.json").read_text())
    assert summary["codebook_sizes"] == [16, 16, 16, 16, 2] and summary["round_trip_ok"] is True
    assert summary["quality"]["collision_rate"] == 0.0 and summary["quality_before_collision_handling"]["levels"] == 4


def test_import_errors_name_the_file_and_the_item(prepared_synthetic, letter_codes, tmp_path, capsys):
    index = letter_index(prepared_synthetic, letter_codes)
    path = tmp_path / "partial.index.json"
    dropped = sorted(index, key=int)[-1]
    path.write_text(json.dumps({key: value for key, value in index.items() if key != dropped}))
    args = ["build-sids", "--data", str(prepared_synthetic), "--import", str(path), "--out", str(tmp_path / "o")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "partial.index.json has no SID for 1 of the prepared dataset's" in err and f"'{dropped}'" in err
    path.write_text(json.dumps({**index, "99999": ["<a_0>", "<b_0>", "<c_0>", "<d_0>"]}))
    assert main(args) == 2
    assert "items are not in the prepared dataset, e.g. item index '99999'" in capsys.readouterr().err
    assert main([*args, "--ignore-unknown-items"]) == 0
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["imported"]["ignored_unknown_items"] == 1
    assert main([*args, "--ignore-unknown-items", "--overwrite", "--codebook-sizes", "4"]) == 2
    assert "code" in (err := capsys.readouterr().err) and "is outside its codebook of size 4" in err
    assert main([*args, "--overwrite", "--collisions", "sinkhorn"]) == 2
    assert "needs a quantizer" in capsys.readouterr().err


def test_beauty_letter_format_matches_items_by_key(prepared_synthetic, letter_codes, tmp_path):
    items = PreparedDataset.load(prepared_synthetic).items
    tokens = letter_index(prepared_synthetic, letter_codes).values()
    lines = [json.dumps({"item_idx": i + 1, "asin": key, "letter_sid": sid})
             for i, (key, sid) in enumerate(zip(items["item_id"], tokens))]
    order = np.random.default_rng(1).permutation(len(lines))  # file order does not matter, keys do
    (tmp_path / "items.jsonl").write_text("\n".join(lines[i] for i in order) + "\n")
    run_import_sids(prepared_synthetic, tmp_path / "items.jsonl", tmp_path / "sids", "beauty-letter")
    tokenizer = SIDTokenizer.from_pretrained(tmp_path / "sids" / "tokenizer")
    assert tokenizer.item_sid_table.tolist() == letter_codes.tolist()


def test_imported_sids_train_tiger_and_codebook_models_say_what_they_need(prepared_synthetic, letter_codes, tmp_path,
                                                                           run_config):
    from hf_genrec.commands.train import load_item_features, run_train

    path = tmp_path / "synthetic.index.json"
    path.write_text(json.dumps(letter_index(prepared_synthetic, letter_codes)))
    sids = tmp_path / "sids"
    run_import_sids(prepared_synthetic, path, sids, "letter", collisions="suffix")
    run_config["data"]["sids"] = str(sids)
    run_config["training"].update(max_steps=3, eval_max_users=20, eval_num_beams=4, logging_steps=1, final_test=False)
    summary = run_train(run_config)
    assert summary["global_step"] == 3 and (tmp_path / "run" / "model").is_dir()
    assert (tmp_path / "run" / "training_curves.png").exists()
    tokenizer = SIDTokenizer.from_pretrained(sids / "tokenizer")
    with pytest.raises(FileNotFoundError, match=r"imported with build-sids --import, which writes no quantizer"):
        load_item_features("comeir", {}, tokenizer, prepared_synthetic, sids)
