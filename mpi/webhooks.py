"""Webhook subscriptions and at-least-once delivery of identity events from an outbox.

Identity events are fanned out to subscriptions by a database trigger, in the same
transaction that writes the event, so nothing is lost if the service stops. A worker
(:func:`deliver_due`, run by ``mpi webhooks deliver``) POSTs each payload, signed with
HMAC-SHA256, and retries failures with exponential backoff until ``max_attempts``.

Receivers verify ``X-MPI-Signature: sha256=<hex>`` over ``<X-MPI-Timestamp>.<body>``
with their secret, and de-duplicate on ``X-MPI-Delivery`` (delivery is at least once).
"""

from __future__ import annotations

import hmac
import json
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import psycopg

from mpi.errors import InvalidInput, NotFound
from mpi.store import webhooks as webhook_store
from mpi.store.webhooks import Subscription

#: ``sender(url, body, headers) -> HTTP status``; raises ``OSError`` on network failure.
Sender = Callable[[str, bytes, Mapping[str, str]], int]


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """What one pass of the worker did."""

    delivered: int = 0
    retrying: int = 0
    dead: int = 0


def subscribe(
    conn: psycopg.Connection[Any], system_id: int, url: str, *, all_events: bool = False
) -> Subscription:
    """Add a subscription with a fresh secret (returned once, in the result).

    Raises:
        InvalidInput: the URL is not an absolute http(s) URL.
    """
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput.single("url", "must be an absolute http:// or https:// URL")
    if len(url) > 2000:
        raise InvalidInput.single("url", "must be at most 2000 characters")
    return webhook_store.add(conn, system_id, url, secrets.token_urlsafe(32), all_events)


def unsubscribe(conn: psycopg.Connection[Any], system_id: int, subscription_id: int) -> None:
    """Switch off one of a system's subscriptions.

    Raises:
        NotFound: the system has no such active subscription.
    """
    if not webhook_store.deactivate(conn, system_id, subscription_id):
        raise NotFound(f"no subscription {subscription_id}")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value for a body sent at ``timestamp``."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, "sha256")
    return "sha256=" + mac.hexdigest()


def backoff(attempts: int, *, base: float = 5.0, cap: float = 3600.0) -> float:
    """Seconds to wait after ``attempts`` failed attempts: 5 s, 10 s, 20 s … capped at 1 h."""
    return float(min(cap, base * 2 ** max(attempts - 1, 0)))


def http_sender(url: str, body: bytes, headers: Mapping[str, str]) -> int:
    """POST with the standard library (5 s timeout); return the HTTP status."""
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def deliver_due(
    conn: psycopg.Connection[Any],
    sender: Sender = http_sender,
    *,
    limit: int = 100,
    max_attempts: int = 10,
) -> DeliveryReport:
    """Send every due delivery once, in the caller's transaction (commit afterwards).

    Rows are locked with SKIP LOCKED, so several workers can run side by side.
    """
    delivered = retrying = dead = 0
    for item in webhook_store.due(conn, limit):
        body = json.dumps(item.payload, sort_keys=True, separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-MPI-Delivery": str(item.id),
            "X-MPI-Event": str(item.event_id),
            "X-MPI-Timestamp": timestamp,
            "X-MPI-Signature": sign(item.secret, timestamp, body),
        }
        try:
            status = sender(item.url, body, headers)
            error = None if 200 <= status < 300 else f"HTTP {status}"
        except OSError as exc:
            error = f"{type(exc).__name__}"
        if error is None:
            webhook_store.mark_delivered(conn, item.id)
            delivered += 1
        elif item.attempts + 1 >= max_attempts:
            webhook_store.mark_failed(conn, item.id, error, None)
            dead += 1
        else:
            webhook_store.mark_failed(conn, item.id, error, backoff(item.attempts + 1))
            retrying += 1
    return DeliveryReport(delivered, retrying, dead)
