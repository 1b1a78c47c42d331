"""Sequence-level batch vs. its prefix examples: the loss and every gradient (sparse ones densified) of both."""

from __future__ import annotations

import torch

from hf_genrec.data.collator import GenRecCollator

ROWS = [{"history": [0, 1, 2, 3, 5], "targets": [1, 2, 3, 5, 7]}, {"history": [7, 9], "targets": [9, 4]}]


def _loss_and_grads(model, batches):
    """The mean loss of ``batches`` (each weighing the same) and its gradients."""
    model.zero_grad()
    total = 0.0
    for batch in batches:
        loss = model(**batch).loss / len(batches)
        loss.backward()
        total = total + loss.detach()
    grads = {n: (p.grad.to_dense() if p.grad.is_sparse else p.grad).clone()
             for n, p in model.named_parameters() if p.grad is not None}
    return total, grads


def sequence_and_prefix_losses(model, tokenizer, rows=ROWS, user_ids=None, one_by_one=False):
    """``[(loss, {name: grad}), (loss, {name: grad})]`` of the sequence batch of ``rows`` and of its prefix examples
    (one batch of them, or with ``one_by_one`` each alone, unpadded: the mean of their losses); ``user_ids`` (one per
    row) are repeated for the prefix examples."""
    collate = GenRecCollator(tokenizer, mode=model.config.input_mode, max_history=model.config.max_history)
    prefix = [{"history": r["history"][: j + 1], "target": r["targets"][j]} for r in rows for j in range(len(r["targets"]))]
    users = None if user_ids is None else torch.tensor(user_ids)
    prefix_users = None if users is None else users.repeat_interleave(torch.tensor([len(r["targets"]) for r in rows]))
    sequence = collate(rows)
    if users is not None:
        sequence["user_ids"] = users
    if one_by_one:
        prefix_batches = [collate([row]) for row in prefix]
        for i, batch in enumerate(prefix_batches):
            if users is not None:
                batch["user_ids"] = prefix_users[i: i + 1]
    else:
        prefix_batches = [collate(prefix)]
        if users is not None:
            prefix_batches[0]["user_ids"] = prefix_users
    for batch in [sequence, *prefix_batches]:
        batch.pop("timestamps", None)
    return [_loss_and_grads(model, [sequence]), _loss_and_grads(model, prefix_batches)]


def assert_sequence_equals_prefix(model, tokenizer, atol=1e-5, **options):
    (seq_loss, seq_grads), (prefix_loss, prefix_grads) = sequence_and_prefix_losses(model, tokenizer, **options)
    assert torch.allclose(seq_loss, prefix_loss, atol=atol), (seq_loss, prefix_loss)
    assert set(seq_grads) == set(prefix_grads) and seq_grads
    for name, grad in seq_grads.items():
        assert torch.allclose(grad, prefix_grads[name], atol=atol), name
