"""The optional item-ID embedding added to the history inputs (``item_id_embedding``, TIGER / IntRR / ComeIR).

The common suite (``tests/models/test_common.py``) runs one tiny variant per model with the option on
(``helpers.tiny.TINY_MODELS``: ``tiger-t5_item_ids``, ``intrr-hstu_item_ids``, ``comeir-comeir_item_ids``); these tests
check the module itself, that the option off changes nothing, that the ID term reaches the history only, TIGER's
item ids read back from the flat SID tokens, and the paths the common suite runs on other variants only (TIGER
decoder-only sequence-level training and decoding, the remote-code export, ``hf-genrec train`` options).
"""

import pytest
import torch
from helpers.remote_code import load_without_hf_genrec
from helpers.sequence_check import assert_sequence_equals_prefix
from helpers.tiny import CODES, HISTORIES, NUM_ITEMS, SIZES, TINY_MODELS, item_features, tiny_model

from hf_genrec.models import build_model, check_model_options
from hf_genrec.modules.item_id_embedding import ItemIdEmbedding
from hf_genrec.tokenization import SIDTokenizer

#: (model type, tiny variant) of every model that takes the option, one per history representation
BASES = [("tiger", "t5"), ("tiger", "decoder_only"), ("tiger", "hstu"), ("intrr", "t5"), ("intrr", "hstu"),
         ("comeir", "comeir"), ("comeir", "flatten"), ("comeir", "nezha")]
BASE_IDS = [f"{m}-{v}" for m, v in BASES]


def _batch(model, tokenizer, histories=HISTORIES):
    return dict(tokenizer([list(h) for h in histories], mode=model.config.input_mode, return_tensors="pt"))


def _logits(model, batch, labels):
    with torch.no_grad():
        return model(**batch, labels=labels).logits


# ---------------------------------------------------------------------------------------------- the module
def test_padding_ids_map_to_a_zero_row_that_gets_no_gradient():
    embedding = ItemIdEmbedding(6, 4, std=0.01)
    assert embedding.weight.shape == (7, 4) and embedding.padding_idx == 6
    assert torch.equal(embedding.weight[6], torch.zeros(4))
    assert 0.0 < float(embedding.weight[:6].detach().std()) < 0.05  # small: it does not swamp the SID embeddings
    out = embedding(torch.tensor([[0, -1, 5, -7]]))
    assert torch.equal(out[0, 1], torch.zeros(4)) and torch.equal(out[0, 3], torch.zeros(4))
    assert torch.equal(out[0, 0], embedding.weight[0]) and torch.equal(out[0, 2], embedding.weight[5])
    (out * torch.randn_like(out)).sum().backward()
    assert torch.equal(embedding.weight.grad[6], torch.zeros(4))
    assert bool(embedding.weight.grad[[0, 5]].ne(0).any(-1).all())
    assert not bool(embedding.weight.grad[1:5].ne(0).any())


# ---------------------------------------------------------------------------------------------- the option off / on
@pytest.mark.parametrize("model_type,variant", BASES, ids=BASE_IDS)
def test_option_off_adds_nothing_and_on_adds_one_table_outside_the_other_weights(model_type, variant):
    default, _ = tiny_model(model_type, variant)
    off, _ = tiny_model(model_type, variant, item_id_embedding=False)
    on, tok = tiny_model(model_type, variant, item_id_embedding=True)
    assert default.config.item_id_embedding is False and on.config.item_id_embedding is True
    reference = default.state_dict()
    assert not any("item_id" in name for name in reference)
    assert set(off.state_dict()) == set(reference)
    assert all(torch.equal(off.state_dict()[k], reference[k]) for k in reference)
    # on: one more table, every other weight initialised exactly as without the option
    state = on.state_dict()
    assert set(state) - set(reference) == {"item_id_embeddings.weight"} and set(reference) <= set(state)
    assert all(torch.equal(state[k], reference[k]) for k in reference)
    assert state["item_id_embeddings.weight"].shape == (NUM_ITEMS + 1, state["item_id_embeddings.weight"].shape[1])
    # with the ID table zeroed, the model is the model without the option: the ID term is the only change
    batch, labels = _batch(on, tok), CODES[[3, 8, 11]]
    with torch.no_grad():
        on.item_id_embeddings.weight.zero_()
    assert torch.allclose(_logits(on, batch, labels), _logits(default, batch, labels), atol=1e-6)
    a = default.generate(**batch, num_beams=6)
    b = on.generate(**batch, num_beams=6)
    assert torch.equal(a.items, b.items) and torch.allclose(a.scores, b.scores, atol=1e-5)


@pytest.mark.parametrize("model_type,variant", BASES, ids=BASE_IDS)
def test_an_item_row_changes_the_histories_that_hold_the_item_only(model_type, variant):
    model, tok = tiny_model(model_type, variant, item_id_embedding=True)
    histories = [[0, 1, 2, 3], [5], [7, 7, 9]]
    batch, labels = _batch(model, tok, histories), CODES[[3, 8, 11]]
    before = _logits(model, batch, labels)
    with torch.no_grad():
        # item 7: the third history only (a random direction: a constant shift would vanish in a layer norm)
        model.item_id_embeddings.weight[7] += torch.randn(model.item_id_embeddings.embedding_dim,
                                                          generator=torch.Generator().manual_seed(0))
    after = _logits(model, batch, labels)
    finite = torch.isfinite(before)
    changed = ((after - before).abs().masked_fill(~finite, 0) > 1e-6).flatten(1).any(-1)
    assert changed.tolist() == [False, False, True]


@pytest.mark.parametrize("model_type,variant", [("intrr", "hstu"), ("comeir", "comeir"), ("comeir", "flatten")],
                         ids=["intrr-hstu", "comeir-comeir", "comeir-flatten"])
def test_items_with_identical_sids_get_different_logits_with_the_option_only(model_type, variant):
    """Item ``N`` is a copy of item 0 (same SID, same cached features, and for IntRR the same UID embedding that drives
    its RAN): only the option's ID embedding tells them apart (scaled up to unit size: at its initial 0.02 the tiny
    models' logits move by ~1e-5)."""
    codes = torch.cat([CODES, CODES[:1]])
    tok = SIDTokenizer.from_sids(codes, SIZES, collisions="none")
    features = item_features(model_type, codes, SIZES)
    if "item_embeddings" in features:
        features["item_embeddings"][-1] = features["item_embeddings"][0]
    first, copy = [[4, 0, 2]], [[4, len(codes) - 1, 2]]
    labels = CODES[[5]]
    results = {}
    for option in (False, True):
        torch.manual_seed(0)
        model = build_model(model_type, tok, **features,
                            **{**TINY_MODELS[model_type][variant], "item_id_embedding": option}).eval()
        with torch.no_grad():
            if model_type == "intrr":
                model.uid_embeddings.weight[-1] = model.uid_embeddings.weight[0]
            if option:
                model.item_id_embeddings.weight.mul_(50.0)
        results[option] = [_logits(model, _batch(model, tok, h), labels) for h in (first, copy)]
    assert torch.equal(*results[False])
    difference = (results[True][0] - results[True][1]).nan_to_num(0.0, 0.0, 0.0).abs().max()
    assert float(difference) > 1e-6  # ComeIR's tiny head scores are ~0.02 at initialisation; its differences ~1e-5


# ---------------------------------------------------------------------------------------------- TIGER's item ids
@pytest.mark.parametrize("padding_side", ["left", "right"])
def test_tiger_reads_the_history_item_ids_back_from_the_flat_sid_tokens(padding_side):
    model, tok = tiny_model("tiger", "t5", item_id_embedding=True)
    histories = [[0, 1, 2, 3], [5], [7, 7, 9], [NUM_ITEMS - 1, 0]]
    batch = tok(histories, mode="flat", padding_side=padding_side, return_tensors="pt")
    expected = tok(histories, mode="item", padding_side=padding_side, return_tensors="pt")["item_ids"]
    assert torch.equal(model.history_item_ids(batch["input_ids"], batch["attention_mask"]), expected)
    assert torch.equal(model.history_item_ids(batch["input_ids"]), expected)  # the mask follows from the pad token
    with pytest.raises(ValueError, match="multiple of the 3 SID levels"):
        model.history_item_ids(tok(histories, mode="flat", add_eos=True, return_tensors="pt")["input_ids"])


def test_tiger_items_sharing_a_sid_share_the_lowest_ids_embedding():
    codes = torch.cat([CODES, CODES[2:3]])  # item N has item 2's SID
    tok = SIDTokenizer.from_sids(codes, SIZES, collisions="none")
    torch.manual_seed(0)
    model = build_model("tiger", tok, item_id_embedding=True, **TINY_MODELS["tiger"]["t5"]).eval()
    batch = tok([[1, len(codes) - 1], [1, 2]], mode="flat", return_tensors="pt")
    assert model.history_item_ids(batch["input_ids"], batch["attention_mask"]).tolist() == [[1, 2], [1, 2]]


@pytest.mark.parametrize("variant", ["decoder_only", "hstu"])
def test_tiger_decoder_only_sequence_level_training_equals_its_prefix_examples(variant):
    model, tok = tiny_model("tiger", variant, item_id_embedding=True, user_hash_buckets=7)  # eval: no dropout
    # HSTU's relative position biases make a prefix depend on its padding: compare unpadded prefixes one by one
    assert_sequence_equals_prefix(model, tok, user_ids=[3, 11], one_by_one=variant == "hstu")
    model.zero_grad()
    out = model(**_batch(model, tok), labels=CODES[[3, 8, 11]], user_ids=torch.tensor([0, 1, 2]))
    out.loss.backward()
    assert bool(model.item_id_embeddings.weight.grad.ne(0).any())


@pytest.mark.parametrize("variant", ["decoder_only", "hstu"])
def test_tiger_decoder_only_beam_search_equals_teacher_forced_scores(variant):
    model, tok = tiny_model("tiger", variant, item_id_embedding=True)
    batch = _batch(model, tok)
    out = model.generate(**batch, num_beams=NUM_ITEMS, num_return_sequences=NUM_ITEMS)
    expected = torch.zeros(len(HISTORIES), NUM_ITEMS)
    with torch.no_grad():
        for item in range(NUM_ITEMS):
            labels = CODES[item].expand(len(HISTORIES), -1)
            expected[:, item] = model.sid_log_likelihood(model(**batch, labels=labels).logits, labels)
    order = torch.argsort(expected, dim=1, descending=True)
    assert torch.equal(out.items, order)
    assert torch.allclose(out.scores, expected.gather(1, order), atol=1e-4)


# ---------------------------------------------------------------------------------------------- saving, export, CLI
def test_configs_saved_without_the_field_load_with_the_option_off(tmp_path):
    from hf_genrec.models import MODEL_TYPES

    for model_type in ("tiger", "intrr", "comeir"):
        config_class = MODEL_TYPES[model_type][0]
        saved = config_class(codebook_sizes=SIZES, num_items=NUM_ITEMS, item_id_embedding=True).to_dict()
        assert saved["item_id_embedding"] is True
        assert config_class.from_dict(saved).item_id_embedding is True
        saved.pop("item_id_embedding")
        assert config_class.from_dict(saved).item_id_embedding is False


@pytest.mark.parametrize("model_type,variant", [(m, v) for m in ("tiger", "intrr", "comeir")
                                                for v in TINY_MODELS[m] if v.endswith("item_ids")])
def test_remote_code_export_of_a_model_with_item_ids(model_type, variant, tmp_path):
    from hf_genrec.hub import save_model_folder

    model, tok = tiny_model(model_type, variant)
    assert model.config.item_id_embedding
    folder = save_model_folder(model, tok, tmp_path / "model", remote_code=True)
    histories = [[0, 1, 2], [5]]
    expected = model.generate(**_batch(model, tok, histories), num_beams=5).items.tolist()
    loaded = load_without_hf_genrec(folder, tmp_path, histories)
    assert loaded["items"] == expected and loaded["hf_genrec"] is False


def test_run_configs_pass_the_option_to_the_model_config():
    from hf_genrec.commands.train import check_run_config

    for model_type in ("tiger", "intrr", "comeir"):
        check_model_options(model_type, {"item_id_embedding": True})
        check_run_config({"data": {"prepared": "p", "sids": "s"},
                          "model": {"type": model_type, "item_id_embedding": True}})
    model, _ = tiny_model("intrr", "t5", item_id_embedding=True)
    assert isinstance(model.item_id_embeddings, ItemIdEmbedding)
