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
    must_change_password: bool = False
    password_reset_by: str | None = None
    password_reset_at: datetime | None = None
    password_changed_at: datetime | None = None
    shortcuts: bool = True


@dataclass(frozen=True, slots=True)
class SessionRow:
    """A live session and its reviewer."""

    reviewer: Reviewer
    csrf_token: str
    expires_at: datetime


_COLUMNS = (
    "id, username, display_name, role, is_active, failed_logins, locked_until, last_login_at,"
    " must_change_password, password_reset_by, password_reset_at, password_changed_at, shortcuts"
)
_N = len(_COLUMNS.split(","))


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
    """Replace a password hash with one its holder (or an operator) chose, unlock the
    account and end any temporary password; ``False`` if there is no such account."""
    cur = conn.execute(
        "UPDATE reviewer SET password_hash = %s, failed_logins = 0, locked_until = NULL,"
        " must_change_password = false, password_expires_at = NULL,"
        " password_changed_at = now() WHERE username = %s",
        (password_hash, username),
    )
    return cur.rowcount == 1


def rehash(conn: psycopg.Connection[Any], reviewer_id: int, password_hash: str) -> None:
    """Store the same password's hash with newer parameters (nothing else changes)."""
    conn.execute(
        "UPDATE reviewer SET password_hash = %s WHERE id = %s", (password_hash, reviewer_id)
    )


def reset_password(
    conn: psycopg.Connection[Any],
    username: str,
    password_hash: str,
    by: str,
    lifetime_seconds: int,
) -> bool:
    """Give an account a temporary password set by admin ``by``: it must be changed at the
    next sign-in and stops working after ``lifetime_seconds``; the account is unlocked and
    every session of it ends. ``False`` if there is no such account."""
    row = conn.execute(
        "UPDATE reviewer SET password_hash = %s, failed_logins = 0, locked_until = NULL,"
        " must_change_password = true,"
        " password_expires_at = now() + make_interval(secs => %s),"
        " password_reset_by = %s, password_reset_at = now() WHERE username = %s RETURNING id",
        (password_hash, lifetime_seconds, by, username),
    ).fetchone()
    if row is None:
        return False
    conn.execute("DELETE FROM reviewer_session WHERE reviewer_id = %s", (row[0],))
    return True


def end_other_sessions(conn: psycopg.Connection[Any], reviewer_id: int, token_hash: str) -> int:
    """End every session of an account but this one (after a password change)."""
    return conn.execute(
        "DELETE FROM reviewer_session WHERE reviewer_id = %s AND token_hash <> %s",
        (reviewer_id, token_hash),
    ).rowcount


def set_shortcuts(conn: psycopg.Connection[Any], reviewer_id: int, on: bool) -> None:
    """Turn an account's single-key shortcuts on or off."""
    conn.execute("UPDATE reviewer SET shortcuts = %s WHERE id = %s", (on, reviewer_id))


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


def for_login(
    conn: psycopg.Connection[Any], username: str
) -> tuple[Reviewer, str, bool, bool] | None:
    """The account, its password hash, whether it is locked now and whether its temporary
    password has expired (row locked for update)."""
    row = conn.execute(
        f"SELECT {_COLUMNS}, password_hash, coalesce(locked_until > now(), false),"
        " coalesce(password_expires_at <= now(), false)"
        " FROM reviewer WHERE username = %s FOR UPDATE",
        (username,),
    ).fetchone()
    if row is None:
        return None
    return Reviewer(*row[:_N]), row[_N], bool(row[_N + 1]), bool(row[_N + 2])


def login_failed(
    conn: psycopg.Connection[Any], username: str, max_failures: int, lock_seconds: int
) -> bool:
    """Count a failed login; lock the account once it reaches ``max_failures`` (a lock-out
    under way is not lengthened). Locked now? The same statement runs for a username that
    has no account (it changes nothing), so every refusal costs the same."""
    row = conn.execute(
        "UPDATE reviewer SET failed_logins = failed_logins + 1,"
        " locked_until = CASE WHEN locked_until > now() THEN locked_until"
        "   WHEN failed_logins + 1 >= %s THEN now() + make_interval(secs => %s)"
        "   ELSE locked_until END"
        " WHERE username = %s RETURNING locked_until > now()",
        (max_failures, lock_seconds, username),
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
    return SessionRow(Reviewer(*row[:_N]), row[_N], row[_N + 1])


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


def purge_sessions(conn: psycopg.Connection[Any], idle_seconds: int) -> int:
    """Delete ended sessions: past their expiry, or unused for ``idle_seconds``."""
    return conn.execute(
        "DELETE FROM reviewer_session WHERE expires_at <= now()"
        " OR last_seen_at <= now() - make_interval(secs => %s)",
        (idle_seconds,),
    ).rowcount
