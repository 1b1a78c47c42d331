"""NEZHA decoding for any model (hf_genrec.generation.nezha, hf_genrec.modules.nezha): placeholders with left padding,
the recurrent cells, the verifier modes of the constrained beam search, and the head's learning-rate multipliers.
The common model suite runs TIGER's NEZHA variants (decoding equals the teacher-forced scores, save / load, remote
code)."""

import pytest
import torch
from helpers.tiny import CODES, HISTORIES, QWEN, SIZES, TINY_TIGER_T5, random_catalog, tiny_model

from hf_genrec.models import build_model
from hf_genrec.modules.nezha import NezhaLayerStates
from hf_genrec.tokenization import SIDTokenizer


def test_cells_by_hand():
    torch.manual_seed(0)
    rnn = NezhaLayerStates(3, 4, 5, cell="rnn")
    x, h = torch.randn(2, 1, 5), torch.randn(2, 1, 4)
    step = rnn.transition[1](x)
    cell = rnn.cells[1]
    hand = torch.tanh(step @ cell.weight_ih.t() + cell.bias_ih + h @ cell.weight_hh.t() + cell.bias_hh)
    assert torch.allclose(rnn.advance(1, x, h), hand, atol=1e-6)
    none = NezhaLayerStates(3, 4, 5, cell="none")
    assert torch.equal(none.advance(0, x, h), h) and not hasattr(none, "cells")
    gru = NezhaLayerStates(3, 4, 5)
    assert isinstance(gru.cells[0], torch.nn.GRUCell) and len(gru.cells) == 2
    with pytest.raises(ValueError, match="unknown NEZHA cell"):
        NezhaLayerStates(3, 4, 5, cell="lstm")


@pytest.mark.parametrize("model_type,variant", [("tiger", "nezha_decoder_only"), ("tiger", "nezha_hstu_no_cell"),
                                                ("tiger", "nezha_t5_separate_rnn"), ("intrr", "nezha_hstu")])
def test_placeholder_states_do_not_depend_on_left_padding(model_type, variant):
    model, tok = tiny_model(model_type, variant)
    mode = model.config.input_mode
    alone = dict(tok([HISTORIES[1]], mode=mode, return_tensors="pt"))
    padded = dict(tok([HISTORIES[0], HISTORIES[1]], mode=mode, return_tensors="pt"))  # the second row is left-padded
    assert not bool(padded["attention_mask"][1].all())
    with torch.no_grad():
        user_alone, states_alone = model.nezha_backbone_states(**alone)
        user_padded, states_padded = model.nezha_backbone_states(**padded)
    assert torch.allclose(user_alone[0], user_padded[1], atol=1e-5)
    assert torch.allclose(states_alone[0], states_padded[1], atol=1e-5)


def test_nezha_decoding_runs_the_backbone_once():
    model, tok = tiny_model("tiger", "nezha_decoder_only")
    calls = []
    handle = model.backbone.register_forward_hook(lambda *args: calls.append(1))
    model.generate(**dict(tok(list(HISTORIES), return_tensors="pt")), num_beams=8)
    handle.remove()
    assert len(calls) == 1
    standard, tok = tiny_model("tiger", "decoder_only")
    calls.clear()
    handle = standard.backbone.register_forward_hook(lambda *args: calls.append(1))
    standard.generate(**dict(tok(list(HISTORIES), return_tensors="pt")), num_beams=8)
    handle.remove()
    assert len(calls) == len(SIZES)  # the prompt, then one pass per further level


@pytest.mark.parametrize("variant", ["nezha_decoder_only", "t5"])
def test_post_filter_equals_mask_when_each_beam_keeps_every_code(variant):
    model, tok = tiny_model("tiger", variant)
    batch = dict(tok(list(HISTORIES), return_tensors="pt"))
    beams = max(SIZES) * 2
    masked = model.generate(**batch, num_beams=beams, verifier="mask")
    filtered = model.generate(**batch, num_beams=beams, verifier="post_filter")
    assert torch.equal(masked.items, filtered.items) and torch.allclose(masked.scores, filtered.scores)
    assert masked.invalid_sid_rate is None
    narrow = model.generate(**batch, num_beams=2, verifier="post_filter")  # top-2 per beam, then the check
    assert bool((narrow.items[narrow.items >= 0] < len(CODES)).all())


def test_without_a_verifier_an_untrained_model_leaves_the_catalog_and_mask_never_does():
    sizes = [16, 16, 16]
    codes = random_catalog(40, sizes, seed=3)  # 40 SIDs of 4,096 possible
    model, tok = tiny_model("tiger", "nezha_decoder_only", codes=codes, sizes=sizes)
    batch = dict(tok([[0, 1], [2], [5, 6, 7]], return_tensors="pt"))
    free = model.generate(**batch, num_beams=20, verifier="none")
    assert free.invalid_sid_rate > 0.5
    assert bool((free.items[free.items >= 0] < len(codes)).all())  # only valid SIDs map to items
    checked = model.generate(**batch, num_beams=20, verifier="mask")
    assert bool((checked.items >= 0).all())  # 20 beams, 20 catalog items each
    with pytest.raises(ValueError, match="unknown verifier"):
        model.generate(**batch, num_beams=4, verifier="hash")


def test_nezha_trains_and_overfits_a_tiny_catalog():
    model, tok = tiny_model("tiger", "nezha_decoder_only")
    model.train()
    batch = dict(tok(list(HISTORIES), return_tensors="pt"))
    labels = CODES[torch.tensor([4, 6, 8])]
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-2)
    for _ in range(80):
        optimizer.zero_grad()
        loss = model(**batch, labels=labels).loss
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.1
    assert model.generate(**batch, num_beams=5).items[:, 0].tolist() == [4, 6, 8]


def test_nezha_refuses_sequence_training_and_the_models_that_do_not_implement_it():
    model, _ = tiny_model("tiger", "nezha_decoder_only")
    assert "placeholders" in model.sequence_training_unsupported(model.config)
    tok = SIDTokenizer.from_sids(CODES, SIZES)
    with pytest.raises(NotImplementedError, match="DECOR"):
        build_model("decor", tok, codebook_dim=4, decoding_architecture="nezha", **TINY_TIGER_T5)
    with pytest.raises(NotImplementedError, match="PRISM"):
        build_model("prism", tok, decoding_architecture="nezha", **TINY_TIGER_T5)


def test_comeir_nezha_takes_the_published_codes_rnn_cell():
    model, _ = tiny_model("comeir", "nezha", nezha_cell="rnn")
    assert isinstance(model.nezha.cells[0], torch.nn.RNNCell)


def test_lr_multipliers_make_parameter_groups(tmp_path):
    from hf_genrec.training import GenRecTrainer, TrainingConfig

    model, tok = tiny_model("tiger", "nezha_decoder_only", backbone_config=QWEN)
    config = TrainingConfig(output_dir=str(tmp_path), learning_rate=1e-3, report_to=[], show_progress=False,
                            lr_multipliers={"nezha.cells.*": 10, "nezha.placeholders": 100})
    trainer = GenRecTrainer(model, tok, train_dataset=None, config=config)
    optimizer = trainer.create_optimizer()
    lrs = {id(p): group["lr"] for group in optimizer.param_groups for p in group["params"]}
    named = dict(model.named_parameters())
    assert lrs[id(named["nezha.cells.0.weight_ih"])] == pytest.approx(1e-2)
    assert lrs[id(named["nezha.placeholders"])] == pytest.approx(1e-1)
    assert lrs[id(named["sid_head.weight"])] == pytest.approx(1e-3)
    assert sum(len(group["params"]) for group in optimizer.param_groups) == len(
        [p for p in model.parameters() if p.requires_grad])
    bad = TrainingConfig(output_dir=str(tmp_path), report_to=[], show_progress=False,
                         lr_multipliers={"nezha.cell.*": 10})
    with pytest.raises(ValueError, match="match no trainable parameter"):
        GenRecTrainer(model, tok, train_dataset=None, config=bad).create_optimizer()
    with pytest.raises(ValueError, match="positive"):
        TrainingConfig(lr_multipliers={"x": 0})
