"""What the reproduction harness knows: published results and the experiments that reproduce them.

* :class:`Published` - one row of a paper's table, values exactly as printed (``published.json``, package data;
  a cell the paper's text does not give is absent, never guessed), or a number from another paper for the same
  data, with its source.
* :class:`DataRecipe` - how the data of a run are made: the dataset under ``../shared/datasets``, the history
  length, and the semantic IDs (quantizer, levels, codebook size, collision handling).
* :class:`Experiment` - one of our runs: an example config (``examples/configs``), its data recipe, the training
  options of each tier (``cpu``: a budget that fits 2 CPU cores; ``gpu``: the paper settings; ``test``: seconds),
  and the published rows it is compared with.
* :class:`ReproductionTable` - what ``hf-genrec reproduce --paper P --table T --dataset D`` runs: experiments,
  the published rows, and the reference rankers (item transition, most popular) on the same split.

``protocols.json`` (package data) records each paper's evaluation protocol (datasets, split, history length,
beam width, K) with the sentence of the paper that states it, for the rows' context.

A new method adds its published rows to ``published.json`` and its experiments and tables here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any, Dict, List, Optional, Tuple

TIERS = ("cpu", "gpu", "test")


@dataclass(frozen=True)
class Published:
    paper: str
    table: str
    dataset: str
    method: str
    metrics: Dict[str, float]
    source: str
    notes: str = ""


@dataclass(frozen=True)
class DataRecipe:
    dataset: str  # a folder of ../shared/datasets, or "synthetic" (the embedded default)
    max_history: int = 20
    quantizer: str = "rqkmeans"
    levels: int = 3
    codebook_size: int = 256
    collisions: str = "suffix"
    quantizer_options: Tuple[Tuple[str, Any], ...] = ()
    text_fields: Tuple[str, ...] = ()  # the item text of the content embeddings (empty: hf_genrec's default)

    @property
    def key(self) -> str:
        options = "".join(f"-{k}{v}" for k, v in self.quantizer_options)
        text = f"-{'_'.join(self.text_fields)}" if self.text_fields else ""
        return (f"{self.dataset}-h{self.max_history}{text}/{self.quantizer}-{self.levels}x{self.codebook_size}-"
                f"{self.collisions}{options}")


@dataclass(frozen=True)
class Experiment:
    key: str
    label: str  # the row name in our tables
    config: str  # path under examples/configs
    recipe: DataRecipe
    tiers: Dict[str, Dict[str, Any]]  # training (and model) overrides per tier, as section.key: value
    compare_with: Tuple[str, ...] = ()  # "paper/table/method" of the published rows this run reproduces
    note: str = ""


@dataclass(frozen=True)
class ReproductionTable:
    paper: str
    table: str
    dataset: str
    experiments: Tuple[str, ...]
    caption: str
    reference: Optional[str] = None  # an experiment every row is also compared with (relative gain, ours)
    #: (paper, table, base method): print the paper's own relative gains over that method on every dataset it reports,
    #: for tables whose dataset the paper does not evaluate on
    published_gains: Optional[Tuple[str, str, str]] = None


def published_rows() -> List[Published]:
    """Every published row the harness knows (``hf_genrec/reproduce/published.json``)."""
    text = resources.files("hf_genrec.reproduce").joinpath("published.json").read_text(encoding="utf-8")
    return [Published(**row) for row in json.loads(text)["rows"]]


def find_published(paper: str, table: str, dataset: str, method: Optional[str] = None) -> List[Published]:
    dataset = dataset.lower()
    return [row for row in published_rows() if row.paper == paper and row.table == table
            and row.dataset.lower() == dataset and (method is None or row.method == method)]


# ---------------------------------------------------------------------------------------------- data recipes
BEAUTY20 = DataRecipe("amazon-beauty-2014", 20, "rqvae", 3, 256, "suffix", (("epochs", 100),))
BEAUTY30_INTRR = DataRecipe("amazon-beauty-2014", 30, "rqkmeans", 3, 128, "suffix")
SYNTHETIC = DataRecipe("synthetic", 10, "rqkmeans", 3, 64, "suffix")
#: BEAUTY30_INTRR's SIDs quantized from LightGCN's collaborative item embeddings instead of the text embeddings
#: (hf_genrec's option `build-sids --embeddings collab`, not a paper's method; LightGCN 10 minutes on CPU)
BEAUTY30_COLLAB = DataRecipe("amazon-beauty-2014", 30, "rqkmeans", 3, 128, "suffix",
                             (("embeddings", "collab"), ("lightgcn_max_minutes", 10)))
#: both: each item's text and LightGCN vectors, each L2-normalised, concatenated (`--embeddings content+collab`)
BEAUTY30_CONTENT_COLLAB = DataRecipe("amazon-beauty-2014", 30, "rqkmeans", 3, 128, "suffix",
                                     (("embeddings", "content+collab"), ("lightgcn_max_minutes", 10)))
#: PRISM (Sec. 4.1): histories of 20, content text without categories (they become HSA's tags), 3 x 256 SIDs,
#: Sinkhorn deduplication; the quantizer and LightGCN get 15 and 10 minutes on CPU (GPU scale: 500 epochs each)
PRISM_CPU_FIT = (("max_minutes", 15), ("lightgcn_max_minutes", 10))
BEAUTY20_PRISM = DataRecipe("amazon-beauty-2014", 20, "prism", 3, 256, "sinkhorn", PRISM_CPU_FIT, ("title", "brand"))
BEAUTY20_PRISM_OFFICIAL = DataRecipe("amazon-beauty-2014", 20, "prism", 3, 256, "first_free",
                                     (("preset", "official"), *PRISM_CPU_FIT), ("title", "brand"))
TOYS20_PRISM = DataRecipe("amazon-toys-2014", 20, "prism", 3, 256, "sinkhorn", PRISM_CPU_FIT, ("title", "brand"))
SPORTS20_PRISM = DataRecipe("amazon-sports-2014", 20, "prism", 3, 256, "sinkhorn", PRISM_CPU_FIT,
                            ("brand", "category_path"))  # Sports has no titles: content from brand and categories
# (the Sports reader keeps the category tokens in category_path; "categories" is empty there, and brand alone leaves
# 7,351 of the 18,357 items without any text: measured 2026-12-06)
TOYS20 = DataRecipe("amazon-toys-2014", 20, "rqvae", 3, 256, "suffix", (("epochs", 100),))
SPORTS20 = DataRecipe("amazon-sports-2014", 20, "rqvae", 3, 256, "suffix", (("epochs", 100),))

#: DECOR (Sec. 4.1): RQ-VAE 3 x 256 + collision level, beta 0.25, codebooks of the recommender's width d = 128
DECOR_RQVAE = (("epochs", 100), ("latent_dim", 128))
BEAUTY20_DECOR = DataRecipe("amazon-beauty-2014", 20, "rqvae", 3, 256, "suffix", DECOR_RQVAE)
TOYS20_DECOR = DataRecipe("amazon-toys-2014", 20, "rqvae", 3, 256, "suffix", DECOR_RQVAE)

CPU_BUDGET = 45  # minutes of training per run in the CPU tier
SWEEP_BUDGET = 20  # minutes per run of a sensitivity sweep (reduced CPU budget)
#: what issue [4/8] found to speed up budgeted CPU training without changing the model (docs/performance.md)
LAPTOP_RECIPE = {"training.group_by_length": True, "training.mixed_precision": "bf16", "training.scheduler": "cosine",
                 "training.schedule_over": "max_minutes", "training.warmup_steps": 200}

# ---------------------------------------------------------------------------------------------- experiments
def _cpu(**extra) -> Dict[str, Dict[str, Any]]:
    """The tiers of a run with the CPU tier's budget: 45 minutes with validation on 3,000 random users (``extra``:
    more CPU-tier options); the paper settings on GPU; four steps in the test tier."""
    return {"cpu": {"training.max_minutes": CPU_BUDGET, "training.eval_max_users": 3000, **extra}, "gpu": {},
            "test": {"training.max_steps": 4}}


#: the tiers of IntRR-HSTU on Beauty (sequence examples; validation on 3,000 random users every 150 steps on CPU)
INTRR_HSTU_TIERS = _cpu(**{"training.eval_steps": 150})


def _laptop_recipe(**extra) -> Dict[str, Dict[str, Any]]:
    """The CPU tier's tiers with the laptop recipe on CPU (``extra``: more CPU-tier options) and length-grouped
    batches on GPU."""
    return {**_cpu(**LAPTOP_RECIPE, **extra), "gpu": {"training.group_by_length": True}}


#: the tiers of the flattened HSTU at IntRR's aligned setting on CPU: batch 256 (512 windows of 30 items x 4 tokens
#: plus packed targets take about 10 GB), validation every 150 steps
HSTU_FLATTENED_TIERS = _cpu(**{"training.batch_size": 256, "training.eval_steps": 150})

#: the tiers of the flattened HSTU with the laptop recipe (batch 256: see the experiment's note)
HSTU_FLATTENED_RECIPE_TIERS = _laptop_recipe(**{"training.batch_size": 256, "training.eval_steps": 150})

#: the tiers of decoder-only TIGER on a small Qwen3: the flattened HSTU's recipe, its batch of 256 windows as two
#: accumulated halves (one 256-window step with attention dropout takes 11-13 GB on CPU: two runs do not fit in 24 GB)
TIGER_DECODER_ONLY_TIERS = _laptop_recipe(**{"training.batch_size": 128, "training.gradient_accumulation_steps": 2,
                                             "training.eval_steps": 150})
#: hf_genrec's options of the decoder-only TIGER hybrid row and its variants: the item-ID input and SASRec's Beauty
#: dropout (0.5) on the input embeddings
TIGER_DECODER_ONLY_HYBRID = {"item_id_embedding": True, "input_dropout": 0.5}


def _decoder_only_hybrid_on(suffix: str, inputs: str, recipe: DataRecipe) -> Experiment:
    """The decoder-only TIGER hybrid row (item-ID input, input dropout 0.5) on SIDs quantized from other ``inputs``
    than the text embeddings (``recipe``'s ``embeddings`` option of ``build-sids``)."""
    source = dict(recipe.quantizer_options)["embeddings"]
    return Experiment(f"tiger-decoder-only-beauty-itemid-dropout-{suffix}",
                      "TIGER, decoder-only (small Qwen3, 4 x 128), laptop recipe (batch 256) + item-ID input, "
                      f"input dropout 0.5, SIDs from {inputs}", "tiger_beauty_decoder_only.yaml", recipe,
                      with_model_options(TIGER_DECODER_ONLY_TIERS, **TIGER_DECODER_ONLY_HYBRID),
                      note=f"hf_genrec's hybrid input, input_dropout and SIDs from {inputs} (build-sids --embeddings "
                           f"{source}), not TIGER's method")

#: the tiers of ComeIR with a small random Qwen3 on Beauty (the laptop recipe: its step is 1.7x faster in bf16)
COMEIR_SMALL_TIERS = _cpu(**LAPTOP_RECIPE, **{"training.eval_steps": 100})

#: the tiers of TIGER (T5 4+4, d 128) on the Amazon datasets: warmup 500 steps, beam 20 for validation on CPU
TIGER_TIERS = _cpu(**{"training.eval_num_beams": 20, "training.warmup_steps": 500})


def with_model_options(tiers: Dict[str, Dict[str, Any]], **model) -> Dict[str, Dict[str, Any]]:
    """``tiers`` with the same ``model.<name>`` overrides added to every tier (a row that differs from another in
    model options only)."""
    overrides = {f"model.{name}": value for name, value in model.items()}
    return {tier: {**values, **overrides} for tier, values in tiers.items()}


#: the tiers of the flattened HSTU trained on prefix examples in every tier (NEZHA's rows, issue [7/8])
HSTU_PREFIX_TIERS = {tier: {**options, "training.train_examples": "prefix"} for tier, options in _cpu().items()}


def prism_experiments() -> Tuple[Experiment, ...]:
    """PRISM's rows: the paper preset on each dataset, the official preset, Table 4's six ablations, the TIGER
    baselines of Toys and Sports (Beauty's is ``tiger-beauty``)."""
    def ablated(key: str, label: str, recipe: DataRecipe, **model) -> Experiment:
        return Experiment(key, label, "prism_beauty.yaml", recipe, with_model_options(_cpu(), **model),
                          compare_with=(f"prism/4/{label}",))

    no_acd = DataRecipe(**{**BEAUTY20_PRISM.__dict__, "quantizer_options": (("use_acd", False), *PRISM_CPU_FIT)})
    no_hsa = DataRecipe(**{**BEAUTY20_PRISM.__dict__, "quantizer_options": (("use_hsa", False), *PRISM_CPU_FIT)})
    no_dhr = DataRecipe(**{**BEAUTY20_PRISM.__dict__, "quantizer_options": (("use_dhr", False), *PRISM_CPU_FIT)})

    def official_ablated(component: str) -> Experiment:
        """Table 4's quantizer ablation on the official preset's SIDs (the paper preset's collapse, docs/results.md
        Table 3, leaves nothing to ablate there): the paper recommender on SIDs built without ``component``."""
        options = (("preset", "official"), (f"use_{component}", False), *PRISM_CPU_FIT)
        recipe = DataRecipe(**{**BEAUTY20_PRISM_OFFICIAL.__dict__, "quantizer_options": options})
        label = f"w/o {component.upper()}"
        return Experiment(f"prism-beauty-official-sids-wo-{component}", f"{label} (official preset's SIDs)",
                          "prism_beauty.yaml", recipe, _cpu(), compare_with=(f"prism/4/{label}",))
    return (
        Experiment("prism-beauty", "PRISM (paper settings)", "prism_beauty.yaml", BEAUTY20_PRISM, _cpu(),
                   compare_with=("prism/2/PRISM", "prism/4/PRISM (Full)")),
        Experiment("prism-beauty-official", "PRISM (official code's settings)", "prism_beauty_official.yaml",
                   BEAUTY20_PRISM_OFFICIAL, _cpu(), compare_with=("prism/2/PRISM",)),
        Experiment("prism-beauty-official-sids", "PRISM (paper recommender on the official preset's SIDs)",
                   "prism_beauty.yaml", BEAUTY20_PRISM_OFFICIAL, _cpu(),
                   compare_with=("prism/2/PRISM", "prism/4/PRISM (Full)"),  # the Full row of table 4-official
                   note="isolates the quantizer: the paper preset's MSE terms summed over dimensions collapse its "
                        "codes (docs/results.md, PRISM Table 3), the official preset's element means do not"),
        Experiment("prism-toys", "PRISM (paper settings; no timestamps: position table for P_time)",
                   "prism_beauty.yaml", TOYS20_PRISM,
                   with_model_options(_cpu(), time_encoding="position"),  # Toys has no timestamps (Eq. 10's P_time)
                   compare_with=("prism/2/PRISM",)),
        Experiment("prism-sports", "PRISM (paper settings; content from brand and categories only)",
                   "prism_beauty.yaml", SPORTS20_PRISM, _cpu(), compare_with=("prism/2/PRISM",),
                   note="Sports has no titles: the content embeddings come from brand and category names"),
        Experiment("tiger-toys", "TIGER (T5 4+4, d 128)", "tiger_beauty.yaml", TOYS20,
                   TIGER_TIERS,
                   compare_with=("prism/2/TIGER",)),
        Experiment("tiger-sports", "TIGER (T5 4+4, d 128)", "tiger_beauty.yaml", SPORTS20,
                   TIGER_TIERS,
                   compare_with=("prism/2/TIGER",)),
        ablated("prism-beauty-wo-acd", "w/o ACD", no_acd),
        ablated("prism-beauty-wo-hsa", "w/o HSA", no_hsa),
        ablated("prism-beauty-wo-dhr", "w/o DHR", no_dhr),
        ablated("prism-beauty-wo-dsi", "w/o DSI", BEAUTY20_PRISM, use_dsi=False),
        ablated("prism-beauty-wo-ssa", "w/o SSA", BEAUTY20_PRISM, use_ssa=False),
        ablated("prism-beauty-wo-ats", "w/o ATS", BEAUTY20_PRISM, use_ats=False),
        *(official_ablated(component) for component in ("acd", "hsa", "dhr")),
    )


def decor_experiments() -> Tuple[Experiment, ...]:
    """DECOR's rows: Table 2's six variants on Beauty (Base = TIGER on the same SIDs), DECOR and TIGER on Toys, and the
    Figure 3 sensitivity sweeps over alpha and N at a reduced budget. DECOR reports no Amazon 2014 data: these runs
    measure its relative gain over our TIGER (the paper: +6 to +9 % Recall@10, +8 to +11 % NDCG@10)."""
    from ..models.decor import decor_ablation

    def tiers(minutes: int, **model) -> Dict[str, Dict[str, Any]]:
        """TIGER's tiers (DECOR's Base is TIGER) with ``minutes`` of CPU training and DECOR's model options."""
        return with_model_options(_cpu(**{**TIGER_TIERS["cpu"], "training.max_minutes": minutes}), **model)

    labels = {"base": "Base (TIGER)", "composition": "w/ Token Comp.",
              "composition_bos": "w/ Token Comp. and BOS Queries", "pretrained": "w/ Pretrained Only",
              "pretrained_composition": "w/ Pretrained + Token Comp.", "full": "DECOR (Full)"}
    rows = [Experiment(f"decor-beauty-{row.replace('_', '-')}" if row != "full" else "decor-beauty", label,
                       "decor_beauty.yaml", BEAUTY20_DECOR, tiers(CPU_BUDGET, **decor_ablation(row)))
            for row, label in labels.items()]
    rows += [Experiment("decor-toys", "DECOR (Full)", "decor_toys.yaml", TOYS20_DECOR, tiers(CPU_BUDGET)),
             Experiment("decor-toys-base", "Base (TIGER)", "decor_toys.yaml", TOYS20_DECOR,
                        tiers(CPU_BUDGET, **decor_ablation("base")))]
    rows += [Experiment(f"decor-beauty-alpha{alpha}", f"DECOR, alpha = {alpha}", "decor_beauty.yaml", BEAUTY20_DECOR,
                        tiers(SWEEP_BUDGET, composition_weight=alpha), note=f"{SWEEP_BUDGET}-minute sweep budget")
             for alpha in (0.1, 0.25, 0.4, 0.55, 0.7)]
    rows += [Experiment(f"decor-beauty-n{n}", f"DECOR, N = {n}", "decor_beauty.yaml", BEAUTY20_DECOR,
                        tiers(SWEEP_BUDGET, num_bos_queries=n), note=f"{SWEEP_BUDGET}-minute sweep budget")
             for n in (8, 16, 32, 64, 128)]
    return tuple(rows)


EXPERIMENTS: Dict[str, Experiment] = {e.key: e for e in (
    Experiment("sasrec-beauty", "SASRec (CE)", "sasrec_beauty.yaml", BEAUTY30_INTRR,
               _cpu(),
               compare_with=("prism/2/SASRec",),
               note="item-id model; the SIDs only define the catalog of the saved folder"),
    # two SASRec variants for NDCG@10 (the row above beats the transition model on Recall@10 only): positions counted
    # from the oldest item (each training position then sees the position pattern of a real history of its length),
    # and a wider model (hidden 256) that can hold more item-to-item detail
    Experiment("sasrec-beauty-from-oldest", "SASRec (CE), positions from the oldest item", "sasrec_beauty.yaml",
               BEAUTY30_INTRR, with_model_options(_cpu(), positions="from_oldest"),
               note="hf_genrec's option, not the paper's left-padded positions"),
    Experiment("sasrec-beauty-h256", "SASRec (CE), hidden 256", "sasrec_beauty.yaml", BEAUTY30_INTRR,
               with_model_options(_cpu(), hidden_size=256), note="4x the paper's width"),
    Experiment("tiger-beauty", "TIGER (T5 4+4, d 128)", "tiger_beauty.yaml", BEAUTY20, TIGER_TIERS,
               compare_with=("tiger/paper/TIGER", "reference/cornac/TIGER (cornac)", "prism/2/TIGER")),
    Experiment("tiger-beauty-itemid", "TIGER (T5 4+4, d 128) + item-ID input", "tiger_beauty.yaml", BEAUTY20,
               with_model_options(TIGER_TIERS, item_id_embedding=True),
               note="hf_genrec's hybrid input (item_id_embedding), not TIGER's method"),
    Experiment("tiger-intrr-aligned-beauty", "Transformer, flattened SIDs (IntRR-aligned)",
               "tiger_beauty_intrr_aligned.yaml", BEAUTY30_INTRR,
               _cpu(**{"training.eval_steps": 50}), compare_with=("intrr/1/Transformer [RK-Means]",)),
    Experiment("hstu-flattened-beauty", "HSTU, flattened SIDs (IntRR-aligned)", "tiger_beauty_hstu_flattened.yaml",
               BEAUTY30_INTRR, HSTU_FLATTENED_TIERS,
               compare_with=("intrr/1/HSTU [RK-Means]",),
               note="CPU tier: batch 256 instead of 512 (a 512-window batch takes about 10 GB on CPU); otherwise "
                    "IntRR's aligned setting (fp32, constant learning rate, uniform batches), which trains about 15x "
                    "slower on CPU than the laptop recipe's length-grouped bf16 batches (2026-12-06: 45 steps in "
                    "20 minutes next to one other job, 14 windows/s): use hstu-flattened-beauty-recipe on CPU"),
    Experiment("intrr-hstu-beauty", "IntRR (HSTU)", "intrr_beauty_hstu.yaml", BEAUTY30_INTRR, INTRR_HSTU_TIERS,
               compare_with=("intrr/1/HSTU + IntRR [RK-Means]", "intrr/1/HSTU [RK-Means]")),
    Experiment("intrr-t5-beauty", "IntRR (T5)", "intrr_beauty_transformer.yaml", BEAUTY30_INTRR,
               _cpu(**{"training.eval_steps": 50}),
               compare_with=("intrr/1/Transformer + IntRR [RK-Means]", "intrr/1/Transformer [RK-Means]")),
    # the laptop recipe (issue [4/8]): the same model and data; rows grouped by history length (less padding),
    # bf16 autocast for forward and backward, linear warmup, cosine decay over the 45-minute budget. Reported as its
    # own row, never as the paper's setting.
    Experiment("intrr-hstu-beauty-recipe", "IntRR (HSTU), laptop recipe", "intrr_beauty_hstu.yaml", BEAUTY30_INTRR,
               _laptop_recipe(**{"training.eval_steps": 150}), compare_with=("intrr/1/HSTU + IntRR [RK-Means]",),
               note="length-grouped batches, bf16 autocast, warmup + cosine over the budget"),
    Experiment("hstu-flattened-beauty-recipe", "HSTU, flattened SIDs, laptop recipe (batch 256)",
               "tiger_beauty_hstu_flattened.yaml", BEAUTY30_INTRR, HSTU_FLATTENED_RECIPE_TIERS,
               compare_with=("intrr/1/HSTU [RK-Means]",),
               note="batch 256 instead of 512: a 512-window batch of 30 items x 4 tokens plus packed targets takes "
                    "about 10 GB on CPU (killed for memory next to other runs)"),
    # the hybrid input (issue [4/8], an hf_genrec option, never a paper's method): each history item's learned ID
    # embedding added to its SID token embeddings; otherwise the same run as the row without it
    Experiment("hstu-flattened-beauty-recipe-itemid", "HSTU, flattened SIDs, laptop recipe (batch 256) + item-ID input",
               "tiger_beauty_hstu_flattened.yaml", BEAUTY30_INTRR,
               with_model_options(HSTU_FLATTENED_RECIPE_TIERS, item_id_embedding=True),
               note="hf_genrec's hybrid input (item_id_embedding), not IntRR's flattened baseline"),
    # the decoder-only TIGER counterpart of intrr-hstu-beauty-itemid-dropout: the row above with SASRec's Beauty dropout
    Experiment("hstu-flattened-beauty-recipe-itemid-dropout",
               "HSTU, flattened SIDs, laptop recipe (batch 256) + item-ID input, dropout 0.5",
               "tiger_beauty_hstu_flattened.yaml", BEAUTY30_INTRR,
               with_model_options(HSTU_FLATTENED_RECIPE_TIERS, item_id_embedding=True, dropout_rate=0.5),
               note="hf_genrec's hybrid input with SASRec's Beauty dropout (0.5), not IntRR's flattened baseline: the "
                    "run with the item-ID input and dropout 0.1 stops improving after 25 minutes"),
    # decoder-only TIGER on a small Transformer (Qwen3 architecture) instead of HSTU, the same data and recipe
    Experiment("tiger-decoder-only-beauty", "TIGER, decoder-only (small Qwen3, 4 x 128), laptop recipe (batch 256)",
               "tiger_beauty_decoder_only.yaml", BEAUTY30_INTRR, TIGER_DECODER_ONLY_TIERS,
               note="the standard decoder-only GR baseline on a Transformer; not a paper's row"),
    Experiment("tiger-decoder-only-beauty-itemid",
               "TIGER, decoder-only (small Qwen3, 4 x 128), laptop recipe (batch 256) + item-ID input",
               "tiger_beauty_decoder_only.yaml", BEAUTY30_INTRR,
               with_model_options(TIGER_DECODER_ONLY_TIERS, item_id_embedding=True),
               note="hf_genrec's hybrid input (item_id_embedding), not TIGER's method"),
    # the row above with SASRec's Beauty dropout (0.5) on the input embeddings: with the item-ID input the model
    # learns in minutes and then stops improving (as the flattened HSTU and IntRR-HSTU did with it)
    Experiment("tiger-decoder-only-beauty-itemid-dropout",
               "TIGER, decoder-only (small Qwen3, 4 x 128), laptop recipe (batch 256) + item-ID input, "
               "input dropout 0.5",
               "tiger_beauty_decoder_only.yaml", BEAUTY30_INTRR,
               with_model_options(TIGER_DECODER_ONLY_TIERS, **TIGER_DECODER_ONLY_HYBRID),
               note="hf_genrec's hybrid input and input_dropout, not TIGER's method"),
    # the row above without attention dropout: on CPU attention dropout sends SDPA to its unfused path (2x memory,
    # 1.75x time per step on full windows, docs/performance.md); with length-grouped batches it bought no steps
    # (2026-12-07: 1,247 steps against 1,422-1,465) and the same quality within noise
    Experiment("tiger-decoder-only-beauty-itemid-dropout-noattn",
               "TIGER, decoder-only (small Qwen3, 4 x 128, no attention dropout), laptop recipe (batch 256) + "
               "item-ID input, input dropout 0.5",
               "tiger_beauty_decoder_only.yaml", BEAUTY30_INTRR,
               with_model_options(TIGER_DECODER_ONLY_TIERS, **TIGER_DECODER_ONLY_HYBRID,
                                  **{"backbone_config.attention_dropout": 0.0}),
               note="hf_genrec's hybrid input and input_dropout, not TIGER's method; attention dropout 0"),
    # the hybrid row with dropout inside the blocks as well: Qwen3 has none on its residual branches (T5 and SASRec do)
    Experiment("tiger-decoder-only-beauty-itemid-dropout-resid",
               "TIGER, decoder-only (small Qwen3, 4 x 128), laptop recipe (batch 256) + item-ID input, "
               "input dropout 0.5, residual dropout 0.1",
               "tiger_beauty_decoder_only.yaml", BEAUTY30_INTRR,
               with_model_options(TIGER_DECODER_ONLY_TIERS, **TIGER_DECODER_ONLY_HYBRID, residual_dropout=0.1),
               note="hf_genrec's hybrid input, input_dropout and residual_dropout, not TIGER's method"),
    # the hybrid row on SIDs from collaborative embeddings: decoder-only TIGER recalls the targets the transition
    # model knows (a pair seen in training) far less often than SASRec (docs/results.md, "Where decoder-only TIGER
    # loses"); with text SIDs, items bought together rarely share codes
    _decoder_only_hybrid_on("collab", "LightGCN embeddings", BEAUTY30_COLLAB),
    # the same on SIDs from both: collaborative SIDs recalled fewer known pairs and text SIDs fewer other targets
    _decoder_only_hybrid_on("contentcollab", "text + LightGCN embeddings", BEAUTY30_CONTENT_COLLAB),
    # the hybrid row with SASRec's loss beside TIGER's: the <bos> state also scores the next item over the catalog
    # against the (tied) item-ID input table, so the backbone learns item-to-item similarity that every context shares
    # (decoder-only TIGER recalls far fewer of the pairs the transition model knows than SASRec does; decoding unchanged)
    Experiment("tiger-decoder-only-beauty-itemid-dropout-itemloss",
               "TIGER, decoder-only (small Qwen3, 4 x 128), laptop recipe (batch 256) + item-ID input, "
               "input dropout 0.5, auxiliary item-ID loss (weight 1)",
               "tiger_beauty_decoder_only.yaml", BEAUTY30_INTRR,
               with_model_options(TIGER_DECODER_ONLY_TIERS, **TIGER_DECODER_ONLY_HYBRID, item_id_loss_weight=1.0),
               note="hf_genrec's hybrid input, input_dropout and item_id_loss_weight, not TIGER's method"),
    # the no-attention-dropout hybrid row at twice the width (hidden 256, 4 heads x 64, MLP 1024): SASRec gained NDCG@10
    # from 4x its width (docs/results.md); attention dropout stays off so the wider step keeps the fused attention
    Experiment("tiger-decoder-only-beauty-itemid-dropout-h256",
               "TIGER, decoder-only (small Qwen3, 4 x 256, no attention dropout), laptop recipe (batch 256) + "
               "item-ID input, input dropout 0.5",
               "tiger_beauty_decoder_only.yaml", BEAUTY30_INTRR,
               with_model_options(TIGER_DECODER_ONLY_TIERS, **TIGER_DECODER_ONLY_HYBRID, hidden_size=256,
                                  **{"backbone_config.hidden_size": 256, "backbone_config.head_dim": 64,
                                     "backbone_config.intermediate_size": 1024,
                                     "backbone_config.attention_dropout": 0.0}),
               note="hf_genrec's hybrid input and input_dropout, not TIGER's method; twice TIGER's width"),
    # the hybrid row with twice the optimizer steps: batches of 128 windows without accumulation (its curve still rises
    # at 45 minutes, and the 256-wide model learns more per step: is the narrow one short of updates?)
    Experiment("tiger-decoder-only-beauty-itemid-dropout-b128",
               "TIGER, decoder-only (small Qwen3, 4 x 128), laptop recipe with batches of 128 + item-ID input, "
               "input dropout 0.5",
               "tiger_beauty_decoder_only.yaml", BEAUTY30_INTRR,
               with_model_options(_laptop_recipe(**{"training.batch_size": 128,
                                                    "training.gradient_accumulation_steps": 1,
                                                    "training.eval_steps": 300}),
                                  **TIGER_DECODER_ONLY_HYBRID),
               note="hf_genrec's hybrid input and input_dropout, not TIGER's method; batch 128, no accumulation"),
    Experiment("intrr-hstu-beauty-itemid", "IntRR (HSTU) + item-ID input", "intrr_beauty_hstu.yaml", BEAUTY30_INTRR,
               with_model_options(INTRR_HSTU_TIERS, item_id_embedding=True),
               note="hf_genrec's hybrid input (item_id_embedding), not IntRR's method"),
    Experiment("intrr-hstu-beauty-itemid-dropout", "IntRR (HSTU) + item-ID input, dropout 0.5",
               "intrr_beauty_hstu_hybrid.yaml", BEAUTY30_INTRR, INTRR_HSTU_TIERS,
               note="hf_genrec's hybrid input with SASRec's Beauty dropout (0.5): the run without it overfits after "
                    "6 minutes"),
    # the control of the row above: SASRec's Beauty dropout without the item-ID input, to separate the two changes
    Experiment("intrr-hstu-beauty-dropout", "IntRR (HSTU), dropout 0.5", "intrr_beauty_hstu.yaml", BEAUTY30_INTRR,
               with_model_options(INTRR_HSTU_TIERS, dropout_rate=0.5),
               note="the dropout change of intrr-hstu-beauty-itemid-dropout alone (no item-ID input): IntRR's model "
                    "with dropout 0.5 instead of 0.1"),
    Experiment("comeir-small-beauty", "ComeIR (small Qwen3, 4 x 128), laptop recipe", "comeir_beauty_small.yaml",
               BEAUTY30_INTRR, COMEIR_SMALL_TIERS,
               note="not a paper row: ComeIR does not report Beauty; a small random backbone instead of Qwen3-0.6B; "
                    "the laptop recipe (its step is 1.7x faster in bf16, docs/performance.md)"),
    Experiment("comeir-small-beauty-itemid", "ComeIR (small Qwen3, 4 x 128), laptop recipe + item-ID input",
               "comeir_beauty_small.yaml", BEAUTY30_INTRR, with_model_options(COMEIR_SMALL_TIERS, item_id_embedding=True),
               note="hf_genrec's hybrid input (item_id_embedding), not ComeIR's method"),
    Experiment("comeir-small-beauty-wo-inter", "ComeIR (small Qwen3, 4 x 128), laptop recipe, w/o inter-item memory",
               "comeir_beauty_small.yaml", BEAUTY30_INTRR,
               with_model_options(COMEIR_SMALL_TIERS, encode_inter=False, decode_inter=False),
               note="ComeIR's Table 2 switch 'w/o inter', not the full method: on the embedded default the head's "
                    "inter-item memory memorises the training targets (docs/results.md)"),
    Experiment("comeir-small-beauty-imd50",
               "ComeIR (small Qwen3, 4 x 128), laptop recipe, inter-item memory dropout 0.5",
               "comeir_beauty_small.yaml", BEAUTY30_INTRR,
               with_model_options(COMEIR_SMALL_TIERS, inter_memory_dropout=0.5),
               note="hf_genrec's inter_memory_dropout (whole inter-item memory reads dropped in training), not "
                    "ComeIR's method"),
    # PRISM (issue [5/8]): Table 2 (Beauty, Toys, Sports) and Table 4 (ablations on Beauty); every CPU run gets the
    # same 45 minutes as the TIGER it is compared with
    *prism_experiments(),
    # DECOR (issue [6/8]): Table 2's variants and the Figure 3 sweeps on Beauty, DECOR against TIGER on Toys
    *decor_experiments(),
    # NEZHA (issue [7/8]): the flattened HSTU decoded by NEZHA's head instead of per-level backbone passes; NEZHA
    # trains on prefix examples (its placeholders follow the whole history), so the standard row is trained alike
    Experiment("hstu-flattened-beauty-prefix", "HSTU, flattened SIDs, prefix examples", "tiger_beauty_hstu_flattened.yaml",
               BEAUTY30_INTRR, HSTU_PREFIX_TIERS),
    Experiment("hstu-flattened-beauty-nezha", "HSTU, flattened SIDs, NEZHA decoding", "tiger_beauty_hstu_flattened.yaml",
               BEAUTY30_INTRR, with_model_options(HSTU_PREFIX_TIERS, decoding_architecture="nezha")),
    Experiment("sasrec-synthetic", "SASRec (CE)", "sasrec_synthetic.yaml", SYNTHETIC,
               {"cpu": {"training.max_minutes": 5}, "gpu": {}, "test": {"training.max_steps": 3}}),
    Experiment("tiger-synthetic", "TIGER (small)", "tiger_synthetic.yaml", SYNTHETIC,
               {"cpu": {"training.max_minutes": 5}, "gpu": {}, "test": {"training.max_steps": 3}}),
)}

TABLES: Dict[Tuple[str, str, str], ReproductionTable] = {(t.paper, t.table, t.dataset): t for t in (
    ReproductionTable("intrr", "1", "beauty", ("sasrec-beauty", "tiger-intrr-aligned-beauty", "intrr-t5-beauty",
                                               "hstu-flattened-beauty", "intrr-hstu-beauty", "tiger-beauty"),
                      "IntRR Table 1 (Beauty, RK-Means SIDs, SAC): IntRR against flattened generative retrieval"),
    ReproductionTable("hf_genrec", "laptop", "beauty",
                      ("sasrec-beauty", "hstu-flattened-beauty", "hstu-flattened-beauty-recipe", "intrr-hstu-beauty",
                       "intrr-hstu-beauty-recipe", "tiger-intrr-aligned-beauty", "comeir-small-beauty",
                       "hstu-flattened-beauty-recipe-itemid", "intrr-hstu-beauty-itemid",
                       "intrr-hstu-beauty-itemid-dropout", "intrr-hstu-beauty-dropout", "comeir-small-beauty-itemid",
                       "comeir-small-beauty-wo-inter",
                       "comeir-small-beauty-imd50",
                       "intrr-t5-beauty", "tiger-beauty-itemid",
                       "hstu-flattened-beauty-recipe-itemid-dropout", "sasrec-beauty-from-oldest", "sasrec-beauty-h256",
                       "tiger-decoder-only-beauty", "tiger-decoder-only-beauty-itemid",
                       "tiger-decoder-only-beauty-itemid-dropout",
                       "tiger-decoder-only-beauty-itemid-dropout-noattn",
                       "tiger-decoder-only-beauty-itemid-dropout-resid",
                       "tiger-decoder-only-beauty-itemid-dropout-collab",
                       "tiger-decoder-only-beauty-itemid-dropout-contentcollab",
                       "tiger-decoder-only-beauty-itemid-dropout-itemloss",
                       "tiger-decoder-only-beauty-itemid-dropout-h256",
                       "tiger-decoder-only-beauty-itemid-dropout-b128"),
                      "Models that learn on a laptop (issue [4/8]): Beauty, histories of 30, RQ-KMeans 3 x 128 + "
                      "suffix, the same training budget for every model"),
    ReproductionTable("prism", "2", "beauty", ("tiger-beauty", "prism-beauty", "prism-beauty-official",
                                               "prism-beauty-official-sids"),
                      "PRISM Table 2 (Beauty, histories of 20): PRISM against TIGER"),
    ReproductionTable("prism", "2", "toys", ("tiger-toys", "prism-toys"),
                      "PRISM Table 2 (Toys, histories of 20; the Toys data have no timestamps)"),
    ReproductionTable("prism", "2", "sports", ("tiger-sports", "prism-sports"),
                      "PRISM Table 2 (Sports, histories of 20; content from brand and categories only: no titles)"),
    ReproductionTable("prism", "4", "beauty", ("prism-beauty", "prism-beauty-wo-acd", "prism-beauty-wo-hsa",
                                               "prism-beauty-wo-dhr", "prism-beauty-wo-dsi", "prism-beauty-wo-ssa",
                                               "prism-beauty-wo-ats"),
                      "PRISM Table 4 (Beauty): each component removed"),
    ReproductionTable("prism", "4-official", "beauty", ("prism-beauty-official-sids",
                                                        "prism-beauty-official-sids-wo-acd",
                                                        "prism-beauty-official-sids-wo-hsa",
                                                        "prism-beauty-official-sids-wo-dhr"),
                      "PRISM Table 4's quantizer ablations on the official preset's SIDs (Beauty; the paper "
                      "preset's SIDs collapse without HSA): the paper recommender on each",
                      reference="prism-beauty-official-sids"),
    ReproductionTable("decor", "2", "beauty", tuple(f"decor-beauty{suffix}" for suffix in (
                          "-base", "-composition", "-composition-bos", "-pretrained", "-pretrained-composition", "")),
                      "DECOR Table 2 on Beauty (histories of 20, RQ-VAE 3 x 256 of width 128): each component added "
                      "to TIGER; DECOR reports no Beauty numbers, compare the gains over Base (TIGER)",
                      reference="decor-beauty-base", published_gains=("decor", "2", "Base (TIGER)")),
    ReproductionTable("decor", "1", "toys", ("decor-toys-base", "decor-toys"),
                      "DECOR against TIGER on Toys (histories of 20, RQ-VAE 3 x 256 of width 128)",
                      reference="decor-toys-base", published_gains=("decor", "1", "TIGER")),
    ReproductionTable("decor", "fig3", "beauty", tuple(f"decor-beauty-alpha{a}" for a in (0.1, 0.25, 0.4, 0.55, 0.7))
                      + tuple(f"decor-beauty-n{n}" for n in (8, 16, 32, 64, 128)),
                      "DECOR Figure 3 on Beauty: sensitivity to alpha (N = 32) and to N (alpha = 0.25), "
                      f"{SWEEP_BUDGET} minutes per run"),
    ReproductionTable("hf_genrec", "nezha", "beauty", ("hstu-flattened-beauty-prefix", "hstu-flattened-beauty-nezha"),
                      "NEZHA against standard constrained beam search (issue [7/8]): the flattened HSTU on Beauty, "
                      "histories of 30, RQ-KMeans 3 x 128 + suffix, the same budget", reference="hstu-flattened-beauty-prefix"),
    ReproductionTable("hf_genrec", "smoke", "synthetic", ("sasrec-synthetic", "tiger-synthetic"),
                      "Embedded default: the harness end to end"),
)}


def get_table(paper: str, table: str, dataset: str) -> ReproductionTable:
    key = (paper.lower(), str(table), dataset.lower())
    if key not in TABLES:
        known = ", ".join(f"--paper {p} --table {t} --dataset {d}" for p, t, d in sorted(TABLES))
        raise ValueError(f"no reproduction table for --paper {paper} --table {table} --dataset {dataset}; known: {known}")
    return TABLES[key]


def resolve_published(reference: str, dataset: str) -> List[Published]:
    """Rows named ``paper/table/method`` for a dataset."""
    paper, table, method = reference.split("/", 2)
    return find_published(paper, table, dataset, method)
