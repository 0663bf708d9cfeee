"""Identity events for viewers, and webhooks: signed, at least once, retried, durable."""

from __future__ import annotations

import hmac
import json
import socket

import psycopg
import pytest

from mpi import webhooks
from mpi.config import Settings, load_settings
from mpi.store import webhooks as webhook_store
from tests.api.conftest import alice

#: A public address (outside every special-purpose range) for the receivers' names below;
#: nothing is ever sent to it (deliveries to these names go to a fake receiver).
PUBLIC = "93.184.215.14"


class FakeDns:
    """The resolver the webhook checks use, with names of our own (other names resolve as
    usual, so ``localhost`` and IP literals behave as on any machine)."""

    def __init__(self) -> None:
        self.names = {"hosp.example": [PUBLIC], "hooks.internal": ["10.20.30.40"]}

    def __call__(self, host: str, port: int) -> list[str]:
        if host in self.names:
            return list(self.names[host])
        return _real_resolve(host, port)


_real_resolve = webhooks.resolve_host


@pytest.fixture(autouse=True)
def dns(monkeypatch) -> FakeDns:
    fake = FakeDns()
    monkeypatch.setattr(webhooks, "resolve_host", fake)
    return fake


def _dev_settings(db_url: str, **changes) -> Settings:
    """Development settings for webhooks to a local receiver: plain http, 127.0.0.1 allowed."""
    base = {"webhook_allow_http": True, "webhook_allow_hosts": frozenset({"127.0.0.1"})}
    return Settings(database_url=db_url, environment="test", **{**base, **changes})


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

    def __call__(self, target, body, headers):
        self.calls.append((target.url, body, dict(headers)))
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
    for url in ("ftp://x", "not a url", 42, "https://", "https://hosp.example:99999/"):
        r = client.post("/v1/subscriptions", json={"url": url}, headers=systems.headers("HOSP"))
        assert r.status_code == 400 and r.json["errors"][0]["field"] == "url"


def test_backoff_grows_and_is_capped():
    assert [webhooks.backoff(n) for n in (1, 2, 3)] == [5.0, 10.0, 20.0]
    assert webhooks.backoff(50) == 3600.0


def test_a_delivery_pending_before_a_restart_is_delivered_after(make_app, systems, db_url):
    """Real HTTP: the receiver is down, the service and worker stop; after a restart the
    worker (``mpi webhooks deliver``) sends the pending delivery, signed. The receiver is
    on 127.0.0.1 over plain http: development settings, given explicitly."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from click.testing import CliRunner

    from mpi.cli import main

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = make_app(SETTINGS=_dev_settings(db_url))
    client = app.test_client()
    r = client.post(
        "/v1/subscriptions",
        json={"url": f"http://127.0.0.1:{port}/hook"},
        headers=systems.headers("HOSP"),
    )
    secret = r.json["secret"]
    client.put("/v1/systems/HOSP/records/H1", json=alice(), headers=systems.headers("HOSP"))
    assert r.status_code == 201, r.json
    runner = CliRunner()
    env = {
        "DATABASE_URL": db_url,
        "MPI_WEBHOOK_ALLOW_HTTP": "true",
        "MPI_WEBHOOK_ALLOW_HOSTS": "127.0.0.1",
    }
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


# Finding 5 (issue 10): webhook targets must not reach internal addresses (SSRF).

INTERNAL = [
    "https://127.0.0.1/hook",
    "https://127.8.9.10:8443/hook",
    "https://localhost/hook",
    "https://2130706433/hook",  # 127.0.0.1 as one number
    "https://169.254.169.254/latest/meta-data/",
    "https://10.1.2.3/hook",
    "https://172.16.0.1/hook",
    "https://192.168.1.1/hook",
    "https://100.64.0.1/hook",  # shared address space (carrier-grade NAT)
    "https://0.0.0.0/hook",
    "https://224.0.0.1/hook",
    "https://240.0.0.1/hook",
    "https://[::1]/hook",
    "https://[::]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://[::ffff:169.254.169.254]/hook",
    "https://[2002:7f00:1::]/hook",  # 6to4 around 127.0.0.1
    "https://[fe80::1]/hook",
    "https://[fc00::1]/hook",
    "https://[fec0::1]/hook",
    "https://[ff02::1]/hook",
    "https://hooks.internal/hook",  # a name resolving to a private address
]


@pytest.mark.parametrize("url", INTERNAL)
def test_subscriptions_to_internal_addresses_are_refused(client, systems, url):
    r = client.post("/v1/subscriptions", json={"url": url}, headers=systems.headers("HOSP"))
    assert r.status_code == 400, r.json
    assert r.mimetype == "application/problem+json"
    assert r.json["errors"][0]["field"] == "url"
    assert "address" in r.json["errors"][0]["reason"]
    listed = client.get("/v1/subscriptions", headers=systems.headers("HOSP")).json
    assert listed["subscriptions"] == []


def test_plain_http_only_with_the_development_setting(make_app, systems, db_url):
    strict = make_app().test_client()
    r = strict.post(
        "/v1/subscriptions", json={"url": "http://hosp.example/"}, headers=systems.headers("HOSP")
    )
    assert r.status_code == 400 and r.json["errors"][0]["field"] == "url"
    assert "https" in r.json["errors"][0]["reason"]
    dev = make_app(SETTINGS=_dev_settings(db_url)).test_client()
    ok = dev.post(
        "/v1/subscriptions", json={"url": "http://hosp.example/"}, headers=systems.headers("HOSP")
    )
    assert ok.status_code == 201
    for url in ("http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/"):
        refused = dev.post("/v1/subscriptions", json={"url": url}, headers=systems.headers("HOSP"))
        assert refused.status_code == 400, url  # http allowed; internal addresses still not


def test_an_administrator_allows_named_internal_hosts(make_app, systems, db_url):
    settings = Settings(
        database_url=db_url, environment="test", webhook_allow_hosts=frozenset({"hooks.internal"})
    )
    client = make_app(SETTINGS=settings).test_client()
    ok = client.post(
        "/v1/subscriptions",
        json={"url": "https://hooks.internal/mpi"},
        headers=systems.headers("HOSP"),
    )
    assert ok.status_code == 201, ok.json
    other = client.post(
        "/v1/subscriptions",
        json={"url": "https://10.20.30.40/mpi"},
        headers=systems.headers("HOSP"),
    )
    assert other.status_code == 400  # the name is allowed, not its address


def test_the_settings_come_from_the_environment():
    settings = load_settings(
        {
            "MPI_WEBHOOK_ALLOW_HOSTS": "Hooks.Internal., epr.trust.nhs.uk",
            "MPI_WEBHOOK_ALLOW_HTTP": "true",
        }
    )
    assert settings.webhook_allow_hosts == {"hooks.internal", "epr.trust.nhs.uk"}
    assert settings.webhook_allow_http is True
    defaults = load_settings({})
    assert defaults.webhook_allow_hosts == frozenset() and defaults.webhook_allow_http is False
    from mpi.errors import ConfigError

    with pytest.raises(ConfigError, match="MPI_WEBHOOK_ALLOW_HTTP"):
        load_settings({"MPI_WEBHOOK_ALLOW_HTTP": "perhaps"})


def test_a_name_rebound_to_an_internal_address_is_refused_at_delivery(client, systems, db_url, dns):
    """DNS rebinding: public at subscription, loopback at delivery. Nothing is sent."""
    sub = _subscribe(client, systems)
    client.put("/v1/systems/HOSP/records/H1", json=alice(), headers=systems.headers("HOSP"))
    dns.names["hosp.example"] = ["127.0.0.1"]
    receiver = Receiver()
    with psycopg.connect(db_url) as conn:
        report = webhooks.deliver_due(conn, receiver)
        rows = webhook_store.outbox_status(conn, sub["id"])
    assert receiver.calls == [] and report.delivered == 0 and report.retrying == 2
    assert all(r["last_error"].startswith("refused: url: host 'hosp.example'") for r in rows)
    assert "loopback" in rows[0]["last_error"]
    dns.names["hosp.example"] = [PUBLIC, "::ffff:10.0.0.1"]  # one internal answer is enough
    _due_now(db_url)
    with psycopg.connect(db_url) as conn:
        assert webhooks.deliver_due(conn, receiver).retrying == 2
    assert receiver.calls == []


def test_a_development_subscription_is_refused_by_a_strict_worker(make_app, systems, db_url):
    dev = make_app(SETTINGS=_dev_settings(db_url)).test_client()
    r = dev.post(
        "/v1/subscriptions",
        json={"url": "http://127.0.0.1:9/hook"},
        headers=systems.headers("HOSP"),
    )
    assert r.status_code == 201
    dev.put("/v1/systems/HOSP/records/H1", json=alice(), headers=systems.headers("HOSP"))
    receiver = Receiver()
    with psycopg.connect(db_url) as conn:
        assert webhooks.deliver_due(conn, receiver).retrying == 2  # the default policy
        rows = webhook_store.outbox_status(conn, r.json["id"])
    assert receiver.calls == [] and "https" in rows[0]["last_error"]


class _Recorder:
    """A real HTTP server on 127.0.0.1 that records requests and answers ``status``."""

    def __init__(self, status: int = 204, location: str | None = None) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, HTTPServer

        seen = self.seen = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server name
                self.rfile.read(int(self.headers["Content-Length"]))
                seen.append((self.path, self.headers["Host"]))
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_the_sender_connects_to_the_checked_address_and_follows_no_redirect():
    """The name is not resolved again when sending: a target checked as 127.0.0.1 goes to
    127.0.0.1 whatever the name says, with the name in Host; a redirect is not followed."""
    second = _Recorder()
    first = _Recorder(302, f"http://127.0.0.1:{second.port}/elsewhere")
    try:
        target = webhooks.Target(
            url=f"http://rebind.invalid:{first.port}/hook?x=1",
            scheme="http",
            host="rebind.invalid",
            port=first.port,
            address="127.0.0.1",
            path="/hook?x=1",
        )
        status = webhooks.http_sender(target, b"{}", {"Content-Type": "application/json"})
    finally:
        first.close()
        second.close()
    assert status == 302
    assert first.seen == [("/hook?x=1", f"rebind.invalid:{first.port}")]
    assert second.seen == []


def test_an_unreachable_receiver_is_a_delivery_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here
    target = webhooks.Target(
        f"http://127.0.0.1:{port}/", "http", "127.0.0.1", port, "127.0.0.1", "/"
    )
    with pytest.raises(webhooks.DeliveryError, match="Error"):
        webhooks.http_sender(target, b"{}", {})


@pytest.fixture
def tls_receiver():
    """A real HTTPS receiver on 127.0.0.1 with a certificate for ``hooks.test`` from a test
    CA (trustme); yields (port, CA bundle path, requests seen)."""
    import ssl
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    import trustme

    ca = trustme.CA()
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server name
            self.rfile.read(int(self.headers["Content-Length"]))
            seen.append(self.headers["Host"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("hooks.test").configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with ca.cert_pem.tempfile() as bundle:
        try:
            yield server.server_address[1], bundle, seen
        finally:
            server.shutdown()
            server.server_close()


def test_tls_is_verified_against_the_host_name_at_the_checked_address(tls_receiver):
    """Connected to the checked address, the certificate must still be the host's."""
    port, bundle, seen = tls_receiver

    def target(host: str) -> webhooks.Target:
        return webhooks.Target(f"https://{host}:{port}/h", "https", host, port, "127.0.0.1", "/h")

    assert webhooks.http_sender(target("hooks.test"), b"{}", {}, ca_certs=bundle) == 204
    assert seen == [f"hooks.test:{port}"]
    with pytest.raises(webhooks.DeliveryError):  # another name at the same address
        webhooks.http_sender(target("other.test"), b"{}", {}, ca_certs=bundle)
    with pytest.raises(webhooks.DeliveryError):  # a CA the system does not trust
        webhooks.http_sender(target("hooks.test"), b"{}", {})
    assert len(seen) == 1
