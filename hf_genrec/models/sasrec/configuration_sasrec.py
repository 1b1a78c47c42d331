"""Configuration of SASRec (Kang & McAuley, ICDM 2018), the reference sequential recommender.

SASRec scores items directly (item-id embeddings, no semantic IDs): a causal self-attention encoder over the
history's item embeddings gives the user state ``h_u`` (the last position), and an item's score is
``h_u . e_item`` with the output table tied to the input table, as in the paper.

``loss``:

* ``"ce"`` (default): cross-entropy over the whole catalog, the variant that recent benchmarks show to be much
  stronger than the paper's sampled objective (Klenitskiy & Vasilev, RecSys 2023: Recall@10 about 0.09 on
  Amazon Beauty);
* ``"sampled_ce"``: cross-entropy over the target and ``num_negatives`` uniformly sampled items (large catalogs);
* ``"bce"``: the paper's binary cross-entropy with one sampled negative per positive.

Defaults follow the paper (``hidden_size`` 50 rounded to 64, 2 blocks, 1 head, dropout 0.2 for the Amazon
data, ``intermediate_size = hidden_size``); choices where the paper is silent: pre-LayerNorm blocks with a final
LayerNorm (the paper's "LN(x + Dropout(f(x)))" written in the stable pre-LN order), dropout on the embeddings.

``positions`` (the learned position embeddings ``P``, Sec. III-B):

* ``"recency"`` (default): positions count back from the row's most recent item, the paper's left-padded input
  of length ``n``; with sequence-level training (``training.train_examples: sequence``, how the paper trains)
  they count back from the end of the training window, as in the paper;
* ``"from_oldest"``: positions count forward from the row's oldest item, so a position's state never depends on
  what follows it: sequence-level training then equals the mean of the prefix losses of the window.
"""

from __future__ import annotations

from ...configuration_utils import GenRecConfig, check_choices

LOSSES = ("ce", "sampled_ce", "bce")
POSITIONS = ("recency", "from_oldest")


class SASRecConfig(GenRecConfig):
    model_type = "sasrec"

    def __init__(self, hidden_size: int = 64, num_layers: int = 2, num_heads: int = 1,
                 intermediate_size: int | None = None, dropout_rate: float = 0.2, loss: str = "ce",
                 num_negatives: int = 256, max_history: int = 50, initializer_range: float = 0.02,
                 positions: str = "recency", **kwargs):
        check_choices(loss=(loss, LOSSES), positions=(positions, POSITIONS))
        if kwargs.get("item_id_embedding"):
            raise ValueError("item_id_embedding adds item-id embeddings to SID inputs; SASRec's inputs are item-id "
                             "embeddings already: leave it off")
        if hidden_size % num_heads:
            raise ValueError(f"hidden_size {hidden_size} must be divisible by num_heads {num_heads}")
        if num_negatives < 1:
            raise ValueError(f"num_negatives must be at least 1, got {num_negatives}")
        self.dropout_rate = float(dropout_rate)
        self.loss = loss
        self.positions = positions
        self.num_negatives = int(num_negatives)
        self.initializer_range = float(initializer_range)
        kwargs["input_mode"] = "item"
        super().__init__(max_history=max_history, hidden_size=hidden_size, num_layers=num_layers,
                         num_heads=num_heads, intermediate_size=intermediate_size or hidden_size, **kwargs)
