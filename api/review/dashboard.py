"""The data-quality dashboard page."""

from __future__ import annotations

from flask import render_template

from api.db import get_conn
from api.review import bp, page
from api.review.queue import thresholds
from mpi import dashboard as dashboard_module


@bp.get("/dashboard")
@page("review.dashboard", "read")
def dashboard() -> str:
    """Queue size and age, decisions per day, data quality per system, rate by threshold."""
    board = dashboard_module.build(get_conn(), thresholds())
    return render_template("review/dashboard.html", board=board)
