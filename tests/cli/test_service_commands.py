"""The service's CLI commands: tokens, identifier systems, opt-outs, audit verify."""

from __future__ import annotations

import psycopg
import pytest
from click.testing import CliRunner

from mpi import access
from mpi.cli import main
from tests.conftest import RESET_AUDIT_TAILS


@pytest.fixture
def runner(committed_db, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", committed_db)
    with psycopg.connect(committed_db, autocommit=True) as c:
        c.execute("SET session_replication_role = replica")
        c.execute("TRUNCATE audit_event, api_token, opt_out RESTART IDENTITY")
        c.execute(RESET_AUDIT_TAILS)  # the tails outlive a TRUNCATE (migration 0040)
    return CliRunner()


def test_token_issue_rotate_revoke(runner, committed_db):
    assert runner.invoke(main, ["systems", "add", "GP1", "--kind", "gp"]).exit_code == 0
    issued = runner.invoke(main, ["systems", "token", "GP1", "--scope", "register"])
    assert issued.exit_code == 0, issued.output
    token = issued.output.strip()
    with psycopg.connect(committed_db) as conn:
        assert access.authenticate(conn, token).scopes == ["register"]
    rotated = runner.invoke(main, ["systems", "rotate", "GP1"]).output.strip()
    with psycopg.connect(committed_db) as conn:
        assert access.authenticate(conn, rotated).scopes == ["register"]
        with pytest.raises(access.Unauthenticated):
            access.authenticate(conn, token)
    assert "revoked 1" in runner.invoke(main, ["systems", "revoke", "GP1"]).output
    uri = runner.invoke(main, ["systems", "identifier-system", "GP1", "urn:oid:1.2.3"])
    assert uri.exit_code == 0


def test_systems_add_issues_a_token_shown_once_and_stored_as_a_hash(runner, committed_db):
    added = runner.invoke(
        main,
        [
            "systems",
            "add",
            "HOSP1",
            "--kind",
            "hospital",
            "--scope",
            "lookup",
            "--scope",
            "register",
        ]
        + ["--identifier-system", "https://fhir.hosp1.example.nhs.uk/Id/mrn"],
    )
    assert added.exit_code == 0, added.output
    assert "shown only this once" in added.output
    token = added.output.strip().splitlines()[-1]
    with psycopg.connect(committed_db) as conn:
        assert sorted(access.authenticate(conn, token).scopes) == ["lookup", "register"]
        stored = conn.execute("SELECT token_hash FROM api_token").fetchall()
        uri = conn.execute(
            "SELECT identifier_system FROM source_system WHERE code = 'HOSP1'"
        ).fetchone()
    assert stored == [(access.hash_token(token),)] and token not in str(stored)
    assert uri == ("https://fhir.hosp1.example.nhs.uk/Id/mrn",)
    assert "revoked 1" in runner.invoke(main, ["systems", "revoke", "HOSP1"]).output
    with psycopg.connect(committed_db) as conn, pytest.raises(access.Unauthenticated):
        access.authenticate(conn, token)


def test_a_monitoring_system_gets_a_metrics_only_token_from_the_command_line(runner, committed_db):
    added = runner.invoke(
        main, ["systems", "add", "MONITOR", "--kind", "portal", "--scope", "metrics"]
    )
    assert added.exit_code == 0, added.output
    token = added.output.strip().splitlines()[-1]
    again = runner.invoke(main, ["systems", "token", "MONITOR", "--scope", "metrics"])
    assert again.exit_code == 0, again.output
    with psycopg.connect(committed_db) as conn:
        assert access.authenticate(conn, token).scopes == ["metrics"]


def test_optout_commands_are_audited_and_verify(runner, committed_db):
    with psycopg.connect(committed_db) as conn:
        conn.execute("INSERT INTO person (person_id) VALUES ('P-1')")
    added = runner.invoke(main, ["optout", "add", "P-1", "--reason", "objection via GP"])
    assert added.exit_code == 0, added.output
    assert runner.invoke(main, ["optout", "remove", "P-1"]).exit_code == 0
    missing = runner.invoke(main, ["optout", "add", "NOPE", "--reason", "x"])
    assert missing.exit_code == 1
    verified = runner.invoke(main, ["audit", "verify"])
    assert verified.exit_code == 0 and "2 events" in verified.output
