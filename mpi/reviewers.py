"""Reviewer accounts of the web UI: argon2id passwords, sessions, lock-out.

A password is stored only as an argon2id hash (argon2-cffi's defaults, re-hashed on login
when those change). A session is a random token in a cookie; the store keeps its SHA-256,
a per-session CSRF token, an absolute expiry and the time it was last used (an idle
session ends). After :data:`MAX_FAILURES` consecutive failed logins an account is locked
for :data:`LOCK_SECONDS`. Every refused sign-in reads the same and costs the same work, so
the form does not tell which usernames exist.

An admin can unlock an account and reset its password (:func:`reset_password`), but not
take it over unseen: the reset gives a temporary password that opens nothing but the
change-password page and expires after :data:`TEMPORARY_SECONDS`, every session of the
account ends, its claims are released, and who reset it and when is kept on the account,
shown to its holder at the next sign-in and on the accounts page (and audited). An admin
cannot reset their own password this way.
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
TEMPORARY_SECONDS = 24 * 60 * 60

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class LoginRefused(Forbidden):
    """Raised when a login fails: unknown user, wrong password, locked or inactive account.

    The message is the same whatever the cause; ``locked`` says whether the account is
    locked out now and ``reason`` names the cause, for the audit trail only.
    """

    def __init__(
        self,
        message: str,
        *,
        locked: bool = False,
        username: str | None = None,
        reason: str = "wrong_password",
    ):
        super().__init__(message)
        self.locked = locked
        self.username = username
        self.reason = reason


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


def refusal(max_failures: int = MAX_FAILURES, lock_seconds: int = LOCK_SECONDS) -> str:
    """The one message of every refused sign-in: it does not say whether the username
    exists, the password was wrong or the account is locked."""
    return (
        "The username or password is wrong, or the account is locked. After"
        f" {max_failures} failed sign-ins in a row an account is locked for"
        f" {max(lock_seconds // 60, 1)} minutes; an admin can unlock it sooner."
    )


def login(
    conn: psycopg.Connection[Any],
    username: str,
    password: str,
    *,
    max_failures: int = MAX_FAILURES,
    lock_seconds: int = LOCK_SECONDS,
    session_seconds: int = SESSION_SECONDS,
    idle_seconds: int = IDLE_SECONDS,
) -> NewSession:
    """Check a password and open a session (ended sessions are purged on the way).

    A wrong password counts a failure (committed by the caller even though this raises);
    at ``max_failures`` in a row the account is locked for ``lock_seconds``. A correct
    password resets the count. Every refusal (unknown user, wrong password, locked,
    disabled, expired temporary password) gives the same message and does the same work:
    one password hash and the same statements, so neither the words nor the time tell
    which usernames exist.

    Raises:
        LoginRefused: any refusal; its ``reason`` (for the audit only) says which.
    """
    refused = refusal(max_failures, lock_seconds)
    reviewer_store.purge_sessions(conn, idle_seconds)
    found = reviewer_store.for_login(conn, username) if _USERNAME.match(username or "") else None
    if found is None:
        _verify(_DUMMY_HASH, password)
        reviewer_store.login_failed(conn, username, max_failures, lock_seconds)  # no row
        raise LoginRefused(refused, reason="unknown_user")
    account, stored_hash, is_locked, expired = found
    correct = _verify(stored_hash, password)  # also when locked: the same time
    if is_locked or not correct:
        locked = reviewer_store.login_failed(conn, account.username, max_failures, lock_seconds)
        reason = "locked" if is_locked else "wrong_password"
        raise LoginRefused(refused, locked=locked, username=account.username, reason=reason)
    if not account.is_active or expired:
        reason = "disabled" if not account.is_active else "temporary_password_expired"
        raise LoginRefused(refused, username=account.username, reason=reason)
    if _hasher.check_needs_rehash(stored_hash):
        reviewer_store.rehash(conn, account.id, _hasher.hash(password))
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


def reset_password(
    conn: psycopg.Connection[Any],
    username: str,
    by: Reviewer,
    *,
    lifetime_seconds: int = TEMPORARY_SECONDS,
) -> str:
    """Give an account a new temporary password (admins only, never their own account).

    The password is returned once, for the admin to pass on; it only lets its holder choose
    a new password, and expires after ``lifetime_seconds``. The account is unlocked, every
    session of it ends and its claims on review items are released; the reset (by whom,
    when) stays on the account.

    Raises:
        Forbidden: ``by`` is not an admin, or resets their own account.
        NotFound: no such account.
    """
    require_admin(by)
    if username == by.username:
        raise Forbidden(
            "an admin cannot reset their own password here: use Change password (or ask"
            " another admin)"
        )
    temporary = secrets.token_urlsafe(12)
    if not reviewer_store.reset_password(
        conn, username, hash_password(temporary), by.username, lifetime_seconds
    ):
        from mpi.errors import NotFound

        raise NotFound(f"no account {username[:64]!r}")
    decision_store.release_claims_of(conn, username)
    return temporary


def change_password(
    conn: psycopg.Connection[Any], account: Reviewer, token: str, current: str, new: str
) -> int:
    """A reviewer changes their own password (also the temporary one an admin set); every
    other session of the account ends. Returns how many sessions ended.

    Raises:
        Forbidden: the current password is wrong.
        InvalidInput: the new password is too short, or the same as the current one.
    """
    found = reviewer_store.for_login(conn, account.username)
    if found is None or not _verify(found[1], current):
        raise Forbidden("the current password is wrong: your password was not changed")
    if new == current:
        raise InvalidInput.single("new_password", "must differ from the current password")
    reviewer_store.set_password(conn, account.username, hash_password(new))
    return reviewer_store.end_other_sessions(conn, account.id, token_hash(token))


def set_shortcuts(conn: psycopg.Connection[Any], account: Reviewer, on: bool) -> None:
    """Turn the reviewer's single-key keyboard shortcuts on or off (kept with the account)."""
    reviewer_store.set_shortcuts(conn, account.id, on)


def purge_sessions(conn: psycopg.Connection[Any], *, idle_seconds: int = IDLE_SECONDS) -> int:
    """Delete sessions that have ended (expired, or idle for ``idle_seconds``); how many."""
    return reviewer_store.purge_sessions(conn, idle_seconds)
