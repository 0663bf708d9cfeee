"""Connected source systems: registration, their identifier systems and HL7 facilities.

What the CLI and the services ask about the systems that send records. Tokens are
:mod:`mpi.access`'s.
"""

from __future__ import annotations

from typing import Any

import psycopg

from mpi.models import SourceSystem
from mpi.store import hl7 as hl7_store
from mpi.store import systems as system_store
from mpi.store import tokens as token_store
from mpi.store.tokens import SystemIdentity

__all__ = [
    "SystemIdentity",
    "add_system",
    "ensure_system",
    "list_systems",
    "set_hl7_facility",
    "set_identifier_system",
    "system_codes",
    "system_identities",
    "system_identity",
]


def add_system(
    conn: psycopg.Connection[Any],
    code: str,
    name: str,
    kind: str,
    trust_rank: int,
    *,
    identifier_system: str | None = None,
    hl7_facility: str | None = None,
) -> SourceSystem:
    """Register a new system, with its identifier system URI and HL7 facility if given.

    Args:
        conn: the connection; the caller commits.
        code: the system's code (unique).
        name: its display name.
        kind: one of :data:`mpi.models.SYSTEM_KINDS`.
        trust_rank: survivorship rank, 1 the most trusted.
        identifier_system: URI of its local IDs (FHIR, PIXm); ``None``: none registered.
        hl7_facility: its HL7 v2 sending facility (MSH-4); ``None``: none named.

    Raises:
        Conflict: the code, the URI or the facility is already another system's.
    """
    system = system_store.add_system(conn, code, name, kind, trust_rank)
    if identifier_system:
        token_store.set_identifier_system(conn, code, identifier_system)
    if hl7_facility:
        hl7_store.set_facility(conn, code, hl7_facility)
    return system


def ensure_system(
    conn: psycopg.Connection[Any], code: str, name: str, kind: str, trust_rank: int
) -> SourceSystem:
    """The system with this code, registered with these details if it is new."""
    return system_store.ensure_system(conn, code, name, kind, trust_rank)


def get_system(conn: psycopg.Connection[Any], code: str) -> SourceSystem:
    """The system with this code; :class:`NotFound` if there is none."""
    return system_store.get_system(conn, code)


def list_systems(conn: psycopg.Connection[Any]) -> list[SourceSystem]:
    """Every system, by code."""
    return system_store.list_systems(conn)


def system_codes(conn: psycopg.Connection[Any]) -> list[str]:
    """Every system's code, in order (for filters)."""
    return [s.code for s in system_store.list_systems(conn)]


def set_identifier_system(conn: psycopg.Connection[Any], code: str, uri: str) -> None:
    """Register the URI of a system's local IDs; :class:`Conflict` if another has it."""
    token_store.set_identifier_system(conn, code, uri)


def set_hl7_facility(conn: psycopg.Connection[Any], code: str, facility: str) -> None:
    """Name a system's HL7 v2 sending facility; :class:`Conflict` if another has it."""
    hl7_store.set_facility(conn, code, facility)


def system_identities(conn: psycopg.Connection[Any]) -> list[SystemIdentity]:
    """Every system with its identifier system URI, by code."""
    return token_store.system_identities(conn)


def system_identity(conn: psycopg.Connection[Any], code: str) -> SystemIdentity | None:
    """One system with its identifier system URI, or ``None`` for an unknown code."""
    return token_store.system_identity(conn, code)
