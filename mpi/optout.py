"""Patients' objections to the shared care record (local opt-out).

An objector is still matched, so that their identity stays right, but their
cross-reference and golden view are not disclosed to any system other than the one
asking about its own records. Opt-outs are managed by admins and audited by the caller.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg

from mpi.errors import Forbidden, InvalidInput, NotFound
from mpi.store import optout as optout_store
from mpi.store import persons as person_store

WITHHELD_REASON = "patient-objection"
WITHHELD_MESSAGE = (
    "withheld: the patient has objected to sharing their record; only the caller's own "
    "records are shown"
)


def _person_pk(conn: psycopg.Connection[Any], person_id: str) -> int:
    person = person_store.get_person(conn, person_id)
    if person is None:
        raise NotFound(f"no person {person_id!r}")
    return person.id


def add(conn: psycopg.Connection[Any], person_id: str, reason: str, *, actor: str) -> bool:
    """Record that a person objects to sharing; ``False`` if already recorded.

    Raises:
        NotFound: no such person.
        InvalidInput: an empty reason.
    """
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 500:
        raise InvalidInput.single("reason", "must be 1 to 500 characters")
    return optout_store.add(conn, _person_pk(conn, person_id), reason.strip(), actor)


def remove(conn: psycopg.Connection[Any], person_id: str) -> bool:
    """Withdraw a person's objection; ``False`` if there was none.

    Raises:
        NotFound: no such person.
    """
    return optout_store.remove(conn, _person_pk(conn, person_id))


def opted_out(conn: psycopg.Connection[Any], person_pks: Iterable[int]) -> set[int]:
    """The persons among ``person_pks`` who objected (directly or through a merge)."""
    return optout_store.opted_out(conn, person_pks)


class Withheld(Forbidden):
    """Raised when a patient's objection stops a disclosure that was asked for."""

    def __init__(self, message: str = WITHHELD_MESSAGE) -> None:
        super().__init__(message)
