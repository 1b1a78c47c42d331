"""ComeIR trained at sequence level (``training.train_examples: sequence``): the loss and every gradient equal those
of the prefix examples, with the Engram tables' sparse gradients compared densified (the common suite compares dense
gradients only), for every representation / architecture / prefix-feedback combination."""

import pytest
from helpers.sequence_check import assert_sequence_equals_prefix
from helpers.tiny import tiny_model

CONFIGS = {"comeir": ("comeir", {}), "nezha": ("nezha", {}), "flatten": ("flatten", {}),
           "comeir_prefix_feedback": ("comeir", dict(prefix_feedback=True)),
           "token_merge": ("comeir", dict(representation="token_merge")),
           "flatten_without_feedback": ("flatten", dict(prefix_feedback=False)),
           "flatten_nezha": ("flatten", dict(architecture="nezha")),
           "first_order_inter": ("comeir", dict(inter_orders=[1, 2, 3]))}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_sequence_loss_and_gradients_equal_the_prefix_examples(name):
    variant, options = CONFIGS[name]
    model, tok = tiny_model("comeir", variant, **options)
    assert model.sequence_training_unsupported(model.config) is None
    assert_sequence_equals_prefix(model, tok)
