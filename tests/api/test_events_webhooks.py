"""Identity events for viewers, and webhooks: signed, at least once, retried, durable."""

from __future__ import annotations

import hmac
import json

import psycopg

from mpi import webhooks
from mpi.store import webhooks as webhook_store
from tests.api.conftest import alice


def test_events_after_a_cursor_for_persons_the_caller_holds(client, systems):
    client.put("/v1/systems/GP/records/G1", json=alice(), headers=systems.headers("GP"))
    client.put("/v1/systems/HOSP/records/H1", json=alice(), headers=systems.headers("HOSP"))
    client.put(
        "/v1/systems/HOSP/records/H2",
        json=alice(7, given_name="Zed", family_name="Quill", birth_date="1999-09-09"),
        headers=systems.headers("HOSP"),
    )
    r = client.get("/v1/events", headers=systems.headers("GP"))
    assert r.status_code == 200
    types = [e["type"] for e in r.json["events"]]
    assert types[:2] == ["person_created", "record_linked"]
    assert all(e.get("record", {}).get("system", "GP") == "GP" for e in r.json["events"])
    assert len({e["person_id"] for e in r.json["events"]}) == 1  # not the hospital's other patient
    cursor = r.json["next"]
    assert (
        client.get(f"/v1/events?after={cursor}", headers=systems.headers("GP")).json["events"] == []
    )
    page = client.get("/v1/events?limit=1", headers=systems.headers("ADMIN")).json
    assert len(page["events"]) == 1 and page["next"] == page["events"][0]["id"]
    assert client.get("/v1/events?after=-1", headers=systems.headers("GP")).status_code == 400
    assert client.get("/v1/events", headers=systems.headers("VIEWER")).json["events"] == []


class Receiver:
    """A fake webhook receiver: fails the first ``failures`` calls, then accepts."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.calls: list[tuple[str, bytes, dict]] = []

    def __call__(self, url, body, headers):
        self.calls.append((url, body, dict(headers)))
        if len(self.calls) <= self.failures:
            raise ConnectionRefusedError("down")
        return 204


def _subscribe(client, systems, system="HOSP"):
    r = client.post(
        "/v1/subscriptions",
        json={"url": "https://hosp.example/hooks"},
        headers=systems.headers(system),
    )
    assert r.status_code == 201
    return r.json


def _due_now(url):
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE webhook_outbox SET next_attempt_at = now() - interval '1 second'")


def test_webhooks_are_signed_and_delivered_once_acknowledged(client, systems, db_url):
    sub = _subscribe(client, systems)
    assert "secret" in sub
    listed = client.get("/v1/subscriptions", headers=systems.headers("HOSP")).json["subscriptions"]
    assert [s["id"] for s in listed] == [sub["id"]] and "secret" not in listed[0]
    client.put("/v1/systems/HOSP/records/H1", json=alice(), headers=systems.headers("HOSP"))
    client.put("/v1/systems/GP/records/G1", json=alice(), headers=systems.headers("GP"))
    receiver = Receiver()
    with psycopg.connect(db_url) as conn:
        report = webhooks.deliver_due(conn, receiver)
    assert report.delivered == len(receiver.calls) >= 3
    url, body, headers = receiver.calls[-1]
    expected = hmac.new(
        sub["secret"].encode(), headers["X-MPI-Timestamp"].encode() + b"." + body, "sha256"
    ).hexdigest()
    assert headers["X-MPI-Signature"] == f"sha256={expected}"
    payload = json.loads(body)
    assert payload["type"] == "record_linked" and "record" not in payload  # GP's local ID hidden
    with psycopg.connect(db_url) as conn:
        assert webhooks.deliver_due(conn, receiver).delivered == 0  # nothing twice


def test_failed_deliveries_are_retried_with_backoff_and_survive_a_restart(client, systems, db_url):
    sub = _subscribe(client, systems)
    client.put("/v1/systems/HOSP/records/H1", json=alice(), headers=systems.headers("HOSP"))
    receiver = Receiver(failures=100)
    with psycopg.connect(db_url) as conn:
        first = webhooks.deliver_due(conn, receiver)
    assert first.retrying == 2 and first.delivered == 0
    with psycopg.connect(db_url) as conn:  # not due yet: backoff
        assert webhooks.deliver_due(conn, receiver).retrying == 0
        rows = webhook_store.outbox_status(conn, sub["id"])
    assert all(r["status"] == "pending" and r["attempts"] == 1 for r in rows)
    assert rows[0]["last_error"] == "ConnectionRefusedError"
    # "restart": a new worker with a healthy receiver picks the pending rows up
    _due_now(db_url)
    healthy = Receiver()
    with psycopg.connect(db_url) as conn:
        assert webhooks.deliver_due(conn, healthy).delivered == 2
        rows = webhook_store.outbox_status(conn, sub["id"])
    assert [r["status"] for r in rows] == ["delivered", "delivered"]
    assert len({c[2]["X-MPI-Delivery"] for c in healthy.calls}) == 2


def test_deliveries_give_up_after_max_attempts(client, systems, db_url):
    _subscribe(client, systems)
    client.put("/v1/systems/HOSP/records/H1", json=alice(), headers=systems.headers("HOSP"))
    receiver = Receiver(failures=100)
    for _ in range(3):
        _due_now(db_url)
        with psycopg.connect(db_url) as conn:
            report = webhooks.deliver_due(conn, receiver, max_attempts=3)
    assert report.dead == 2


def test_http_error_status_is_a_failure_and_unsubscribe_stops(client, systems, db_url):
    sub = _subscribe(client, systems)
    client.put("/v1/systems/HOSP/records/H1", json=alice(), headers=systems.headers("HOSP"))
    with psycopg.connect(db_url) as conn:
        assert webhooks.deliver_due(conn, lambda u, b, h: 500).retrying == 2
    r = client.delete(f"/v1/subscriptions/{sub['id']}", headers=systems.headers("HOSP"))
    assert r.status_code == 204
    assert (
        client.delete(f"/v1/subscriptions/{sub['id']}", headers=systems.headers("HOSP")).status_code
        == 404
    )
    _due_now(db_url)
    with psycopg.connect(db_url) as conn:
        assert webhooks.deliver_due(conn, Receiver()).delivered == 0


def test_subscription_url_is_validated(client, systems):
    for url in ("ftp://x", "not a url", 42):
        r = client.post("/v1/subscriptions", json={"url": url}, headers=systems.headers("HOSP"))
        assert r.status_code == 400 and r.json["errors"][0]["field"] == "url"


def test_backoff_grows_and_is_capped():
    assert [webhooks.backoff(n) for n in (1, 2, 3)] == [5.0, 10.0, 20.0]
    assert webhooks.backoff(50) == 3600.0
