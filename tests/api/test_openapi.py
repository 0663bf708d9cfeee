"""/openapi.json matches the real routes, and schemathesis finds no server error."""

from __future__ import annotations

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup

from tests.api.conftest import count

#: Routes not in the OpenAPI document: the HTML review pages.
ELSEWHERE = ("/review", "/static/")
METHODS = ("get", "put", "post", "delete", "patch")


def _app_paths(app) -> dict[str, set[str]]:
    """Every route of the app outside ELSEWHERE, as OpenAPI paths and their methods."""
    found: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(ELSEWHERE) or rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        found.setdefault(path, set()).update(
            m.lower() for m in rule.methods or () if m not in ("HEAD", "OPTIONS")
        )
    return found


def test_openapi_document_names_every_route_and_only_real_ones(app, client):
    doc = client.get("/openapi.json").json
    documented = {path: {m for m in ops if m in METHODS} for path, ops in doc["paths"].items()}
    assert documented == _app_paths(app)
    assert {"/healthz", "/readyz", "/openapi.json", "/v1/events", "/fhir/metadata"} <= set(
        documented
    )


def test_every_fhir_route_is_in_the_capability_statement(app, client):
    statement = client.get("/fhir/metadata").json
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    interactions = {(t, i["code"]) for t, r in resources.items() for i in r.get("interaction", [])}
    operations = {
        (t, "$" + o["name"]) for t, r in resources.items() for o in r.get("operation", [])
    }
    expected = {
        ("GET", "/fhir/metadata"): None,
        ("GET", "/fhir/Patient/<person_id>"): ("Patient", "read"),
        ("GET", "/fhir/Patient"): ("Patient", "search-type"),
        ("POST", "/fhir/Patient/_search"): ("Patient", "search-type"),
        ("PUT", "/fhir/Patient"): ("Patient", "conditionalUpdate"),
        ("POST", "/fhir/Patient"): ("Patient", "create"),
        ("DELETE", "/fhir/Patient"): ("Patient", "conditionalDelete"),
        ("POST", "/fhir/Patient/$match"): ("Patient", "$match"),
        ("GET", "/fhir/Patient/$ihe-pix"): ("Patient", "$ihe-pix"),
        ("GET", "/fhir/AuditEvent"): ("AuditEvent", "search-type"),
    }
    routes = {
        (m, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/fhir/")
        for m in rule.methods or ()
        if m not in ("HEAD", "OPTIONS")
    }
    assert routes == set(expected)
    flags = {
        (t, flag)
        for t, r in resources.items()
        for flag in ("conditionalUpdate", "conditionalDelete")
        if r.get(flag) not in (None, False, "not-supported")
    }
    for capability in expected.values():
        if capability is not None:
            assert capability in interactions | operations | flags, capability
    assert resources["Patient"]["conditionalUpdate"] is True
    assert resources["Patient"]["conditionalDelete"] == "single"


def _token_for(systems, path: str) -> str:
    admin = "opt-out" in path or "audit" in path.lower()
    return systems.tokens["ADMIN" if admin else "GP"]


def _has_input(operation) -> bool:
    """Whether an operation takes parameters or a body (else nothing can be made invalid)."""
    definition = operation.definition.raw
    shared = operation.definition.raw.get("parameters") or operation.path_parameters
    return bool(definition.get("parameters") or definition.get("requestBody") or shared)


def _run(schema, systems, checks, *, examples: int, mode: GenerationMode | None) -> int:
    """Run every operation with generated input; return how many operations ran.

    ``mode`` ``None`` runs the documented examples instead. In negative mode, operations
    without any input are left out (nothing to make invalid).
    """
    operations = [result.ok() for result in schema.get_all_operations()]
    if mode == GenerationMode.NEGATIVE:
        operations = [o for o in operations if _has_input(o)]
    for operation in operations:
        token = _token_for(systems, operation.path)
        if mode is None:
            strategies = operation.get_strategies_from_examples()
        else:
            strategies = [operation.as_strategy(generation_mode=mode)]
        for strategy in strategies:
            _check(strategy, token, checks, examples)
    return len(operations)


def _check(strategy, token: str, checks, examples: int) -> None:
    @given(case=strategy)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def check(case):
        if case.path_parameters and "system" in case.path_parameters:
            case.path_parameters["system"] = "GP"  # the caller's own: reach the matching
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=checks)

    check()


def test_schemathesis_finds_no_server_error(app, systems, db_url):
    """Every documented operation (/v1 and /fhir), with the documented examples, then valid
    and invalid generated input: never a 5xx, every status and content type documented."""
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    checks = [not_a_server_error, status_code_conformance, content_type_conformance]
    _run(schema, systems, checks, examples=1, mode=None)  # the documented examples
    assert count(db_url, "source_record") == 2  # the example registrations went through
    ran = _run(schema, systems, checks, examples=12, mode=GenerationMode.POSITIVE)
    ran_negative = _run(schema, systems, checks, examples=8, mode=GenerationMode.NEGATIVE)
    paths = app.test_client().get("/openapi.json").json["paths"].values()
    documented = sum(1 for ops in paths for method in ops if method in METHODS)
    assert ran == documented - 1 == 27  # schemathesis leaves out /openapi.json itself
    assert ran_negative == 23  # all but /healthz, /readyz, /openapi.json, GET /v1/subscriptions
    assert count(db_url, "audit_event") > 100  # the requests really reached the app


def test_schemathesis_run_fails_on_a_server_error(app, systems, monkeypatch):
    """The check above would catch a 500: make one operation fail and see the run fail."""
    import mpi.webhooks

    def broken(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(mpi.webhooks, "subscribe", broken)
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app).include(
        path="/v1/subscriptions", method="POST"
    )
    with pytest.raises((FailureGroup, AssertionError)) as failed:
        _run(schema, systems, [not_a_server_error], examples=5, mode=GenerationMode.POSITIVE)
    assert "500" in str(failed.value) or "Server error" in str(failed.value)
