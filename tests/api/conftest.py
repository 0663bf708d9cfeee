"""Fixtures for the HTTP service: the app against the test database, a client, systems.

Every test starts from empty tables (``committed_db``) and gets connected systems with
tokens: ``GP`` (register, lookup), ``HOSP`` (register, lookup), ``SOCIAL`` (lookup only),
``VIEWER`` (lookup, no records) and ``ADMIN`` (admin).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient

from api import create_app
from mpi import access
from mpi.config import Settings
from mpi.store import systems as system_store
from mpi.store import tokens as token_store
from tests.helpers import synthetic_nhs_number

SYSTEMS = {
    "GP": ("gp", 1, "https://fhir.gp.example.nhs.uk/Id/patient-number", ["register", "lookup"]),
    "HOSP": ("hospital", 3, "https://fhir.hosp.example.nhs.uk/Id/mrn", ["register", "lookup"]),
    "SOCIAL": ("social-care", 5, "https://fhir.council.example.gov.uk/Id/case", ["lookup"]),
    "VIEWER": ("portal", 9, None, ["lookup"]),
    "ADMIN": ("portal", 9, None, ["admin"]),
}


def reset_service_tables(url: str) -> None:
    """Empty the audit trail (append-only, so bypassing its triggers for the test reset)."""
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("SET session_replication_role = replica")
        c.execute(
            "TRUNCATE audit_event, webhook_outbox, webhook_subscription, api_token, opt_out"
            " RESTART IDENTITY"
        )


@pytest.fixture
def db_url(committed_db: str) -> Iterator[str]:
    """The committed database, with the service's tables emptied too."""
    reset_service_tables(committed_db)
    yield committed_db
    reset_service_tables(committed_db)


@pytest.fixture
def app(db_url: str) -> Iterator[Flask]:
    """The app, as gunicorn would build it, on the test database."""
    application = create_app(
        {
            "TESTING": True,
            "SETTINGS": Settings(database_url=db_url, environment="test"),
            "POOL_MIN_SIZE": 1,
            "POOL_MAX_SIZE": 4,
        }
    )
    yield application
    application.extensions["mpi_pool"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client."""
    return app.test_client()


@dataclass(frozen=True)
class Systems:
    """Tokens of the connected systems, and helpers to build request headers."""

    tokens: dict[str, str]

    def headers(self, system: str, **extra: str) -> dict[str, str]:
        """Authorization plus the user headers (and any extra)."""
        return {
            "Authorization": f"Bearer {self.tokens[system]}",
            "X-User-Id": "555555555555",
            "X-User-Role": "R8000",
            "X-User-Org": "RXX",
            **extra,
        }

    def emergency(self, system: str) -> dict[str, str]:
        """Headers declaring an emergency purpose."""
        return self.headers(
            system, **{"X-Purpose-Of-Use": "ETREAT", "X-Emergency-Reason": "unconscious in ED"}
        )


@pytest.fixture
def systems(db_url: str) -> Systems:
    """The connected systems with identifier system URIs and tokens."""
    tokens = {}
    with psycopg.connect(db_url) as conn:
        for code, (kind, rank, uri, scopes) in SYSTEMS.items():
            system_store.add_system(conn, code, code.title(), kind, rank)
            if uri:
                token_store.set_identifier_system(conn, code, uri)
            tokens[code] = access.issue_token(conn, code, scopes, actor="test")
    return Systems(tokens)


def alice(n: int = 1, **changes: Any) -> dict[str, Any]:
    """A synthetic patient's demographics (NHS number from the 999 test range)."""
    body = {
        "nhs_number": synthetic_nhs_number(n),
        "given_name": "Alice",
        "family_name": "Smith",
        "sex": "female",
        "birth_date": "1980-03-15",
        "address_line": "1 High Street, Leeds",
        "postcode": "LS1 4AP",
        "phone": "0113 496 0000",
    }
    body.update(changes)
    return body


def count(url: str, table: str, where: str = "true") -> int:
    """Rows in a table (test helper)."""
    with psycopg.connect(url) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()
    assert row is not None
    return int(row[0])
