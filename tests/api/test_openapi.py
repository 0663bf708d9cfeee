"""/openapi.json matches the real routes, and schemathesis finds no server error."""

from __future__ import annotations

import re

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.api.conftest import count


def _flask_paths(app) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/v1/"):
            path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
            found.setdefault(path, set()).update(
                m.lower() for m in rule.methods or () if m not in ("HEAD", "OPTIONS")
            )
    return found


def test_openapi_document_matches_the_routes(app, client):
    doc = client.get("/openapi.json").json
    documented = {
        path: {m for m in ops if m in ("get", "put", "post", "delete", "patch")}
        for path, ops in doc["paths"].items()
    }
    assert documented == _flask_paths(app)


def test_schemathesis_finds_no_server_error(app, systems, db_url):
    """Every documented operation, with generated (often invalid) input: never a 5xx."""
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 13
    for operation in operations:
        admin = "opt-out" in operation.path or "audit" in operation.path
        token = systems.tokens["ADMIN" if admin else "GP"]

        @given(case=operation.as_strategy())
        @settings(
            max_examples=15,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            case.call_and_validate(
                headers={"Authorization": f"Bearer {token}"},  # noqa: B023 - called at once
                checks=[not_a_server_error],
            )

        check()
    assert count(db_url, "audit_event") > 50  # the requests really reached the app
