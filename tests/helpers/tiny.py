"""The tiny catalogs, model configurations and training budgets the tests share.

* :data:`SIZES` / :data:`CODES`: a catalog of 30-odd items with 3 SID levels of 4, 3 and 5 codes;
* :func:`random_catalog`: another seeded catalog of any size (shuffled item order);
* :data:`TINY_MODELS`: for every registered model type, one or more tiny variants (config options) that the
  common model suite (``tests/models/test_common.py``) runs; a new method joins the suite by adding its entry;
* :func:`tiny_model`: a freshly built model of a variant for a catalog, with its item features installed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List

import torch

from hf_genrec.models.prism import prism_preset

REPO_ROOT = Path(__file__).resolve().parents[2]

SIZES = [4, 3, 5]
CODES = torch.unique(torch.stack([torch.randint(0, s, (40,), generator=torch.Generator().manual_seed(i))
                                  for i, s in enumerate(SIZES)], 1), dim=0)
NUM_ITEMS = len(CODES)
HISTORIES = ([0, 1, 2, 3], [5], [7, 7, 9])

QWEN = {"model_type": "qwen3", "vocab_size": 8, "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
        "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 8, "max_position_embeddings": 64}
LLAMA = {"model_type": "llama", "vocab_size": 8, "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
         "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 8, "max_position_embeddings": 64}

TINY_TIGER_T5 = dict(hidden_size=16, intermediate_size=32, num_layers=1, num_decoder_layers=1, num_heads=2, d_kv=8)
TINY_INTRR = dict(hidden_size=16, num_layers=1, num_heads=2, d_kv=8, intermediate_size=32)
TINY_COMEIR = dict(hidden_size=16, num_layers=1, num_heads=2, engram_dim=8, intra_heads=2, inter_heads=4,
                   intra_scale=1.0, inter_scale=0.5)

#: every registered model type -> {variant name: config options}; the common suite runs each variant
TINY_MODELS: Dict[str, Dict[str, Dict[str, Any]]] = {
    "tiger": {"t5": dict(TINY_TIGER_T5),
              "decoder_only": dict(architecture="decoder_only", backbone_config=QWEN),
              "hstu": dict(architecture="decoder_only", decoder_backbone="hstu", hidden_size=16, num_layers=1, num_heads=2,
                           max_history=8),
              "t5_item_ids": dict(TINY_TIGER_T5, item_id_embedding=True),
              "nezha_decoder_only": dict(architecture="decoder_only", backbone_config=QWEN,
                                         decoding_architecture="nezha"),
              "nezha_t5_separate_rnn": dict(TINY_TIGER_T5, decoding_architecture="nezha", nezha_head="separate",
                                            nezha_cell="rnn"),
              "nezha_hstu_no_cell": dict(architecture="decoder_only", decoder_backbone="hstu", hidden_size=16,
                                         num_layers=1, num_heads=2, max_history=8, decoding_architecture="nezha",
                                         nezha_cell="none")},
    "intrr": {"t5": dict(TINY_INTRR), "hstu": dict(TINY_INTRR, backbone="hstu"),
              "causal_lm": dict(TINY_INTRR, backbone="causal_lm", backbone_config=QWEN),
              "hstu_item_ids": dict(TINY_INTRR, backbone="hstu", item_id_embedding=True),
              "nezha_hstu": dict(TINY_INTRR, backbone="hstu", decoding_architecture="nezha"),
              "nezha_t5_gru": dict(TINY_INTRR, decoding_architecture="nezha", nezha_cell="gru")},
    "comeir": {"comeir": dict(TINY_COMEIR), "nezha": dict(TINY_COMEIR, architecture="nezha"),
               "flatten": dict(TINY_COMEIR, representation="flatten"),
               "comeir_item_ids": dict(TINY_COMEIR, item_id_embedding=True)},
    "prism": {"paper": dict(TINY_TIGER_T5, time_encoding="position", moe_dim=8, content_proj_dim=8, collab_proj_dim=4),
              "official": dict(TINY_TIGER_T5, **prism_preset("official"), moe_dim=8, content_proj_dim=8, collab_proj_dim=4),
              "ablated": dict(TINY_TIGER_T5, use_dsi=False, use_ssa=False, use_ats=False, time_encoding="none")},
    "decor": {"full": dict(TINY_TIGER_T5, num_bos_queries=4),
              "prefix_context_fused_head": dict(TINY_TIGER_T5, num_bos_queries=3, context="history_and_prefix",
                                                output_embeddings="fused", share_bos_projections=False,
                                                composition_scale="sqrt_d", projection_dim=8, fusion_bias=True),
              "untied_no_bos": dict(TINY_TIGER_T5, num_bos_queries=0, output_embeddings="untied"),
              "base": dict(TINY_TIGER_T5, use_pretrained=False, use_composition=False, num_bos_queries=0)},
    "sasrec": {"ce": dict(hidden_size=16, num_layers=2, num_heads=2, max_history=8),
               "bce": dict(hidden_size=16, num_layers=1, num_heads=1, max_history=8, loss="bce")},
}

#: the run-config training section of the same-budget method comparisons on the embedded default
SAME_BUDGET_TRAINING = {"learning_rate": 3e-3, "weight_decay": 1e-4, "batch_size": 256, "num_epochs": 5,
                        "warmup_steps": 30, "eval_num_beams": 20, "eval_max_users": 500, "early_stopping_patience": 0,
                        "report_to": [], "seed": 0, "show_progress": False}

#: a TIGER small enough for training tests on the small synthetic dataset
TINY_TIGER = {"type": "tiger", "hidden_size": 32, "intermediate_size": 64, "num_layers": 1, "num_decoder_layers": 1,
              "num_heads": 2, "d_kv": 16, "max_history": 5}


def train_tiny_t5_folder(model_type: str, prepared, sids, out, **model):
    """Train a 1 + 1-layer T5 method (TIGER, PRISM, DECOR, ...) for one epoch with ``hf-genrec train`` on prepared
    data and SIDs; return the run summary, the reloaded model (``AutoModel``) and its tokenizer."""
    from transformers import AutoModel, AutoTokenizer

    import hf_genrec  # noqa: F401
    from hf_genrec.commands.train import run_train

    config = {"data": {"prepared": str(prepared), "sids": str(sids)},
              "model": {"type": model_type, **dict(TINY_TIGER_T5, max_history=10), **model},
              "training": {"output_dir": str(out), "batch_size": 128, "num_epochs": 1, "learning_rate": 3e-3,
                           "eval_num_beams": 5, "eval_max_users": 50, "report_to": [], "show_progress": False,
                           "seed": 0}}
    summary = run_train(config)
    folder = Path(out) / "model"
    return summary, AutoModel.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)


def random_catalog(n: int, sizes: List[int], seed: int = 0) -> torch.Tensor:
    """Up to ``n`` distinct random SIDs with the given codebook sizes, in a seeded random item order."""
    g = torch.Generator().manual_seed(seed)
    codes = torch.unique(torch.stack([torch.randint(0, s, (n,), generator=g) for s in sizes], 1), dim=0)
    return codes[torch.randperm(len(codes), generator=g)]


def item_features(model_type: str, codes: torch.Tensor, sizes: List[int], seed: int = 0) -> Dict[str, Any]:
    """Random values for every item feature the model class declares (12-d item vectors, 6-d codebooks)."""
    from hf_genrec.models import model_classes

    g = torch.Generator().manual_seed(seed)
    features = {}
    for feature in model_classes(model_type)[1].item_features:
        if feature.integer:  # class ids per level (PRISM's tags: 0 = PAD, 1..3)
            features[feature.name] = torch.randint(0, 4, (len(codes), len(sizes)), generator=g)
        elif feature.layout == "per_item":
            features[feature.name] = torch.randn(len(codes), 12, generator=g)
        else:
            features[feature.name] = [torch.randn(size, 6, generator=g) for size in sizes]
    return features


def tiny_model(model_type: str, variant: str, codes: torch.Tensor = CODES, sizes: List[int] = SIZES, seed: int = 0,
               **options):
    """A tiny model of ``TINY_MODELS[model_type][variant]`` (+ ``options``) for a catalog, and its tokenizer."""
    from hf_genrec.models import build_model
    from hf_genrec.tokenization import SIDTokenizer

    tokenizer = SIDTokenizer.from_sids(codes, sizes)
    torch.manual_seed(seed)
    model = build_model(model_type, tokenizer, **item_features(model_type, codes, sizes, seed),
                        **{**TINY_MODELS[model_type][variant], **options})
    return model.eval(), tokenizer


HUB_SIDS = torch.unique(torch.stack([torch.randint(0, s, (60,), generator=torch.Generator().manual_seed(i))
                                     for i, s in enumerate([5, 4, 3])], 1), dim=0)


def save_tiny_tiger_folder(tmp_path: Path) -> Path:
    """A self-contained TIGER model folder (``save_model_folder``) over :data:`HUB_SIDS`, with ids, titles,
    metrics and a card: what the Hub tests push and load."""
    from hf_genrec.hub import save_model_folder
    from hf_genrec.models import build_model
    from hf_genrec.tokenization import SIDTokenizer

    tok = SIDTokenizer.from_sids(HUB_SIDS, [5, 4, 3], item_keys=[f"I{i}" for i in range(len(HUB_SIDS))])
    torch.manual_seed(0)
    model = build_model("tiger", tok, hidden_size=32, intermediate_size=64, num_layers=1, num_decoder_layers=1,
                        num_heads=2, d_kv=16)
    metrics = {"test": {"metrics": {"recall@10": 0.25, "ndcg@10": 0.125}, "num_users": 100}}
    return save_model_folder(model, tok, tmp_path / "folder", metrics=metrics, training={"learning_rate": 0.001},
                             item_titles=[f"Title {i}" for i in range(len(HUB_SIDS))], dataset_name="synthetic")


def save_tiny_causal_lm(kind: str, folder: Path) -> Path:
    """A tiny random Qwen3 or LLaMA saved to ``folder/kind``, to be loaded "by path" exactly as a Hub id would be."""
    from transformers import AutoModel, LlamaConfig, Qwen3Config

    common = dict(vocab_size=32, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=512)
    config = Qwen3Config(head_dim=16, **common) if kind == "qwen3" else LlamaConfig(**common)
    torch.manual_seed(0)
    AutoModel.from_config(config).save_pretrained(folder / kind)
    return folder / kind


def shared_root() -> Path:
    """``../shared`` beside the repository (or ``HF_GENREC_SHARED``)."""
    return Path(os.environ.get("HF_GENREC_SHARED", REPO_ROOT.parent / "shared"))
