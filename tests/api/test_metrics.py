"""``/metrics`` of a real ``mpi serve`` (two gunicorn workers), read with the Prometheus
client's own parser: figures of every worker added up, no patient data, scope needed."""

from __future__ import annotations

import urllib.error
import urllib.request

import psycopg
from prometheus_client.parser import text_string_to_metric_families

from mpi import access
from tests.api.conftest import alice, count
from tests.api.test_serve import SECRETS, _call, served  # noqa: F401 - the fixture

REGISTER = "/v1/systems/<system>/records/<local_id>"


def _scrape(base: str, token: str | None) -> tuple[int, str]:
    request = urllib.request.Request(base + "/metrics")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_add_up_every_worker_and_hold_no_patient_data(served, systems, db_url):  # noqa: F811
    base, _ = served
    with psycopg.connect(db_url) as conn:
        monitor = access.issue_token(conn, "VIEWER", ["metrics"], actor="test")
    gp, hosp = systems.tokens["GP"], systems.tokens["HOSP"]
    assert _call(base, "PUT", "/v1/systems/GP/records/LOCAL-77", gp, alice())[0] == 200
    for n in range(6):  # spread over both workers by the kernel
        assert _call(base, "PUT", f"/v1/systems/HOSP/records/H{n}", hosp, alice())[0] == 200
    assert _call(base, "PUT", "/v1/systems/GP/records/X", gp, alice(nhs_number="1"))[0] == 400

    assert _scrape(base, None)[0] == 401
    assert _scrape(base, gp)[0] == 403  # register and lookup are not metrics
    status, text = _scrape(base, monitor)
    assert status == 200, text
    samples = _samples(text)

    def value(name: str, **labels: str) -> float:
        return samples.get((name, frozenset(labels.items())), 0.0)

    assert value("mpi_http_requests_total", method="PUT", route=REGISTER, status="200") == 7
    assert value("mpi_http_requests_total", method="PUT", route=REGISTER, status="400") == 1
    assert value("mpi_registration_decisions_total", decision="new_person") == 1
    assert value("mpi_registration_decisions_total", decision="linked") == 6
    assert value("mpi_http_request_duration_seconds_count", method="PUT", route=REGISTER) == 8
    assert value("mpi_audit_events_appended_total") == count(db_url, "audit_event")
    assert value("mpi_review_queue_open") == count(db_url, "review_item", "status = 'open'")
    assert ("mpi_webhook_outbox_pending", frozenset()) in samples
    assert value("mpi_db_pool_connections", state="in_use") >= 0
    for secret in (*SECRETS, alice()["nhs_number"], "H1", "LOCAL-77"):
        assert secret not in text, secret
