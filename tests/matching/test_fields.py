"""The field registry is consistent: what each field declares exists and agrees."""

from __future__ import annotations

import dataclasses
import importlib
from datetime import date

import pytest

from matching import fields
from matching.blocking import blocking_keys
from matching.comparisons import COMPARISONS
from matching.normalise import normalise
from matching.types import Demographics, NormalisedRecord

FIELD_IDS = [f.name for f in fields.FIELDS]


def test_the_value_types_are_made_from_the_registry() -> None:
    assert tuple(f.name for f in dataclasses.fields(Demographics)) == fields.names()
    assert tuple(f.name for f in dataclasses.fields(NormalisedRecord)) == fields.column_names()
    assert Demographics().given_name is None
    assert NormalisedRecord().given_names == () and NormalisedRecord().nhs_verified is False
    with pytest.raises(dataclasses.FrozenInstanceError):
        Demographics().given_name = "x"  # type: ignore[misc]


def test_names_and_csv_columns_are_unique() -> None:
    assert len(set(fields.names())) == len(fields.FIELDS)
    csv = [f.csv for f in fields.FIELDS if f.csv]
    assert len(set(csv)) == len(csv) and "local_id" not in csv
    assert len(set(fields.column_names())) == len(fields.COLUMNS)


@pytest.mark.parametrize("field", fields.FIELDS, ids=FIELD_IDS)
def test_the_normaliser_exists(field: fields.Field) -> None:
    if field.normalised_by is not None:
        module, _, function = field.normalised_by.rpartition(".")
        assert callable(getattr(importlib.import_module(module), function))


@pytest.mark.parametrize("field", fields.FIELDS, ids=FIELD_IDS)
def test_the_comparison_and_columns_exist(field: fields.Field) -> None:
    if field.comparison is not None:
        assert field.comparison in {c.name for c in COMPARISONS}
    assert set(field.columns) <= set(fields.column_names())
    if field.companion is not None:
        assert field.companion in fields.golden_fields() and field.golden


@pytest.mark.parametrize("field", fields.FIELDS, ids=FIELD_IDS)
def test_the_schema_is_of_the_fields_kind(field: fields.Field) -> None:
    expected = {"text": "string", "flag": "boolean", "count": "integer"}[field.kind]
    assert field.schema["type"] == expected and field.schema["nullable"] is True


@pytest.mark.parametrize("field", fields.FIELDS, ids=FIELD_IDS)
def test_the_fhir_element_is_a_patient_element(field: fields.Field) -> None:
    assert field.fhir.startswith("Patient.")
    segment, number, component = field.hl7
    assert segment == "PID" and 1 <= number <= 40 and component >= 0


def test_every_column_comes_from_a_declared_field() -> None:
    columns_of = {f.name: f.columns for f in fields.FIELDS}
    for column in fields.COLUMNS:
        if column.field is not None:
            assert column.name in columns_of[column.field]
    claimed = {c for f in fields.FIELDS for c in f.columns}
    assert claimed == set(fields.column_names()) - {"issues"}


def test_the_blocking_prefixes_are_the_ones_blocking_makes() -> None:
    rec = normalise(
        Demographics(
            nhs_number="9990000018",
            given_name="Alice",
            family_name="Smith-Jones",
            birth_date="1980-03-04",
            address_line="1 High Street",
            postcode="LS1 4AP",
        ),
        allow_test_nhs_numbers=True,
        today=date(2026, 1, 1),
    )
    made = {key.split(":")[0] for key in blocking_keys(rec)}
    declared = {p for f in fields.FIELDS for p in f.blocking}
    assert made == declared


def test_a_registry_can_be_extended_and_derives_everything_from_it() -> None:
    extra = fields.Field(
        "preferred_language",
        "text",
        "Language",
        None,
        fhir="Patient.language",
        hl7=("PID", 15, 1),
        csv="language",
    )
    extended = (*fields.FIELDS, extra)
    assert fields.names(extended)[-1] == "preferred_language"
    assert fields.csv_columns(extended, required=False)[-1] == "language"
    assert fields.csv_field_names(extended)["language"] == "preferred_language"
    assert "preferred_language" in fields.json_schema(extended)["properties"]
    assert fields.fhir_elements(extended)["preferred_language"] == "Patient.language"
    assert fields.golden_fields(extended)[-1] == "preferred_language"
    assert fields.labels(extended)["preferred_language"] == "Language"
    assert "preferred_language" not in fields.names()
