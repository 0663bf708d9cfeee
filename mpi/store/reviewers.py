"""SQL for reviewer accounts of the web UI and their sessions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from mpi.errors import Conflict


@dataclass(frozen=True, slots=True)
class Reviewer:
    """A reviewer or admin account (the password hash stays in the store)."""

    id: int
    username: str
    display_name: str
    role: str
    is_active: bool
    failed_logins: int
    locked_until: datetime | None
    last_login_at: datetime | None


@dataclass(frozen=True, slots=True)
class SessionRow:
    """A live session and its reviewer."""

    reviewer: Reviewer
    csrf_token: str
    expires_at: datetime


_COLUMNS = "id, username, display_name, role, is_active, failed_logins, locked_until, last_login_at"


def add_reviewer(
    conn: psycopg.Connection[Any], username: str, display_name: str, role: str, password_hash: str
) -> Reviewer:
    """Insert an account; :class:`Conflict` if the username is taken."""
    try:
        with conn.transaction(), conn.cursor(row_factory=class_row(Reviewer)) as cur:
            row = cur.execute(
                "INSERT INTO reviewer (username, display_name, role, password_hash)"
                f" VALUES (%s, %s, %s, %s) RETURNING {_COLUMNS}",
                (username, display_name, role, password_hash),
            ).fetchone()
    except psycopg.errors.UniqueViolation as exc:
        raise Conflict(f"reviewer {username!r} already exists") from exc
    assert row is not None
    return row


def set_password(conn: psycopg.Connection[Any], username: str, password_hash: str) -> bool:
    """Replace a password hash and unlock the account; ``False`` if there is no such account."""
    cur = conn.execute(
        "UPDATE reviewer SET password_hash = %s, failed_logins = 0, locked_until = NULL"
        " WHERE username = %s",
        (password_hash, username),
    )
    return cur.rowcount == 1


def unlock(conn: psycopg.Connection[Any], username: str) -> bool:
    """Clear failed logins and any lock-out; ``False`` if there is no such account."""
    cur = conn.execute(
        "UPDATE reviewer SET failed_logins = 0, locked_until = NULL WHERE username = %s",
        (username,),
    )
    return cur.rowcount == 1


def list_reviewers(conn: psycopg.Connection[Any]) -> list[Reviewer]:
    """Every account, by username."""
    with conn.cursor(row_factory=class_row(Reviewer)) as cur:
        return cur.execute(f"SELECT {_COLUMNS} FROM reviewer ORDER BY username").fetchall()


def for_login(conn: psycopg.Connection[Any], username: str) -> tuple[Reviewer, str, bool] | None:
    """The account, its password hash and whether it is locked now (row locked for update)."""
    row = conn.execute(
        f"SELECT {_COLUMNS}, password_hash, coalesce(locked_until > now(), false)"
        " FROM reviewer WHERE username = %s FOR UPDATE",
        (username,),
    ).fetchone()
    if row is None:
        return None
    return Reviewer(*row[:8]), row[8], bool(row[9])


def login_failed(
    conn: psycopg.Connection[Any], reviewer_id: int, max_failures: int, lock_seconds: int
) -> bool:
    """Count a failed login; lock the account once it reaches ``max_failures``. Locked now?"""
    row = conn.execute(
        "UPDATE reviewer SET failed_logins = failed_logins + 1,"
        " locked_until = CASE WHEN failed_logins + 1 >= %s"
        "   THEN now() + make_interval(secs => %s) ELSE locked_until END"
        " WHERE id = %s RETURNING locked_until > now()",
        (max_failures, lock_seconds, reviewer_id),
    ).fetchone()
    return bool(row and row[0])


def login_succeeded(conn: psycopg.Connection[Any], reviewer_id: int) -> None:
    """Reset the failure count and note the login time."""
    conn.execute(
        "UPDATE reviewer SET failed_logins = 0, locked_until = NULL, last_login_at = now()"
        " WHERE id = %s",
        (reviewer_id,),
    )


def create_session(
    conn: psycopg.Connection[Any],
    token_hash: str,
    reviewer_id: int,
    csrf_token: str,
    lifetime_seconds: int,
) -> None:
    """Store a new session (by the hash of its cookie token)."""
    conn.execute(
        "INSERT INTO reviewer_session (token_hash, reviewer_id, csrf_token, expires_at)"
        " VALUES (%s, %s, %s, now() + make_interval(secs => %s))",
        (token_hash, reviewer_id, csrf_token, lifetime_seconds),
    )


def touch_session(
    conn: psycopg.Connection[Any], token_hash: str, idle_seconds: int
) -> SessionRow | None:
    """The live session with this token hash, its last use moved to now; ``None`` if none.

    A session ends at ``expires_at``, after ``idle_seconds`` without use, or when its
    account is deactivated.
    """
    row = conn.execute(
        "UPDATE reviewer_session s SET last_seen_at = now() FROM reviewer r"
        " WHERE s.token_hash = %s AND r.id = s.reviewer_id AND r.is_active"
        " AND s.expires_at > now() AND s.last_seen_at > now() - make_interval(secs => %s)"
        f" RETURNING {', '.join('r.' + c.strip() for c in _COLUMNS.split(','))},"
        " s.csrf_token, s.expires_at",
        (token_hash, idle_seconds),
    ).fetchone()
    if row is None:
        return None
    return SessionRow(Reviewer(*row[:8]), row[8], row[9])


def end_session(conn: psycopg.Connection[Any], token_hash: str) -> str | None:
    """Delete a session (logout); the username it belonged to, if it existed."""
    row = conn.execute(
        "DELETE FROM reviewer_session s USING reviewer r"
        " WHERE s.token_hash = %s AND r.id = s.reviewer_id RETURNING r.username",
        (token_hash,),
    ).fetchone()
    return str(row[0]) if row else None


def carry(conn: psycopg.Connection[Any], token_hash: str, carried: dict[str, Any]) -> None:
    """Keep a small document with a session (a note typed before the last one ended)."""
    conn.execute(
        "UPDATE reviewer_session SET carried = %s WHERE token_hash = %s",
        (Jsonb(carried), token_hash),
    )


def take_carried(conn: psycopg.Connection[Any], token_hash: str) -> dict[str, Any] | None:
    """The document a session carries, removed from it (shown once)."""
    row = conn.execute(
        "WITH old AS (SELECT token_hash, carried FROM reviewer_session"
        "  WHERE token_hash = %s AND carried IS NOT NULL FOR UPDATE)"
        " UPDATE reviewer_session s SET carried = NULL FROM old"
        " WHERE s.token_hash = old.token_hash RETURNING old.carried",
        (token_hash,),
    ).fetchone()
    return dict(row[0]) if row and isinstance(row[0], dict) else None


def purge_sessions(conn: psycopg.Connection[Any]) -> int:
    """Delete expired sessions."""
    return conn.execute("DELETE FROM reviewer_session WHERE expires_at <= now()").rowcount
