"""SIDTokenizer: vocab, flat/item encoding, padding and truncation, decoding, files, AutoTokenizer; the trie."""

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import AutoTokenizer

import hf_genrec  # noqa: F401  (registers SIDTokenizer with AutoTokenizer)
from hf_genrec.tokenization import CatalogTrie, SIDTokenizer

SIDS = [[0, 1, 0], [0, 1, 1], [1, 0, 0], [2, 3, 0]]
SIZES = [3, 4, 2]


@pytest.fixture
def tok():
    return SIDTokenizer.from_sids(SIDS, SIZES, collisions="suffix", item_keys=["w", "x", "y", "z"])


def test_vocabulary_layout(tok):
    assert tok.vocab_size == len(tok) == 3 + 3 + 4 + 2
    assert tok.convert_ids_to_tokens([0, 1, 2, 3, 6, 10]) == ["<pad>", "<bos>", "<eos>", "<a_0>", "<b_0>", "<c_0>"]
    assert tok.convert_tokens_to_ids("<b_3>") == 9 and tok.pad_token_id == 0 and tok.eos_token_id == 2
    assert tok.token_offsets == [3, 6, 10]
    assert tok.items_to_token_ids([3]).tolist() == [[5, 9, 10]]


def test_flat_and_item_modes_with_padding_and_truncation(tok):
    flat = tok([[0, 1], [3]], return_tensors="pt")
    assert flat["input_ids"].tolist() == [[3, 7, 10, 3, 7, 11], [0, 0, 0, 5, 9, 10]]
    assert flat["attention_mask"].tolist() == [[1] * 6, [0, 0, 0, 1, 1, 1]]
    right = tok([[0, 1], [3]], padding_side="right", add_eos=True, return_tensors="pt")
    assert right["input_ids"][1].tolist() == [5, 9, 10, 2, 0, 0, 0]
    item = tok([[0, 1, 2], [3]], mode="item", max_length=2, return_tensors="pt")
    assert item["input_ids"].shape == (2, 2, 3)
    assert item["item_ids"].tolist() == [[1, 2], [-1, 3]]  # left truncation keeps the most recent items
    assert item["attention_mask"].tolist() == [[1, 1], [0, 1]]
    kept_first = tok([[0, 1, 2]], mode="item", max_length=2, truncation_side="right")
    assert kept_first["item_ids"] == [[0, 1]]
    # flat max_length counts tokens and never cuts a SID: 7 tokens -> 2 whole items
    assert tok([[0, 1, 2]], max_length=7, return_tensors="pt")["input_ids"].shape == (1, 6)
    padded = tok([[0]], padding="max_length", max_length=3, mode="item", return_tensors="pt")
    assert padded["item_ids"].tolist() == [[-1, -1, 0]]
    unpadded = tok([[0, 1], [2]], padding=False)
    assert [len(x) for x in unpadded["input_ids"]] == [6, 3]
    with pytest.raises(ValueError, match="need padding"):
        tok([[0, 1], [2]], padding=False, return_tensors="pt")
    assert tok([0, 1], return_tensors="pt")["input_ids"].shape == (1, 6)  # a single history
    # an empty batch gives empty tensors of the right rank, not an error
    assert tok([], mode="item", return_tensors="pt")["input_ids"].shape == (0, 0, 3)
    assert tok([], padding="max_length", max_length=2, mode="item", return_tensors="np")["item_ids"].shape == (0, 2)
    assert tok([], add_eos=True, return_tensors="pt")["attention_mask"].shape == (0, 1)


def test_errors_name_the_problem(tok):
    with pytest.raises(ValueError, match="unknown item id 9"):
        tok([[0, 9]])
    with pytest.raises(ValueError, match="not a level-1 SID token"):
        tok.decode_items([[3, 3, 10]])
    with pytest.raises(ValueError, match="out of range"):
        tok.codes_to_items([[0, 4, 0]])
    with pytest.raises(ValueError, match="outside its codebook"):
        SIDTokenizer.from_sids([[0, 5]], [2, 2])
    with pytest.raises(ValueError, match="expects 2 levels"):
        tok.check_compatible(2, [3, 4])
    with pytest.raises(ValueError, match="knows 4 items but the model expects 5"):
        tok.check_compatible(3, SIZES, num_items=5)
    with pytest.raises(ValueError, match="mode must be"):
        tok([[0]], mode="tree")


def test_decoding(tok):
    ids = tok.items_to_token_ids([2, 0])
    assert tok.decode(ids[0]) == "<a_1><b_0><c_0>"
    assert tok.batch_decode(ids.tolist()) == ["<a_1><b_0><c_0>", "<a_0><b_1><c_0>"]
    assert tok.decode([0, 3, 7, 10], skip_special_tokens=True) == "<a_0><b_1><c_0>"
    assert tok.decode_items(ids) == [[2], [0]]
    assert tok.codes_to_items([[2, 3, 0], [2, 3, 1]]) == [[3], []]  # second tuple is not in the catalog
    shared = SIDTokenizer.from_sids([[0, 1], [0, 1], [1, 1]], [2, 2], collisions="none")
    assert shared.codes_to_items([[0, 1]]) == [[0, 1]]


def test_save_load_bit_exact_and_auto_tokenizer(tok, tmp_path):
    files = tok.save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["semantic_ids.json", "tokenizer_config.json"]
    assert all(str(f).endswith(".json") for f in files)
    for loaded in (SIDTokenizer.from_pretrained(tmp_path), AutoTokenizer.from_pretrained(str(tmp_path))):
        assert isinstance(loaded, SIDTokenizer)
        assert torch.equal(loaded.item_sid_table, tok.item_sid_table)
        assert loaded.get_vocab() == tok.get_vocab() and loaded.item_keys == ["w", "x", "y", "z"]
        assert loaded.collisions == "suffix" and loaded.padding_side == "left"
        for name, value in tok.catalog_trie.state_dict().items():
            assert torch.equal(value, loaded.catalog_trie.state_dict()[name]), name
    data = json.loads((tmp_path / "semantic_ids.json").read_text())
    assert data["codebook_sizes"] == SIZES and data["item_sids"] == SIDS


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_round_trips_property(data):
    levels = data.draw(st.integers(1, 4))
    sizes = data.draw(st.lists(st.integers(1, 5), min_size=levels, max_size=levels))
    n = data.draw(st.integers(1, 30))
    sids = data.draw(st.lists(st.tuples(*[st.integers(0, s - 1) for s in sizes]), min_size=n, max_size=n, unique=True))
    tok = SIDTokenizer.from_sids([list(s) for s in sids], sizes, collisions="suffix")
    histories = data.draw(st.lists(st.lists(st.integers(0, n - 1), max_size=6), min_size=1, max_size=4))
    side = data.draw(st.sampled_from(["left", "right"]))
    flat = tok(histories, padding_side=side, return_tensors="pt")
    width = max(len(h) for h in histories)
    assert flat["input_ids"].shape == (len(histories), width * levels)
    for row, history in enumerate(histories):
        mask = flat["attention_mask"][row].bool()
        assert int(mask.sum()) == len(history) * levels
        if history:  # the real tokens sit on the padding side's opposite end
            assert bool(mask[-1] if side == "left" else mask[0])
        tokens = flat["input_ids"][row][mask]
        assert [items[0] for items in tok.decode_items(tokens)] == history
    item = tok(histories, mode="item", padding_side=side, return_tensors="pt")
    for row, history in enumerate(histories):
        ids = item["item_ids"][row]
        assert ids[ids >= 0].tolist() == history
        assert torch.equal(item["input_ids"][row][ids >= 0], tok.items_to_token_ids(history).reshape(-1, levels))


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_trie_children_equal_brute_force(data):
    levels = data.draw(st.integers(1, 4))
    sizes = data.draw(st.lists(st.integers(1, 6), min_size=levels, max_size=levels))
    rows = data.draw(st.lists(st.tuples(*[st.integers(0, s - 1) for s in sizes]), min_size=1, max_size=40))
    codes = torch.tensor(rows, dtype=torch.long).reshape(-1, levels)
    for dense_limit in (0, 1 << 22):  # CSR path and dense path
        trie = CatalogTrie.from_codes(codes, sizes, dense_limit=dense_limit)
        # walk every prefix of every SID and compare with a scan of the catalog
        for sid in rows:
            node = torch.zeros(1, dtype=torch.long)
            for level in range(levels):
                mask = trie.valid_children_mask(level, node)[0]
                expected = {r[level] for r in rows if tuple(r[:level]) == tuple(sid[:level])}
                assert set(torch.nonzero(mask).flatten().tolist()) == expected
                invalid = [c for c in range(sizes[level]) if c not in expected]
                if invalid:
                    assert int(trie.next_prefix(level, node, torch.tensor([invalid[0]]))[0]) == -1
                node = trie.next_prefix(level, node, torch.tensor([sid[level]]))
                assert int(node[0]) >= 0
            items = trie.items_of_sid(int(node[0])).tolist()
            assert items == [i for i, r in enumerate(rows) if tuple(r) == tuple(sid)]
        assert torch.equal(trie.sid_of_codes(codes), trie.item_sid)


def test_trie_batched_queries_and_save_load(tmp_path):
    rng = np.random.default_rng(0)
    codes = torch.from_numpy(np.unique(rng.integers(0, 16, size=(500, 3)), axis=0))
    trie = CatalogTrie.from_codes(codes, [16, 16, 16])
    nodes = trie.next_prefix(0, torch.zeros(len(codes), dtype=torch.long), codes[:, 0])
    masks = trie.valid_children_mask(1, nodes)
    assert masks.shape == (len(codes), 16) and bool(masks[torch.arange(len(codes)), codes[:, 1]].all())
    trie.save(tmp_path / "trie.safetensors")
    loaded = CatalogTrie.load(tmp_path / "trie.safetensors")
    assert loaded.codebook_sizes == [16, 16, 16]
    for name, value in trie.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[name])
    sparse = CatalogTrie.load(tmp_path / "trie.safetensors", dense_limit=0)
    assert torch.equal(sparse.valid_children_mask(1, nodes), masks)
