"""SQL for webhook subscriptions and the delivery outbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row, dict_row


@dataclass(frozen=True, slots=True)
class Subscription:
    """A system's webhook: where to POST identity events, and the signing secret."""

    id: int
    system_id: int
    url: str
    secret: str
    all_events: bool
    active: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Delivery:
    """One pending outbox row with what is needed to send it."""

    id: int
    subscription_id: int
    event_id: int
    payload: dict[str, Any]
    attempts: int
    url: str
    secret: str
    system_id: int = 0
    system_code: str = ""


_SUB = "SELECT id, system_id, url, secret, all_events, active, created_at FROM webhook_subscription"


def add(
    conn: psycopg.Connection[Any], system_id: int, url: str, secret: str, all_events: bool
) -> Subscription:
    """Insert a subscription."""
    with conn.cursor(row_factory=class_row(Subscription)) as cur:
        row = cur.execute(
            "INSERT INTO webhook_subscription (system_id, url, secret, all_events)"
            " VALUES (%s, %s, %s, %s)"
            " RETURNING id, system_id, url, secret, all_events, active, created_at",
            (system_id, url, secret, all_events),
        ).fetchone()
    assert row is not None
    return row


def of_system(conn: psycopg.Connection[Any], system_id: int) -> list[Subscription]:
    """A system's active subscriptions."""
    with conn.cursor(row_factory=class_row(Subscription)) as cur:
        return cur.execute(
            _SUB + " WHERE system_id = %s AND active ORDER BY id", (system_id,)
        ).fetchall()


def deactivate(conn: psycopg.Connection[Any], system_id: int, subscription_id: int) -> bool:
    """Switch off a system's subscription and drop its pending deliveries."""
    cur = conn.execute(
        "UPDATE webhook_subscription SET active = false"
        " WHERE id = %s AND system_id = %s AND active",
        (subscription_id, system_id),
    )
    if cur.rowcount == 0:
        return False
    conn.execute(
        "UPDATE webhook_outbox SET status = 'dead', last_error = 'unsubscribed'"
        " WHERE subscription_id = %s AND status = 'pending'",
        (subscription_id,),
    )
    return True


def due(conn: psycopg.Connection[Any], limit: int) -> list[Delivery]:
    """Pending deliveries whose time has come, locked (skipping rows other workers hold)."""
    with conn.cursor(row_factory=class_row(Delivery)) as cur:
        return cur.execute(
            "SELECT o.id, o.subscription_id, o.event_id, o.payload, o.attempts, w.url, w.secret,"
            " w.system_id, s.code AS system_code"
            " FROM webhook_outbox o JOIN webhook_subscription w ON w.id = o.subscription_id"
            " JOIN source_system s ON s.id = w.system_id"
            " WHERE o.status = 'pending' AND o.next_attempt_at <= now()"
            " ORDER BY o.id LIMIT %s FOR UPDATE OF o SKIP LOCKED",
            (limit,),
        ).fetchall()


def mark_delivered(conn: psycopg.Connection[Any], delivery_id: int) -> None:
    """Record a successful delivery."""
    conn.execute(
        "UPDATE webhook_outbox SET status = 'delivered', attempts = attempts + 1,"
        " delivered_at = now(), last_error = NULL WHERE id = %s",
        (delivery_id,),
    )


def mark_failed(
    conn: psycopg.Connection[Any], delivery_id: int, error: str, retry_in: float | None
) -> None:
    """Record a failed attempt: retry after ``retry_in`` seconds, or give up (``None``)."""
    conn.execute(
        "UPDATE webhook_outbox SET attempts = attempts + 1, last_error = %s,"
        " status = CASE WHEN %s::float8 IS NULL THEN 'dead' ELSE 'pending' END,"
        " next_attempt_at = now() + make_interval(secs => coalesce(%s::float8, 0))"
        " WHERE id = %s",
        (error[:500], retry_in, retry_in, delivery_id),
    )


def outbox_status(conn: psycopg.Connection[Any], subscription_id: int) -> list[dict[str, Any]]:
    """A subscription's outbox rows (for tests and operators), oldest first."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT id, event_id, status, attempts, last_error, next_attempt_at, payload"
            " FROM webhook_outbox WHERE subscription_id = %s ORDER BY id",
            (subscription_id,),
        ).fetchall()
