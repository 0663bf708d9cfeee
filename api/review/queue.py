"""The work queue and the decision page."""

from __future__ import annotations

from typing import Any

from flask import current_app, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from api.db import get_conn
from api.requests import draft
from api.review import COOKIE, bp, page, reviewer_name
from api.review.charts import waterfall
from mpi import review, reviewers
from mpi.errors import InvalidInput
from mpi.systems import system_codes

MESSAGES = {
    "linked": "Linked: the record now belongs to the candidate person.",
    "first_review": "First review recorded: the valid NHS numbers differ, so a second"
    " reviewer must confirm before the persons are merged.",
    "rejected": "Recorded as not the same person: matching will never link them.",
    "skipped": "Skipped: “Claim next” will not offer you this item again; it stays in the"
    " queue for other reviewers.",
    "empty": "Nothing left to claim with these filters.",
    "merged": "Merged: the other person now points to this one.",
    "second_review": "The valid NHS numbers differ: the merge waits in the queue for a"
    " second reviewer.",
    "split": "Split: the chosen records now form a new person.",
    "undone": "Undone: everything the decision changed is back as it was.",
    "password": "Your password is changed; any other session of your account has ended.",
}


def thresholds() -> Any:
    """The service's link and review thresholds."""
    return current_app.extensions["mpi_ctx"].thresholds


def message() -> str | None:
    """The message to show after a redirect (by code, never free text from the URL)."""
    return MESSAGES.get(request.args.get("done", ""))


def _filters() -> tuple[str | None, str | None]:
    system = request.args.get("system") or None
    reason = request.args.get("reason") or None
    if system is not None and system not in system_codes(get_conn()):
        raise InvalidInput.single("system", f"unknown system {system[:64]!r}")
    if reason is not None and reason not in review.QUEUE_REASONS:
        raise InvalidInput.single("reason", f"unknown reason {reason[:64]!r}")
    return system, reason


PAGE_SIZE = 100
SORT_LABELS = {"priority": "priority", "age": "oldest first", "probability": "match probability"}


def _paging() -> tuple[str, int]:
    """The queue's order and page (1 up) from the URL; 400 naming the field otherwise."""
    sort = request.args.get("sort") or "priority"
    if sort not in SORT_LABELS:
        raise InvalidInput.single("sort", f"must be one of {', '.join(SORT_LABELS)}")
    raw = request.args.get("page") or "1"
    if not raw.isdigit() or len(raw) > 6 or int(raw) < 1:
        raise InvalidInput.single("page", "must be a whole number from 1")
    return sort, int(raw)


def form_int(name: str) -> int:
    """A positive whole number from the form; 400 naming the field otherwise."""
    value = request.form.get(name, "")
    if not value.isdigit() or len(value) > 12:
        raise InvalidInput.single(name, "must be a whole number")
    return int(value)


@bp.get("/")
@page("review.queue", "search")
def queue() -> str:
    """Open items by priority, with counts and ages at the top."""
    conn = get_conn()
    system, reason = _filters()
    second = request.args.get("waiting") == "second"
    sort, page_no = _paging()
    size = int(current_app.config.get("REVIEW_QUEUE_PAGE_SIZE", PAGE_SIZE))
    entries = review.work_queue(
        conn,
        thresholds(),
        system=system,
        reason=reason,
        second=second,
        sort=sort,
        limit=size,
        offset=(page_no - 1) * size,
    )
    kept = {
        "system": system,
        "reason": reason,
        "waiting": "second" if second else None,
        "sort": None if sort == "priority" else sort,
    }

    def queue_url(**changes: Any) -> str:
        """This queue's address with the filters, order and page kept but for ``changes``."""
        args = {**kept, **changes}
        return url_for("review.queue", **{k: v for k, v in args.items() if v})

    audit = draft()
    audit.persons(
        [p for e in entries for p in (e.item.candidate_person_id, e.item.record_person_id) if p]
    )
    audit.detail.update(
        {
            "system": system,
            "reason": reason,
            "second": second,
            "sort": sort,
            "page": page_no,
            "shown": len(entries),
        }
    )
    summary = review.summary(conn, system=system, reason=reason, second=second)
    return render_template(
        "review/queue.html",
        entries=entries,
        summary=summary,
        second=second,
        sort=sort,
        sort_labels=SORT_LABELS,
        page_no=page_no,
        first_shown=(page_no - 1) * size + 1,
        pages=max(1, -(-summary["open"] // size)),
        queue_url=queue_url,
        systems=system_codes(conn),
        reasons=review.QUEUE_REASONS,
        system=system,
        reason=reason,
        message=message(),
        me=reviewer_name(),
    )


@bp.post("/next")
@page("review.claim_next", "update")
def claim_next() -> Response:
    """Claim the highest-priority free item and open it."""
    system = request.form.get("system") or None
    reason = request.form.get("reason") or None
    if reason is not None and reason not in review.QUEUE_REASONS:
        raise InvalidInput.single("reason", "unknown reason")
    item_id = review.claim_next(
        get_conn(), thresholds(), reviewer_name(), system=system, reason=reason
    )
    if item_id is None:
        return redirect(url_for("review.queue", done="empty"), code=303)
    draft().detail["item"] = item_id
    return redirect(url_for("review.item", item_id=item_id), code=303)


@bp.post("/items/<int:item_id>/claim")
@page("review.claim", "update")
def claim(item_id: int) -> Response:
    """Claim one item and open it."""
    draft().detail["item"] = item_id
    review.claim(get_conn(), item_id, form_int("version"), reviewer_name())
    return redirect(url_for("review.item", item_id=item_id), code=303)


@bp.get("/items/<int:item_id>")
@page("review.item", "read")
def item(item_id: int) -> str:
    """The decision page: the two sides field by field, the weights, the candidate's history."""
    conn = get_conn()
    view = review.decision_view(conn, item_id)
    audit = draft()
    audit.detail["item"] = item_id
    audit.persons(
        [view.candidate.person_id] + ([view.record_person.person_id] if view.record_person else [])
    )
    audit.record(view.record.system_code, view.record.local_id)
    for r in ([view.candidate_record] if view.candidate_record else []) + view.candidate_records:
        audit.record(r.system_code, r.local_id)
    t = thresholds()
    chart = waterfall(
        view.item.explanation, view.prior_weight, view.item.probability, (t.link, t.review)
    )
    return render_template(
        "review/item.html",
        view=view,
        chart=chart,
        message=message(),
        me=reviewer_name(),
        carried_note=reviewers.carried_note(conn, request.cookies.get(COOKIE), request.path),
        why=review.why_in_review(view.item, t),
        link_threshold=t.link,
        risky_reasons=review.RISKY_REASONS,
    )


@bp.post("/items/<int:item_id>/decide")
@page("review.decide", "update")
def decide(item_id: int) -> Response | str:
    """Same person, not the same, or skip; then on to the next item."""
    outcome = request.form.get("outcome", "")
    note = request.form.get("note", "").strip() or None
    audit = draft()
    audit.detail.update({"item": item_id, "outcome": outcome})
    if outcome == "same" and request.form.get("confirmed") != "yes":
        view = review.decision_view(get_conn(), item_id)
        if view.nhs_clash and view.item.status == "open":
            # a merge across valid NHS numbers: spell out what it does, decide nothing yet
            audit.detail["result"] = "confirmation_asked"
            audit.persons(
                [view.candidate.person_id]
                + ([view.record_person.person_id] if view.record_person else [])
            )
            return render_template(
                "review/confirm.html",
                view=view,
                consequence=review.merge_consequence(get_conn(), view),
                version=form_int("version"),
                note=note or "",
            )
    done = review.decide(
        get_conn(), item_id, form_int("version"), outcome, reviewer_name(), note=note
    )
    audit.persons([p for p in (done.person_id, done.other_person_id) if p])
    audit.detail["result"] = done.outcome
    return redirect(url_for("review.queue", done=done.outcome), code=303)
