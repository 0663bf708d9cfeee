"""SQL for API tokens (stored only as hashes) and systems' identifier system URIs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import class_row

from mpi.errors import Conflict, NotFound
from mpi.store.db import scalar


@dataclass(frozen=True, slots=True)
class TokenRow:
    """An active token: whose it is and what it may do."""

    token_id: int
    system_id: int
    system_code: str
    scopes: list[str]


@dataclass(frozen=True, slots=True)
class SystemIdentity:
    """A connected system with its identifier system URI (``None`` if not registered)."""

    id: int
    code: str
    name: str
    identifier_system: str | None


def insert_token(
    conn: psycopg.Connection[Any],
    system_id: int,
    token_hash: str,
    scopes: Sequence[str],
    created_by: str,
) -> int:
    """Store a token's hash and scopes; return its ID."""
    token_id = scalar(
        conn,
        "INSERT INTO api_token (system_id, token_hash, scopes, created_by)"
        " VALUES (%s, %s, %s, %s) RETURNING id",
        (system_id, token_hash, list(scopes), created_by),
    )
    assert token_id is not None
    return int(token_id)


def find_token(conn: psycopg.Connection[Any], token_hash: str) -> TokenRow | None:
    """The active token with this hash, or ``None``."""
    with conn.cursor(row_factory=class_row(TokenRow)) as cur:
        return cur.execute(
            "SELECT t.id AS token_id, t.system_id, s.code AS system_code, t.scopes"
            " FROM api_token t JOIN source_system s ON s.id = t.system_id"
            " WHERE t.token_hash = %s AND t.revoked_at IS NULL",
            (token_hash,),
        ).fetchone()


def active_scopes(conn: psycopg.Connection[Any], system_id: int) -> list[str]:
    """The union of the scopes of a system's active tokens."""
    scopes = scalar(
        conn,
        "SELECT array(SELECT DISTINCT unnest(scopes) FROM api_token"
        " WHERE system_id = %s AND revoked_at IS NULL ORDER BY 1)",
        (system_id,),
    )
    return list(scopes or [])


def revoke_tokens(conn: psycopg.Connection[Any], system_id: int) -> int:
    """Revoke every active token of a system; return how many."""
    cur = conn.execute(
        "UPDATE api_token SET revoked_at = now() WHERE system_id = %s AND revoked_at IS NULL",
        (system_id,),
    )
    return cur.rowcount


def set_identifier_system(conn: psycopg.Connection[Any], code: str, uri: str) -> None:
    """Register a system's identifier system URI; :class:`Conflict` if another has it."""
    try:
        with conn.transaction():
            cur = conn.execute(
                "UPDATE source_system SET identifier_system = %s WHERE code = %s", (uri, code)
            )
    except psycopg.errors.UniqueViolation as exc:
        raise Conflict(f"identifier system {uri!r} belongs to another system") from exc
    if cur.rowcount == 0:
        raise NotFound(f"unknown system {code!r}: add it first (mpi systems add)")


_IDENTITY = "SELECT id, code, name, identifier_system FROM source_system"


def system_identities(conn: psycopg.Connection[Any]) -> list[SystemIdentity]:
    """Every system with its identifier system URI."""
    with conn.cursor(row_factory=class_row(SystemIdentity)) as cur:
        return cur.execute(_IDENTITY + " ORDER BY code").fetchall()


def system_identity(conn: psycopg.Connection[Any], code: str) -> SystemIdentity | None:
    """One system with its identifier system URI, or ``None``."""
    with conn.cursor(row_factory=class_row(SystemIdentity)) as cur:
        return cur.execute(_IDENTITY + " WHERE code = %s", (code,)).fetchone()
