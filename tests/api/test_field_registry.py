"""Every surface takes its fields from the registry (:mod:`matching.fields`).

Each declared field reaches the CSV columns, the /v1 body and its OpenAPI schema, the
FHIR elements, the HL7 v2 locations and the golden view; a golden value survives FHIR
rendering and reading back; the store has each declared column. A field added to the
registry (in a process of its own) is accepted and served by /v1, FHIR, OpenAPI and
`mpi load`, with no other change.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import psycopg
import pytest

from api.fhir.input import RESOURCE_FIELDS
from api.fhir.render import patient
from api.v1 import records as v1_records
from api.v1.openapi import document
from matching import fields
from mpi.fhir_patient import demographics_from_patient
from mpi.hl7.handler import FIELD_LOCATION
from mpi.identities import GOLDEN_FIELDS
from mpi.loading import CSV_COLUMNS, OPTIONAL_CSV_COLUMNS
from mpi.review import FIELD_LABELS
from tests.api.conftest import Systems

FIELD_IDS = [f.name for f in fields.FIELDS]
#: A golden value of each kind, as the golden view gives it.
SAMPLES: dict[str, Any] = {
    "nhs_number": "9990000018",
    "given_name": "Mary Anne",
    "family_name": "Smith",
    "sex": "female",
    "birth_date": "1980-03-15",
    "address_line": "1 High Street, Leeds",
    "postcode": "LS1 4AP",
    "phone": "0113 496 0000",
    "multiple_birth": True,
    "birth_order": 2,
    "deceased": True,
    "deceased_at": "2020-05-06",
}


@pytest.mark.parametrize("field", fields.FIELDS, ids=FIELD_IDS)
def test_the_field_reaches_every_surface(field: fields.Field) -> None:
    assert field.name in v1_records.FIELDS
    properties = document()["components"]["schemas"]["Demographics"]["properties"]
    assert properties[field.name] == dict(field.schema)
    assert RESOURCE_FIELDS[field.name] == field.fhir
    assert FIELD_LOCATION[field.name] == field.hl7
    if field.csv:
        assert field.csv in CSV_COLUMNS + OPTIONAL_CSV_COLUMNS
    assert (field.name in GOLDEN_FIELDS) == field.golden
    if field.golden:
        assert FIELD_LABELS[field.name] == field.label


@pytest.mark.parametrize("name", [n for n in fields.golden_fields()], ids=str)
def test_a_golden_value_survives_fhir_rendering_and_reading(name: str) -> None:
    golden = {name: SAMPLES[name]}
    if name == "birth_order":
        golden["multiple_birth"] = True
    if name == "deceased_at":
        golden["deceased"] = True
    resource = patient("7K3M-Q9TZ-A2C4", golden=golden)
    read = getattr(demographics_from_patient(resource), name)
    assert read == SAMPLES[name]


def test_the_store_has_every_declared_column(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        found = dict(
            conn.execute(
                "SELECT column_name, CASE WHEN data_type = 'ARRAY'"
                " THEN substr(udt_name, 2) || '[]' ELSE data_type END"
                " FROM information_schema.columns WHERE table_name = 'source_record'"
            ).fetchall()
        )
    aliases = {"text[]": "text[]", "date": "date", "smallint": "smallint"}
    for column in fields.COLUMNS:
        assert found[column.name] == aliases.get(column.sql_type, column.sql_type), column


# The registry is loaded and extended before anything else is imported, as if its file
# declared one more field: every other module then derives its lists from it.
_NEW_FIELD = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("matching.fields", sys.argv[4])
fields = sys.modules["matching.fields"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fields)
fields.FIELDS = (
    *fields.FIELDS,
    fields.Field(
        "preferred_language", "text", "Language", None,
        fhir="Patient.language", hl7=("PID", 15, 1), csv="language",
    ),
)
from click.testing import CliRunner
from api import create_app
from mpi.cli import main
from mpi.config import Settings

url, token, csv_path = sys.argv[1:4]
app = create_app(
    {"TESTING": True, "SETTINGS": Settings(database_url=url, environment="test"),
     "POOL_MIN_SIZE": 1, "POOL_MAX_SIZE": 2}
)
client = app.test_client()
auth = {"Authorization": f"Bearer {token}"}
out = {}
schema = client.get("/openapi.json").get_json()["components"]["schemas"]["Demographics"]
out["openapi"] = schema["properties"].get("preferred_language")
body = {"given_name": "Ann", "family_name": "Lee", "birth_date": "1990-01-01",
        "preferred_language": "cy"}
put = client.put("/v1/systems/GP/records/L1", json=body, headers=auth).get_json()
out["v1"] = client.get(f"/v1/persons/{put['person_id']}", headers=auth).get_json()["golden"]
out["fhir"] = client.get(f"/fhir/Patient/{put['person_id']}", headers=auth).get_json()
resource = {
    "resourceType": "Patient", "language": "en-GB", "gender": "male",
    "identifier": [{"system": "https://fhir.gp.example.nhs.uk/Id/patient-number",
                    "value": "F1"}],
    "name": [{"family": "Okafor", "given": ["Chidi"]}], "birthDate": "1975-07-07",
}
created = client.post("/fhir/Patient", json=resource,
                      headers={**auth, "Content-Type": "application/fhir+json"})
out["fhir_create"] = created.status_code
out["fhir_golden"] = client.get(
    f"/v1/persons/{created.get_json()['id']}", headers=auth).get_json()["golden"]
loaded = CliRunner().invoke(main, ["load", "GP", csv_path, "--quiet"], env={"DATABASE_URL": url})
out["load"] = loaded.output
found = client.get("/v1/systems/GP/records/C1", headers=auth).get_json()
out["csv_golden"] = client.get(
    f"/v1/persons/{found['person_id']}", headers=auth).get_json()["golden"]
app.extensions["mpi_pool"].close()
print(json.dumps(out))
"""


def test_a_field_added_to_the_registry_is_served_everywhere(
    db_url: str, systems: Systems, tmp_path: Path
) -> None:
    csv_path = tmp_path / "gp.csv"
    csv_path.write_text(
        ",".join((*CSV_COLUMNS, "language")) + "\nC1,,Tomos,Evans,male,1960-02-02,,,,cy-GB\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_NEW_FIELD), db_url, systems.tokens["GP"]]
        + [str(csv_path), fields.__file__],
        env={**os.environ, "MPI_ENVIRONMENT": "test"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["openapi"] == {"type": "string", "maxLength": 200, "nullable": True}
    assert out["v1"]["preferred_language"] == "cy"
    assert out["fhir"]["language"] == "cy"
    assert out["fhir_create"] == 201
    assert out["fhir_golden"]["preferred_language"] == "en-GB"
    assert "1 records loaded" in out["load"] and "unknown" not in out["load"]
    assert out["csv_golden"]["preferred_language"] == "cy-GB"
