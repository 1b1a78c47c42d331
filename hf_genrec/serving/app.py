"""The FastAPI application of ``hf-genrec serve``: JSON in, ranked recommendations out, dynamically batched.

Endpoints:

* ``POST /recommend`` with ``{"history": [...], "top_k": 10}`` (``top_k`` optional) answers
  ``{"history": [item indices read], "top_k": 10, "recommendations": [{"rank", "item_id", "item", "title", "sid",
  "score"}, ...]}``; ``{"histories": [[...], ...], "top_k": 10}`` answers ``{"results": [<one such object per
  history>]}``. History entries are item indices (``int``) or item ids / exact titles (``str``) as the model
  folder's ``items.json`` knows them (rules of :func:`hf_genrec.hub.items.resolve_items`); only the last
  ``max_history`` are read. ``item_id`` is the item index, ``item`` its key, ``sid`` its codes and ``score`` the
  beam search's log-probability.
* ``GET /health``: ``ready``, the model type, the number of items, and the serving settings.
* ``GET /stats``: requests answered, and how they were batched (``batch_sizes``: histories per batch -> batches;
  ``generate_calls`` / ``generate_rows``: ``model.generate`` calls and their rows).

Errors are JSON ``{"error": "<message>"}``: 422 for a request that does not fit the schema (wrong types, an empty
history, ``top_k`` out of range, both or neither of ``history`` / ``histories``), 400 for a history naming an
item the model does not know (the message names it); a 500 means a bug.

Every history of every request is a work item of one :class:`~hf_genrec.serving.batching.DynamicBatcher`: the
``generate`` calls happen on its worker thread, never on the event loop.
"""

import os
import time
from contextlib import asynccontextmanager
from typing import Any, Callable, Dict, List, Optional, Union

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, model_validator
from starlette.exceptions import HTTPException as StarletteHTTPException
from typing_extensions import Annotated

from .._version import __version__
from .batching import DynamicBatcher
from .recommender import Query, Recommender

#: the most entries one history, and the most histories one request, may hold
MAX_HISTORY_ENTRIES = 10_000
MAX_HISTORIES = 1_024

Entry = Union[StrictInt, StrictStr]
History = Annotated[List[Entry], Field(min_length=1, max_length=MAX_HISTORY_ENTRIES)]


class RecommendRequest(BaseModel):
    """``history`` (one) or ``histories`` (several), and ``top_k``."""

    model_config = ConfigDict(extra="forbid")

    history: Optional[History] = None
    histories: Optional[Annotated[List[History], Field(min_length=1, max_length=MAX_HISTORIES)]] = None
    top_k: StrictInt = Field(10, ge=1)

    @model_validator(mode="after")
    def _one_form(self):
        if (self.history is None) == (self.histories is None):
            raise ValueError("give either 'history' (a list of item indices, ids or titles) or 'histories' (a list "
                             "of such lists)")
        return self


class BadRequest(Exception):
    """A request the model cannot answer (an unknown item); answered with status 400 and the message."""


def _validation_message(errors) -> str:
    """``body.history.0: must be an item index (int) or an item id / title (str); ...``: pydantic's errors, one
    line, one message per place."""
    messages: Dict[str, str] = {}
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        if loc and loc[-1] in ("int", "str"):  # a history entry fits neither member of the union
            messages[".".join(loc[:-1])] = "must be an item index (int) or an item id / title (str)"
        else:
            messages.setdefault(".".join(loc), str(error.get("msg", "invalid")))
    return "; ".join(f"{where}: {message}" if where else message for where, message in messages.items()) \
        or "invalid request"


def _error(status: int, message: str, **extra) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def create_app(recommender: Union[Recommender, str, os.PathLike], max_batch_size: int = 32,
               max_wait_ms: float = 5.0, batching: bool = True,
               on_shutdown: Optional[Callable[[FastAPI], None]] = None) -> FastAPI:
    """The application for a :class:`~hf_genrec.serving.recommender.Recommender` (or a model folder / repo id to
    load into one). ``batching=False`` (or ``max_batch_size=1``) answers every history with a call of its own.
    ``on_shutdown(app)`` runs when the server stops (after the last batch), e.g. to write final statistics."""
    if not isinstance(recommender, Recommender):
        recommender = Recommender.from_pretrained(recommender)
    batcher = DynamicBatcher(recommender.recommend, max_batch_size=max_batch_size if batching else 1,
                             max_wait_ms=max_wait_ms)
    counters = {"requests": 0, "histories": 0, "client_errors": 0}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await batcher.start()
        app.state.started = time.time()
        try:
            yield
        finally:
            await batcher.stop()
            if on_shutdown is not None:
                on_shutdown(app)

    app = FastAPI(title="hf_genrec recommendations", version=__version__, lifespan=lifespan)
    app.state.recommender, app.state.batcher, app.state.started = recommender, batcher, None

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError):
        counters["client_errors"] += 1
        details = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
                   for e in error.errors()]
        return _error(422, _validation_message(details), detail=details)

    @app.exception_handler(BadRequest)
    async def _bad(request: Request, error: BadRequest):
        counters["client_errors"] += 1
        return _error(400, str(error))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException):
        if error.status_code < 500:
            counters["client_errors"] += 1
        return _error(error.status_code, str(error.detail))

    @app.get("/health")
    async def health() -> Dict[str, Any]:
        return {"status": "ok", "ready": batcher.running, "hf_genrec_version": __version__,
                **recommender.describe(), "batching": batcher.enabled, "max_batch_size": batcher.max_batch_size,
                "max_wait_ms": batcher.max_wait_ms}

    @app.get("/stats")
    async def stats() -> Dict[str, Any]:
        return statistics()

    def statistics() -> Dict[str, Any]:
        started = app.state.started
        return {**counters, "uptime_seconds": round(time.time() - started, 3) if started else 0.0,
                **batcher.stats(), **recommender.stats()}

    app.state.statistics = statistics

    @app.post("/recommend")
    async def recommend(request: RecommendRequest) -> Dict[str, Any]:
        if request.top_k > recommender.max_top_k:
            counters["client_errors"] += 1
            return _error(422, f"body.top_k: must be at most {recommender.max_top_k}, got {request.top_k}")
        single = request.histories is None
        histories = [request.history] if single else request.histories
        queries = []
        for position, history in enumerate(histories):
            try:
                queries.append(Query(recommender.resolve(history), request.top_k))
            except (ValueError, TypeError) as error:
                raise BadRequest(str(error) if single else f"histories[{position}]: {error}") from None
        counters["requests"] += 1
        counters["histories"] += len(queries)
        answers = await batcher.submit_many(queries)
        results = [{"history": list(q.history), "top_k": q.top_k, "recommendations": a}
                   for q, a in zip(queries, answers)]
        return results[0] if single else {"results": results}

    return app
