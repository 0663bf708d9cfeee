"""SQL for the monitoring figures: one cheap statement over partial indexes."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

_FIGURES = (
    (
        "review_queue_open",
        "Open review items",
        "SELECT count(*) FROM review_item WHERE status = 'open'",
    ),
    (
        "review_queue_oldest_seconds",
        "Age of the oldest open review item",
        "SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0) FROM review_item"
        " WHERE status = 'open'",
    ),
    (
        "webhook_outbox_pending",
        "Webhook deliveries waiting (including retries)",
        "SELECT count(*) FROM webhook_outbox WHERE status = 'pending'",
    ),
    (
        "webhook_outbox_retrying",
        "Webhook deliveries waiting after a failed attempt",
        "SELECT count(*) FROM webhook_outbox WHERE status = 'pending' AND attempts > 0",
    ),
    (
        "webhook_outbox_dead",
        "Webhook deliveries given up after every retry",
        "SELECT count(*) FROM webhook_outbox WHERE status = 'dead'",
    ),
)

_SQL = "SELECT " + ", ".join(f"({sql}) AS {name}" for name, _, sql in _FIGURES)


def figures(conn: psycopg.Connection[Any]) -> dict[str, tuple[str, float]]:
    """Each figure's help text and value."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(_SQL).fetchone()
    assert row is not None
    return {name: (text, float(row[name])) for name, text, _ in _FIGURES}
