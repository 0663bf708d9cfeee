"""Issue 10, findings 2, 7 and 8: no way in by registration, borrowed numbers, twins.

A registration gains a care relationship (its record linked into an identity another
system holds) only through strong evidence; a co-twin's NHS number with another sex and
given name is reviewed; birth order and a multiple birth keep twins apart; multiple birth
and death are kept and shown in the golden view. Real PostgreSQL, every path: one
registration and a bulk load.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from mpi.identities import golden_view
from mpi.loading import CSV_COLUMNS, OPTIONAL_CSV_COLUMNS, load_file
from mpi.records import register
from mpi.store import records as record_store
from mpi.store import systems
from tests.helpers import row, synthetic_nhs_number

NHS_A = synthetic_nhs_number(31)
NHS_B = synthetic_nhs_number(32)
FULL = dict(
    nhs_number=NHS_A,
    given_name="Oliver",
    family_name="Brennan",
    sex="male",
    birth_date="2011-06-14",
    address_line="27 Mill Lane",
    postcode="HX3 6AB",
    phone="01422 555 0101",
)


def _systems(conn: psycopg.Connection[Any]) -> None:
    systems.ensure_system(conn, "GP", "GP practices", "gp", 1)
    systems.ensure_system(conn, "HOSP", "Hospital EPR", "hospital", 2)


def _person_records(conn: psycopg.Connection[Any], person_id: str) -> set[tuple[str, str]]:
    rows = conn.execute(
        "SELECT s.code, r.local_id FROM link l JOIN person p ON p.id = l.person_id"
        " JOIN source_record r ON r.id = l.record_id JOIN source_system s ON s.id = r.system_id"
        " WHERE p.person_id = %s",
        (person_id,),
    ).fetchall()
    return set(rows)


# Finding 2: relationship by strong evidence only ---------------------------------------


@pytest.mark.parametrize(
    "sent",
    [
        pytest.param(dict(nhs_number=NHS_A, family_name="Brennan"), id="nhs-and-family-name"),
        pytest.param(dict(nhs_number=NHS_A, birth_date="2011-06-14"), id="nhs-and-birth-date"),
        pytest.param(
            dict(nhs_number=NHS_A, given_name="Oliver", family_name="Brennan", sex="male"),
            id="nhs-and-names-no-birth-date",
        ),
        pytest.param(
            {k: v for k, v in FULL.items() if k != "birth_date"}, id="all-but-the-birth-date"
        ),
        pytest.param(
            dict(given_name="Oliver", family_name="Brennan", birth_date="2011-06-14"),
            id="names-and-birth-date-only",
        ),
    ],
)
def test_a_sparse_record_never_opens_another_systems_identity(conn, ctx, sent):
    _systems(conn)
    gp = register(conn, ctx, "GP", row(ctx, "G1", **FULL))
    hosp = register(conn, ctx, "HOSP", row(ctx, "H1", **sent))
    assert hosp.person_id != gp.person_id
    assert hosp.decision in ("review", "new_person")
    assert _person_records(conn, gp.person_id) == {("GP", "G1")}


@pytest.mark.parametrize(
    "sent",
    [
        pytest.param(
            dict(nhs_number=NHS_A, family_name="Brennan", birth_date="2011-06-14"),
            id="nhs-birth-date-and-a-name",
        ),
        pytest.param({k: v for k, v in FULL.items() if k != "nhs_number"}, id="full-demographics"),
        pytest.param(
            {k: v for k, v in FULL.items() if k not in ("nhs_number", "family_name")},
            id="given-name-birth-date-home-and-phone",
        ),
    ],
)
def test_strong_evidence_links(conn, ctx, sent):
    _systems(conn)
    gp = register(conn, ctx, "GP", row(ctx, "G1", **FULL))
    hosp = register(conn, ctx, "HOSP", row(ctx, "H1", **sent))
    assert hosp.decision == "linked"
    assert hosp.person_id == gp.person_id


def test_a_sparse_record_links_where_its_own_system_already_holds_the_identity(conn, ctx):
    _systems(conn)
    gp = register(conn, ctx, "GP", row(ctx, "G1", **FULL))
    again = register(conn, ctx, "GP", row(ctx, "G2", nhs_number=NHS_A, family_name="Brennan"))
    assert again.decision == "linked" and again.person_id == gp.person_id
    other = register(conn, ctx, "HOSP", row(ctx, "H1", nhs_number=NHS_A, family_name="Brennan"))
    assert other.person_id != gp.person_id


def _csv(path: Path, rows: list[dict[str, str]], extra: tuple[str, ...] = ()) -> Path:
    lines = [",".join(CSV_COLUMNS + extra)]
    for r in rows:
        lines.append(",".join(r.get(c, "") for c in CSV_COLUMNS + extra))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_bulk_load_applies_the_same_rule(committed_db, ctx, tmp_path):
    with psycopg.connect(committed_db) as conn:
        gp = systems.ensure_system(conn, "GP", "GP practices", "gp", 1)
        hosp = systems.ensure_system(conn, "HOSP", "Hospital EPR", "hospital", 2)
    load_file(committed_db, ctx, gp, _csv(tmp_path / "gp.csv", [dict(local_id="G1", **FULL)]))
    sparse = [
        dict(local_id="H1", nhs_number=NHS_A, family_name="Brennan"),
        dict(local_id="H2", nhs_number=NHS_A, birth_date="2011-06-14"),
    ]
    report = load_file(committed_db, ctx, hosp, _csv(tmp_path / "hosp.csv", sparse))
    assert report.decisions.get("linked", 0) == 0
    with psycopg.connect(committed_db) as conn:
        linked = conn.execute(
            "SELECT count(DISTINCT l.person_id) FROM link l JOIN source_record r"
            " ON r.id = l.record_id"
        ).fetchone()[0]
        assert linked == 3  # the GP's person and one each for H1 and H2


# Finding 7: a co-twin's NHS number ---------------------------------------------------------


def test_a_co_twins_nhs_number_with_another_sex_and_given_name_is_reviewed(conn, ctx):
    _systems(conn)
    oliver = register(conn, ctx, "GP", row(ctx, "G1", **FULL))
    olivia = register(
        conn,
        ctx,
        "HOSP",
        row(
            ctx,
            "H1",
            **{
                **FULL,
                "given_name": "Grace",
                "sex": "female",
                "address_line": "4 Moor End",
                "postcode": "HX2 0AA",
                "phone": "",
            },
        ),
    )
    assert olivia.person_id != oliver.person_id
    assert olivia.decision == "review"
    reason = conn.execute("SELECT reason FROM review_item WHERE status = 'open'").fetchone()[0]
    assert reason == "nhs_number_shared_conflict"


# Finding 8: multiple birth and death -------------------------------------------------------


def test_different_birth_orders_never_link_even_with_one_nhs_number(conn, ctx):
    _systems(conn)
    first = register(conn, ctx, "GP", row(ctx, "G1", **FULL, multiple_birth="Y", birth_order="1"))
    second = register(conn, ctx, "HOSP", row(ctx, "H1", **FULL, birth_order="2"))
    assert second.person_id != first.person_id
    assert second.decision == "review"
    reason = conn.execute("SELECT reason FROM review_item WHERE status = 'open'").fetchone()[0]
    assert reason == "twin_risk"


def test_a_multiple_birth_with_another_given_name_never_links(conn, ctx):
    _systems(conn)
    twin = register(conn, ctx, "GP", row(ctx, "G1", **FULL, multiple_birth="true"))
    other = register(conn, ctx, "HOSP", row(ctx, "H1", **{**FULL, "given_name": "Owen"}))
    assert other.person_id != twin.person_id
    assert other.decision == "review"


def test_the_same_twin_links_and_the_golden_view_keeps_birth_and_death(conn, ctx):
    _systems(conn)
    gp = register(
        conn,
        ctx,
        "GP",
        row(ctx, "G1", **FULL, multiple_birth="Y", birth_order="2", deceased_at="2024-02-03"),
    )
    hosp = register(
        conn, ctx, "HOSP", row(ctx, "H1", **FULL, multiple_birth="true", deceased="false")
    )
    assert hosp.decision == "linked" and hosp.person_id == gp.person_id
    stored = record_store.record_details_of_person(
        conn,
        conn.execute("SELECT id FROM person WHERE person_id = %s", (gp.person_id,)).fetchone()[0],
    )
    by_id = {r.local_id: r for r in stored}
    assert (by_id["G1"].norm.multiple_birth, by_id["G1"].norm.birth_order) == (True, 2)
    assert (by_id["G1"].norm.deceased, by_id["G1"].norm.deceased_at) == (True, "2024-02-03")
    assert (by_id["H1"].norm.deceased, by_id["H1"].norm.deceased_at) == (False, None)
    golden = {k: (v.value, v.system) for k, v in golden_view(stored).items()}
    # the GP (trust rank 1) supplies each field, and each companion with its lead
    assert golden["multiple_birth"] == ("true", "GP")
    assert golden["birth_order"] == ("2", "GP")
    assert golden["deceased"] == ("true", "GP")
    assert golden["deceased_at"] == ("2024-02-03", "GP")


def test_a_companion_field_comes_only_with_its_lead(conn, ctx):
    _systems(conn)
    # the GP says "not deceased"; the hospital has a death date: the golden view does not
    # combine the GP's "false" with the hospital's date
    gp = register(conn, ctx, "GP", row(ctx, "G1", **FULL, deceased="N"))
    register(conn, ctx, "HOSP", row(ctx, "H1", **FULL, deceased_at="2024-02-03"))
    pk = conn.execute("SELECT id FROM person WHERE person_id = %s", (gp.person_id,)).fetchone()[0]
    golden = golden_view(record_store.record_details_of_person(conn, pk))
    assert golden["deceased"].value == "false"
    assert "deceased_at" not in golden


def test_a_csv_load_takes_the_optional_columns(committed_db, ctx, tmp_path):
    with psycopg.connect(committed_db) as conn:
        gp = systems.ensure_system(conn, "GP", "GP practices", "gp", 1)
    rows = [
        dict(local_id="G1", **FULL, multiple_birth="Y", birth_order="1"),
        dict(local_id="G2", **{**FULL, "given_name": "Owen"}, multiple_birth="Y", birth_order="x"),
    ]
    path = _csv(tmp_path / "gp.csv", rows, OPTIONAL_CSV_COLUMNS)
    report = load_file(committed_db, ctx, gp, path)
    assert report.loaded == 1
    assert [r.local_id for r in report.rejects] == ["G2"]
    assert "birth_order" in report.rejects[0].reason
    with psycopg.connect(committed_db) as conn:
        stored = conn.execute(
            "SELECT multiple_birth, birth_order, deceased FROM source_record"
        ).fetchall()
        assert stored == [(True, 1, None)]


def test_a_same_systems_undated_record_does_not_take_in_a_same_name_child(conn, ctx):
    # Seed 29's false merges: the mother's GP record without NHS number or birth date came
    # first; her daughter's dated record from the same GP, same name and home, must go to
    # review, not into the mother's identity.
    _systems(conn)
    home = dict(given_name="Susan", family_name="Cook", sex="female")
    home |= dict(address_line="136 Woodland Avenue", postcode="LS6 2QT")
    mother = register(conn, ctx, "GP", row(ctx, "G1", **home))
    daughter = register(conn, ctx, "GP", row(ctx, "G2", birth_date="1994-03-09", **home))
    assert daughter.person_id != mother.person_id
    assert daughter.decision == "review"
    assert _person_records(conn, mother.person_id) == {("GP", "G1")}
