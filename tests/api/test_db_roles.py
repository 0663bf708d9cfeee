"""Least-privilege database roles (`mpi db roles`, issue 10): the service role may add to
and read the audit trail, never change, remove or empty it; the whole service works as it;
the owner role owns the schema and runs the migrations."""

from __future__ import annotations

import psycopg
import pytest
from click.testing import CliRunner

from api import create_app
from mpi import audit, webhooks
from mpi.cli import main
from mpi.config import Settings
from mpi.store import migrate
from mpi.store import roles as role_store
from tests.api.conftest import alice
from tests.helpers import synthetic_nhs_number

GP_URI = "https://fhir.gp.example.nhs.uk/Id/patient-number"


def _entry() -> audit.AuditEntry:
    return audit.AuditEntry(action="test.roles", subtype="read", outcome="success", http_status=0)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_event SET outcome = 'denied'",
        "DELETE FROM audit_event",
        "TRUNCATE audit_event",
    ],
)
def test_the_service_role_cannot_update_delete_or_truncate_the_audit(db_roles, db_url, statement):
    with psycopg.connect(db_roles.service_url) as conn:
        audit.record(conn, _entry())  # INSERT: allowed
        conn.commit()
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as refused:
            conn.execute(statement)
        # refused by the missing privilege, before any trigger could run
        assert "permission denied for table audit_event" in str(refused.value)
        conn.rollback()
        assert conn.execute("SELECT count(*) FROM audit_event").fetchone() == (1,)
        assert audit.verify(conn).is_intact


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("SET session_replication_role = replica", "permission denied"),
        ("ALTER TABLE audit_event DISABLE TRIGGER ALL", "must be owner"),
        ("DROP TABLE audit_event", "must be owner"),
        ("DELETE FROM audit_chain", "permission denied for table audit_chain"),
        ("INSERT INTO audit_chain (chain) VALUES (64)", "permission denied for table audit_chain"),
        (
            "UPDATE identity_event SET event_type = 'x'",
            "permission denied for table identity_event",
        ),
        ("DELETE FROM link_history", "permission denied for table link_history"),
        ("TRUNCATE source_record", "permission denied for table source_record"),
        ("UPDATE audit_chain SET events = 0, last_id = NULL", "tails only move forward"),
    ],
)
def test_the_service_role_cannot_get_round_the_audit(db_roles, db_url, statement, message):
    with psycopg.connect(db_roles.service_url) as conn:
        audit.record(conn, _entry())
        conn.commit()
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match=message):
            conn.execute(statement)


def test_the_rights_are_as_documented(db_roles, db_url):
    with psycopg.connect(db_url) as conn:
        service = db_roles.service
        assert role_store.privileges(conn, service, "audit_event") == {"SELECT", "INSERT"}
        assert role_store.privileges(conn, service, "identity_event") == {"SELECT", "INSERT"}
        assert role_store.privileges(conn, service, "audit_chain") == {"SELECT", "UPDATE"}
        assert role_store.privileges(conn, service, "source_record") == {
            "SELECT",
            "INSERT",
            "UPDATE",
            "DELETE",
        }
        owners = conn.execute(
            "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
        assert owners == [(db_roles.owner,)]
        flags = conn.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolcanlogin FROM pg_roles"
            " WHERE rolname = ANY(%s)",
            ([db_roles.owner, db_roles.service],),
        ).fetchall()
        assert flags == [(False, False, False, True)] * 2


def test_roles_can_be_made_again_and_a_superuser_is_never_taken(db_roles, db_url):
    runner = CliRunner()
    env = {"DATABASE_URL": db_url}
    args = ["db", "roles", "--owner", db_roles.owner, "--service", db_roles.service]
    again = runner.invoke(main, args, env=env)
    assert again.exit_code == 0 and "created" not in again.output, again.output
    with psycopg.connect(db_url) as conn:
        me = conn.execute("SELECT current_user").fetchone()[0]
    taken = runner.invoke(
        main, ["db", "roles", "--service", me, "--owner", db_roles.owner], env=env
    )
    assert taken.exit_code == 1 and "is a superuser" in taken.output
    missing = runner.invoke(main, [*args, "--service-password-env", "NO_SUCH_VAR_X"], env=env)
    assert missing.exit_code == 1 and "NO_SUCH_VAR_X" in missing.output


def test_the_owner_runs_the_migrations(db_roles, db_url):
    assert migrate.upgrade(db_roles.owner_url) == []  # connects, locks, finds nothing to do
    with psycopg.connect(db_roles.owner_url) as conn:
        with conn.transaction(force_rollback=True):  # what a new migration would do
            conn.execute("ALTER TABLE audit_event ADD COLUMN test_only text")
            conn.execute("CREATE TABLE test_only_table (id int)")
            conn.execute(
                "CREATE OR REPLACE FUNCTION refuse_change() RETURNS trigger"
                " LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'x'; END $$"
            )
    result = CliRunner().invoke(main, ["db", "upgrade"], env={"DATABASE_URL": db_roles.owner_url})
    assert result.exit_code == 0, result.output


def test_the_whole_service_works_as_the_service_role(db_roles, db_url, systems, tmp_path):
    """The service's main paths, connected as the service role (the API suite runs whole
    as it with MPI_TEST_AS_SERVICE_ROLE=1)."""
    app = create_app(
        {
            "TESTING": True,
            "SETTINGS": Settings(database_url=db_roles.service_url, environment="test"),
            "POOL_MIN_SIZE": 1,
            "POOL_MAX_SIZE": 2,
        }
    )
    try:
        client = app.test_client()
        gp, hosp, admin = (systems.headers(s) for s in ("GP", "HOSP", "ADMIN"))
        subscribed = client.post(
            "/v1/subscriptions", json={"url": "https://93.184.215.14/hook"}, headers=hosp
        )
        assert subscribed.status_code == 201, subscribed.json
        r = client.put("/v1/systems/GP/records/G1", json=alice(), headers=gp)
        assert r.status_code in (200, 201), r.json
        pid = r.json["person_id"]
        assert (
            client.put("/v1/systems/HOSP/records/H1", json=alice(), headers=hosp).json["person_id"]
            == pid
        )
        twin = alice(2, given_name="Alicia")
        assert client.put("/v1/systems/HOSP/records/H2", json=twin, headers=hosp).status_code in (
            200,
            201,
        )
        checks = [
            client.get("/v1/systems/GP/records/G1", headers=gp),
            client.get(f"/v1/persons/{pid}", headers=gp),
            client.get(f"/v1/persons?nhs_number={synthetic_nhs_number(1)}", headers=gp),
            client.post(
                "/v1/persons/search",
                json={"family_name": "Smith", "birth_date": "1980-03-15"},
                headers=gp,
            ),
            client.get("/v1/events", headers=gp),
            client.get(f"/fhir/Patient/{pid}", headers=gp),
            client.get("/fhir/Patient?family=Smith&birthdate=1980-03-15", headers=gp),
            client.get(f"/fhir/Patient/$ihe-pix?sourceIdentifier={GP_URI}|G1", headers=gp),
            client.put(f"/v1/persons/{pid}/opt-out", json={"reason": "objection"}, headers=admin),
            client.delete(f"/v1/persons/{pid}/opt-out", headers=admin),
            client.get(f"/v1/persons/{pid}/audit", headers=admin),
            client.get(f"/fhir/AuditEvent?patient=Patient/{pid}", headers=admin),
            client.delete("/v1/systems/HOSP/records/H2", headers=hosp),
            client.get("/readyz"),
        ]
        for response in checks:
            assert response.status_code < 300, (response.request.path, response.get_data()[:300])
    finally:
        app.extensions["mpi_pool"].close()
    with psycopg.connect(db_roles.service_url) as conn:  # the webhook worker
        report = webhooks.deliver_due(conn, lambda target, body, headers: 204)
        assert report.delivered >= 1
    csv = tmp_path / "gp.csv"
    csv.write_text(
        "local_id,nhs_number,given_name,family_name,sex,birth_date,address_line,postcode,phone\n"
        f"G9,{synthetic_nhs_number(9)},Bob,Jones,male,1961-06-01,2 Mill Lane,BD7 1DP,\n"
    )
    runner = CliRunner()
    env = {"DATABASE_URL": db_roles.service_url}
    for args in (
        ["load", "GP", str(csv), "--kind", "gp"],
        ["resolve", "GP", "G9"],
        ["audit", "verify"],
        ["audit", "checkpoint"],
        ["export", "crossref", "-o", str(tmp_path / "x.csv")],
    ):
        result = runner.invoke(main, args, env=env)
        assert result.exit_code == 0, (args, result.output)
