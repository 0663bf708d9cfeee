"""The native JSON API, /v1: records, persons, events, subscriptions, opt-outs, audit."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("v1", __name__, url_prefix="/v1")

from api.v1 import events, openapi, persons, records  # noqa: E402, F401
