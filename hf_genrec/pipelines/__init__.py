"""transformers pipelines for hf_genrec models: ``pipeline("recommendation", model=folder)`` after ``import hf_genrec``.

:class:`~hf_genrec.pipelines.recommendation.RecommendationPipeline` turns histories (item indices, item ids or
titles) into ranked recommendations. Registering it with ``transformers.pipelines.PIPELINE_REGISTRY`` needs that
module, which takes seconds to import; so ``import hf_genrec`` only arranges the registration
(:func:`hf_genrec.auto.after_import`): it happens as soon as ``transformers.pipelines`` is loaded, e.g. by
``from transformers import pipeline``.

Folders exported with the remote-code bundle (``hf-genrec push --remote-code``) carry the pipeline too:
``pipeline("recommendation", model=folder, trust_remote_code=True)`` works where hf_genrec is not installed.
"""

from __future__ import annotations

import sys

TASK = "recommendation"
_IMPL = f"{__name__}.recommendation.RecommendationPipeline"

__all__ = ["TASK", "RecommendationPipeline", "install_pipeline_registration", "register_pipelines"]


def register_pipelines(_module=None) -> None:
    """Register the ``recommendation`` task with transformers' pipeline registry (idempotent)."""
    from transformers import AutoModel
    from transformers.pipelines import PIPELINE_REGISTRY

    module = sys.modules.get(_IMPL.rsplit(".", 1)[0])
    if module is not None and getattr(getattr(module, "__spec__", None), "_initializing", False):
        # the pipeline module itself is importing transformers.pipelines (a direct import of it came first): record
        # the class by its dotted path, as transformers records its own tasks; pipeline() resolves it when called
        if TASK not in PIPELINE_REGISTRY.supported_tasks:
            PIPELINE_REGISTRY.supported_tasks[TASK] = {"impl": _IMPL, "pt": (AutoModel,)}
        return
    from .recommendation import RecommendationPipeline

    if PIPELINE_REGISTRY.supported_tasks.get(TASK, {}).get("impl") not in (RecommendationPipeline, _IMPL):
        PIPELINE_REGISTRY.register_pipeline(TASK, pipeline_class=RecommendationPipeline, pt_model=AutoModel)


def install_pipeline_registration() -> None:
    """Register now if ``transformers.pipelines`` is imported, else right after it is (``import hf_genrec``)."""
    from ..auto import after_import

    after_import("transformers.pipelines", register_pipelines)


def __getattr__(name: str):
    if name == "RecommendationPipeline":
        from .recommendation import RecommendationPipeline

        return RecommendationPipeline
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
