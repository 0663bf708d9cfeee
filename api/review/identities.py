"""Identity pages: search, a person's golden view and history; split, merge and undo."""

from __future__ import annotations

from flask import g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from api.db import get_conn
from api.requests import draft
from api.review import bp, page, reviewer_name
from api.review.queue import form_int, message
from mpi import identities, review
from mpi.errors import InvalidInput

_SEARCH_FIELDS = ("nhs_number", "family_name", "given_name", "birth_date", "local_id", "person_id")


@bp.get("/persons")
@page("review.search", "search")
def search() -> str:
    """Find persons by NHS number, name, date of birth, local ID or person ID."""
    query = review.SearchQuery(
        **{f: (request.args.get(f) or "").strip()[:200] or None for f in _SEARCH_FIELDS}
    )
    page_arg = request.args.get("page", "1")
    page_no = int(page_arg) if page_arg.isdigit() and len(page_arg) < 6 else 1
    found = None if query.is_empty else review.find_persons(get_conn(), query, page=page_no)
    audit = draft()
    audit.persons([p.person_id for p in found.persons] if found else [])
    audit.detail["criteria"] = [f for f in _SEARCH_FIELDS if getattr(query, f)]
    args = {f: getattr(query, f) for f in _SEARCH_FIELDS if getattr(query, f)}
    return render_template("review/search.html", query=query, found=found, args=args)


def canonical_id(person_id: str) -> str:
    """A person ID as the store writes it (search accepts any case and spacing too)."""
    return person_id.strip().upper()[:32]


@bp.get("/persons/<person_id>")
@page("review.person", "read")
def person(person_id: str) -> str | Response:
    """A person's golden view, linked records (how and when), history and decisions."""
    if canonical_id(person_id) != person_id:
        g.pop("audit", None)  # only a redirect to the canonical address: nothing shown
        return redirect(url_for("review.person", person_id=canonical_id(person_id), **request.args))
    conn = get_conn()
    view = identities.person_view(conn, person_id)
    decisions = identities.decisions_of(conn, view.person.person_id)
    audit = draft()
    audit.persons([view.person.person_id])
    for r in view.records:
        audit.record(r.system_code, r.local_id)
    return render_template(
        "review/person.html",
        view=view,
        decisions=decisions,
        labels=review.FIELD_LABELS,
        message=message(),
    )


@bp.post("/persons/<person_id>/split")
@page("review.split", "update")
def split(person_id: str) -> Response:
    """Split the ticked records off into a new person."""
    record_ids = review.parse_ids(request.form.getlist("record"), "record")
    note = request.form.get("note", "").strip() or None
    audit = draft()
    person_id = canonical_id(person_id)
    audit.persons([person_id])
    done = identities.split(get_conn(), person_id, record_ids, reviewer_name(), note=note)
    audit.persons([done.person_id] if done.person_id else [])
    audit.detail.update({"records": record_ids, "decision": done.decision_id})
    return redirect(url_for("review.person", person_id=done.person_id, done="split"), code=303)


@bp.post("/persons/<person_id>/merge")
@page("review.merge", "update")
def merge(person_id: str) -> Response:
    """Merge another person into this one (this one keeps its ID)."""
    other = request.form.get("other_person_id", "").strip().upper()[:32]
    if not other:
        raise InvalidInput.single("other_person_id", "give the ID of the person to merge in")
    note = request.form.get("note", "").strip() or None
    audit = draft()
    person_id = canonical_id(person_id)
    audit.persons([person_id, other])
    done = identities.merge(get_conn(), person_id, other, reviewer_name(), note=note)
    audit.detail.update({"result": done.outcome, "decision": done.decision_id})
    return redirect(url_for("review.person", person_id=person_id, done=done.outcome), code=303)


@bp.post("/decisions/<int:decision_id>/undo")
@page("review.undo", "update")
def undo(decision_id: int) -> Response:
    """Undo one decision from a person's history."""
    audit = draft()
    audit.detail["decision"] = decision_id
    done = identities.undo(get_conn(), decision_id, form_int("version"), reviewer_name())
    back = request.form.get("person_id", "") or done.person_id or ""
    audit.persons([p for p in (done.person_id, done.other_person_id, back) if p])
    if back:
        return redirect(url_for("review.person", person_id=back[:32], done="undone"), code=303)
    return redirect(url_for("review.queue", done="undone"), code=303)
