"""A database that cannot take writes (read-only, disk full) is a 503 to retry, with
nothing half-written, and the service works again once the database does."""

from __future__ import annotations

import psycopg
import pytest
from fhir.resources.R4B.operationoutcome import OperationOutcome

from tests.api.conftest import alice, count
from tests.api.test_fhir import GP_URI, patient

TABLES = ("source_record", "link", "person", "identity_event", "audit_event")


def _counts(db_url):
    return {t: count(db_url, t) for t in TABLES}


def _register(client, systems, local_id):
    return client.put(
        f"/v1/systems/GP/records/{local_id}", json=alice(), headers=systems.headers("GP")
    )


def test_a_read_only_database_is_a_503_with_nothing_written(one_connection_app, systems, db_url):
    client = one_connection_app.test_client()
    assert _register(client, systems, "G1").status_code in (200, 201)
    before = _counts(db_url)
    pool = one_connection_app.extensions["mpi_pool"]
    with pool.connection() as conn:  # as a primary turned standby, or an operator, would
        conn.execute("SET SESSION default_transaction_read_only = on")
        conn.commit()
    for r in (
        _register(client, systems, "G2"),
        client.get("/v1/systems/GP/records/G1", headers=systems.headers("GP")),  # audited read
    ):
        assert r.status_code == 503, r.data[:300]
        assert r.headers["Retry-After"] == "1"
        assert r.content_type == "application/problem+json"
    assert _counts(db_url) == before
    with pool.connection() as conn:
        conn.execute("SET SESSION default_transaction_read_only = off")
        conn.commit()
    assert _register(client, systems, "G2").status_code in (200, 201)


@pytest.fixture
def full_disk(db_url):
    """Every new record fails as a full disk fails a write (SQLSTATE 53100)."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION test_disk_full() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN RAISE EXCEPTION 'could not extend file' USING ERRCODE = 'disk_full'; END $$;"
            " CREATE TRIGGER test_disk_full BEFORE INSERT ON source_record"
            " FOR EACH ROW EXECUTE FUNCTION test_disk_full()"
        )
    yield
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("DROP TRIGGER test_disk_full ON source_record; DROP FUNCTION test_disk_full()")


def test_a_full_disk_is_a_503_with_nothing_written(app, systems, db_url, full_disk):
    client = app.test_client()
    before = _counts(db_url)
    r = _register(client, systems, "G1")
    assert r.status_code == 503 and r.headers["Retry-After"] == "1", r.data[:300]
    fhir = client.put(
        f"/fhir/Patient?identifier={GP_URI}|G1",
        json=patient(GP_URI, "G1"),
        headers=systems.headers("GP") | {"Content-Type": "application/fhir+json"},
    )
    assert fhir.status_code == 503 and fhir.content_type == "application/fhir+json"
    assert OperationOutcome.model_validate(fhir.json).issue[0].code == "transient"
    after = _counts(db_url)
    assert after.pop("audit_event") == before.pop("audit_event") + 2  # the refusals, audited
    assert after == before
    assert count(db_url, "audit_event", "http_status = 503") == 2
