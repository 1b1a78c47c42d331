"""``hf-genrec serve``: a saved model as an HTTP recommendation service (FastAPI served by uvicorn).

:func:`build_server` loads the model, binds the listening socket (``port=0``: a free port, the one chosen is in
the summary) and writes ``serve_summary.json`` (model, settings, address, start time) into ``out`` before the
first request; :func:`run_serve` then serves until interrupted (Ctrl-C or SIGTERM); when the server stops, the
summary is rewritten with the finishing time and the batching statistics. The endpoints are described in
:mod:`hf_genrec.serving.app`.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from .._version import __version__
from ..utils.io import atomic_write_json
from .common import now

SERVE_SUMMARY_FILE = "serve_summary.json"


@dataclass
class ServeHandle:
    """A configured, not yet running server: ``server.run(sockets=sockets)`` (blocking) serves."""

    server: Any  # uvicorn.Server
    sockets: List[socket.socket]
    app: Any  # fastapi.FastAPI
    summary: Dict[str, Any]
    summary_path: Path

    @property
    def url(self) -> str:
        return self.summary["url"]


def _listen(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (uvicorn listens on it); a clear error when the address is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise ValueError(f"cannot listen on {host}:{port} ({error.strerror or error}); choose another --port "
                         "(0: any free port)") from None
    return sock


def build_server(model: str | os.PathLike, host: str = "127.0.0.1", port: int = 8000,
                 out: str | os.PathLike = "runs/serve", max_batch_size: int = 32, max_wait_ms: float = 5.0,
                 batching: bool = True, num_beams: Optional[int] = None, max_top_k: int = 100,
                 device: Optional[str] = None, tokenizer: Optional[str | os.PathLike] = None,
                 log_level: str = "info", access_log: bool = False) -> ServeHandle:
    """Load ``model`` (folder or Hub repo id), build the app and its uvicorn server on a bound socket, and write
    ``out/serve_summary.json``. ``batching=False`` answers every history with a ``generate`` call of its own."""
    from ..serving import require_serving_stack

    require_serving_stack()  # before the model loads: say what to install at once
    import uvicorn

    from ..serving.app import create_app
    from ..serving.recommender import Recommender

    started = now()
    recommender = Recommender.from_pretrained(model, device=device, num_beams=num_beams, max_top_k=max_top_k,
                                              tokenizer=tokenizer)
    sock = _listen(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    summary = {"command": "serve", "hf_genrec_version": __version__, "started": started, "model": os.fspath(model),
               "url": f"http://{shown}:{bound_port}", "host": bound_host, "port": bound_port,
               "settings": {"batching": batching and max_batch_size > 1,
                            "max_batch_size": max_batch_size if batching else 1, "max_wait_ms": max_wait_ms,
                            "num_beams": num_beams, "max_top_k": max_top_k, "device": device,
                            "tokenizer": os.fspath(tokenizer) if tokenizer else None},
               "model_info": recommender.describe(),
               "endpoints": {"recommend": "POST /recommend", "health": "GET /health", "stats": "GET /stats"}}
    summary_path = Path(out) / SERVE_SUMMARY_FILE

    def finish(app) -> None:  # the server stopped (Ctrl-C, SIGTERM): the finishing time and the statistics
        summary.update(finished=now(), stats=app.state.statistics())
        atomic_write_json(summary_path, summary)

    app = create_app(recommender, max_batch_size=max_batch_size, max_wait_ms=max_wait_ms, batching=batching,
                     on_shutdown=finish)
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, access_log=access_log,
                                           timeout_graceful_shutdown=5))
    atomic_write_json(summary_path, summary)
    return ServeHandle(server, [sock], app, summary, summary_path)


def run_serve(model: str | os.PathLike, **options) -> Dict[str, Any]:
    """Serve ``model`` until interrupted (options of :func:`build_server`); return the final summary."""
    handle = build_server(model, **options)
    try:
        handle.server.run(sockets=handle.sockets)
    except KeyboardInterrupt:  # uvicorn stops gracefully on Ctrl-C, then raises the signal again
        pass
    finally:
        for sock in handle.sockets:
            sock.close()
    return handle.summary
