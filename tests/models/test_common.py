"""The common model test suite: every registered model type, every tiny variant in ``helpers.tiny.TINY_MODELS``.

Like transformers' ``ModelTesterMixin``, these checks hold for any hf_genrec model; a new method joins by
registering in ``hf_genrec.models.MODEL_TYPES`` and adding its tiny variants (the first test fails until it
does). Checked: forward returns logits with and without labels; beam search over the whole catalog equals the
teacher-forced score of every SID (the decoding path against the training path); every trainable parameter
gets a gradient; a saved folder reloads through ``AutoConfig`` / ``AutoModel`` / ``AutoTokenizer`` and ranks the
same; the ``trust_remote_code`` export loads without hf_genrec; bf16 forward; empty, over-long and wrongly laid
out histories; config field aliases.
"""

import inspect

import pytest
import torch
from helpers.remote_code import load_all_without_hf_genrec
from helpers.tiny import CODES, HISTORIES, NUM_ITEMS, SIZES, TINY_MODELS, tiny_model
from transformers import AutoConfig, AutoModel, AutoTokenizer

import hf_genrec  # noqa: F401
from hf_genrec.models import MODEL_TYPES
from hf_genrec.tokenization import SIDTokenizer

VARIANTS = [(model_type, variant) for model_type in sorted(TINY_MODELS) for variant in TINY_MODELS[model_type]]
IDS = [f"{model_type}-{variant}" for model_type, variant in VARIANTS]
FIRST_VARIANTS = [(model_type, next(iter(TINY_MODELS[model_type]))) for model_type in sorted(TINY_MODELS)]


def batch_for(model, tokenizer, histories=HISTORIES):
    """The tokenizer's batch in the model's layout, with increasing timestamps for models that read them."""
    batch = dict(tokenizer([list(h) for h in histories], mode=model.config.input_mode, return_tensors="pt"))
    if "timestamps" in inspect.signature(model.forward).parameters:
        batch["timestamps"] = batch["attention_mask"].cumsum(-1) * 86_400
    return batch


def test_every_registered_model_type_is_in_the_suite():
    assert set(TINY_MODELS) == set(MODEL_TYPES), "add tiny variants of the new model type to helpers/tiny.py"


@pytest.mark.parametrize("model_type,variant", VARIANTS, ids=IDS)
def test_forward_returns_per_level_logits_with_and_without_labels(model_type, variant):
    model, tok = tiny_model(model_type, variant)
    batch = batch_for(model, tok)
    labels = CODES[[3, 8, 11]]
    with torch.no_grad():
        out = model(**batch, labels=labels)
        first = model(**batch)
    assert out.loss.ndim == 0 and torch.isfinite(out.loss) and first.loss is None
    if model.scores_items:  # one score per catalog item, with or without labels
        assert out.logits.shape == first.logits.shape == (3, NUM_ITEMS)
        assert torch.allclose(first.logits, out.logits, atol=1e-5)
        return
    assert out.logits.shape == (3, len(SIZES), max(SIZES))
    for level, size in enumerate(SIZES):
        assert bool(torch.isinf(out.logits[:, level, size:]).all())  # past the level's codebook
    assert first.logits.shape == (3, 1, max(SIZES))
    assert torch.allclose(first.logits[:, 0], out.logits[:, 0], atol=1e-5)


@pytest.mark.parametrize("model_type,variant", VARIANTS, ids=IDS)
def test_beam_search_over_the_whole_catalog_equals_teacher_forced_scores(model_type, variant):
    model, tok = tiny_model(model_type, variant)
    batch = batch_for(model, tok)
    out = model.generate(**batch, num_beams=NUM_ITEMS, num_return_sequences=NUM_ITEMS)
    B = len(HISTORIES)
    expected = torch.zeros(B, NUM_ITEMS)
    with torch.no_grad():
        for item in range(NUM_ITEMS):
            labels = CODES[item].expand(B, -1)
            expected[:, item] = model.sid_log_likelihood(model(**batch, labels=labels).logits, labels)
    order = torch.argsort(expected, dim=1, descending=True)
    assert torch.equal(out.items, order)
    assert torch.allclose(out.scores, expected.gather(1, order), atol=1e-4)
    assert torch.equal(out.sids, CODES[out.items])


@pytest.mark.parametrize("model_type,variant", VARIANTS, ids=IDS)
def test_every_trainable_parameter_gets_a_gradient(model_type, variant):
    model, tok = tiny_model(model_type, variant)
    model.train()
    histories = [[i, (i + 3) % NUM_ITEMS, (i * 7) % NUM_ITEMS] for i in range(NUM_ITEMS)]
    batch = batch_for(model, tok, histories)
    model(**batch, labels=CODES[torch.arange(NUM_ITEMS).roll(1)]).loss.backward()
    missing = [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"no gradient reaches {missing}"


@pytest.mark.parametrize("model_type,variant", VARIANTS, ids=IDS)
def test_saved_folder_reloads_through_the_auto_classes_and_ranks_the_same(model_type, variant, tmp_path):
    from hf_genrec.hub import save_model_folder

    model, tok = tiny_model(model_type, variant)
    folder = save_model_folder(model, tok, tmp_path / "model")
    assert type(AutoConfig.from_pretrained(folder)) is type(model.config)
    loaded, info = AutoModel.from_pretrained(folder, output_loading_info=True)
    loaded.eval()
    assert not any(info.values()), f"loading reports {info}"  # no missing, unexpected or mismatched weights
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert type(loaded) is type(model) and isinstance(tokenizer, SIDTokenizer)
    assert tokenizer.default_mode == model.config.input_mode  # a plain tokenizer(histories) fits the model
    batch = tokenizer([list(h) for h in HISTORIES], return_tensors="pt")
    a, b = model.generate(**batch, num_beams=8), loaded.generate(**batch, num_beams=8)
    assert torch.equal(a.items, b.items) and torch.allclose(a.scores, b.scores, atol=1e-5)
    state, reloaded = model.state_dict(), loaded.state_dict()
    assert set(state) == set(reloaded) and all(torch.equal(state[k], reloaded[k]) for k in state)


def test_trust_remote_code_export_loads_without_hf_genrec(tmp_path):
    """Every model type's remote-code export decodes as the model does, in one fresh process without hf_genrec."""
    from hf_genrec.hub import save_model_folder

    histories = [[0, 1, 2], [5]]
    folders, expected = [], []
    for model_type, variant in FIRST_VARIANTS:
        model, tok = tiny_model(model_type, variant)
        folders.append(save_model_folder(model, tok, tmp_path / model_type, remote_code=True))
        expected.append(model.generate(**batch_for(model, tok, histories), num_beams=5).items.tolist())
    loaded = load_all_without_hf_genrec(folders, tmp_path, histories)
    for (model_type, _), want, got in zip(FIRST_VARIANTS, expected, loaded):
        assert got["items"] == want and got["hf_genrec"] is False, model_type
        assert got["module"].startswith("transformers_modules"), (model_type, got["module"])


@pytest.mark.parametrize("model_type,variant", VARIANTS, ids=IDS)
def test_bf16_forward_and_generate(model_type, variant):
    model, tok = tiny_model(model_type, variant)
    model = model.to(torch.bfloat16)
    batch = batch_for(model, tok)
    with torch.no_grad():
        out = model(**batch, labels=CODES[[3, 8, 11]])
    assert torch.isfinite(out.loss.float())
    result = model.generate(**batch, num_beams=4)
    found = result.items[result.items >= 0]
    assert len(found) and torch.equal(result.sids[result.items >= 0], CODES[found])


@pytest.mark.parametrize("model_type,variant", VARIANTS, ids=IDS)
def test_empty_histories_are_a_clear_error_and_over_long_ones_decode(model_type, variant):
    model, tok = tiny_model(model_type, variant)
    empty = batch_for(model, tok, [[1, 2], []])
    with pytest.raises(ValueError, match=r"rows \[1\] are empty"):
        model.generate(**empty, num_beams=4)
    with pytest.raises(ValueError, match="at least one item"):
        model(**empty, labels=CODES[[3, 4]])
    with pytest.raises(ValueError, match="empty"):
        model.generate(**batch_for(model, tok, [[]]), num_beams=4)
    longest = [i % NUM_ITEMS for i in range(2 * model.config.max_history + 3)]
    result = model.generate(**batch_for(model, tok, [longest, [4]]), num_beams=4)
    assert bool((result.items >= 0).all())


@pytest.mark.parametrize("model_type,variant", VARIANTS, ids=IDS)
def test_a_batch_in_the_other_tokenizer_mode_is_a_clear_error(model_type, variant):
    model, tok = tiny_model(model_type, variant)
    other = "flat" if model.config.input_mode == "item" else "item"
    batch = tok([[0, 1], [2]], mode=other, return_tensors="pt")
    with pytest.raises(ValueError, match=f"mode='{model.config.input_mode}'"):
        model.generate(**batch, num_beams=4)
    with pytest.raises(ValueError, match=f"mode='{model.config.input_mode}'"):
        model(**batch, labels=CODES[[3, 4]])


@pytest.mark.parametrize("model_type", sorted(MODEL_TYPES))
def test_config_field_names_are_shared_and_old_names_are_aliases(model_type):
    config_class, _ = MODEL_TYPES[model_type]
    config = config_class(codebook_sizes=SIZES, num_items=NUM_ITEMS, d_model=24, d_ff=48)
    assert config.hidden_size == config.d_model == 24 and config.intermediate_size == config.d_ff == 48
    saved = config.to_dict()
    assert saved["hidden_size"] == 24 and "d_model" not in saved
    assert {"hidden_size", "num_layers", "num_heads"} <= set(saved)
    assert config.code_offsets == [0, 4, 7] and config.token_offsets == [3, 7, 10]


#: options under which a model's sequence-level loss must equal its prefix losses exactly (positions that do not
#: depend on where the sequence ends, no sampled negatives, which differ between the two batch layouts); SASRec's
#: default counts positions back from the end, as its paper does
EXACT_SEQUENCE_OPTIONS = {"sasrec": {"positions": "from_oldest", "loss": "ce"}}
SEQUENCE_ROWS = [{"history": [0, 1, 2, 3, 5], "targets": [1, 2, 3, 5, 7]}, {"history": [7, 9], "targets": [9, 4]}]


def _with_times(row, key="history"):
    return [1_000 + 86_400 * (3 * i + i * i) for i in range(len(row[key]))]


@pytest.mark.parametrize("model_type,variant", VARIANTS, ids=IDS)
def test_sequence_level_loss_and_gradients_equal_the_mean_of_prefix_losses(model_type, variant):
    """``training.train_examples: sequence``: one pass per window, a target at every position; for a causal model
    the loss and every gradient equal those of the window's prefix examples (float tolerance)."""
    from hf_genrec.data.collator import GenRecCollator

    model, tok = tiny_model(model_type, variant, **EXACT_SEQUENCE_OPTIONS.get(model_type, {}))
    why = model.sequence_training_unsupported(model.config)
    if why:  # the refusal names the reason; the trainer turns it into a clear error (tests/training)
        assert isinstance(why, str) and why
        return
    collate = GenRecCollator(tok, mode=model.config.input_mode, max_history=model.config.max_history)
    rows = [dict(r, history_timestamps=_with_times(r), target_timestamps=_with_times(r)) for r in SEQUENCE_ROWS]
    prefix_rows = [{"history": r["history"][: j + 1], "history_timestamps": r["history_timestamps"][: j + 1],
                    "target": r["targets"][j]} for r in rows for j in range(len(r["targets"]))]
    losses, grads = [], []
    for batch in (collate(rows), collate(prefix_rows)):
        if "timestamps" not in inspect.signature(model.forward).parameters:
            batch.pop("timestamps", None)
        batch.pop("user_ids", None)
        model.zero_grad()
        loss = model(**batch).loss
        loss.backward()
        losses.append(loss.detach())
        grads.append({n: (p.grad.to_dense() if p.grad.is_sparse else p.grad).clone()  # ComeIR's sparse tables
                      for n, p in model.named_parameters() if p.grad is not None})
    assert collate(rows)["labels"].shape[:2] == (2, 5)
    assert torch.allclose(losses[0], losses[1], atol=1e-5), (losses, model_type, variant)
    assert set(grads[0]) == set(grads[1]) and grads[0]
    for name in grads[0]:
        assert torch.allclose(grads[0][name], grads[1][name], atol=1e-5), name


@pytest.mark.parametrize("model_type,variant", FIRST_VARIANTS, ids=[f"{m}-{v}" for m, v in FIRST_VARIANTS])
def test_generate_rejects_unknown_arguments_and_speaks_transformers(model_type, variant):
    model, tok = tiny_model(model_type, variant)
    batch = batch_for(model, tok)
    with pytest.raises(ValueError, match="num_beam"):
        model.generate(**batch, num_beam=4)
    out = model.generate(**batch, num_beams=4, max_new_tokens=3, pad_token_id=0)  # transformers options: ignored
    assert torch.equal(out.sequences, out.sids) and torch.equal(out.sequences_scores, out.scores)
    items = model.generate(**batch, num_beams=4, return_dict_in_generate=False)
    assert torch.equal(items, out.items)
    assert model.generate(**batch, num_beams=4, output_scores=False).scores is None


@pytest.mark.parametrize("model_type,variant", FIRST_VARIANTS, ids=[f"{m}-{v}" for m, v in FIRST_VARIANTS])
def test_generate_flushes_subnormals_on_cpu_only_while_it_decodes(model_type, variant, monkeypatch):
    from hf_genrec.utils.numerics import flushing_denormals

    model, tok = tiny_model(model_type, variant)
    batch = batch_for(model, tok)
    expected = model.generate(**batch, num_beams=4).items
    seen = []
    search = model.search

    def recording_search(*args, **kwargs):
        seen.append(flushing_denormals())
        return search(*args, **kwargs)

    monkeypatch.setattr(model, "search", recording_search)
    items = model.generate(**batch, num_beams=4).items
    if not torch.set_flush_denormal(False):
        pytest.skip("this CPU cannot flush subnormal floats")
    assert seen == [True] and not flushing_denormals()  # on during the search, restored afterwards
    assert torch.equal(items, expected)
