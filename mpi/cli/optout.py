"""``mpi optout``: patients' objections to the shared care record."""

from __future__ import annotations

import click

from mpi.cli.options import Env, audit_cli, fail_cleanly, pass_env


@click.group("optout")
def optout_group() -> None:
    """Patients' objections to the shared care record (still matched, never disclosed).

    Example: mpi optout add 7K3M-Q9TZ-A2C4 --reason "objection via GP"
    """


@optout_group.command("add")
@click.argument("person_id")
@click.option("--reason", required=True, help="Why (recorded and audited).")
@pass_env
@fail_cleanly
def optout_add(env: Env, person_id: str, reason: str) -> None:
    """Record that a person objects to sharing their record (audited).

    Example: mpi optout add 7K3M-Q9TZ-A2C4 --reason "objection via GP"
    """
    from mpi import optout

    with env.connection() as conn:
        changed = optout.add(conn, person_id, reason, actor="cli")
        audit_cli(conn, "optout.add", "update", person_id, {"changed": changed})
    click.echo(f"{person_id} opted out" + ("" if changed else " (already)"))


@optout_group.command("remove")
@click.argument("person_id")
@pass_env
@fail_cleanly
def optout_remove(env: Env, person_id: str) -> None:
    """Withdraw a person's objection (audited).

    Example: mpi optout remove 7K3M-Q9TZ-A2C4
    """
    from mpi import optout

    with env.connection() as conn:
        changed = optout.remove(conn, person_id)
        audit_cli(conn, "optout.remove", "delete", person_id, {"changed": changed})
    click.echo(f"{person_id} opt-out removed" + ("" if changed else " (there was none)"))
