"""Webhook subscriptions and at-least-once delivery of identity events from an outbox.

Identity events are fanned out to subscriptions by a database trigger, in the same
transaction that writes the event, so nothing is lost if the service stops. A worker
(:func:`deliver_due`, run by ``mpi webhooks deliver``) POSTs each payload, signed with
HMAC-SHA256, and retries failures with exponential backoff until ``max_attempts``.

Receivers verify ``X-MPI-Signature: sha256=<hex>`` over ``<X-MPI-Timestamp>.<body>``
with their secret, and de-duplicate on ``X-MPI-Delivery`` (delivery is at least once).

A webhook must not be a way into the network the MPI runs in (server-side request
forgery). A :class:`WebhookPolicy` checks every target, at subscription and again before
each delivery: https only (plain http only in development, ``MPI_WEBHOOK_ALLOW_HTTP``),
and every address the host resolves to must be a public unicast address (no loopback,
link-local, private, shared, multicast, reserved or unspecified address, IPv4 or IPv6,
IPv4-mapped and 6to4 included), unless the host is one the administrator named
(``MPI_WEBHOOK_ALLOW_HOSTS``). A delivery connects to the address that was checked (TLS
still verifies the host name), so a name that resolves elsewhere a second time (DNS
rebinding) gains nothing, and redirects are not followed.

A subscription may instead name an MLLP receiver (``mllp://`` or ``mllps://``, added by an
administrator with ``mpi systems hl7-subscribe``): the same outbox rows are then sent as
HL7 v2 notifications (:mod:`mpi.hl7.notify`, IHE ITI-10) with the same retries. Such a
target is an administrator's choice (an integration engine inside the network), so the
address check above does not apply to it; systems cannot add one through the API.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import secrets
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import psycopg

from mpi.config import Settings
from mpi.errors import InvalidInput, NotFound
from mpi.hl7 import notify
from mpi.store import webhooks as webhook_store
from mpi.store.webhooks import Subscription


@dataclass(frozen=True, slots=True)
class Target:
    """A checked webhook target: the URL, and the address a delivery connects to."""

    url: str
    scheme: str
    host: str
    port: int
    address: str
    path: str


#: ``sender(target, body, headers) -> HTTP status``; raises ``OSError`` on network failure.
Sender = Callable[[Target, bytes, Mapping[str, str]], int]


class DeliveryError(OSError):
    """Raised by :func:`http_sender` when no HTTP status came back; the message says why."""


def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the system resolver; IP literals as they are).

    Raises:
        OSError: the name does not resolve.
    """
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


_REFUSED = (
    ("is_unspecified", "unspecified"),
    ("is_loopback", "loopback"),
    ("is_link_local", "link-local"),
    ("is_multicast", "multicast"),
    ("is_private", "private"),
    ("is_reserved", "reserved"),
    ("is_site_local", "site-local"),
)


def address_problem(address: str) -> str | None:
    """Why a webhook may not be sent to this IP address, or ``None`` if it is public.

    Uses :mod:`ipaddress`: an IPv4 address inside an IPv6 one (IPv4-mapped, 6to4) is
    judged as itself.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # without an IPv6 zone (fe80::1%eth0)
    inner = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        inner += [v4 for v4 in (ip.ipv4_mapped, ip.sixtofour) if v4 is not None]
    for candidate in inner:
        for attribute, label in _REFUSED:
            if getattr(candidate, attribute, False):
                return f"resolves to {address}, a {label} address"
        if not candidate.is_global:
            return f"resolves to {address}, which is not a public address"
    return None


@dataclass(frozen=True, slots=True)
class WebhookPolicy:
    """Where webhooks may go (see the module docstring).

    Attributes:
        allow_hosts: host names (or IP literals) an administrator allows although they are
            internal; their addresses are not checked.
        allow_http: plain http is accepted too (development only).
        resolver: ``resolver(host, port) -> addresses``; ``None`` uses :func:`resolve_host`.
    """

    allow_hosts: frozenset[str] = frozenset()
    allow_http: bool = False
    resolver: Callable[[str, int], list[str]] | None = field(default=None, compare=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookPolicy:
        """The policy the settings give (``MPI_WEBHOOK_ALLOW_HOSTS``, ``..._ALLOW_HTTP``)."""
        return cls(settings.webhook_allow_hosts, settings.webhook_allow_http)

    def target(self, url: object) -> Target:
        """Check a URL and resolve its host; the target to connect to.

        Raises:
            InvalidInput: the URL may not be a webhook target (field ``url``, saying why).
        """
        if not isinstance(url, str):
            raise InvalidInput.single("url", "must be an absolute https:// URL")
        if len(url) > 2000:
            raise InvalidInput.single("url", "must be at most 2000 characters")
        schemes = ("https", "http") if self.allow_http else ("https",)
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise InvalidInput.single("url", "is not a valid URL") from None
        if parts.scheme not in schemes or not parts.hostname:
            need = (
                "an absolute http:// or https:// URL"
                if self.allow_http
                else (
                    "an absolute https:// URL (plain http is for development only:"
                    " MPI_WEBHOOK_ALLOW_HTTP)"
                )
            )
            raise InvalidInput.single("url", f"must be {need}")
        host = parts.hostname.rstrip(".")
        shown = host if len(host) <= 100 else host[:100] + "..."
        port = port or (443 if parts.scheme == "https" else 80)
        resolver = self.resolver or resolve_host
        try:
            addresses = resolver(host, port)
        except (OSError, UnicodeError, ValueError):
            addresses = []
        if not addresses:
            raise InvalidInput.single("url", f"host {shown!r} does not resolve")
        if host.lower() not in self.allow_hosts:
            for address in addresses:
                problem = address_problem(address)
                if problem:
                    raise InvalidInput.single(
                        "url",
                        f"host {shown!r} {problem}; an administrator may allow internal"
                        " hosts by name (MPI_WEBHOOK_ALLOW_HOSTS)",
                    )
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        return Target(url, parts.scheme, host, port, addresses[0], path)


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """What one pass of the worker did."""

    delivered: int = 0
    retrying: int = 0
    dead: int = 0


def subscribe(
    conn: psycopg.Connection[Any],
    system_id: int,
    url: str,
    *,
    all_events: bool = False,
    policy: WebhookPolicy | None = None,
) -> Subscription:
    """Add a subscription with a fresh secret (returned once, in the result).

    Raises:
        InvalidInput: the URL may not be a webhook target under ``policy`` (default: the
            strict one, https to public addresses only).
    """
    (policy or WebhookPolicy()).target(url)
    return webhook_store.add(conn, system_id, url, secrets.token_urlsafe(32), all_events)


def subscriptions(conn: psycopg.Connection[Any], system_id: int) -> list[Subscription]:
    """A system's active subscriptions."""
    return webhook_store.of_system(conn, system_id)


def subscribe_hl7(
    conn: psycopg.Connection[Any], system_id: int, receiver: str, *, tls: bool = False
) -> Subscription:
    """Send the system's identity changes as HL7 v2 notifications to ``HOST:PORT``.

    Raises:
        InvalidInput: ``receiver`` is not ``HOST:PORT`` (field ``receiver``).
    """
    try:
        url = notify.target_url(receiver, tls=tls)
    except ValueError as exc:
        raise InvalidInput.single("receiver", str(exc)) from None
    return webhook_store.add(conn, system_id, url, secrets.token_urlsafe(32), False)


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


def http_sender(
    target: Target, body: bytes, headers: Mapping[str, str], *, ca_certs: str | None = None
) -> int:
    """POST to the checked address of the target (5 s timeouts, no redirects followed, TLS
    verified against the host name); return the HTTP status.

    urllib3 connects to a given address while sending the host's name for TLS (SNI and
    certificate check) and in ``Host``, which the standard library's clients cannot do
    without subclassing.

    Args:
        ca_certs: a CA bundle file to trust instead of the system's (tests, private CAs).

    Raises:
        DeliveryError: no HTTP status came back (refused, timed out, TLS failed ...).
    """
    import urllib3

    default_port = 443 if target.scheme == "https" else 80
    host_header = target.host if ":" not in target.host else f"[{target.host}]"
    if target.port != default_port:
        host_header += f":{target.port}"
    timeout = urllib3.Timeout(connect=5.0, read=5.0)
    pool: urllib3.HTTPConnectionPool
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            target.address,
            target.port,
            timeout=timeout,
            retries=False,
            cert_reqs="CERT_REQUIRED",
            ca_certs=ca_certs,
            server_hostname=target.host,
            assert_hostname=target.host,
        )
    else:
        pool = urllib3.HTTPConnectionPool(
            target.address, target.port, timeout=timeout, retries=False
        )
    try:
        response = pool.urlopen(
            "POST",
            target.path,
            body=body,
            headers={**headers, "Host": host_header},
            redirect=False,
            retries=False,
            assert_same_host=False,
        )
        return int(response.status)
    except urllib3.exceptions.HTTPError as exc:
        raise DeliveryError(type(exc).__name__) from exc
    finally:
        pool.close()


def deliver_due(
    conn: psycopg.Connection[Any],
    sender: Sender = http_sender,
    *,
    limit: int = 100,
    max_attempts: int = 10,
    policy: WebhookPolicy | None = None,
    mllp_sender: notify.MllpSender = notify.mllp_sender,
) -> DeliveryReport:
    """Send every due delivery once, in the caller's transaction (commit afterwards).

    An MLLP subscription's row is sent by ``mllp_sender`` as the HL7 v2 messages
    :func:`mpi.hl7.notify.notifications` makes of it (none: delivered at once).

    Each target is checked again under ``policy`` (default: the strict one) and resolved
    now; the sender connects to the address checked. A refused target is a failed
    attempt (``refused: ...``), retried like any other. Rows are locked with SKIP LOCKED,
    so several workers can run side by side.
    """
    policy = policy or WebhookPolicy()
    delivered = retrying = dead = 0
    for item in webhook_store.due(conn, limit):
        if notify.is_mllp(item.url):
            error = _notify(conn, item, mllp_sender)
            delivered, retrying, dead = _settle(
                conn, item, error, max_attempts, (delivered, retrying, dead)
            )
            continue
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
            status = sender(policy.target(item.url), body, headers)
            error = None if 200 <= status < 300 else f"HTTP {status}"
        except InvalidInput as exc:
            error = f"refused: {exc}"
        except DeliveryError as exc:
            error = str(exc)
        except OSError as exc:
            error = f"{type(exc).__name__}"
        delivered, retrying, dead = _settle(
            conn, item, error, max_attempts, (delivered, retrying, dead)
        )
    return DeliveryReport(delivered, retrying, dead)


def _notify(
    conn: psycopg.Connection[Any], item: webhook_store.Delivery, sender: notify.MllpSender
) -> str | None:
    """Send one outbox row as HL7 v2 notifications; why it failed, or ``None``."""
    messages = notify.notifications(conn, item.system_id, item.system_code, item.id, item.payload)
    if not messages:
        return None
    try:
        sender(item.url, messages)
    except OSError as exc:
        return str(exc) or type(exc).__name__
    return None


def _settle(
    conn: psycopg.Connection[Any],
    item: webhook_store.Delivery,
    error: str | None,
    max_attempts: int,
    counts: tuple[int, int, int],
) -> tuple[int, int, int]:
    """Record one attempt: delivered, retried later with backoff, or given up."""
    delivered, retrying, dead = counts
    if error is None:
        webhook_store.mark_delivered(conn, item.id)
        return delivered + 1, retrying, dead
    if item.attempts + 1 >= max_attempts:
        webhook_store.mark_failed(conn, item.id, error, None)
        return delivered, retrying, dead + 1
    webhook_store.mark_failed(conn, item.id, error, backoff(item.attempts + 1))
    return delivered, retrying + 1, dead
