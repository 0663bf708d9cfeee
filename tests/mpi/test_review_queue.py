"""The review queue holds one item per pair of persons (issue 11, "half the queue")."""

from __future__ import annotations

from typing import Any

from mpi import review
from mpi.records import register
from mpi.store import systems
from tests.helpers import row, synthetic_nhs_number

ALICE = dict(
    given_name="Alice",
    family_name="Okonkwo",
    sex="female",
    birth_date="1984-03-17",
    address_line="12 Acacia Road",
    postcode="LS6 2AB",
)
#: Another record of Alice that is only a possible match for her (no NHS number, another
#: family name, a birth date one day out, no postcode).
MAYBE = ALICE | {"family_name": "Okonkwo-Bello", "birth_date": "1984-03-18", "postcode": ""}


def _open_items(conn: Any) -> list[tuple[str, int, str]]:
    return conn.execute(
        "SELECT r.local_id, l.person_id, p.person_id FROM review_item i"
        " JOIN source_record r ON r.id = i.record_id JOIN link l ON l.record_id = r.id"
        " JOIN person p ON p.id = i.candidate_person_id WHERE i.status = 'open' ORDER BY i.id"
    ).fetchall()


def _systems(conn: Any) -> None:
    for code, kind, rank in (("GP", "gp", 1), ("HOSP", "hospital", 2), ("ASC", "social-care", 4)):
        systems.ensure_system(conn, code, code, kind, rank)
    systems.ensure_system(conn, "MH", "Mental health", "mental-health", 5)


def test_a_second_record_of_one_person_opens_no_second_item_against_the_same_person(conn, ctx):
    _systems(conn)
    alice = register(conn, ctx, "GP", row(ctx, "G1", nhs_number=synthetic_nhs_number(21), **ALICE))
    maybe = register(conn, ctx, "ASC", row(ctx, "A1", **MAYBE))
    assert maybe.decision == "review" and maybe.person_id != alice.person_id
    assert [(local, p) for local, _, p in _open_items(conn)] == [("A1", alice.person_id)]
    # the same "maybe" record again from another system: it joins A1's person, and is as
    # much a possible match for Alice, but the pair of persons already waits in the queue
    again = register(conn, ctx, "MH", row(ctx, "M1", **MAYBE))
    assert again.person_id == maybe.person_id, again
    items = _open_items(conn)
    assert [(local, p) for local, _, p in items] == [("A1", alice.person_id)], items
    closed = conn.execute(
        "SELECT i.status, i.decided_by FROM review_item i"
        " JOIN source_record r ON r.id = i.record_id WHERE r.local_id = 'M1'"
    ).fetchall()
    assert closed == [("superseded", "system")]


def test_one_decision_settles_the_pair_of_persons(conn, ctx):
    """A reviewer's "same person" on the one item merges both persons with all records."""
    _systems(conn)
    alice = register(conn, ctx, "GP", row(ctx, "G1", nhs_number=synthetic_nhs_number(21), **ALICE))
    register(conn, ctx, "ASC", row(ctx, "A1", **MAYBE))
    register(conn, ctx, "MH", row(ctx, "M1", **MAYBE))
    (item_id,) = conn.execute("SELECT id FROM review_item WHERE status = 'open'").fetchone()
    version = conn.execute("SELECT version FROM review_item WHERE id = %s", (item_id,)).fetchone()
    review.decide(conn, item_id, version[0], "same", "reviewer1")
    people = conn.execute(
        "SELECT DISTINCT p.person_id FROM link l JOIN person p ON p.id = l.person_id"
    ).fetchall()
    assert people == [(alice.person_id,)]
    assert _open_items(conn) == []
