"""An HTTP recommendation service for a saved hf_genrec model (``hf-genrec serve``).

* :mod:`.recommender` the model, its tokenizer and item table behind the ``recommendation`` pipeline: resolves
  request histories and answers a batch of them with one ``model.generate`` call per beam width;
* :mod:`.batching`    :class:`~.batching.DynamicBatcher`: concurrent requests collected (up to ``max_batch_size``
  histories or ``max_wait_ms``) into one call, run in a worker thread so the event loop stays responsive;
* :mod:`.app`         :func:`~.app.create_app`: the FastAPI (Starlette) application, served by uvicorn.

FastAPI and uvicorn are the ``serve`` extra (``pip install hf_genrec[serve]``); this package imports neither until
:func:`~.app.create_app` is called, and :func:`require_serving_stack` says what to install when they are missing.
"""

from __future__ import annotations

import importlib.util

#: the modules the service needs, with the distribution that provides each
SERVING_MODULES = {"fastapi": "fastapi", "uvicorn": "uvicorn"}


class ServingDependencyError(ImportError):
    """FastAPI or uvicorn is not installed."""


def require_serving_stack() -> None:
    """Raise :class:`ServingDependencyError` naming the missing packages unless FastAPI and uvicorn import."""
    missing = [dist for module, dist in SERVING_MODULES.items() if importlib.util.find_spec(module) is None]
    if missing:
        raise ServingDependencyError(f"hf-genrec serve needs {' and '.join(missing)}: pip install 'hf_genrec[serve]'")


def __getattr__(name: str):
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "DynamicBatcher":
        from .batching import DynamicBatcher

        return DynamicBatcher
    if name == "Recommender":
        from .recommender import Recommender

        return Recommender
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DynamicBatcher", "Recommender", "ServingDependencyError", "create_app", "require_serving_stack"]
