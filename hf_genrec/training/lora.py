"""How much of the backbone trains: full fine-tuning, LoRA adapters (peft), or a frozen backbone.

The modules hf_genrec adds on top of a backbone (SID embeddings, prediction heads, ...) always stay
trainable: they live outside ``model.backbone``, which is the only part LoRA wraps or freezing touches.
Where the SID embeddings are part of the backbone itself (TIGER's T5 token table, tied to its head), the
model names them in ``backbone_sid_parameters()`` and they stay trainable in place - the equivalent of
peft's ``modules_to_save`` without breaking the tie.
After training with LoRA, :func:`merge_lora` folds the adapters into the backbone weights so the saved
model is a plain hf_genrec model that loads with ``from_pretrained``; the adapter itself can also be
saved and re-attached with peft.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

from torch import nn

MODES = ("full", "lora", "frozen_backbone")

# Attention projections of the common backbones; used when target_modules is not given.
DEFAULT_TARGETS = {"t5": ["q", "v"], "qwen3": ["q_proj", "v_proj"], "llama": ["q_proj", "v_proj"],
                   "qwen2": ["q_proj", "v_proj"], "mistral": ["q_proj", "v_proj"]}


@dataclass
class LoraSettings:
    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: Optional[List[str]] = None
    bias: str = "none"


def _backbone(model) -> nn.Module:
    if not hasattr(model, "backbone"):
        raise ValueError(f"{type(model).__name__} has no .backbone to fine-tune with LoRA or to freeze")
    return model.backbone


def apply_lora(model, settings: LoraSettings):
    """Wrap ``model.backbone`` with LoRA adapters; everything outside the backbone stays trainable."""
    from peft import LoraConfig, get_peft_model

    backbone = _backbone(model)
    model_type = getattr(backbone.config, "model_type", "")
    targets = settings.target_modules or DEFAULT_TARGETS.get(model_type)
    if not targets:
        raise ValueError(f"no default LoRA target modules for backbone type {model_type!r}; set lora.target_modules")
    config = LoraConfig(r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout, target_modules=targets,
                        bias=settings.bias)
    model.backbone = get_peft_model(backbone, config)
    _unfreeze_sid_parameters(model)
    return model


def _unfreeze_sid_parameters(model) -> None:
    """SID embeddings that live inside the backbone (TIGER's T5 token table) keep training, in place."""
    names = set(getattr(model, "backbone_sid_parameters", lambda: [])())
    for name, parameter in model.backbone.named_parameters():
        if any(name.endswith(n) for n in names):
            parameter.requires_grad_(True)


def is_lora(model) -> bool:
    return type(getattr(model, "backbone", None)).__name__.startswith("Peft")


def merge_lora(model):
    """Fold the adapters into the backbone weights (``merge_and_unload``) and put the plain backbone back."""
    if is_lora(model):
        model.backbone = model.backbone.merge_and_unload()
    return model


def save_with_lora(model, save_directory, *args, **kwargs):
    """``save_pretrained`` of a model whose backbone carries unmerged LoRA adapters: the folder gets the merged
    weights (it loads as a plain hf_genrec model with ``from_pretrained``) and the adapter in peft's format under
    ``adapter/`` (``AutoPeftModel.from_pretrained(folder / "adapter")`` attaches it to the pretrained backbone named by
    the model's ``backbone_name_or_path``). The model itself stays unmerged, so training can go on."""
    import copy
    from pathlib import Path

    backbone = model.backbone
    name = getattr(model.config, "backbone_name_or_path", None)
    for adapter in backbone.peft_config.values():
        if name and not adapter.base_model_name_or_path:
            adapter.base_model_name_or_path = name
    backbone.save_pretrained(str(Path(save_directory) / "adapter"))
    merged = copy.deepcopy(model)
    merged.backbone = merged.backbone.merge_and_unload()
    return merged.save_pretrained(save_directory, *args, **kwargs)


def freeze_backbone(model):
    for parameter in _backbone(model).parameters():
        parameter.requires_grad_(False)
    _unfreeze_sid_parameters(model)
    return model


def configure_finetuning(model, mode: str = "full", lora: Optional[LoraSettings] = None):
    if mode not in MODES:
        raise ValueError(f"fine-tuning mode must be one of {MODES}, got {mode!r}")
    if mode == "lora":
        return apply_lora(model, lora or LoraSettings())
    if mode == "frozen_backbone":
        return freeze_backbone(model)
    return model


def trainable_parameters(model) -> dict:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"total": total, "trainable": trainable, "share": round(trainable / max(1, total), 6)}
