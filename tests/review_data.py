"""Synthetic review scenarios shared by the review domain, form and browser tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from mpi.records import MatchContext, register
from mpi.store import review as review_store
from mpi.store import systems
from tests.helpers import row, synthetic_nhs_number

NHS_A = synthetic_nhs_number(11)
NHS_B = synthetic_nhs_number(12)
NHS_C = synthetic_nhs_number(13)
NHS_D = synthetic_nhs_number(14)


@dataclass(frozen=True)
class Scenario:
    """Person IDs and review item IDs of a small synthetic store."""

    alice: str  # GP + HOSP records of Alice Okonkwo, linked automatically
    alice_maybe: str  # ASC record that may be Alice (no NHS number): a possible match
    maybe_item: int
    john: str  # John Murphy at the GP
    john_dup: str  # John Murphy again at the GP with another NHS number (four eyes)
    john_item: int


def _systems(conn: psycopg.Connection[Any]) -> None:
    systems.ensure_system(conn, "GP", "GP practices", "gp", 1)
    systems.ensure_system(conn, "HOSP", "Hospital EPR", "hospital", 2)
    systems.ensure_system(conn, "ASC", "Adult social care", "social-care", 4)


def build(conn: psycopg.Connection[Any], ctx: MatchContext) -> Scenario:
    """Register the scenario's records (the caller commits)."""
    _systems(conn)
    alice = dict(
        given_name="Alice",
        family_name="Okonkwo",
        sex="female",
        birth_date="1984-03-17",
        address_line="12 Acacia Road",
        postcode="LS6 2AB",
    )
    first = register(conn, ctx, "GP", row(ctx, "G1", nhs_number=NHS_A, **alice))
    register(conn, ctx, "HOSP", row(ctx, "H1", nhs_number=NHS_A, **alice))
    maybe = register(
        conn,
        ctx,
        "ASC",
        row(
            ctx,
            "A1",
            **(
                alice | {"family_name": "Okonkwo-Bello", "birth_date": "1984-03-18", "postcode": ""}
            ),
        ),
    )
    assert maybe.decision == "review", maybe
    john = dict(
        given_name="John",
        family_name="Murphy",
        sex="male",
        birth_date="1961-02-11",
        address_line="9 Station Road",
        postcode="HX1 5QT",
    )
    j1 = register(conn, ctx, "GP", row(ctx, "G7", nhs_number=NHS_B, **john))
    j2 = register(conn, ctx, "HOSP", row(ctx, "H7", nhs_number=NHS_C, **john))
    assert j1.person_id != j2.person_id
    mensah = dict(family_name="Mensah", sex="female", postcode="BD5 7PL")
    register(
        conn,
        ctx,
        "GP",
        row(ctx, "G9", nhs_number=NHS_D, given_name="Grace", birth_date="1970-04-04", **mensah),
    )
    register(
        conn,
        ctx,
        "ASC",
        row(ctx, "A9", nhs_number=NHS_D, given_name="Esi", birth_date="2001-09-15", **mensah),
    )
    item_ids = {
        r[1]: r[0]
        for r in conn.execute(
            "SELECT i.id, r.local_id FROM review_item i JOIN source_record r ON r.id = i.record_id"
            " WHERE i.status = 'open'"
        ).fetchall()
    }
    if "H7" not in item_ids:
        record = conn.execute("SELECT id FROM source_record WHERE local_id = 'H7'").fetchone()[0]
        other = conn.execute("SELECT id FROM source_record WHERE local_id = 'G7'").fetchone()[0]
        person = conn.execute("SELECT person_id FROM link WHERE record_id = %s", (other,))
        review_store.open_items(
            conn,
            [
                review_store.ReviewRow(
                    record, person.fetchone()[0], other, 0.9, 3.2, "nhs_number_conflict", []
                )
            ],
        )
        item_ids["H7"] = conn.execute(
            "SELECT id FROM review_item WHERE record_id = %s AND status = 'open'", (record,)
        ).fetchone()[0]
    ages = {"A1": "2 hours", "A9": "3 days", "H7": "9 days"}  # visible ageing in the queue
    for local_id, age in ages.items():
        conn.execute(
            "UPDATE review_item SET created_at = now() - %s::interval WHERE id = %s",
            (age, item_ids[local_id]),
        )
    return Scenario(
        alice=first.person_id,
        alice_maybe=maybe.person_id,
        maybe_item=item_ids["A1"],
        john=j1.person_id,
        john_dup=j2.person_id,
        john_item=item_ids["H7"],
    )


def item_version(conn: psycopg.Connection[Any], item_id: int) -> int:
    """The current version of a review item."""
    return int(
        conn.execute("SELECT version FROM review_item WHERE id = %s", (item_id,)).fetchone()[0]
    )


def person_of(conn: psycopg.Connection[Any], local_id: str) -> str:
    """The enterprise ID a local record is linked to."""
    return str(
        conn.execute(
            "SELECT p.person_id FROM source_record r JOIN link l ON l.record_id = r.id"
            " JOIN person p ON p.id = l.person_id WHERE r.local_id = %s",
            (local_id,),
        ).fetchone()[0]
    )


def events(conn: psycopg.Connection[Any], after: int = 0) -> list[str]:
    """Identity event types after an event ID, in order."""
    return [
        r[0]
        for r in conn.execute(
            "SELECT event_type FROM identity_event WHERE id > %s ORDER BY id", (after,)
        ).fetchall()
    ]


def last_event_id(conn: psycopg.Connection[Any]) -> int:
    """The newest identity event ID."""
    return int(conn.execute("SELECT coalesce(max(id), 0) FROM identity_event").fetchone()[0])
