"""The whole FHIR surface as a connected system drives it: ``fhirclient`` (SMART's Python
client) against `mpi serve` started as a real process, every response validated with
``fhir.resources`` (R4B models, which read R4 JSON)."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.parameters import Parameters
from fhir.resources.R4B.patient import Patient as ValidPatient
from fhirclient.models.patient import Patient
from fhirclient.server import FHIRNotFoundException, FHIRServer

from tests.api.test_fhir import GP_URI, HOSP_URI, NHS, patient
from tests.api.test_fhir_pmir import create, merge, message, update
from tests.api.test_serve import served  # noqa: F401 - the fixture, `mpi serve` for real


def _server(base: str, token: str) -> FHIRServer:
    server = FHIRServer(None, base_uri=f"{base}/fhir/")
    server.session.headers["Authorization"] = f"Bearer {token}"
    return server


def _refused(call: Any, status: int) -> OperationOutcome:
    with pytest.raises((requests.HTTPError, FHIRNotFoundException)) as caught:
        call()
    response = caught.value.response
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/fhir+json")
    return OperationOutcome.model_validate(response.json())


def test_a_connected_system_uses_every_fhir_interaction(served, systems):  # noqa: F811
    base, _ = served
    gp = _server(base, systems.tokens["GP"])
    hosp = _server(base, systems.tokens["HOSP"])

    # CapabilityStatement, parsed by fhirclient and validated
    gp.get_capability(force=True)
    statement = gp.capabilityStatement
    assert statement.fhirVersion == "4.0.1"
    CapabilityStatement.model_validate(statement.as_json())
    CapabilityStatement.model_validate(gp.request_json("metadata"))

    # create (POST Patient) with fhirclient's own model, then a 409 for the same identifier
    alice = Patient(patient(GP_URI, "G1", 1))
    created = alice.create(gp)
    pid = ValidPatient.model_validate(created).id
    _refused(lambda: Patient(patient(GP_URI, "G1", 1)).create(gp), 409)

    # conditional update (PUT Patient?identifier=) from the hospital: links to the same person
    r = hosp.put_json(f"Patient?identifier={HOSP_URI}|H1", patient(HOSP_URI, "H1", 1))
    assert r.status_code == 201
    assert ValidPatient.model_validate(r.json()).id == pid

    # read, with fhirclient's model
    read = Patient.read(pid, gp)
    assert read.id == pid and read.birthDate.isostring == "1975-07-04"
    ValidPatient.model_validate(read.as_json())

    # PDQm search: fhirclient's search, every Bundle valid
    search = Patient.where(struct={"family": "Jones", "birthdate": "1975-07-04"})
    found = next(iter(search.perform_iter(gp)))
    bundle = Bundle.model_validate(found.as_json())
    assert bundle.total == 1 and bundle.entry[0].resource.id == pid
    by_id = Patient.where(struct={"identifier": f"{HOSP_URI}|H1"}).perform_resources_iter(gp)
    assert [p.id for p in by_id] == [pid]
    _refused(lambda: next(iter(Patient.where(struct={"nickname": "x"}).perform_iter(gp))), 400)

    # $match
    parameters = {
        "resourceType": "Parameters",
        "parameter": [{"name": "resource", "resource": patient(GP_URI, "G9", 1)}],
    }
    matched = Bundle.model_validate(gp.post_json("Patient/$match", parameters).json())
    assert matched.entry[0].resource.id == pid

    # PIXm $ihe-pix
    pix = gp.request_json(f"Patient/$ihe-pix?sourceIdentifier={GP_URI}|G1")
    targets = Parameters.model_validate(pix).parameter
    assert any(p.name == "targetId" for p in targets)
    assert any(
        p.name == "targetIdentifier" and p.valueIdentifier.system == HOSP_URI for p in targets
    )

    # PMIR feed: an update, a new record and a merge of it into the first, one transaction
    feed = message(update("G1", 1, birthDate="1975-07-04"), create("G2", 2), header_id="f1")
    reply = Bundle.model_validate(gp.post_json("../fhir", feed).json())
    assert reply.type == "message"
    gone = merge("G2", {"identifier": {"system": GP_URI, "value": "G1"}}, 2)
    reply = Bundle.model_validate(gp.post_json("../fhir", message(gone, header_id="f2")).json())
    assert reply.entry[0].resource.response.code == "ok"
    bad = message(create("G3", 3, birthDate="1890-13-45"), header_id="f3")
    outcome = _refused(lambda: gp.post_json("../fhir", bad), 400)
    assert outcome.issue[0].expression[0].startswith("Bundle.entry[1].resource.entry[0]")

    # AuditEvent (admin): the reads above are in the trail
    admin = _server(base, systems.tokens["ADMIN"])
    trail = Bundle.model_validate(admin.request_json(f"AuditEvent?patient=Patient/{pid}"))
    assert trail.total and trail.total > 0

    # conditional delete (DELETE Patient?identifier=) withdraws the hospital's record
    assert hosp.delete_json(f"Patient?identifier={HOSP_URI}|H1").status_code == 204
    after = gp.request_json(
        f"Patient?identifier={NHS}|{patient(GP_URI, 'G1', 1)['identifier'][1]['value']}"
    )
    ids = [i for e in Bundle.model_validate(after).entry or [] for i in e.resource.identifier]
    assert all(i.system != HOSP_URI for i in ids)

    # hostile: another system's patient it holds nothing of is not disclosed
    viewer = _server(base, systems.tokens["VIEWER"])
    _refused(lambda: Patient.read(pid, viewer), 404)
    _refused(lambda: gp.request_json("Patient/NOT-A-PERSON"), 404)
