"""Decoder-only TIGER trained at sequence level (``training.train_examples: sequence``) beyond the common suite's
check: hashed user tokens, right padding, the level loss and HSTU with non-zero relative position biases (a freshly
built HSTU's biases are zero, so positions would not matter).

The packed pass gives every target the positions of its prefix example *alone*. HSTU's prefix path takes relative
positions from the padded sequence index, so with a user token in front of the left padding, or with right padding
(``<bos>`` after the padding), a prefix example's result depends on the padding its batch gives it; there the
reference is each prefix example run unpadded (``one_by_one``)."""

import pytest
import torch
from helpers.sequence_check import assert_sequence_equals_prefix
from helpers.tiny import tiny_model


@pytest.mark.parametrize("variant", ["decoder_only", "hstu"])
@pytest.mark.parametrize("options", [dict(user_hash_buckets=7), dict(loss_vocabulary="level"), dict(padding="right"),
                                     dict(item_id_embedding=True, item_id_loss_weight=0.5)],
                         ids=["user_token", "level_loss", "right_padding", "item_id_loss"])
def test_sequence_loss_and_gradients_equal_the_prefix_examples(variant, options):
    options = dict(options)
    padding = options.pop("padding", "left")
    model, tok = tiny_model("tiger", variant, **options)
    tok.padding_side = padding
    if variant == "hstu":
        with torch.no_grad():
            for bias in model.backbone.biases:
                bias.position.normal_(std=0.5)
    assert model.sequence_training_unsupported(model.config) is None
    padding_dependent = variant == "hstu" and (padding == "right" or options.get("user_hash_buckets"))
    assert_sequence_equals_prefix(model, tok, user_ids=[3, 12] if options.get("user_hash_buckets") else None,
                                  one_by_one=padding_dependent)


def test_encoder_decoder_refuses_sequence_batches():
    model, tok = tiny_model("tiger", "t5")
    why = model.sequence_training_unsupported(model.config)
    assert "bidirectional" in why
    labels = torch.zeros(1, 2, model.config.num_levels, dtype=torch.long)
    with pytest.raises(ValueError, match="bidirectional"):
        model(**tok([[0, 1]], return_tensors="pt"), labels=labels)
