"""find_matches(): the search behind PDQm and $match grades as the linker decides."""

from __future__ import annotations

from typing import Any

from matching.types import Demographics
from mpi.records import register
from mpi.search import find_matches
from mpi.store import systems
from tests.helpers import row, synthetic_nhs_number

NHS = synthetic_nhs_number(7)


def _person(ctx: Any, local_id: str, birth_date: str) -> Any:
    return row(
        ctx,
        local_id,
        nhs_number=NHS,
        given_name="Edith",
        family_name="Marchbanks",
        sex="female",
        birth_date=birth_date,
        address_line="4 Quarry Lane",
        postcode="LS6 2AB",
    )


def test_certain_means_the_linker_would_link(conn, ctx):
    """Two keying slips chained through a person's records: the linker links, and $match
    calls the same demographics certain (it used to count the conflict with one record)."""
    systems.ensure_system(conn, "GP", "GP practices", "gp", 1)
    systems.ensure_system(conn, "HOSP", "Hospital EPR", "hospital", 2)
    systems.ensure_system(conn, "ASC", "Adult social care", "social-care", 4)
    first = register(conn, ctx, "GP", _person(ctx, "G1", "1954-05-08"))
    second = register(conn, ctx, "HOSP", _person(ctx, "H1", "1955-05-08"))  # a year slip
    assert second.person_id == first.person_id
    query = Demographics(
        nhs_number=NHS,
        given_name="Edith",
        family_name="Marchbanks",
        sex="female",
        birth_date="1954-08-05",  # day and month swapped from G1, two slips from H1
        address_line="4 Quarry Lane",
        postcode="LS6 2AB",
    )
    [found] = find_matches(conn, ctx, query)
    third = register(conn, ctx, "ASC", _person(ctx, "A1", "1954-08-05"))
    assert third.decision == "linked" and third.person_id == first.person_id
    assert found.person_id == first.person_id
    assert found.grade == "certain"
