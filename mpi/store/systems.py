"""SQL for connected source systems."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import class_row

from mpi.errors import Conflict, NotFound
from mpi.models import SourceSystem

_COLUMNS = "id, code, name, kind, trust_rank"


def get_system(conn: psycopg.Connection[Any], code: str) -> SourceSystem:
    """The system with this code; :class:`NotFound` if there is none."""
    with conn.cursor(row_factory=class_row(SourceSystem)) as cur:
        row = cur.execute(
            f"SELECT {_COLUMNS} FROM source_system WHERE code = %s", (code,)
        ).fetchone()
    if row is None:
        raise NotFound(f"unknown system {code!r}: add it first (mpi systems add)")
    return row


def add_system(
    conn: psycopg.Connection[Any], code: str, name: str, kind: str, trust_rank: int
) -> SourceSystem:
    """Insert a system; :class:`Conflict` if the code is taken."""
    with conn.cursor(row_factory=class_row(SourceSystem)) as cur:
        try:
            with conn.transaction():
                row = cur.execute(
                    "INSERT INTO source_system (code, name, kind, trust_rank)"
                    f" VALUES (%s, %s, %s, %s) RETURNING {_COLUMNS}",
                    (code, name, kind, trust_rank),
                ).fetchone()
        except psycopg.errors.UniqueViolation as exc:
            raise Conflict(f"system {code!r} already exists") from exc
    assert row is not None
    return row


def ensure_system(
    conn: psycopg.Connection[Any], code: str, name: str, kind: str, trust_rank: int
) -> SourceSystem:
    """The system with this code, inserted with these details if new."""
    conn.execute(
        "INSERT INTO source_system (code, name, kind, trust_rank) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (code) DO NOTHING",
        (code, name, kind, trust_rank),
    )
    return get_system(conn, code)


def list_systems(conn: psycopg.Connection[Any]) -> list[SourceSystem]:
    """Every system, by code."""
    with conn.cursor(row_factory=class_row(SourceSystem)) as cur:
        return cur.execute(f"SELECT {_COLUMNS} FROM source_system ORDER BY code").fetchall()
