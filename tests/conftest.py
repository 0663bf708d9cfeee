"""Shared fixtures: one fresh PostgreSQL database per test run.

The database is created on the server in ``DATABASE_URL`` when it is set (CI and the
development machines: the local server at 127.0.0.1:5432), otherwise on an embedded
server (pgserver) in a temporary folder. It is migrated once and dropped at the end.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from matching.model import load_default_model
from mpi.config import Settings
from mpi.records import MatchContext
from mpi.store import db, migrate

_TABLES = (
    "near_miss, review_item, no_match, link, link_history, identity_event, blocking_key,"
    " source_record, person, source_system"
)


def _server() -> tuple[str, str]:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url, "DATABASE_URL"
    folder = Path(tempfile.mkdtemp(prefix="mpi-test-pg-"))
    server = db.embedded_server(folder / "pgdata", cleanup_mode="delete")
    return str(server.get_uri()), "embedded"


@pytest.fixture(scope="session")
def server_url() -> str:
    """A PostgreSQL server to create test databases on."""
    url, _ = _server()
    return url


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    """A fresh, migrated database for this test run, dropped afterwards."""
    name = f"mpi_test_{uuid.uuid4().hex[:12]}"
    url = db.create_database(server_url, name)
    migrate.upgrade(url)
    yield url
    db.drop_database(server_url, name)


def pytest_report_header(config: pytest.Config) -> str:
    where = "DATABASE_URL" if os.environ.get("DATABASE_URL") else "embedded pgserver"
    return f"database: {where}"


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection whose work is rolled back after the test."""
    with psycopg.connect(database_url) as connection:
        with connection.transaction(force_rollback=True):
            yield connection


def truncate_all(url: str) -> None:
    """Empty every table (the append-only triggers are bypassed for the test reset)."""
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("SET session_replication_role = replica")
        c.execute(f"TRUNCATE {_TABLES} RESTART IDENTITY CASCADE")


#: The test-only reset of the audit chains' tails, after their events were emptied. The
#: service never does this: a tail keeps its count and hash whatever happens to the events,
#: so that ``mpi audit verify`` reports the loss (migration 0040).
RESET_AUDIT_TAILS = (
    "INSERT INTO audit_chain (chain) SELECT generate_series(0, 63) ON CONFLICT DO NOTHING;"
    " UPDATE audit_chain SET last_id = NULL, last_hash = '', events = 0"
)


@dataclass(frozen=True)
class DatabaseRoles:
    """The least-privilege roles of this test run (``mpi db roles``) and their URLs."""

    owner: str
    service: str
    owner_url: str
    service_url: str


@pytest.fixture(scope="session")
def db_roles(database_url: str) -> Iterator[DatabaseRoles]:
    """``mpi db roles`` run on the test database with names of this run's own (roles are
    global to the server, which other runs share); dropped again at the end. The
    database's objects are given back to the superuser before the roles go."""
    from click.testing import CliRunner

    from mpi.cli import main

    suffix = uuid.uuid4().hex[:10]
    owner, service = f"mpi_owner_{suffix}", f"mpi_service_{suffix}"
    password = secrets.token_urlsafe(18)
    env = {"DATABASE_URL": database_url, "TEST_ROLE_PASSWORD": password}
    args = ["db", "roles", "--owner", owner, "--service", service]
    args += ["--owner-password-env", "TEST_ROLE_PASSWORD"]
    args += ["--service-password-env", "TEST_ROLE_PASSWORD"]
    try:
        result = CliRunner().invoke(main, args, env=env)
        assert result.exit_code == 0, result.output
        yield DatabaseRoles(
            owner,
            service,
            make_conninfo(database_url, user=owner, password=password),
            make_conninfo(database_url, user=service, password=password),
        )
    finally:
        with psycopg.connect(database_url, autocommit=True) as c:
            for role in (owner, service):
                if c.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                    c.execute(
                        sql.SQL("REASSIGN OWNED BY {} TO CURRENT_USER").format(sql.Identifier(role))
                    )
                    c.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
                    c.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


@pytest.fixture
def committed_db(database_url: str) -> Iterator[str]:
    """The database URL for tests whose work must commit; tables are emptied afterwards."""
    truncate_all(database_url)
    yield database_url
    truncate_all(database_url)


@pytest.fixture(scope="session")
def model() -> Any:
    """The default match model."""
    return load_default_model()


@pytest.fixture
def ctx(model: Any) -> MatchContext:
    """Matching context with the default model and development settings."""
    return MatchContext.build(Settings(), model)
