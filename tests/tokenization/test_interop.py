"""Published SID tables (LETTER / LC-Rec .index.json, plain item-to-codes tables, Beauty's letter_sid): reading,
matching onto prepared items, writing; every error names the file and the item."""

import json

import numpy as np
import pytest
from datasets import Dataset

from hf_genrec.quantization import parse_sid_tokens
from hf_genrec.tokenization.interop import (align_sids, duplicate_sids, item_labels, letter_index_labels,
                                            read_beauty_letter, read_letter_index, read_sid_table, read_sids,
                                            write_letter_index, write_sid_table)

LETTER = {"0": ["<a_3>", "<b_1>", "<c_0>"], "2": ["<a_0>", "<b_4>", "<c_1>"], "1": ["<a_3>", "<b_1>", "<c_0>"]}


def items_table(keys, source_idx=None):
    columns = {"item_idx": list(range(len(keys))), "item_id": list(keys)}
    if source_idx is not None:
        columns["source_item_idx"] = list(source_idx)
    return Dataset.from_dict(columns)


def test_letter_index_reads_and_matches_items_by_source_index(tmp_path):
    path = tmp_path / "toy.index.json"
    path.write_text(json.dumps(LETTER))
    imported = read_letter_index(path)
    assert imported.keys == ["0", "2", "1"] and imported.codes.tolist() == [[3, 1, 0], [0, 4, 1], [3, 1, 0]]
    items = items_table(["X", "Y", "Z"], source_idx=[3, 1, 2])  # item_idx 0 is the source's third item
    assert letter_index_labels(items) == ["2", "0", "1"]
    codes, sizes, report = align_sids(imported, item_labels(items, "letter"))
    assert codes.tolist() == [[0, 4, 1], [3, 1, 0], [3, 1, 0]] and sizes == [4, 5, 2]
    assert report["codebook_sizes_inferred"] and report["ignored_unknown_items"] == 0
    assert duplicate_sids(codes, ["X", "Y", "Z"]) == {"shared_sids": 1, "items_sharing_a_sid": 2,
                                                        "examples": [["Y", "Z"]]}
    assert letter_index_labels(items_table(["X", "Y"])) == ["0", "1"]  # no source numbering: item_idx


@pytest.mark.parametrize("content, message", [
    ({"0": ["<a_3>", "<b_1>"], "7": ["<a_3>"]}, r"bad\.index\.json: item index '7': 1 SID tokens, but .*'0' has 2"),
    ({"0": ["<a_3>", "<c_1>"]}, r"bad\.index\.json: item index '0': SID token '<c_1>' at level 1"),
    ({"x": ["<a_3>"]}, r"bad\.index\.json: key 'x' is not an item index"),
    ([["<a_3>"]], r"bad\.index\.json: a LETTER \.index\.json is a non-empty JSON object"),
])
def test_letter_index_errors_name_the_file_and_the_item(tmp_path, content, message):
    path = tmp_path / "bad.index.json"
    path.write_text(json.dumps(content))
    with pytest.raises(ValueError, match=message):
        read_letter_index(path)


def test_matching_errors_name_the_file_and_the_item(tmp_path):
    path = tmp_path / "toy.index.json"
    path.write_text(json.dumps(LETTER))
    imported = read_letter_index(path)
    with pytest.raises(ValueError, match=r"toy\.index\.json: 1 of its 3 items are not in the prepared dataset, e\.g\. "
                                         r"item index '2' \(key '2'\).*--ignore-unknown-items"):
        align_sids(imported, ["0", "1"])
    codes, _, report = align_sids(imported, ["0", "1"], ignore_unknown=True)
    assert codes.tolist() == [[3, 1, 0], [3, 1, 0]] and report["ignored_unknown_items"] == 1
    with pytest.raises(ValueError, match=r"toy\.index\.json has no SID for 1 of the prepared dataset's 4 items, e\.g\. "
                                         r"item_idx 3 \(item index '5', item_id 'W'\)"):
        align_sids(imported, ["0", "1", "2", "5"], item_ids=["X", "Y", "Z", "W"])
    with pytest.raises(ValueError, match=r"toy\.index\.json: item index '2' \(key '2'\): code 4 at level 2 is outside "
                                         r"its codebook of size 4"):
        align_sids(imported, ["0", "1", "2"], codebook_sizes=[4])
    with pytest.raises(ValueError, match=r"3 levels but 2 codebook sizes"):
        align_sids(imported, ["0", "1", "2"], codebook_sizes=[8, 8])
    assert align_sids(imported, ["0", "1", "2"], codebook_sizes=[8, 8, 8])[1] == [8, 8, 8]


@pytest.mark.parametrize("name, text", [
    ("sids.csv", "item_id,level_1,level_2\nA,3,1\nB,0,2\n"),
    ("sids.tsv", "asin\tx\ty\nA\t3\t1\nB\t0\t2\n"),
    ("sids.jsonl", '{"item_id": "A", "codes": [3, 1]}\n{"item_id": "B", "codes": [0, 2]}\n'),
    ("sids2.jsonl", '{"key": "A", "c1": 3, "c2": 1}\n{"key": "B", "c1": 0, "c2": 2}\n'),  # first column: key
    ("sids3.csv", 'item_id,codes\nA,"3 1"\nB,"0,2"\n'),
])
def test_plain_tables_in_every_layout(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    imported = read_sids(path, "table")
    assert imported.keys == ["A", "B"] and imported.codes.tolist() == [[3, 1], [0, 2]]


def test_plain_table_errors_name_the_file_line_and_item(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("item_id,c1,c2\nA,3,1\nB,x,2\n")
    with pytest.raises(ValueError, match=r"bad\.csv, line 3, field 'c1': item 'B': code 'x' in column 'c1'"):
        read_sid_table(path)
    path.write_text('{"item_id": "A", "codes": [3, 1]}\n{"item_id": "B", "codes": [0]}\n')
    with pytest.raises(ValueError, match=r"line 2: item 'B' has 1 codes but item 'A' \(line 1\) has 2"):
        read_sid_table(path, fmt="jsonl")
    path.write_text("item_id,c1\nA,-1\n")
    with pytest.raises(ValueError, match=r"code '-1' in column 'c1' is not a non-negative integer"):
        read_sid_table(path)
    path.write_text("item_id,c1\nA,1\nA,2\n")
    with pytest.raises(ValueError, match=r"bad\.csv: item_id 'A' \(line 3\) is listed twice \(also line 2\)"):
        align_sids(read_sid_table(path), ["A"])


def test_beauty_style_items_jsonl(tmp_path):
    path = tmp_path / "items.jsonl"
    path.write_text('{"item_idx": 1, "asin": "B1", "letter_sid": ["<a_1>", "<b_2>"]}\n'
                    '{"item_idx": 2, "asin": "B2", "letter_sid": ["<a_0>", "<b_0>"]}\n')
    imported = read_beauty_letter(tmp_path)  # the folder holding items.jsonl
    assert imported.key_name == "asin" and imported.keys == ["B1", "B2"] and imported.codes.tolist() == [[1, 2], [0, 0]]
    path.write_text('{"asin": "B1", "letter_sid": ["<a_1>", "<b_2>"]}\n{"asin": "B2", "letter_sid": []}\n')
    with pytest.raises(ValueError, match=r"items\.jsonl, line 2, field 'letter_sid': item 'B2' has no letter_sid"):
        read_beauty_letter(path)


@pytest.mark.parametrize("name", ["out.csv", "out.tsv", "out.jsonl", "out.tsv.gz"])
def test_written_tables_read_back(tmp_path, name):
    codes, keys = np.array([[3, 1, 0], [0, 4, 2]]), ["A,1", "B"] if not name.startswith("out.tsv") else ["A", "B"]
    write_sid_table(tmp_path / name, codes, keys)
    imported = read_sid_table(tmp_path / name)
    assert imported.keys == keys and imported.codes.tolist() == codes.tolist()
    write_letter_index(tmp_path / "out.index.json", codes, ["1", "0"])
    assert json.loads((tmp_path / "out.index.json").read_text()) == {"0": ["<a_0>", "<b_4>", "<c_2>"],
                                                                     "1": ["<a_3>", "<b_1>", "<c_0>"]}
    with pytest.raises(ValueError, match=r"out\.parquet: SID tables are written as \.csv, \.tsv or \.jsonl"):
        write_sid_table(tmp_path / "out.parquet", codes, keys)


@pytest.mark.real_data
def test_beauty_letter_sids_parse_in_the_letter_format(shared_datasets, tmp_path):
    """The first 200 items of Beauty's items.jsonl, written as LETTER's Beauty.index.json, parse back to the same
    4-level codes (importing all 12,101 items onto the prepared Beauty data is too slow for the suite)."""
    records = []
    with open(shared_datasets / "amazon-beauty-2014" / "items.jsonl", encoding="utf-8") as handle:
        for line, _ in zip(handle, range(200)):
            records.append(json.loads(line))
    index = {str(r["item_idx"] - 1): r["letter_sid"] for r in records}  # LETTER numbers items from 0
    path = tmp_path / "Beauty.index.json"
    path.write_text(json.dumps(index))
    imported = read_letter_index(path)
    assert len(imported.keys) == 200 and imported.codes.shape == (200, 4)
    expected, sizes = parse_sid_tokens([r["letter_sid"] for r in records])
    assert np.array_equal(imported.codes, expected) and imported.keys == [str(i) for i in range(200)]
    assert max(sizes[:3]) <= 256 and imported.codes[0].tolist() == [183, 70, 232, 6]  # OPI Nail Lacquer
    prepared_like = items_table([r["asin"] for r in records], source_idx=[r["item_idx"] for r in records])
    codes, _, _ = align_sids(imported, item_labels(prepared_like, "letter"))
    assert np.array_equal(codes, expected)
    by_asin = read_beauty_letter(shared_datasets / "amazon-beauty-2014")  # the beauty-letter format: keyed by ASIN
    assert by_asin.key_name == "asin" and np.array_equal(by_asin.codes[:200], expected)
