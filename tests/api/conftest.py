"""Fixtures for the HTTP service: the app against the test database, a client, systems.

Every test starts from empty tables (``committed_db``) and gets connected systems with
tokens: ``GP`` (register, lookup), ``HOSP`` (register, lookup), ``SOCIAL`` (lookup only),
``VIEWER`` (lookup, no records) and ``ADMIN`` (admin).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from fhir.resources.R4B import get_fhir_model_class
from flask import Flask
from flask.testing import FlaskClient

from api import create_app
from mpi import access
from mpi.config import Settings
from mpi.store import systems as system_store
from mpi.store import tokens as token_store
from tests.conftest import _TABLES, RESET_AUDIT_TAILS, truncate_all
from tests.helpers import synthetic_nhs_number
from tests.review_data import Scenario, build
from tests.review_web import add_accounts, fresh_sessions, reset_reviewers, review_app

SYSTEMS = {
    "GP": ("gp", 1, "https://fhir.gp.example.nhs.uk/Id/patient-number", ["register", "lookup"]),
    "HOSP": ("hospital", 3, "https://fhir.hosp.example.nhs.uk/Id/mrn", ["register", "lookup"]),
    "SOCIAL": ("social-care", 5, "https://fhir.council.example.gov.uk/Id/case", ["lookup"]),
    "VIEWER": ("portal", 9, None, ["lookup"]),
    "ADMIN": ("portal", 9, None, ["admin"]),
}


RESET_TABLES = (
    "audit_event",
    "hl7_message",
    "webhook_outbox",
    "webhook_subscription",
    "api_token",
    "opt_out",
    *(t.strip() for t in _TABLES.split(",")),
)


def reset_service_tables(url: str) -> None:
    """Empty every table the service writes and restart their IDs, in one transaction.

    DELETE, not TRUNCATE: on the few rows a test leaves it is many times faster, which
    matters when every API test starts and ends with a reset. The append-only and
    foreign-key triggers are bypassed for the reset, and the audit chains restart empty.
    """
    with psycopg.connect(url) as c:
        c.execute("SET LOCAL session_replication_role = replica")
        for table in RESET_TABLES:
            c.execute(f"DELETE FROM {table}")
        c.execute(RESET_AUDIT_TAILS)
        sequences = c.execute(
            "SELECT DISTINCT d.objid::regclass::text FROM pg_depend d"
            " JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'"
            " WHERE d.refobjid = ANY(%s::regclass[]) AND d.deptype IN ('a', 'i')",
            (list(RESET_TABLES),),
        ).fetchall()
        for (sequence,) in sequences:
            c.execute(f"ALTER SEQUENCE {sequence} RESTART")


@pytest.fixture
def db_url(database_url: str) -> Iterator[str]:
    """The test database with every table emptied, before and after the test."""
    reset_service_tables(database_url)
    yield database_url
    reset_service_tables(database_url)


#: Resource types of the FHIR responses validated so far (nested Bundle entries too).
FHIR_VALIDATED: Counter[str] = Counter()


def validate_fhir(body: Any) -> None:
    """Validate a FHIR JSON response with the ``fhir.resources`` R4 models."""
    assert isinstance(body, dict) and "resourceType" in body, body
    get_fhir_model_class(body["resourceType"]).model_validate(body)
    FHIR_VALIDATED[body["resourceType"]] += 1
    for entry in body.get("entry") or []:
        FHIR_VALIDATED[entry["resource"]["resourceType"]] += 1


class FhirCheckingClient(FlaskClient):
    """A test client that validates every response under /fhir as a FHIR R4 resource."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        response = super().open(*args, **kwargs)
        if response.request.path.startswith("/fhir") and response.status_code != 204:
            assert response.mimetype == "application/fhir+json", response.data[:200]
            validate_fhir(response.get_json())
        return response


AppFactory = Callable[..., Flask]


@pytest.fixture
def make_app(db_url: str, request: pytest.FixtureRequest) -> Iterator[AppFactory]:
    """Build the app on the test database with settings of a test's own (``environment``,
    and config keys such as ``POOL_MAX_SIZE=1``); every pool is closed afterwards.

    With ``MPI_TEST_AS_SERVICE_ROLE=1`` the app connects as the least-privilege service
    role (``mpi db roles``), so the whole API suite shows the service works as it."""
    made: list[Flask] = []
    app_url = db_url
    if os.environ.get("MPI_TEST_AS_SERVICE_ROLE"):
        app_url = request.getfixturevalue("db_roles").service_url

    def build(environment: str = "test", **config: Any) -> Flask:
        application = create_app(
            {
                "TESTING": True,
                "SETTINGS": Settings(database_url=app_url, environment=environment),
                "POOL_MIN_SIZE": 1,
                "POOL_MAX_SIZE": 2,
                **config,
            }
        )
        made.append(application)
        return application

    yield build
    for application in made:
        application.extensions["mpi_pool"].close()


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    """The app, as gunicorn would build it, on the test database."""
    application = make_app(POOL_MAX_SIZE=4)
    application.test_client_class = FhirCheckingClient
    return application


@pytest.fixture
def one_connection_app(make_app: AppFactory) -> Flask:
    """The app with a pool of exactly one connection, so a test can inspect the one that
    served its requests."""
    return make_app(POOL_MAX_SIZE=1)


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


@pytest.fixture(scope="module")
def accounts(database_url: str) -> Iterator[None]:
    """The review UI's reviewer accounts, for one test module."""
    add_accounts(database_url)
    yield
    reset_reviewers(database_url)


@pytest.fixture(scope="module")
def module_app(database_url: str) -> Iterator[Flask]:
    """The review UI's app, for one test module."""
    application = review_app(database_url)
    yield application
    application.extensions["mpi_pool"].close()


@pytest.fixture
def s(db_url: str, accounts: None, ctx: Any) -> Iterator[Scenario]:
    """The review scenario (tests/review_data.py) on fresh review sessions; emptied after
    the test, its decisions too (the service tables' reset keeps them)."""
    fresh_sessions(db_url)
    with psycopg.connect(db_url) as conn:
        made = build(conn, ctx)
    yield made
    truncate_all(db_url)
