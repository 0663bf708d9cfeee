"""The match model a worker scores with follows ``mpi model activate`` without a restart.

Each worker keeps its :class:`mpi.records.MatchContext` on ``app.extensions["mpi_ctx"]``.
At most every ``MODEL_REFRESH_SECONDS`` (default 10; 0 checks on every request) a
request first reads the active model's version (one index look-up on its own pooled
connection); when it differs from the worker's, the worker builds a new context with the
active model and swaps it in. Requests already running finish with the context they
started with; the next ones use the new one. A negative interval never refreshes.
"""

from __future__ import annotations

import logging
import threading
import time

from flask import Flask, current_app

log = logging.getLogger(__name__)

_lock = threading.Lock()


def init_app(app: Flask) -> None:
    """Check for a newly activated model before requests, at most every few seconds."""
    interval = float(app.config["MODEL_REFRESH_SECONDS"])
    if interval < 0:
        return
    app.extensions["mpi_model_checked"] = time.monotonic()

    @app.before_request
    def refresh_model() -> None:
        now = time.monotonic()
        if now - current_app.extensions["mpi_model_checked"] < interval:
            return
        if not _lock.acquire(blocking=False):
            return  # another thread of this worker is checking
        try:
            current_app.extensions["mpi_model_checked"] = now
            _refresh(current_app)
        finally:
            _lock.release()


def _refresh(app: Flask) -> None:
    from api.db import pool
    from mpi.models_registry import active_model, active_version
    from mpi.records import MatchContext

    current = app.extensions["mpi_ctx"]
    try:
        with pool().connection() as conn:
            version = active_version(conn)
            if version == current.model.version:
                return
            model = active_model(conn)
    except Exception:  # a database hiccup must not fail the request that noticed it
        log.warning("could not check the active match model", exc_info=True)
        return
    app.extensions["mpi_ctx"] = MatchContext.build(app.config["SETTINGS"], model)
    log.info("match model changed from %s to %s", current.model.version, model.version)
