"""Backup and restore: a dump restored into a new database is the same store, sound."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from click.testing import CliRunner

from mpi import audit, review
from mpi.cli import main
from mpi.store import db
from tests.review_data import build, item_version

TABLES = (
    "source_record",
    "link",
    "link_history",
    "person",
    "identity_event",
    "review_item",
    "no_match",
    "audit_event",
    "audit_chain",
    "name_frequency",
)


def _contents(url: str) -> dict[str, list[tuple]]:
    with psycopg.connect(url) as conn:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2, 3").fetchall() for t in TABLES}


@pytest.fixture
def restored(server_url):
    name = f"mpi_restored_{uuid.uuid4().hex[:10]}"
    yield name
    db.drop_database(server_url, name)


def test_a_backup_restores_into_a_new_database_that_checks_sound(
    committed_db, ctx, tmp_path, monkeypatch, server_url, restored
):
    with psycopg.connect(committed_db) as conn:
        s = build(conn, ctx)
        review.decide(conn, s.maybe_item, item_version(conn, s.maybe_item), "different", "alice")
        for n in range(3):
            audit.record(conn, audit.AuditEntry("rest", "read", "0", 200, system_code=f"S{n}"))
    monkeypatch.setenv("DATABASE_URL", committed_db)
    runner = CliRunner()
    dump = tmp_path / "mpi.dump"
    made = runner.invoke(main, ["db", "backup", str(dump)])
    assert made.exit_code == 0, made.output
    assert dump.stat().st_size > 0
    done = runner.invoke(main, ["db", "restore", str(dump), "--database", restored])
    assert done.exit_code == 0, done.output
    assert "store sound, audit chain intact" in done.output
    restored_url = psycopg.conninfo.make_conninfo(server_url, dbname=restored)
    assert _contents(restored_url) == _contents(committed_db)
    with psycopg.connect(restored_url) as conn:
        assert audit.verify(conn).is_intact and audit.verify(conn).events >= 3
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # still append-only
            conn.execute("UPDATE audit_event SET outcome = 'x'")
    monkeypatch.setenv("DATABASE_URL", restored_url)
    assert runner.invoke(main, ["db", "check"]).exit_code == 0
    again = runner.invoke(main, ["db", "restore", str(dump), "--database", restored])
    assert again.exit_code != 0 and "already exists" in again.output
