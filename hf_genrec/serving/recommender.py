"""What the service serves: a saved model behind the ``recommendation`` pipeline, answering batches of queries.

The pipeline (:class:`~hf_genrec.pipelines.recommendation.RecommendationPipeline`) does the reading of histories
(item indices, ids or titles: :func:`~hf_genrec.hub.items.resolve_items`), the encoding and ``model.generate``
call, and the formatting of the results. :class:`Recommender` adds what a server needs on top: queries resolved
on arrival (an unknown item is the caller's error, before any batching), and a batch of queries with different
``top_k`` answered together: queries that decode with the same beam width share one ``generate`` call (each gets
its own top rows back), so a query's answer is the same whether it came alone or in a batch.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Union


@dataclass(frozen=True)
class Query:
    """One history to answer: item indices (already resolved) and how many items to return."""

    history: tuple
    top_k: int


class Recommender:
    """A loaded model folder (or Hub repo) ready to answer :class:`Query` batches; see the module docstring.

    ``num_beams``: the beam width (default: the model's ``generation_config``), widened to a query's ``top_k`` if
    narrower (as ``hf-genrec recommend`` does). ``max_top_k``: the largest ``top_k`` a request may ask for."""

    def __init__(self, pipeline, name: str = "", num_beams: Optional[int] = None, max_top_k: int = 100):
        if num_beams is not None and num_beams < 1:
            raise ValueError(f"num_beams must be at least 1, got {num_beams}")
        if max_top_k < 1:
            raise ValueError(f"max_top_k must be at least 1, got {max_top_k}")
        self.pipeline = pipeline
        self.name = name
        self.num_beams = num_beams
        self.max_top_k = int(max_top_k)
        self.generate_calls = 0
        self.generate_rows: Counter = Counter()  # rows (histories) per generate call -> how many calls
        self._lock = threading.Lock()  # one generate at a time, whoever calls

    @classmethod
    def from_pretrained(cls, model: str | os.PathLike, device: Optional[str] = None, num_beams: Optional[int] = None,
                        max_top_k: int = 100, tokenizer: Optional[str | os.PathLike] = None) -> "Recommender":
        """Load a model folder or Hub repo id the way ``hf-genrec recommend`` does (safetensors, no remote code, a
        matching tokenizer) with its item table, on ``device`` (default: CUDA when available)."""
        import torch

        from ..commands.evaluate import load_model_and_tokenizer
        from ..hub.items import model_items
        from ..pipelines.recommendation import RecommendationPipeline

        loaded, sid_tokenizer = load_model_and_tokenizer(model, tokenizer)
        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        pipeline = RecommendationPipeline(model=loaded.eval(), tokenizer=sid_tokenizer, items=model_items(model),
                                          device=device)
        return cls(pipeline, name=os.fspath(model), num_beams=num_beams, max_top_k=max_top_k)

    # ------------------------------------------------------------------ facts
    @property
    def model(self):
        return self.pipeline.model

    @property
    def num_items(self) -> int:
        return int(self.model.config.num_items)

    @property
    def model_type(self) -> str:
        return str(self.model.config.model_type)

    def beams_for(self, top_k: int) -> int:
        """The beam width a query with this ``top_k`` decodes with."""
        return max(self.num_beams or self.model.default_num_beams(), top_k)

    def describe(self) -> Dict[str, Any]:
        """Model facts for ``/health`` and the serve summary."""
        return {"model": self.name, "model_type": self.model_type, "num_items": self.num_items,
                "max_history": int(self.model.config.max_history), "device": str(self.pipeline.device),
                "num_beams": self.num_beams or self.model.default_num_beams(), "max_top_k": self.max_top_k,
                "has_titles": any(self.pipeline.items.get("titles") or [])}

    def stats(self) -> Dict[str, Any]:
        calls = self.generate_calls
        return {"generate_calls": calls,
                "generate_rows": {str(rows): count for rows, count in sorted(self.generate_rows.items())}}

    # ------------------------------------------------------------------ work
    def resolve(self, history: Union[str, Sequence[Union[int, str]]]) -> tuple:
        """Item indices of a request's history (its last ``max_history`` entries); ``ValueError`` / ``TypeError``
        naming an entry the model does not know, or for an empty history."""
        return tuple(self.pipeline.preprocess(history)["history"])

    def recommend(self, queries: Sequence[Query]) -> List[List[Dict[str, Any]]]:
        """Ranked recommendations for each query (``rank``, ``item_id`` = item index, ``item`` = its key,
        ``title``, ``sid``, ``score``), with one ``generate`` call per distinct beam width among the queries."""
        groups: Dict[int, List[int]] = {}
        for index, query in enumerate(queries):
            groups.setdefault(self.beams_for(query.top_k), []).append(index)
        results: List[Optional[List[Dict[str, Any]]]] = [None] * len(queries)
        for beams, members in groups.items():
            top_k = max(queries[i].top_k for i in members)
            with self._lock:
                outputs = self.pipeline.forward({"history": [list(queries[i].history) for i in members]},
                                                top_k=top_k, num_beams=beams)
                self.generate_calls += 1
                self.generate_rows[len(members)] += 1
            for row, index in enumerate(members):
                mine = {key: value[row:row + 1, :queries[index].top_k] for key, value in outputs.items()}
                results[index] = [{"rank": rank, **item}
                                  for rank, item in enumerate(self.pipeline.postprocess(mine), start=1)]
        return results
