"""A worker picks up `mpi model activate` without a restart (api/model_refresh.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from matching.model import load_default_model
from mpi import models_registry


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


def test_activated_model_is_used_by_the_next_request(make_app, db_url, stored_model) -> None:
    app = make_app(MODEL_REFRESH_SECONDS=0)
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


def test_negative_interval_keeps_the_start_up_model(make_app, db_url, stored_model) -> None:
    app = make_app(MODEL_REFRESH_SECONDS=-1)
    try:
        with psycopg.connect(db_url) as conn:
            models_registry.activate(conn, stored_model)
        app.test_client().get("/healthz")
        assert app.extensions["mpi_ctx"].model.version == load_default_model().version
    finally:
        with psycopg.connect(db_url) as conn:
            models_registry.activate(conn, load_default_model().version)
