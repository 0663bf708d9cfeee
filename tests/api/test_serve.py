"""`mpi serve` for real: gunicorn with two workers on the test database, called over HTTP.

Checks that the served app answers /healthz and /readyz, registers and looks up through
both surfaces, and that its logs (gunicorn's and the structured request lines) carry no
patient data: no names, NHS numbers, birth dates, local IDs or query strings.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import SYSTEMS, alice

SECRETS = ("Alice", "ALICE", "Smith", "SMITH", "1980-03-15", "LS1 4AP", "LS14AP", "LOCAL-77")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _call(
    base: str, method: str, path: str, token: str | None = None, body: Any = None
) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@pytest.fixture(params=["superuser", "service-role"])
def served(
    db_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[str, Path]]:
    """`mpi serve --workers 2` on a free port; yields the base URL and the log file. It
    runs twice: connected as the test database's superuser, and as the least-privilege
    service role of `mpi db roles`, as a deployment should run it."""
    port = _free_port()
    log = tmp_path / "serve.log"
    url = db_url
    if request.param == "service-role":
        url = request.getfixturevalue("db_roles").service_url
    env = {**os.environ, "DATABASE_URL": url, "MPI_ENVIRONMENT": "test"}
    env["MPI_POOL_MIN_SIZE"] = "1"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", "from mpi.cli import main; main()", "serve"]
            + ["--bind", f"127.0.0.1:{port}", "--workers", "2"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if _call(base, "GET", "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("mpi serve did not start:\n" + log.read_text())
            time.sleep(0.2)
        yield base, log
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_served_app_works_and_logs_no_patient_data(served, systems):
    base, log = served
    gp, hosp = systems.tokens["GP"], systems.tokens["HOSP"]
    number = alice()["nhs_number"]
    assert _call(base, "GET", "/healthz") == (200, {"status": "ok"})
    status, body = _call(base, "PUT", "/v1/systems/GP/records/LOCAL-77", gp, alice())
    assert status == 200 and body["decision"] == "new_person"
    status, linked = _call(base, "PUT", "/v1/systems/HOSP/records/H1", hosp, alice())
    assert linked["person_id"] == body["person_id"] and linked["decision"] == "linked"
    assert _call(base, "GET", f"/v1/persons?nhs_number={number}", hosp)[0] == 200
    status, bundle = _call(
        base, "GET", "/fhir/Patient?family=Smith&given=Alice&birthdate=1980-03-15", hosp
    )
    assert status == 200 and bundle["total"] == 1
    status, params = _call(
        base,
        "GET",
        f"/fhir/Patient/$ihe-pix?sourceIdentifier={SYSTEMS['HOSP'][2]}|H1",
        hosp,
    )
    assert status == 200 and params["resourceType"] == "Parameters"
    status, _ = _call(
        base, "PUT", "/v1/systems/GP/records/LOCAL-77", gp, alice(nhs_number="9990000019")
    )
    assert status == 400
    assert _call(base, "GET", "/v1/systems/GP/records/LOCAL-77")[0] == 401
    # issue 10: no webhook into the service's own network; a CapabilityStatement as served
    for url in ("http://127.0.0.1:8080/", "https://169.254.169.254/latest/meta-data/"):
        status, problem = _call(base, "POST", "/v1/subscriptions", hosp, {"url": url})
        assert status == 400 and problem["errors"][0]["field"] == "url", problem
    status, statement = _call(base, "GET", "/fhir/metadata")
    patient = statement["rest"][0]["resource"][0]
    assert {i["code"] for i in patient["interaction"]} == {"read", "search-type", "create"}
    assert "service" not in statement["rest"][0]["security"]
    text = log.read_text()
    assert text.count("Booting worker") >= 2  # several workers
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert len(lines) >= 9, text  # one structured line per request
    assert {"request_id", "method", "route", "status", "ms", "system"} <= set(lines[-1])
    assert {line["route"] for line in lines} >= {
        "/v1/systems/<system>/records/<local_id>",
        "/fhir/Patient",
    }
    assert {line["status"] for line in lines} >= {200, 400, 401}
    for secret in (*SECRETS, number):
        assert secret not in text, secret
