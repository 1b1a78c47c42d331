"""Backbones by name or path, LoRA (peft) and frozen-backbone fine-tuning."""

import json
from pathlib import Path

import pytest
import torch
from helpers.tiny import save_tiny_causal_lm
from transformers import AutoModel

from hf_genrec.commands.train import run_train
from hf_genrec.models import build_model
from hf_genrec.tokenization import SIDTokenizer
from hf_genrec.training import LoraSettings, apply_lora, configure_finetuning, merge_lora, trainable_parameters

SIDS = torch.unique(torch.stack([torch.randint(0, s, (40,), generator=torch.Generator().manual_seed(i))
                                 for i, s in enumerate([4, 4, 3])], 1), dim=0)


def tokenizer():
    return SIDTokenizer.from_sids(SIDS, [4, 4, 3])


@pytest.mark.parametrize("kind", ["qwen3", "llama"])
def test_backbone_by_path_loads_its_weights(kind, tmp_path):
    path = save_tiny_causal_lm(kind, tmp_path)
    model = build_model("tiger", tokenizer(), architecture="decoder_only", backbone_name_or_path=str(path))
    reference = AutoModel.from_pretrained(path)
    for name, value in reference.state_dict().items():
        assert torch.equal(model.backbone.state_dict()[name], value), name
    assert model.config.backbone_name_or_path == str(path) and model.config.backbone_config["model_type"] == kind
    tok = tokenizer()
    batch = tok([[0, 1, 2]], return_tensors="pt")
    assert torch.isfinite(model(**batch, labels=tok.encode_targets([3])).loss)
    model.save_pretrained(tmp_path / "saved")  # reloads offline from its own config, without the original path
    assert torch.equal(AutoModel.from_pretrained(tmp_path / "saved").backbone.embed_tokens.weight,
                       model.backbone.embed_tokens.weight)


def test_lora_keeps_sid_modules_trainable_saves_reloads_and_merges(tmp_path):
    path = save_tiny_causal_lm("qwen3", tmp_path)
    tok = tokenizer()
    torch.manual_seed(0)
    model = build_model("tiger", tok, architecture="decoder_only", backbone_name_or_path=str(path))
    apply_lora(model, LoraSettings(r=4, alpha=8, dropout=0.0))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or n.startswith(("sid_embeddings", "sid_head")) for n in trainable)
    assert {"sid_embeddings.weight", "sid_head.weight"} <= trainable
    assert trainable_parameters(model)["share"] < 0.5
    # move the adapters away from zero so that they matter
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.05)
    batch = tok([[0, 1, 2], [4]], return_tensors="pt")
    labels = tok.encode_targets([5, 6])
    model.eval()
    before = model(**batch, labels=labels).logits
    # the adapter saves alone and re-attaches to a fresh copy of the base model
    model.backbone.save_pretrained(tmp_path / "adapter")
    assert (tmp_path / "adapter" / "adapter_model.safetensors").exists()
    from peft import PeftModel

    fresh = build_model("tiger", tok, architecture="decoder_only", backbone_name_or_path=str(path)).eval()
    fresh.sid_embeddings.load_state_dict(model.sid_embeddings.state_dict())
    fresh.sid_head.load_state_dict(model.sid_head.state_dict())
    fresh.backbone = PeftModel.from_pretrained(fresh.backbone, tmp_path / "adapter")
    assert torch.allclose(fresh(**batch, labels=labels).logits, before, atol=1e-5)
    # merging gives the same outputs and a plain model that loads with from_pretrained
    merge_lora(model)
    assert not type(model.backbone).__name__.startswith("Peft")
    assert torch.allclose(model(**batch, labels=labels).logits, before, atol=1e-4)
    model.save_pretrained(tmp_path / "merged")
    reloaded = AutoModel.from_pretrained(tmp_path / "merged").eval()
    assert torch.allclose(reloaded(**batch, labels=labels).logits, before, atol=1e-4)


def test_lora_and_frozen_backbone_on_t5_keep_the_sid_table_trainable():
    tok = tokenizer()
    lora = configure_finetuning(build_model("tiger", tok, hidden_size=32, intermediate_size=64, num_layers=1, num_decoder_layers=1,
                                            num_heads=2, d_kv=16), "lora")
    names = {n for n, p in lora.named_parameters() if p.requires_grad}
    assert any("lora_A" in n for n in names) and any(n.endswith("shared.weight") for n in names)
    frozen = configure_finetuning(build_model("tiger", tok, hidden_size=32, intermediate_size=64, num_layers=1, num_decoder_layers=1,
                                              num_heads=2, d_kv=16), "frozen_backbone")
    names = {n for n, p in frozen.named_parameters() if p.requires_grad}
    assert names == {"backbone.shared.weight"}
    with pytest.raises(ValueError, match="fine-tuning mode"):
        configure_finetuning(frozen, "half")


def test_t5_fast_decoding_applies_unmerged_lora_adapters():
    """TIGER's fused T5 decoder reads weights directly: active adapters must count, as they do in forward()."""
    tok = tokenizer()
    model = build_model("tiger", tok, hidden_size=32, intermediate_size=64, num_layers=2, num_decoder_layers=2, num_heads=2, d_kv=16,
                        dropout_rate=0.0).eval()
    batch = tok([[0, 1, 2], [5, 6]], return_tensors="pt")
    before = model.generate(**batch, num_beams=8)
    apply_lora(model, LoraSettings(r=4, alpha=8, dropout=0.0, target_modules=["q", "k", "v", "o", "wi", "wo"]))
    model.eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, parameter in model.backbone.named_parameters():
            if "lora_B" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=g))
    with_adapters = model.generate(**batch, num_beams=8)
    merge_lora(model)
    merged = model.generate(**batch, num_beams=8)
    assert not torch.allclose(with_adapters.scores, before.scores)
    assert torch.equal(with_adapters.items, merged.items)
    assert torch.allclose(with_adapters.scores, merged.scores, atol=1e-4)


def test_training_with_lora_loads_back(run_config):
    run_config["finetuning"] = {"mode": "lora", "lora": {"r": 4, "alpha": 8, "dropout": 0.0}}
    run_config["training"]["num_epochs"] = 1
    summary = run_train(run_config)
    assert summary["lora"] is True
    folder = Path(summary["model_folder"])
    model = AutoModel.from_pretrained(folder)
    assert not any("lora" in name for name in model.state_dict())
    training = json.loads((folder / "training_config.json").read_text())
    assert training["finetuning"]["mode"] == "lora"
    tok = SIDTokenizer.from_pretrained(folder)
    out = model.generate(**tok([[0, 1]], return_tensors="pt"), num_beams=5)
    assert out.items.shape == (1, 5)


def test_save_pretrained_of_an_unmerged_lora_model_reloads_merged_and_keeps_the_adapter(tmp_path):
    from peft import AutoPeftModel

    path = save_tiny_causal_lm("qwen3", tmp_path)
    tok = tokenizer()
    torch.manual_seed(0)
    model = build_model("tiger", tok, architecture="decoder_only", backbone_name_or_path=str(path))
    apply_lora(model, LoraSettings(r=4, alpha=8, dropout=0.0))
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.05)
    model.eval()
    batch = tok([[0, 1, 2], [4]], return_tensors="pt")
    expected = model.generate(**batch, num_beams=6)
    model.save_pretrained(tmp_path / "saved")
    assert type(model.backbone).__name__.startswith("Peft")  # the model in memory stays unmerged
    loaded, info = AutoModel.from_pretrained(tmp_path / "saved", output_loading_info=True)
    assert not any(info.values())
    out = loaded.eval().generate(**batch, num_beams=6)
    assert torch.equal(out.items, expected.items) and torch.allclose(out.scores, expected.scores, atol=1e-4)
    # the adapter alone, in peft's format, attaches to the pretrained backbone it was trained on
    adapter = AutoPeftModel.from_pretrained(tmp_path / "saved" / "adapter").eval()
    embeds = torch.randn(1, 5, model.backbone.config.hidden_size)
    with torch.no_grad():
        assert torch.allclose(adapter(inputs_embeds=embeds).last_hidden_state,
                              model.backbone(inputs_embeds=embeds).last_hidden_state, atol=1e-5)
