"""Reviewer accounts of the web UI: argon2id passwords, sessions, lock-out.

A password is stored only as an argon2id hash (argon2-cffi's defaults, re-hashed on login
when those change). A session is a random token in a cookie; the store keeps its SHA-256,
a per-session CSRF token, an absolute expiry and the time it was last used (an idle
session ends). After :data:`MAX_FAILURES` consecutive failed logins an account is locked
for :data:`LOCK_SECONDS`; an unknown username costs the same hashing time as a known one.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from mpi.errors import Forbidden, InvalidInput
from mpi.store import decisions as decision_store
from mpi.store import reviewers as reviewer_store
from mpi.store.reviewers import Reviewer, SessionRow

ROLES = ("reviewer", "admin")
MAX_FAILURES = 5
LOCK_SECONDS = 15 * 60
SESSION_SECONDS = 10 * 60 * 60
IDLE_SECONDS = 30 * 60
MIN_PASSWORD = 12

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class LoginRefused(Forbidden):
    """Raised when a login fails: unknown user, wrong password, locked or inactive account.

    The message is the same for an unknown user and a wrong password; ``locked`` says
    whether the account is locked out now.
    """

    def __init__(self, message: str, *, locked: bool = False, username: str | None = None):
        super().__init__(message)
        self.locked = locked
        self.username = username


@dataclass(frozen=True, slots=True)
class NewSession:
    """A session just opened: the cookie token (shown once) and the CSRF token."""

    token: str
    csrf_token: str
    reviewer: Reviewer


def hash_password(password: str) -> str:
    """The argon2id hash of a password; :class:`InvalidInput` if it is too short."""
    if len(password) < MIN_PASSWORD:
        raise InvalidInput.single("password", f"must be at least {MIN_PASSWORD} characters")
    if len(password) > 1024:
        raise InvalidInput.single("password", "must be at most 1024 characters")
    return _hasher.hash(password)


def add(
    conn: psycopg.Connection[Any],
    username: str,
    password: str,
    *,
    role: str = "reviewer",
    display_name: str | None = None,
) -> Reviewer:
    """Create a reviewer or admin account.

    Args:
        conn: the connection; the caller owns the transaction.
        username: 2 to 64 characters: lower-case letters, digits, ``.``, ``_``, ``-``.
        password: at least :data:`MIN_PASSWORD` characters.
        role: ``reviewer`` (default) or ``admin``.
        display_name: shown in the UI and history; ``None`` uses the username.

    Raises:
        InvalidInput: a bad username, role or password (every problem named).
        Conflict: the username is taken.

    Example:
        >>> add(conn, "jsmith", "a long passphrase", role="admin")  # doctest: +SKIP
    """
    problems = []
    if not _USERNAME.match(username or ""):
        problems.append(("username", "2 to 64 of a-z, 0-9, '.', '_', '-' (starting a-z or 0-9)"))
    if role not in ROLES:
        problems.append(("role", f"must be one of {', '.join(ROLES)}"))
    name = (display_name or username or "").strip()
    if not 1 <= len(name) <= 128:
        problems.append(("display_name", "must be 1 to 128 characters"))
    if len(password or "") < MIN_PASSWORD:
        problems.append(("password", f"must be at least {MIN_PASSWORD} characters"))
    if problems:
        from mpi.errors import FieldProblem

        raise InvalidInput([FieldProblem(f, r) for f, r in problems])
    return reviewer_store.add_reviewer(conn, username, name, role, hash_password(password))


def set_password(conn: psycopg.Connection[Any], username: str, password: str) -> None:
    """Give an account a new password and unlock it (an operator's ``mpi users password``).

    Raises:
        InvalidInput: the password is too short or too long.
        NotFound: no such account.
    """
    if not reviewer_store.set_password(conn, username, hash_password(password)):
        from mpi.errors import NotFound

        raise NotFound(f"no account {username!r}")


def clear_lockout(conn: psycopg.Connection[Any], username: str) -> None:
    """Clear an account's failed logins and lock-out (an operator's ``mpi users unlock``).

    Raises:
        NotFound: no such account.
    """
    if not reviewer_store.unlock(conn, username):
        from mpi.errors import NotFound

        raise NotFound(f"no account {username!r}")


def list_accounts(conn: psycopg.Connection[Any]) -> list[Reviewer]:
    """Every account, for an operator (``mpi users list``)."""
    return reviewer_store.list_reviewers(conn)


def token_hash(token: str) -> str:
    """The stored form of a session token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def login(
    conn: psycopg.Connection[Any],
    username: str,
    password: str,
    *,
    max_failures: int = MAX_FAILURES,
    lock_seconds: int = LOCK_SECONDS,
    session_seconds: int = SESSION_SECONDS,
) -> NewSession:
    """Check a password and open a session.

    A wrong password counts a failure (committed by the caller even though this raises);
    at ``max_failures`` in a row the account is locked for ``lock_seconds``. A correct
    password resets the count.

    Raises:
        LoginRefused: unknown user, wrong password, locked or inactive account.
    """
    refused = "unknown username or wrong password"
    found = reviewer_store.for_login(conn, username) if _USERNAME.match(username or "") else None
    if found is None:
        _verify(_DUMMY_HASH, password)
        raise LoginRefused(refused)
    account, stored_hash, is_locked = found
    if is_locked:
        raise LoginRefused(
            "this account is locked after repeated failed logins; try again later or ask an"
            " admin (mpi users unlock)",
            locked=True,
            username=account.username,
        )
    if not _verify(stored_hash, password):
        locked = reviewer_store.login_failed(conn, account.id, max_failures, lock_seconds)
        if locked:
            raise LoginRefused(
                "too many failed logins: this account is now locked for"
                f" {lock_seconds // 60} minutes",
                locked=True,
                username=account.username,
            )
        raise LoginRefused(refused, username=account.username)
    if not account.is_active:
        raise LoginRefused("this account is disabled", username=account.username)
    if _hasher.check_needs_rehash(stored_hash):
        reviewer_store.set_password(conn, account.username, _hasher.hash(password))
    reviewer_store.login_succeeded(conn, account.id)
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    reviewer_store.create_session(conn, token_hash(token), account.id, csrf, session_seconds)
    return NewSession(token, csrf, account)


def _verify(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password or "")
    except (VerificationError, InvalidHashError):
        return False


def session(
    conn: psycopg.Connection[Any], token: str | None, *, idle_seconds: int = IDLE_SECONDS
) -> SessionRow | None:
    """The live session of a cookie token (its last use moved to now), or ``None``."""
    if not token or len(token) > 128:
        return None
    return reviewer_store.touch_session(conn, token_hash(token), idle_seconds)


def logout(conn: psycopg.Connection[Any], token: str) -> int:
    """End a session and release the review items its reviewer had claimed.

    Returns:
        How many claims were released.
    """
    username = reviewer_store.end_session(conn, token_hash(token))
    if username is None:
        return 0
    return decision_store.release_claims_of(conn, username)


#: The longest note a session carries through signing in again.
CARRIED_NOTE_CHARS = 1000


def carry_note(conn: psycopg.Connection[Any], token: str, path: str, note: str) -> None:
    """Keep a note typed before the last session ended with the new session, for ``path``."""
    reviewer_store.carry(
        conn, token_hash(token), {"path": path[:300], "note": note[:CARRIED_NOTE_CHARS]}
    )


def carried_note(conn: psycopg.Connection[Any], token: str | None, path: str) -> str | None:
    """The note the session carries for this page (once), or ``None``."""
    if not token or len(token) > 128:
        return None
    carried = reviewer_store.take_carried(conn, token_hash(token))
    if not carried or carried.get("path") != path:
        return None
    note = carried.get("note")
    return note if isinstance(note, str) and note else None


def check_csrf(expected: str, given: str | None) -> None:
    """Compare a form's CSRF token with the session's in constant time.

    Raises:
        Forbidden: the token is missing or wrong.
    """
    if not given or not hmac.compare_digest(expected.encode(), given.encode()):
        raise Forbidden("the form's security token is missing or wrong: reload the page")


def require_admin(account: Reviewer) -> None:
    """Raise :class:`Forbidden` unless the account is an admin."""
    if account.role != "admin":
        raise Forbidden("only an admin may manage accounts")


def accounts(conn: psycopg.Connection[Any], by: Reviewer) -> list[Reviewer]:
    """Every account, for an admin.

    Raises:
        Forbidden: ``by`` is not an admin.
    """
    require_admin(by)
    return reviewer_store.list_reviewers(conn)


def unlock(conn: psycopg.Connection[Any], username: str, by: Reviewer) -> None:
    """Clear an account's failed logins and lock-out (admins only).

    Raises:
        Forbidden: ``by`` is not an admin.
        NotFound: no such account.
    """
    require_admin(by)
    if not reviewer_store.unlock(conn, username):
        from mpi.errors import NotFound

        raise NotFound(f"no account {username[:64]!r}")
