"""Recall@K and NDCG@K for next-item recommendation with one relevant item per user.

An ``evaluate`` metric module shipped inside hf_genrec and loaded from its path, offline::

    import evaluate
    from hf_genrec.evaluation import recall_ndcg_metric_path

    metric = evaluate.load(recall_ndcg_metric_path())
    metric.compute(predictions=[[3, 1, 2], [5, 6, 7]], references=[1, 4], k_values=[1, 2, 3])

``predictions`` are ranked item ids per user (best first); ``references`` the held-out item.
With one relevant item, Recall@K is the hit rate and NDCG@K is ``1 / log2(rank + 1)`` for a hit.
"""

import math

import datasets
import evaluate

_CITATION = """\
@inproceedings{rajput2023tiger, title={Recommender Systems with Generative Retrieval}, author={Rajput, Shashank and others},
booktitle={NeurIPS}, year={2023}}
"""

_DESCRIPTION = "Recall@K and NDCG@K of ranked item lists against one held-out item per user (leave-one-out)."

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of ranked item-id lists (best first), one per user.
    references: list of the held-out item id of each user.
    k_values: cut-offs, default [5, 10, 20].
Returns:
    a dict with "recall@K" and "ndcg@K" for every K.
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class RecallNDCG(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation=_CITATION, inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Sequence(datasets.Value("int64")),
                                        "references": datasets.Value("int64")}))

    def _compute(self, predictions, references, k_values=(5, 10, 20)):
        if len(predictions) != len(references):
            raise ValueError(f"{len(predictions)} ranked lists for {len(references)} references")
        n = max(1, len(references))
        out = {}
        for k in k_values:
            hits, gain = 0, 0.0
            for ranked, target in zip(predictions, references):
                top = list(ranked)[:k]
                if target in top:
                    hits += 1
                    gain += 1.0 / math.log2(top.index(target) + 2)
            out[f"recall@{k}"] = hits / n
            out[f"ndcg@{k}"] = gain / n
        return out
