"""Issue 10, findings 2, 7 and 8, against the app on real PostgreSQL: a registration is no
way in, a co-twin's number is reviewed, multiple birth and death are kept and shown.

The last test does it as the outside tester did: ``mpi serve`` as a real process and a
third-party HTTP client (requests).
"""

from __future__ import annotations

import json
from typing import Any

import requests
from fhir.resources.R4B.patient import Patient

from tests.api.conftest import SYSTEMS, alice
from tests.api.test_serve import served  # noqa: F401 - the fixture
from tests.helpers import synthetic_nhs_number

NHS = "https://fhir.nhs.uk/Id/nhs-number"
GP_URI = SYSTEMS["GP"][2]
HOSP_URI = SYSTEMS["HOSP"][2]
#: What the GP's record would disclose: its local ID, address and phone.
GP_ONLY = ("G-ALICE", "High Street", "LS1 4AP", "0113 496 0000")


def _register(client: Any, systems: Any, system: str, local_id: str, body: dict) -> Any:
    return client.put(
        f"/v1/systems/{system}/records/{local_id}", json=body, headers=systems.headers(system)
    )


def _seen_by(client: Any, systems: Any, system: str, local_id: str, person_id: str) -> str:
    """Everything the system is shown after registering: its resolve, the person (v1 and
    FHIR), as one text."""
    texts = [
        client.get(f"/v1/systems/{system}/records/{local_id}", headers=systems.headers(system)),
        client.get(f"/v1/persons/{person_id}", headers=systems.headers(system)),
        client.get(f"/fhir/Patient/{person_id}", headers=systems.headers(system)),
    ]
    return " ".join(r.get_data(as_text=True) for r in texts)


def test_a_registration_with_only_an_nhs_number_and_a_name_opens_nothing(client, systems):
    gp = _register(client, systems, "GP", "G-ALICE", alice())
    assert gp.status_code == 200
    person = gp.json["person_id"]
    for local_id, sparse in (
        ("H1", {"nhs_number": alice()["nhs_number"], "family_name": "Smith"}),
        ("H2", {"nhs_number": alice()["nhs_number"], "birth_date": "1980-03-15"}),
    ):
        r = _register(client, systems, "HOSP", local_id, sparse)
        assert r.status_code == 200, r.json
        assert r.json["decision"] in ("review", "new_person")
        assert r.json["person_id"] != person
        seen = _seen_by(client, systems, "HOSP", local_id, person)
        for secret in GP_ONLY:
            assert secret not in seen


def test_a_fhir_registration_with_only_an_nhs_number_and_a_name_opens_nothing(client, systems):
    person = _register(client, systems, "GP", "G-ALICE", alice()).json["person_id"]
    sparse = {
        "resourceType": "Patient",
        "identifier": [
            {"system": HOSP_URI, "value": "H1"},
            {"system": NHS, "value": alice()["nhs_number"]},
        ],
        "name": [{"family": "Smith"}],
    }
    r = client.put(
        f"/fhir/Patient?identifier={HOSP_URI}|H1", json=sparse, headers=systems.headers("HOSP")
    )
    assert r.status_code == 201
    assert r.json["id"] != person
    seen = _seen_by(client, systems, "HOSP", "H1", person)
    for secret in GP_ONLY:
        assert secret not in seen


def test_strong_evidence_still_links(client, systems):
    person = _register(client, systems, "GP", "G-ALICE", alice()).json["person_id"]
    strong = {"nhs_number": alice()["nhs_number"], "family_name": "Smith"}
    strong["birth_date"] = "1980-03-15"
    r = _register(client, systems, "HOSP", "H1", strong)
    assert r.json["decision"] == "linked" and r.json["person_id"] == person


def test_a_co_twins_nhs_number_is_reviewed_not_linked(client, systems):
    person = _register(client, systems, "GP", "G-ALICE", alice()).json["person_id"]
    brother = alice(
        given_name="Adam", sex="male", address_line="9 Low Road, Leeds", postcode="LS2 7HY"
    )
    del brother["phone"]
    r = _register(client, systems, "HOSP", "H1", brother)
    assert r.json["decision"] == "review"
    assert r.json["person_id"] != person


def test_v1_takes_multiple_birth_and_death_and_shows_them(client, systems):
    body = alice(multiple_birth=True, birth_order=2, deceased_at="2024-02-03T10:15:00Z")
    r = _register(client, systems, "GP", "G-ALICE", body)
    assert r.status_code == 200, r.json
    golden = client.get(f"/v1/persons/{r.json['person_id']}", headers=systems.headers("GP"))
    shown = golden.json["golden"]
    assert shown["multiple_birth"] is True and shown["birth_order"] == 2
    assert shown["deceased"] is True and shown["deceased_at"] == "2024-02-03T10:15:00Z"
    fhir = client.get(f"/fhir/Patient/{r.json['person_id']}", headers=systems.headers("GP"))
    patient = Patient.model_validate(fhir.json)
    assert patient.multipleBirthInteger == 2
    assert fhir.json["deceasedDateTime"] == "2024-02-03T10:15:00Z"
    # twin 1 from the hospital, otherwise the same: never linked to twin 2
    twin = _register(client, systems, "HOSP", "H1", alice(multiple_birth=True, birth_order=1))
    assert twin.json["decision"] == "review"
    assert twin.json["person_id"] != r.json["person_id"]


def test_v1_refuses_bad_multiple_birth_and_death_naming_the_field(client, systems, db_url):
    for field, value in (
        ("multiple_birth", "perhaps"),
        ("birth_order", "two"),
        ("birth_order", 0),
        ("deceased", 1),
        ("deceased_at", "03/02/2024"),
    ):
        r = _register(client, systems, "GP", "G-ALICE", alice(**{field: value}))
        assert r.status_code == 400, (field, value)
        assert field in json.dumps(r.json), r.json
    r = _register(client, systems, "GP", "G-ALICE", alice(deceased=False, deceased_at="2024-01-01"))
    assert r.status_code == 400 and "deceased_at" in json.dumps(r.json)


def _fhir_patient(value: str, n: int = 1, **changes: Any) -> dict[str, Any]:
    resource = {
        "resourceType": "Patient",
        "identifier": [
            {"system": GP_URI, "value": value},
            {"system": NHS, "value": synthetic_nhs_number(n)},
        ],
        "name": [{"use": "official", "family": "Jones", "given": ["Bethan"]}],
        "gender": "female",
        "birthDate": "1975-07-04",
        "address": [{"use": "home", "line": ["2 Mill Lane"], "postalCode": "BD7 1DP"}],
    }
    resource.update(changes)
    return resource


def test_fhir_keeps_multiple_birth_and_deceased(client, systems):
    r = client.put(
        f"/fhir/Patient?identifier={GP_URI}|G1",
        json=_fhir_patient("G1", multipleBirthBoolean=True, deceasedBoolean=True),
        headers=systems.headers("GP"),
    )
    assert r.status_code == 201
    assert r.json["multipleBirthBoolean"] is True and r.json["deceasedBoolean"] is True
    r = client.put(
        f"/fhir/Patient?identifier={GP_URI}|G1",
        json=_fhir_patient("G1", multipleBirthInteger=1, deceasedDateTime="2023-11-30"),
        headers=systems.headers("GP"),
    )
    assert r.status_code == 200
    assert r.json["multipleBirthInteger"] == 1 and r.json["deceasedDateTime"] == "2023-11-30"
    bad = client.put(
        f"/fhir/Patient?identifier={GP_URI}|G2",
        json=_fhir_patient("G2", n=2, multipleBirthInteger=0),
        headers=systems.headers("GP"),
    )
    assert bad.status_code == 400
    assert bad.json["issue"][0]["expression"] == ["Patient.multipleBirthInteger"]


def test_served_a_sparse_registration_opens_nothing(served, systems):  # noqa: F811
    base, _ = served
    session = requests.Session()

    def headers(system: str) -> dict[str, str]:
        return systems.headers(system) | {"Content-Type": "application/json"}

    gp = session.put(
        f"{base}/v1/systems/GP/records/G-ALICE", json=alice(), headers=headers("GP"), timeout=30
    )
    assert gp.status_code == 200
    sparse = {"nhs_number": alice()["nhs_number"], "family_name": "Smith"}
    r = session.put(
        f"{base}/v1/systems/HOSP/records/H1", json=sparse, headers=headers("HOSP"), timeout=30
    )
    assert r.status_code == 200 and r.json()["decision"] != "linked"
    seen = session.get(f"{base}/v1/systems/HOSP/records/H1", headers=headers("HOSP"), timeout=30)
    shown = (
        seen.text
        + session.get(
            f"{base}/fhir/Patient/{gp.json()['person_id']}", headers=headers("HOSP"), timeout=30
        ).text
    )
    for secret in GP_ONLY:
        assert secret not in shown
