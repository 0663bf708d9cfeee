"""The HTTP service: native JSON API under /v1 and FHIR R4 under /fhir.

``create_app`` is the only entry point; gunicorn is given ``"api:create_app()"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

__all__ = ["create_app"]

DEFAULTS: dict[str, Any] = {
    "POOL_MIN_SIZE": 2,
    "POOL_MAX_SIZE": 10,
    "POOL_TIMEOUT": 10.0,
    "MAX_CONTENT_LENGTH": 1_048_576,
    "MAX_SEARCH_RESULTS": 10,
    "EVENTS_PAGE_SIZE": 500,
    "PUBLIC_BASE_URL": None,
    "TOKEN_CACHE_SECONDS": 5.0,
    "DOMAIN_CACHE_SECONDS": 5.0,
    "LOG_LEVEL": "INFO",
    "PROXY_HOPS": 0,
    "MODEL_REFRESH_SECONDS": 10.0,
}


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then ``MPI_*`` environment variables, then ``test_config``.

    ``test_config`` may hold ``SETTINGS`` (an :class:`mpi.config.Settings`) and any
    Flask or service setting; ``DATABASE_URL`` overrides the settings' database.

    Example:
        gunicorn -w 4 "api:create_app()"
    """
    from mpi.config import load_settings
    from mpi.models_registry import active_model_at
    from mpi.records import MatchContext

    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env("MPI")
    if test_config is not None:
        app.config.from_mapping(test_config)
    settings = app.config.get("SETTINGS") or load_settings()
    if app.config.get("DATABASE_URL"):
        settings = settings.with_changes(database_url=app.config["DATABASE_URL"])
    app.config["SETTINGS"] = settings
    app.extensions["mpi_ctx"] = MatchContext.build(settings, active_model_at(settings.database_url))

    from api import db, errors, metrics, model_refresh, requests, review
    from api.fhir import bp as fhir_bp
    from api.v1 import bp as v1_bp

    errors.init_app(app)
    requests.init_app(app)  # checks MPI_LOG_LEVEL before the pool is opened
    db.init_app(app)
    model_refresh.init_app(app)
    metrics.init_app(app)
    app.register_blueprint(v1_bp)
    app.register_blueprint(fhir_bp)
    review.init_app(app)
    hops = int(app.config["PROXY_HOPS"])
    if hops > 0:  # trust X-Forwarded-For from that many proxies, for the audit's address
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops)  # type: ignore[method-assign]

    from api.requests import public

    @app.get("/openapi.json")
    @public
    def openapi() -> tuple[dict[str, Any], int]:
        from api.v1.openapi import document

        return document(), 200

    @app.get("/healthz")
    @public
    def healthz() -> tuple[dict[str, str], int]:
        return {"status": "ok"}, 200

    @app.get("/readyz")
    @public
    def readyz() -> tuple[dict[str, str], int]:
        return ({"status": "ready"}, 200) if db.is_ready() else ({"status": "unavailable"}, 503)

    return app
