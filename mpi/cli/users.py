"""``mpi users``: accounts of the review web UI."""

from __future__ import annotations

import sys
from typing import Any

import click

from mpi.cli.options import Env, audit_cli, fail_cleanly, pass_env


@click.group("users")
def users_group() -> None:
    """Reviewer and admin accounts of the data-quality review web UI (/review).

    Example: mpi users add jsmith --role reviewer --display-name "Jo Smith"
    """


def _password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@users_group.command("add")
@click.argument("username")
@click.option(
    "--role",
    type=click.Choice(("reviewer", "admin")),
    default="reviewer",
    show_default=True,
    help="reviewer: work the queue and identities; admin: the same, plus account pages.",
)
@click.option("--display-name", default=None, help="Name shown in the UI (default: username).")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of stdin."
)
@pass_env
@fail_cleanly
def users_add(
    env: Env, username: str, role: str, display_name: str | None, password_stdin: bool
) -> None:
    """Add a reviewer or admin account; the password is asked twice (argon2id hash kept).

    Example: mpi users add jsmith --role reviewer --display-name "Jo Smith"
    """
    from mpi import reviewers

    password = _password(password_stdin)
    with env.connection() as conn:
        account = reviewers.add(conn, username, password, role=role, display_name=display_name)
        _audit_users(conn, "users.add", "create", account.username, {"role": account.role})
    click.echo(f"added {account.role} {account.username} ({account.display_name})")


@users_group.command("password")
@click.argument("username")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of stdin."
)
@pass_env
@fail_cleanly
def users_password(env: Env, username: str, password_stdin: bool) -> None:
    """Set a new password for an account (and unlock it).

    Example: mpi users password jsmith
    """
    from mpi import reviewers

    password = _password(password_stdin)
    with env.connection() as conn:
        reviewers.set_password(conn, username, password)
        _audit_users(conn, "users.password", "update", username, {})
    click.echo(f"password of {username} changed")


@users_group.command("unlock")
@click.argument("username")
@pass_env
@fail_cleanly
def users_unlock(env: Env, username: str) -> None:
    """Unlock an account locked out after repeated failed logins.

    Example: mpi users unlock jsmith
    """
    from mpi import reviewers

    with env.connection() as conn:
        reviewers.clear_lockout(conn, username)
        _audit_users(conn, "users.unlock", "update", username, {})
    click.echo(f"{username} unlocked")


@users_group.command("purge-sessions")
@pass_env
@fail_cleanly
def users_purge_sessions(env: Env) -> None:
    """Delete review UI sessions that have ended (expired or idle); signing in does it too.

    Example: mpi users purge-sessions
    """
    from mpi import reviewers

    with env.connection() as conn:
        purged = reviewers.purge_sessions(conn)
    click.echo(f"{purged} ended sessions purged")


@users_group.command("list")
@pass_env
@fail_cleanly
def users_list(env: Env) -> None:
    """List accounts: username, role, name, and whether locked.

    Example: mpi users list
    """
    from datetime import UTC, datetime

    from mpi import reviewers

    now = datetime.now(UTC)
    with env.connection() as conn:
        for account in reviewers.list_accounts(conn):
            locked = account.locked_until is not None and account.locked_until > now
            state = "locked" if locked else ("active" if account.is_active else "disabled")
            click.echo(f"{account.username}\t{account.role}\t{account.display_name}\t{state}")


def _audit_users(
    conn: Any, action: str, subtype: str, username: str, detail: dict[str, Any]
) -> None:
    audit_cli(conn, action, subtype, None, {"account": username, **detail})
