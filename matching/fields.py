"""The one declared list of demographic fields, and of the normalised columns they fill.

Every surface derives its field list from :data:`FIELDS`: the ``Demographics`` type, the
CSV columns of a bulk load, the ``/v1`` body and its OpenAPI schema, the FHIR Patient
elements read and rendered, the HL7 v2 PID positions, the golden view and the review
page's labels. :data:`COLUMNS` declares the normalised form (``NormalisedRecord``) and the
store's columns of it, in storage order.

A new field is one more :class:`Field` here. A field that is only kept (not compared) needs
nothing else: its value travels in the stored payload and reaches the golden view, ``/v1``
and FHIR from it. A field that is compared also needs its normalisation (in
:func:`matching.normalise.normalise`), its columns here and in a migration, and a
comparison in :mod:`matching.comparisons` named by :attr:`Field.comparison`.

The functions below derive each surface's list; ``fields`` (or ``columns``) ``None``
means the declared :data:`FIELDS` (:data:`COLUMNS`), and another tuple (a test's
registry with one more field) gives that one's lists.

Pure data: this module imports nothing from the rest of the package.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Any, Literal

#: How a field's value is sent: text, a boolean flag, or a whole number.
Kind = Literal["text", "flag", "count"]

_TEXT_SCHEMA: Mapping[str, Any] = MappingProxyType(
    {"type": "string", "maxLength": 200, "nullable": True}
)


@dataclass(frozen=True, slots=True)
class Field:
    """One demographic field as a connected system sends it.

    Attributes:
        name: the field's name in ``Demographics``, the ``/v1`` body, the golden view and
            the stored payload.
        kind: ``text`` (a string), ``flag`` (true/false) or ``count`` (a whole number).
        label: the field's name as shown to people (the review page).
        normalised_by: the function of :mod:`matching` that normalises it
            (``module.function``; a test checks that it exists), ``None`` for a field
            kept as sent.
        columns: the normalised columns (:data:`COLUMNS`) it fills.
        comparison: the comparison in :mod:`matching.comparisons` that reads it (``None``:
            not weighed).
        blocking: the prefixes of the blocking keys it takes part in.
        csv: its CSV column (``None``: not read from a CSV).
        csv_required: a CSV must have this column.
        fhir: the FHIR R4 Patient element it maps to (FHIRPath-like).
        fhir_search: its PDQm search parameter (``None``: not searchable by itself).
        hl7: where it is in an HL7 v2 message: (segment, field, component; 0 = the whole
            field).
        golden: survivorship picks it for the golden view.
        companion: a golden field whose value it always comes with (the same record
            supplies both), e.g. a birth order with its multiple-birth flag.
        identifying: one of the fields of which a record needs at least one.
        schema: its JSON schema in the OpenAPI document (``/v1``).
    """

    name: str
    kind: Kind
    label: str
    normalised_by: str | None
    fhir: str
    hl7: tuple[str, int, int]
    columns: tuple[str, ...] = ()
    comparison: str | None = None
    blocking: tuple[str, ...] = ()
    csv: str | None = None
    csv_required: bool = False
    fhir_search: str | None = None
    golden: bool = True
    companion: str | None = None
    identifying: bool = False
    schema: Mapping[str, Any] = field(default_factory=lambda: _TEXT_SCHEMA, hash=False)

    @property
    def python_type(self) -> Any:
        """The type of the value as sent (``None``: not sent)."""
        return {"text": str | None, "flag": bool | str | None, "count": int | str | None}[self.kind]


@dataclass(frozen=True, slots=True)
class Column:
    """One attribute of the normalised record and its store column.

    ``sql_type`` is the column's PostgreSQL type; an array (``text[]``) is a tuple in
    Python. ``field`` names the field it comes from (``None``: from several, as ``issues``).
    """

    name: str
    sql_type: str
    python_type: Any
    default: Any
    field: str | None

    @property
    def is_array(self) -> bool:
        """The column is an array (a tuple in the normalised record)."""
        return self.sql_type.endswith("[]")


FIELDS: tuple[Field, ...] = (
    Field(
        "nhs_number",
        "text",
        "NHS number",
        "matching.nhs_number.check",
        fhir="Patient.identifier",
        hl7=("PID", 3, 1),
        columns=("nhs_number", "nhs_verified"),
        comparison="nhs_number",
        blocking=("nhs",),
        csv="nhs_number",
        csv_required=True,
        identifying=True,
    ),
    Field(
        "nhs_number_status",
        "text",
        "NHS number status",
        "matching.nhs_number.normalise_verification_status",
        fhir="Patient.identifier.extension",
        hl7=("PID", 32, 0),
        columns=("nhs_verified",),
        comparison="nhs_number",
        csv="nhs_number_status",
        golden=False,
    ),
    Field(
        "given_name",
        "text",
        "Given name",
        "matching.normalise.normalise_given_names",
        fhir="Patient.name.given",
        hl7=("PID", 5, 2),
        columns=("given_names", "given_phonetic", "given_script"),
        comparison="given_name",
        blocking=("dob+name", "names+yob", "adr+name"),
        csv="given_name",
        csv_required=True,
        fhir_search="given",
        identifying=True,
    ),
    Field(
        "family_name",
        "text",
        "Family name",
        "matching.normalise.normalise_family_name",
        fhir="Patient.name.family",
        hl7=("PID", 5, 1),
        columns=("family_name", "family_parts", "family_phonetic", "family_script"),
        comparison="family_name",
        blocking=("dob+name", "names+yob", "dobswap+fam", "pc+fam", "adr+name"),
        csv="family_name",
        csv_required=True,
        fhir_search="family",
        identifying=True,
    ),
    Field(
        "sex",
        "text",
        "Sex",
        "matching.normalise.normalise_sex",
        fhir="Patient.gender",
        hl7=("PID", 8, 0),
        columns=("sex",),
        comparison="sex",
        csv="sex",
        csv_required=True,
        fhir_search="gender",
    ),
    Field(
        "birth_date",
        "text",
        "Date of birth",
        "matching.normalise.parse_birth_date",
        fhir="Patient.birthDate",
        hl7=("PID", 7, 0),
        columns=("birth_date",),
        comparison="birth_date",
        blocking=("dob+name", "names+yob", "dobswap+fam", "adr+yob", "pc+yob"),
        csv="birth_date",
        csv_required=True,
        fhir_search="birthdate",
        identifying=True,
    ),
    Field(
        "address_line",
        "text",
        "Address",
        "matching.normalise.normalise_address",
        fhir="Patient.address.line",
        hl7=("PID", 11, 1),
        columns=("address",),
        comparison="address",
        blocking=("adr+yob", "adr+name"),
        csv="address_line",
        csv_required=True,
    ),
    Field(
        "postcode",
        "text",
        "Postcode",
        "matching.normalise.normalise_postcode",
        fhir="Patient.address.postalCode",
        hl7=("PID", 11, 5),
        columns=("postcode",),
        comparison="postcode",
        blocking=("pc+yob", "pc+fam"),
        csv="postcode",
        csv_required=True,
        fhir_search="address-postalcode",
    ),
    Field(
        "phone",
        "text",
        "Phone",
        "matching.normalise.normalise_phone",
        fhir="Patient.telecom",
        hl7=("PID", 13, 1),
        columns=("phone",),
        comparison="phone",
        csv="phone",
        csv_required=True,
    ),
    Field(
        "multiple_birth",
        "flag",
        "Multiple birth",
        "matching.vital.parse_flag",
        fhir="Patient.multipleBirthBoolean",
        hl7=("PID", 24, 0),
        columns=("multiple_birth",),
        csv="multiple_birth",
        schema=MappingProxyType({"type": "boolean", "nullable": True}),
    ),
    Field(
        "birth_order",
        "count",
        "Birth order",
        "matching.vital.vital_status",
        fhir="Patient.multipleBirthInteger",
        hl7=("PID", 25, 0),
        columns=("birth_order",),
        csv="birth_order",
        companion="multiple_birth",
        schema=MappingProxyType({"type": "integer", "minimum": 1, "maximum": 16, "nullable": True}),
    ),
    Field(
        "deceased",
        "flag",
        "Deceased",
        "matching.vital.parse_flag",
        fhir="Patient.deceasedBoolean",
        hl7=("PID", 30, 0),
        columns=("deceased",),
        csv="deceased",
        schema=MappingProxyType({"type": "boolean", "nullable": True}),
    ),
    Field(
        "deceased_at",
        "text",
        "Date of death",
        "matching.vital.vital_status",
        fhir="Patient.deceasedDateTime",
        hl7=("PID", 29, 0),
        columns=("deceased_at",),
        csv="deceased_at",
        companion="deceased",
        schema=MappingProxyType(
            {
                "type": "string",
                "maxLength": 40,
                "nullable": True,
                "description": "ISO date (YYYY, YYYY-MM, YYYY-MM-DD) or date-time",
            }
        ),
    ),
)

_TEXTS = tuple[str, ...]
COLUMNS: tuple[Column, ...] = (
    Column("nhs_number", "text", str | None, None, "nhs_number"),
    Column("nhs_verified", "boolean", bool, False, "nhs_number_status"),
    Column("given_names", "text[]", _TEXTS, (), "given_name"),
    Column("family_name", "text", str | None, None, "family_name"),
    Column("family_parts", "text[]", _TEXTS, (), "family_name"),
    Column("birth_date", "date", date | None, None, "birth_date"),
    Column("sex", "text", str | None, None, "sex"),
    Column("postcode", "text", str | None, None, "postcode"),
    Column("address", "text", str | None, None, "address_line"),
    Column("phone", "text", str | None, None, "phone"),
    Column("given_phonetic", "text", str | None, None, "given_name"),
    Column("family_phonetic", "text", str | None, None, "family_name"),
    Column("issues", "text[]", _TEXTS, (), None),
    Column("multiple_birth", "boolean", bool | None, None, "multiple_birth"),
    Column("birth_order", "smallint", int | None, None, "birth_order"),
    Column("deceased", "boolean", bool | None, None, "deceased"),
    Column("deceased_at", "text", str | None, None, "deceased_at"),
    Column("given_script", "text[]", _TEXTS, (), "given_name"),
    Column("family_script", "text[]", _TEXTS, (), "family_name"),
)


def _or_declared(fields: Iterable[Field] | None) -> Iterable[Field]:
    return FIELDS if fields is None else fields


def _or_columns(columns: Iterable[Column] | None) -> Iterable[Column]:
    return COLUMNS if columns is None else columns


def names(fields: Iterable[Field] | None = None) -> tuple[str, ...]:
    """The fields' names, in declared order."""
    return tuple(f.name for f in _or_declared(fields))


def of_kind(kind: Kind, fields: Iterable[Field] | None = None) -> tuple[str, ...]:
    """The names of the fields of one kind (``text``, ``flag`` or ``count``)."""
    return tuple(f.name for f in _or_declared(fields) if f.kind == kind)


def golden_fields(fields: Iterable[Field] | None = None) -> tuple[str, ...]:
    """The fields of the golden view, in the order it lists them."""
    return tuple(f.name for f in _or_declared(fields) if f.golden)


def companions(fields: Iterable[Field] | None = None) -> dict[str, str]:
    """Golden field -> the field whose record must supply it too."""
    return {f.name: f.companion for f in _or_declared(fields) if f.companion}


def identifying(fields: Iterable[Field] | None = None) -> tuple[str, ...]:
    """The fields of which a record must carry at least one."""
    return tuple(f.name for f in _or_declared(fields) if f.identifying)


def csv_columns(fields: Iterable[Field] | None = None, *, required: bool) -> tuple[str, ...]:
    """The CSV columns a file must have (``required``), or may add (not ``required``)."""
    return tuple(f.csv for f in _or_declared(fields) if f.csv and f.csv_required == required)


def csv_field_names(fields: Iterable[Field] | None = None) -> dict[str, str]:
    """CSV column -> field name."""
    return {f.csv: f.name for f in _or_declared(fields) if f.csv}


def json_schema(fields: Iterable[Field] | None = None) -> dict[str, Any]:
    """The OpenAPI (3.0) schema of a demographics object: one property per field."""
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {f.name: dict(f.schema) for f in _or_declared(fields)},
    }


def fhir_elements(fields: Iterable[Field] | None = None) -> dict[str, str]:
    """Field name -> the FHIR Patient element it maps to."""
    return {f.name: f.fhir for f in _or_declared(fields)}


def fhir_search_parameters(fields: Iterable[Field] | None = None) -> dict[str, str]:
    """Field name -> its PDQm search parameter, for the searchable fields."""
    return {f.name: f.fhir_search for f in _or_declared(fields) if f.fhir_search}


def hl7_locations(fields: Iterable[Field] | None = None) -> dict[str, tuple[str, int, int]]:
    """Field name -> (segment, field, component) in an HL7 v2 message."""
    return {f.name: f.hl7 for f in _or_declared(fields)}


def labels(fields: Iterable[Field] | None = None) -> dict[str, str]:
    """Field name -> its label as shown to people, for the golden fields."""
    return {f.name: f.label for f in _or_declared(fields) if f.golden}


def compared_by(fields: Iterable[Field] | None = None) -> dict[str, str]:
    """Golden field name -> the comparison that reads it (for the compared ones)."""
    return {f.name: f.comparison for f in _or_declared(fields) if f.comparison and f.golden}


def column_names(columns: Iterable[Column] | None = None) -> tuple[str, ...]:
    """The normalised columns' names, in storage order."""
    return tuple(c.name for c in _or_columns(columns))


def column_definitions(columns: Iterable[Column] | None = None) -> str:
    """The normalised columns as SQL column definitions (``name type, ...``)."""
    return ", ".join(f"{c.name} {c.sql_type}" for c in _or_columns(columns))
