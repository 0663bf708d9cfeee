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


def test_a_delivery_pending_before_a_restart_is_delivered_after(app, client, systems, db_url):
    """Real HTTP: the receiver is down, the service and worker stop; after a restart the
    worker (``mpi webhooks deliver``) sends the pending delivery, signed."""
    import socket
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from click.testing import CliRunner

    from mpi.cli import main

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = client.post(
        "/v1/subscriptions",
        json={"url": f"http://127.0.0.1:{port}/hook"},
        headers=systems.headers("HOSP"),
    )
    secret = r.json["secret"]
    client.put("/v1/systems/HOSP/records/H1", json=alice(), headers=systems.headers("HOSP"))
    runner = CliRunner()
    env = {"DATABASE_URL": db_url}
    down = runner.invoke(main, ["webhooks", "deliver"], env=env)
    assert down.exit_code == 0 and "retrying 2" in down.output, down.output
    with psycopg.connect(db_url) as conn:
        pending = webhook_store.outbox_status(conn, r.json["id"])
    assert [p["status"] for p in pending] == ["pending", "pending"]
    app.extensions["mpi_pool"].close()  # the service stops; the outbox is in the database

    received: list[tuple[dict, bytes]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    HTTPServer.allow_reuse_address = True
    server = HTTPServer(("127.0.0.1", port), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        _due_now(db_url)
        up = runner.invoke(main, ["webhooks", "deliver"], env=env)
        assert up.exit_code == 0 and "delivered 2" in up.output, up.output
    finally:
        server.shutdown()
        server.server_close()
    assert sorted(int(h["x-mpi-delivery"]) for h, _ in received) == sorted(p["id"] for p in pending)
    for headers, body in received:
        expected = hmac.new(
            secret.encode(), headers["x-mpi-timestamp"].encode() + b"." + body, "sha256"
        ).hexdigest()
        assert headers["x-mpi-signature"] == f"sha256={expected}"
        assert json.loads(body)["person_id"]
    with psycopg.connect(db_url) as conn:
        rows = webhook_store.outbox_status(conn, r.json["id"])
    assert [p["status"] for p in rows] == ["delivered", "delivered"]


def test_a_moved_record_and_a_merge_reach_viewers_as_events(client, systems):
    """A record updated to another person's details moves; its emptied person is merged.
    The viewer's events say so, and the old person ID points to the survivor."""
    bob = alice(3, given_name="Robert", family_name="Jones", birth_date="1961-06-01")
    bob.update(postcode="BD7 1DP", address_line="2 Mill Lane, Bradford", phone="01274 000000")
    gp = systems.headers("GP")
    old = client.put("/v1/systems/GP/records/G1", json=alice(), headers=gp).json["person_id"]
    new = client.put("/v1/systems/HOSP/records/H9", json=bob, headers=systems.headers("HOSP")).json[
        "person_id"
    ]
    cursor = client.get("/v1/events", headers=gp).json["next"]
    moved = client.put("/v1/systems/GP/records/G1", json=bob, headers=gp)
    assert moved.json["person_id"] == new
    events = client.get(f"/v1/events?after={cursor}", headers=gp).json["events"]
    kinds = {e["type"]: e for e in events}
    assert kinds["record_moved"]["person_id"] == new
    assert kinds["record_moved"]["other_person_id"] == old
    assert kinds["record_moved"]["record"] == {"system": "GP", "local_id": "G1"}
    assert kinds["persons_merged"]["other_person_id"] == old
    person = client.get(f"/v1/persons/{old}", headers=gp).json
    assert person["status"] == "merged" and person["merged_into"] == new
    fhir = client.get(f"/fhir/Patient/{old}", headers=gp).json
    assert fhir["active"] is False
    assert fhir["link"] == [{"other": {"reference": f"Patient/{new}"}, "type": "replaced-by"}]


def test_a_delivery_sent_but_not_committed_is_sent_again(client, systems, db_url):
    """At least once: a worker that dies after sending, before committing, leaves the
    delivery pending; the next worker sends it again with the same X-MPI-Delivery."""
    _subscribe(client, systems)
    client.put("/v1/systems/HOSP/records/H1", json=alice(), headers=systems.headers("HOSP"))
    first = Receiver()
    with psycopg.connect(db_url) as conn:
        assert webhooks.deliver_due(conn, first).delivered == 2
        conn.rollback()  # the worker died before its commit
    second = Receiver()
    with psycopg.connect(db_url) as conn:
        assert webhooks.deliver_due(conn, second).delivered == 2
    ids = sorted(c[2]["X-MPI-Delivery"] for c in first.calls)
    assert ids == sorted(c[2]["X-MPI-Delivery"] for c in second.calls)
    with psycopg.connect(db_url) as conn:
        assert webhooks.deliver_due(conn, Receiver()).delivered == 0
