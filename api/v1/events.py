"""/v1/events (identity events for viewers' caches) and /v1/subscriptions (webhooks)."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from flask import Response, current_app, request

from api.db import get_conn, read_conn
from api.requests import audited, caller, draft
from api.v1 import bp
from api.validation import int_param, json_object
from mpi import access, lookups, webhooks
from mpi.errors import FieldProblem, InvalidInput


@bp.get("/events")
@audited("events.read", "search")
def events() -> tuple[dict[str, Any], int]:
    """Identity events after a cursor, oldest first, about persons the caller may see."""
    who = caller()
    access.require(who, "lookup")
    after = int_param("after", request.args.get("after"), default=0, low=0, high=2**62)
    page = int(current_app.config["EVENTS_PAGE_SIZE"])
    limit = int_param("limit", request.args.get("limit"), default=page, low=1, high=page)
    rows = _events(who, after, limit)
    items = []
    for row in rows:
        item: dict[str, Any] = {"id": row["id"], "type": row["type"]}
        if row["person_id"]:  # a person the caller may not see is left out
            item["person_id"] = row["person_id"]
        item["occurred_at"] = row["occurred_at"].astimezone(UTC).isoformat()
        if row["other_person_id"]:
            item["other_person_id"] = row["other_person_id"]
        if row["local_id"] is not None:
            item["record"] = {"system": row["system"], "local_id": row["local_id"]}
        items.append(item)
        draft().persons(p for p in (row["person_id"], row["other_person_id"]) if p)
    draft().detail["after"] = after
    next_cursor = rows[-1]["id"] if rows else after
    return {"events": items, "next": next_cursor}, 200


def _events(who: access.Caller, after: int, limit: int) -> list[dict[str, Any]]:
    """A page of the feed: from the read replica as far as it has got, the rest from the
    primary. The replica serves a catching-up viewer's full pages; a page it cannot fill
    (the head of the feed, where it may lag behind the primary) is completed on the
    primary, so a viewer is never shown the feed later than a webhook tells it of an
    event, and reads its own writes' events at once (``read_conn``'s lag rule)."""
    conn = read_conn()
    rows = lookups.events_for_system(
        conn, who.system_id, after, limit, everything=who.is_admin
    )
    primary = get_conn()
    if conn is not primary and len(rows) < limit:
        last = rows[-1]["id"] if rows else after
        rows += lookups.events_for_system(
            primary, who.system_id, last, limit - len(rows), everything=who.is_admin
        )
    return rows


def _subscription_json(sub: webhooks.Subscription, *, secret: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": sub.id,
        "url": sub.url,
        "all_events": sub.all_events,
        "created_at": sub.created_at.astimezone(UTC).isoformat(),
    }
    if secret:
        body["secret"] = sub.secret
    return body


@bp.post("/subscriptions")
def subscribe() -> tuple[dict[str, Any], int]:
    """Subscribe a URL to identity events; the signing secret is shown once."""
    who = caller()
    access.require(who, "lookup")
    body = json_object()
    unknown = [FieldProblem(k, "is not a known field") for k in body if k != "url"]
    if unknown:
        raise InvalidInput(unknown)
    policy = webhooks.WebhookPolicy.from_settings(current_app.config["SETTINGS"])
    sub = webhooks.subscribe(
        get_conn(), who.system_id, body.get("url"), all_events=who.is_admin, policy=policy
    )
    return _subscription_json(sub, secret=True), 201


@bp.get("/subscriptions")
def subscriptions() -> tuple[dict[str, Any], int]:
    """The caller's active subscriptions (without secrets)."""
    who = caller()
    access.require(who, "lookup")
    subs = webhooks.subscriptions(get_conn(), who.system_id)
    return {"subscriptions": [_subscription_json(s, secret=False) for s in subs]}, 200


@bp.delete("/subscriptions/<int:subscription_id>")
def unsubscribe(subscription_id: int) -> Response:
    """Switch a subscription off; pending deliveries are dropped."""
    who = caller()
    access.require(who, "lookup")
    webhooks.unsubscribe(get_conn(), who.system_id, subscription_id)
    return Response(status=204)
