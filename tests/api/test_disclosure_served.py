"""Issue 10, finding 1, as an outside tester: `mpi serve` as a process, plain HTTP
(``requests``) and a third-party FHIR client (``fhirclient``, SMART on FHIR's).

The five bypasses of the care relationship (PDQm ``_id`` by GET and by POST, another
system's identifier, the NHS number as identifier, ``/v1/persons?nhs_number=``) give a
system holding no record of the patient nothing: the answer for a patient nobody has.
"""

from __future__ import annotations

import pytest
import requests
from fhirclient.models.patient import Patient
from fhirclient.server import FHIRNotFoundException, FHIRServer

from tests.api.conftest import alice
from tests.api.test_serve import served  # noqa: F401 - the fixture, `mpi serve` for real
from tests.helpers import synthetic_nhs_number

NHS = "https://fhir.nhs.uk/Id/nhs-number"
GP_URI = "https://fhir.gp.example.nhs.uk/Id/patient-number"
SECRETS = ("Alice", "ALICE", "1980-03-15", "LS1 4AP", "High Street", "0113 496 0000")


def _session(token: str) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    return session


def _fhir(base: str, token: str) -> FHIRServer:
    server = FHIRServer(None, base_uri=f"{base}/fhir/")
    server.session.headers["Authorization"] = f"Bearer {token}"
    return server


def _shows_alice(text: str) -> bool:
    return any(s in text for s in (*SECRETS, synthetic_nhs_number(1), "G1"))


def test_the_five_bypasses_over_http_and_a_fhir_client(served, systems):  # noqa: F811
    base, _ = served
    gp = _session(systems.tokens["GP"])
    gp.put(f"{base}/v1/systems/GP/records/G1", json=alice()).raise_for_status()
    pid = gp.get(f"{base}/v1/systems/GP/records/G1").json()["person_id"]
    viewer = _session(systems.tokens["VIEWER"])
    number = synthetic_nhs_number(1)
    bypasses = [
        ("GET", f"/fhir/Patient?_id={pid}", None),
        ("POST", "/fhir/Patient/_search", {"_id": pid}),
        ("GET", f"/fhir/Patient?identifier={GP_URI}|G1", None),
        ("GET", f"/fhir/Patient?identifier={NHS}|{number}", None),
        ("GET", f"/v1/persons?nhs_number={number}", None),
    ]
    for method, path, form in bypasses:
        r = viewer.request(method, base + path, data=form)
        assert r.status_code == 200, (path, r.text)
        body = r.json()
        assert body.get("total", 0) == 0 and not body.get("entry") and not body.get("matches")
        shown = r.text.replace(path, "") if method == "GET" else r.text
        assert not _shows_alice(shown), (path, r.text)
    # read and PIXm: the 404 of a patient that does not exist
    for path in (f"/fhir/Patient/{pid}", f"/v1/persons/{pid}", "/v1/systems/GP/records/G1"):
        assert viewer.get(base + path).status_code == 404, path
    # the same through fhirclient: searches come back empty, a read is "not found"
    server = _fhir(base, systems.tokens["VIEWER"])
    for struct in (
        {"_id": pid},
        {"identifier": f"{GP_URI}|G1"},
        {"identifier": f"{NHS}|{number}"},
        {"family": "Smith", "given": "Alice", "birthdate": "1980-03-15"},
    ):
        assert list(Patient.where(struct=struct).perform_resources_iter(server)) == [], struct
    with pytest.raises(FHIRNotFoundException):
        Patient.read(pid, server)
    # a system holding a record, through the same client, sees the patient
    mine = list(
        Patient.where(struct={"_id": pid}).perform_resources_iter(_fhir(base, systems.tokens["GP"]))
    )
    assert [p.name[0].family for p in mine] == ["Smith"]
    assert Patient.read(pid, _fhir(base, systems.tokens["GP"])).birthDate.isostring == "1980-03-15"
