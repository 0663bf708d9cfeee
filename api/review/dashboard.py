"""The data-quality dashboard page, and the list of decisions behind each of its figures."""

from __future__ import annotations

from datetime import date

from flask import render_template, request

from api.db import get_conn
from api.requests import draft
from api.review import bp, page
from api.review.queue import thresholds
from mpi import dashboard as dashboard_module
from mpi.errors import InvalidInput

DAYS = 14


@bp.get("/dashboard")
@page("review.dashboard", "read")
def dashboard() -> str:
    """Queue size and age, decisions per day and per reviewer, data quality per system,
    what each review threshold would queue."""
    board = dashboard_module.build(get_conn(), thresholds(), days=DAYS)
    return render_template(
        "review/dashboard.html", board=board, categories=dashboard_module.CATEGORIES
    )


@bp.get("/decisions")
@page("review.decisions", "search")
def decisions() -> str:
    """The decisions and first reviews behind a dashboard figure (by day, kind, reviewer)."""
    raw_day = request.args.get("day") or None
    day = None
    if raw_day is not None:
        try:
            day = date.fromisoformat(raw_day[:10])
        except ValueError as exc:
            raise InvalidInput.single("day", "must be a date such as 2026-12-03") from exc
    kind = request.args.get("kind") or None
    who = (request.args.get("by") or "")[:64] or None
    undone = request.args.get("undone") == "yes"
    acts = dashboard_module.acts(
        get_conn(), days=DAYS, day=day, category=kind, who=who, undone=undone
    )
    audit = draft()
    audit.persons([p for a in acts for p in (a.person_id, a.other_person_id) if p])
    audit.detail.update({"day": raw_day, "kind": kind, "by": who, "undone": undone})
    return render_template(
        "review/decisions.html",
        acts=acts,
        day=day,
        kind=kind,
        who=who,
        undone=undone,
        days=DAYS,
        categories=dashboard_module.CATEGORIES,
    )
