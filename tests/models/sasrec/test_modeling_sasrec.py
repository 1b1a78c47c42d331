"""SASRec: the user state is causal and ignores padding, each loss is what it says, ``generate`` is the top of a
full-catalog scoring, it overfits a tiny batch, and ``hf-genrec train`` trains and saves it (the common model
suite covers save/reload, Auto classes, remote code, bf16 and input checks)."""

import torch
from helpers.tiny import CODES, NUM_ITEMS, SIZES
from torch.nn import functional as F

from hf_genrec.models import build_model
from hf_genrec.tokenization import SIDTokenizer


def setup(**options):
    tok = SIDTokenizer.from_sids(CODES, SIZES)
    torch.manual_seed(0)
    options = {"hidden_size": 16, "num_layers": 2, "num_heads": 2, "max_history": 8, "dropout_rate": 0.0, **options}
    return build_model("sasrec", tok, **options).eval(), tok


def test_user_state_ignores_padding_and_keeps_the_most_recent_items():
    model, tok = setup()
    alone = tok([[3, 4, 5]], mode="item", return_tensors="pt")
    padded = tok([[3, 4, 5], [1, 2, 3, 4, 5, 6, 7]], mode="item", return_tensors="pt")
    with torch.no_grad():
        a = model.user_states(alone["item_ids"], alone["attention_mask"])[0]
        b = model.user_states(padded["item_ids"], padded["attention_mask"])[0]
        long = model.user_states(torch.tensor([list(range(12))]))
        recent = model.user_states(torch.tensor([list(range(4, 12))]))  # the last max_history = 8 items
        changed_first = model.user_states(torch.tensor([[9, 4, 5]]))
        base = model.user_states(torch.tensor([[3, 4, 5]]))
    assert torch.allclose(a, b, atol=1e-5)
    assert torch.allclose(long, recent, atol=1e-5)
    assert not torch.allclose(changed_first, base)  # earlier items matter through attention


def test_losses_and_generate_is_the_top_of_full_scoring():
    model, tok = setup()
    batch = tok([[0, 1, 2], [5], [7, 7, 9]], mode="item", return_tensors="pt")
    targets = torch.tensor([3, 8, 11])
    out = model(**batch, target_items=targets)
    assert torch.allclose(out.loss, F.cross_entropy(out.logits, targets), atol=1e-6)
    assert torch.allclose(model(**batch, labels=CODES[targets]).loss, out.loss)  # targets from their SIDs
    ranked = model.generate(**batch, num_return_sequences=6)
    expected = F.log_softmax(out.logits, -1).topk(6)
    assert torch.equal(ranked.items, expected.indices) and torch.allclose(ranked.scores, expected.values)
    assert torch.equal(ranked.sids, CODES[ranked.items])
    everything = model.generate(**batch, num_return_sequences=NUM_ITEMS + 3)  # more than the catalog: padded
    assert (everything.items[:, NUM_ITEMS:] == -1).all() and torch.isinf(everything.scores[:, NUM_ITEMS:]).all()
    for loss in ("bce", "sampled_ce"):
        other, _ = setup(loss=loss, num_negatives=4)
        value = other(**batch, target_items=targets).loss
        assert value.ndim == 0 and torch.isfinite(value) and value > 0


def test_overfits_a_tiny_batch():
    model, tok = setup()
    batch = tok([[0, 1, 2], [5, 6], [7, 9]], mode="item", return_tensors="pt")
    targets = torch.tensor([3, 8, 11])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(60):
        optimizer.zero_grad()
        model(**batch, target_items=targets).loss.backward()
        optimizer.step()
    model.eval()
    assert model.generate(**batch, num_return_sequences=1).items[:, 0].tolist() == [3, 8, 11]


def test_trains_with_the_training_command(run_config):
    from transformers import AutoModel

    from hf_genrec.commands.train import run_train

    run_config["model"] = {"type": "sasrec", "hidden_size": 16, "num_layers": 1, "num_heads": 1, "max_history": 5}
    run_config["training"].update(max_steps=6, eval_steps=3)
    summary = run_train(run_config)
    assert summary["test"]["num_users"] > 0 and "recall@10" in summary["test"]["metrics"]
    loaded = AutoModel.from_pretrained(summary["model_folder"])
    assert type(loaded).__name__ == "SASRecForSequentialRecommendation"
