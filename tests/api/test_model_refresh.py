"""A worker picks up `mpi model activate` without a restart (api/model_refresh.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from flask import Flask

from api import create_app
from matching.model import load_default_model
from mpi import models_registry
from mpi.config import Settings


def _app(db_url: str, refresh_seconds: float) -> Flask:
    return create_app(
        {
            "TESTING": True,
            "SETTINGS": Settings(database_url=db_url, environment="test"),
            "POOL_MIN_SIZE": 1,
            "POOL_MAX_SIZE": 2,
            "MODEL_REFRESH_SECONDS": refresh_seconds,
        }
    )


@pytest.fixture
def stored_model(db_url: str) -> Iterator[str]:
    """A second model version in the store (not active), removed afterwards."""
    document: dict[str, Any] = load_default_model().to_dict()
    document["version"] = "refresh-test-1"
    document["thresholds"] = {"link": 0.995, "review": 0.6}
    with psycopg.connect(db_url) as conn:
        models_registry.import_model(conn, document)
    yield "refresh-test-1"
    with psycopg.connect(db_url) as conn:
        conn.execute("DELETE FROM match_model WHERE version = %s", ("refresh-test-1",))


def test_activated_model_is_used_by_the_next_request(db_url: str, stored_model: str) -> None:
    app = _app(db_url, 0)
    try:
        default = load_default_model().version
        assert app.test_client().get("/healthz").status_code == 200
        assert app.extensions["mpi_ctx"].model.version == default

        with psycopg.connect(db_url) as conn:
            models_registry.activate(conn, stored_model)
        assert app.test_client().get("/healthz").status_code == 200
        ctx = app.extensions["mpi_ctx"]
        assert ctx.model.version == stored_model
        assert (ctx.thresholds.link, ctx.thresholds.review) == (0.995, 0.6)

        with psycopg.connect(db_url) as conn:
            models_registry.activate(conn, default)
        app.test_client().get("/healthz")
        assert app.extensions["mpi_ctx"].model.version == default
    finally:
        app.extensions["mpi_pool"].close()


def test_negative_interval_keeps_the_start_up_model(db_url: str, stored_model: str) -> None:
    app = _app(db_url, -1)
    try:
        with psycopg.connect(db_url) as conn:
            models_registry.activate(conn, stored_model)
        app.test_client().get("/healthz")
        assert app.extensions["mpi_ctx"].model.version == load_default_model().version
    finally:
        app.extensions["mpi_pool"].close()
        with psycopg.connect(db_url) as conn:
            models_registry.activate(conn, load_default_model().version)
