"""Same-budget method comparisons on the embedded default (minutes of training each): slow tests.

Each comparison trains the methods with the same data, SIDs, epochs, batch, learning rate and seed
(``helpers.tiny.SAME_BUDGET_TRAINING``) and compares test Recall@10.
"""

import pytest
import torch
from helpers.tiny import SAME_BUDGET_TRAINING

pytestmark = pytest.mark.slow


def _test_result(embedded_default, tmp_path, name, model, **training):
    """The test split's summary (metrics and each metric's 95 % interval half-width) after same-budget training."""
    from hf_genrec.commands.train import run_train

    summary = run_train({"data": embedded_default, "model": model,
                         "training": {**SAME_BUDGET_TRAINING, **training, "output_dir": str(tmp_path / name)}})
    return summary["test"]


def _recall_at_10(embedded_default, tmp_path, name, model, **training):
    return _test_result(embedded_default, tmp_path, name, model, **training)["metrics"]["recall@10"]


def _difference_interval(a, b, metric="recall@10") -> float:
    """Half-width of the 95 % interval of the difference of two runs' metric (independent estimates)."""
    return (a["ci95"][metric] ** 2 + b["ci95"][metric] ** 2) ** 0.5


def test_intrr_beats_tiger_on_the_embedded_default_with_the_same_budget(embedded_default, tmp_path):
    """IntRR's acceptance: both get 15 epochs (IntRR needs about a third of TIGER's wall-clock time). At 5 epochs
    both are far from trained on the recalibrated default and TIGER leads (0.1214 vs 0.1114); at 15 epochs IntRR leads
    (0.1973 vs 0.1759, both above the transition model's 0.1609; measured 2026-12-07, docs/results.md)."""
    models = {"tiger": {"type": "tiger", "hidden_size": 64, "intermediate_size": 256, "num_layers": 2,
                        "num_decoder_layers": 2, "num_heads": 4, "d_kv": 16, "max_history": 10},
              "intrr": {"type": "intrr", "backbone": "t5", "hidden_size": 64, "intermediate_size": 256, "num_layers": 2,
                        "num_heads": 4, "d_kv": 16, "max_history": 10}}
    results = {name: _recall_at_10(embedded_default, tmp_path, name, model, num_epochs=15)
               for name, model in models.items()}
    print(f"test recall@10: IntRR {results['intrr']:.4f} vs TIGER {results['tiger']:.4f}")
    assert results["intrr"] > results["tiger"]


@pytest.mark.parametrize("architecture", ["normal", "nezha"])
def test_comeir_beats_flatten_and_token_merge_on_the_embedded_default(architecture, embedded_default, tmp_path):
    """ComeIR's acceptance: a tiny Qwen3; ComeIR vs the flattened input and +TM with the same backbone. Fails on the
    recalibrated default (2026-12-07, docs/results.md): the head's inter-item memory memorises the training targets
    there (Table 2's w/o inter switch gives 0.1903 against 0.1164 / 0.1659 at 15 epochs); the test keeps the paper's
    full model."""
    base = {"type": "comeir", "architecture": architecture, "hidden_size": 64, "num_layers": 2, "num_heads": 4,
            "max_history": 10, "intra_scale": 0.25, "inter_scale": 0.25, "engram_dim": 64}
    results = {representation: _recall_at_10(embedded_default, tmp_path, representation,
                                             {**base, "representation": representation})
               for representation in ("comeir", "flatten", "token_merge")}
    # the standard decoder-only generative-retrieval baseline (flattened SIDs, an LM head over the SID vocabulary),
    # on the same tiny Qwen3 shape: reported next to ComeIR's own flatten / +TM ablations (their memory head scores
    # a candidate only through LayerNorm, a weak head for a baseline)
    lm_head = {"type": "tiger", "architecture": "decoder_only", "hidden_size": 64, "num_layers": 2, "num_heads": 4,
               "max_history": 10}
    results["decoder_only_lm_head"] = _recall_at_10(embedded_default, tmp_path, "lm_head", lm_head)
    print(f"test recall@10 ({architecture}): " + ", ".join(f"{k} {v:.4f}" for k, v in results.items()))
    assert results["comeir"] > results["flatten"] and results["comeir"] > results["token_merge"]


def test_small_tiger_trained_with_transformers_trainer_beats_most_popular(embedded_default, tmp_path):
    """A small TIGER trained by plain ``transformers.Trainer`` for 3 epochs beats most-popular on Recall@10."""
    from pathlib import Path

    from transformers import Trainer, TrainingArguments

    from hf_genrec.data import PreparedDataset
    from hf_genrec.evaluation import Evaluator, MostPopular, evaluate_ranker
    from hf_genrec.models.tiger import TigerConfig, TigerForGenerativeRecommendation
    from hf_genrec.tokenization import SIDTokenizer
    from hf_genrec.training import GenRecCollator

    prepared = PreparedDataset.load(embedded_default["prepared"])
    tok = SIDTokenizer.from_pretrained(Path(embedded_default["sids"]) / "tokenizer")
    torch.manual_seed(0)
    model = TigerForGenerativeRecommendation(TigerConfig(
        codebook_sizes=tok.codebook_sizes, num_items=tok.num_items, max_history=10, hidden_size=64,
        intermediate_size=256, num_layers=2, num_decoder_layers=2, num_heads=4, d_kv=16))
    model.set_catalog(tok)
    args = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=256, learning_rate=3e-3,
                             num_train_epochs=3, warmup_steps=30, weight_decay=0.01, save_strategy="no", report_to=[],
                             remove_unused_columns=False, use_cpu=True, disable_tqdm=True, seed=0, logging_steps=50)
    Trainer(model=model, args=args, train_dataset=prepared.splits["train"],
            data_collator=GenRecCollator(tok, "flat", 10)).train()
    result = Evaluator(tok, ks=(10,), num_beams=20, batch_size=256, show_progress=False).evaluate(
        model, prepared.splits["test"], prepared.items["train_count"])
    train = prepared.splits["train"]
    popular = evaluate_ranker(MostPopular(prepared.num_items).fit(train["history"], train["target"]),
                              prepared.splits["test"]["history"], prepared.splits["test"]["target"], ks=(10,))
    print(f"TIGER recall@10 {result.metrics['recall@10']:.4f} vs most-popular {popular['recall@10']:.4f}")
    assert result.metrics["recall@10"] > 1.5 * popular["recall@10"]
    assert result.groups["popular"]["users"] > 0


def test_prism_against_tiger_on_the_embedded_default(embedded_default, tmp_path):
    """PRISM's acceptance on the embedded default: PRISM (its own SIDs from the Purified Semantic Quantizer, official
    preset, Sinkhorn deduplication) against TIGER (RQ-KMeans SIDs + suffix) with the same recommender size and training
    budget. The quantizer's paper preset collapses its first level (docs/results.md, Table 3 diagnosis); with it PRISM
    got 0.0880 against TIGER's 0.1054 here (2026-12-05)."""
    import shutil

    from hf_genrec.commands.build_sids import run_build_sids

    prepared = tmp_path / "prepared"
    shutil.copytree(embedded_default["prepared"], prepared)  # LightGCN caches its embeddings in the prepared folder
    run_build_sids(prepared, tmp_path / "prism_sids", "prism", levels=3, codebook_size=64, collisions="sinkhorn",
                   quantizer_options={"preset": "official", "epochs": 100, "max_minutes": 2,
                                      "lightgcn": {"max_minutes": 1}})
    t5 = {"hidden_size": 64, "intermediate_size": 256, "num_layers": 2, "num_decoder_layers": 2, "num_heads": 4,
          "d_kv": 16, "max_history": 10}
    tiger = _recall_at_10(embedded_default, tmp_path, "tiger", {"type": "tiger", **t5})
    prism_data = {"prepared": str(prepared), "sids": str(tmp_path / "prism_sids")}
    prism = _recall_at_10(prism_data, tmp_path, "prism", {"type": "prism", **t5, "moe_dim": 64})
    print(f"test recall@10: PRISM {prism:.4f} vs TIGER {tiger:.4f}")
    assert prism > tiger


def test_decor_against_tiger_on_the_embedded_default(embedded_default, tmp_path):
    """DECOR's acceptance on the embedded default: DECOR (fusion with the RQ-KMeans codebooks, composition, 32 BOS
    queries, alpha 0.25) against TIGER with the same T5, SIDs and budget (15 epochs, where both pass the transition
    model). Measured 2026-12-07 on the recalibrated default: DECOR 0.1666 against TIGER 0.1759 (-5 %; 0.1087 against
    0.1214 at 5 epochs), inside the difference's 95 % interval (about 0.019), so one seed shows neither the paper's
    gain (+5.5 to +8.8 % Recall@10) nor a loss (docs/results.md, DECOR). The test asserts what one seed can: DECOR is
    not worse than TIGER beyond that interval."""
    t5 = {"hidden_size": 64, "intermediate_size": 256, "num_layers": 2, "num_decoder_layers": 2, "num_heads": 4,
          "d_kv": 16, "max_history": 10}
    tiger = _test_result(embedded_default, tmp_path, "tiger", {"type": "tiger", **t5}, num_epochs=15)
    decor = _test_result(embedded_default, tmp_path, "decor", {"type": "decor", **t5, "num_bos_queries": 32,
                                                                "composition_weight": 0.25}, num_epochs=15)
    margin = _difference_interval(decor, tiger)
    print(f"test recall@10: DECOR {decor['metrics']['recall@10']:.4f} vs TIGER {tiger['metrics']['recall@10']:.4f} "
          f"(95 % interval of the difference ± {margin:.4f})")
    assert decor["metrics"]["recall@10"] >= tiger["metrics"]["recall@10"] - margin
