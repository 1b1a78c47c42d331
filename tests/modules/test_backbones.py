"""Residual dropout on a causal LM's decoder layers: the same layer output as the dropout written out by hand, nothing
in eval mode, clear errors."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hf_genrec.modules.backbones import add_residual_dropout, build_backbone, default_decoder_config


def tiny(model_type="qwen3"):
    config = default_decoder_config(hidden_size=16, num_layers=2, num_heads=2, intermediate_size=32)
    config["model_type"] = model_type
    torch.manual_seed(0)
    return build_backbone(config)


def test_hooks_every_attention_and_mlp_sublayer():
    for model_type in ("qwen3", "llama"):
        assert add_residual_dropout(tiny(model_type), 0.3) == 4  # 2 layers x (self_attn, mlp)
    assert add_residual_dropout(tiny(), 0.0) == 0


def test_layer_output_equals_the_dropout_written_out_by_hand():
    backbone, rate = tiny(), 0.4
    layer = backbone.layers[0]
    hidden = torch.randn(2, 5, 16)
    positions = torch.arange(5)[None].expand(2, -1)
    rotary = backbone.rotary_emb(hidden, positions)

    def by_hand():
        attended = layer.self_attn(layer.input_layernorm(hidden), attention_mask=None, position_embeddings=rotary)[0]
        mid = hidden + F.dropout(attended, rate, True)
        return mid + F.dropout(layer.mlp(layer.post_attention_layernorm(mid)), rate, True)

    backbone.train()
    torch.manual_seed(3)
    expected = by_hand()
    add_residual_dropout(backbone, rate)
    torch.manual_seed(3)
    assert torch.allclose(layer(hidden, attention_mask=None, position_embeddings=rotary), expected, atol=1e-6)
    torch.manual_seed(4)
    assert not torch.allclose(layer(hidden, attention_mask=None, position_embeddings=rotary), expected)


def test_eval_mode_is_untouched_and_bad_input_is_refused():
    plain, hooked = tiny(), tiny()
    add_residual_dropout(hooked, 0.5)
    embeds = torch.randn(2, 6, 16)
    plain.eval(), hooked.eval()
    assert torch.equal(plain(inputs_embeds=embeds).last_hidden_state, hooked(inputs_embeds=embeds).last_hidden_state)
    hooked.train()
    assert not torch.allclose(plain(inputs_embeds=embeds).last_hidden_state,
                              hooked(inputs_embeds=embeds).last_hidden_state)
    with pytest.raises(ValueError, match=r"must be in \[0, 1\)"):
        add_residual_dropout(tiny(), 1.0)
    with pytest.raises(ValueError, match="has no decoder layers with 'self_attn' and 'mlp'"):
        add_residual_dropout(nn.Sequential(nn.Linear(4, 4)), 0.1)
