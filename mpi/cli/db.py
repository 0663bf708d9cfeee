"""``mpi db``: schema migrations, renormalisation, roles, checks, backup and restore."""

from __future__ import annotations

from pathlib import Path

import click

from mpi import database
from mpi.cli.options import Env, fail_cleanly, pass_env


@click.group("db")
def db_group() -> None:
    """Database upkeep.

    Example: mpi db upgrade
    """


@db_group.command("upgrade")
@pass_env
@fail_cleanly
def db_upgrade(env: Env) -> None:
    """Apply every schema migration not yet applied and print the version.

    Example: mpi db upgrade
    """
    url = database.server_url(env.settings)
    done = database.upgrade(url)
    for migration in done:
        click.echo(f"applied {migration.version:04d}_{migration.name}")
    with database.connect(url) as conn:
        click.echo(f"schema version {database.applied_version(conn)}")


@db_group.command("renormalise")
@click.option("--dry-run", is_flag=True, help="Change nothing; report what would change.")
@click.option("--batch-size", type=click.IntRange(1), default=1000, show_default=True)
@pass_env
@fail_cleanly
def db_renormalise(env: Env, dry_run: bool, batch_size: int) -> None:
    """Normalise every stored record again from its raw payload, after normalisation changed.

    Records stored before names in other scripts were transliterated (Arabic, Chinese,
    Cyrillic, ...: schema 0100) hold no comparable name and the issue
    name_not_comparable; this gives them their transliteration and original-script form.
    Links do not change: run `mpi relink` afterwards to match the changed records again.

    Example: mpi db renormalise && mpi relink
    """
    from mpi.renormalise import renormalise

    with env.connection() as conn:
        report = renormalise(
            conn,
            allow_test_nhs_numbers=env.settings.allow_test_nhs_numbers,
            dry_run=dry_run,
            batch_size=batch_size,
        )
    verb = "would change" if dry_run else "changed"
    click.echo(f"{report.records} records read; {report.changed} {verb}")
    if report.unreadable:
        click.echo(
            f"  {report.unreadable} whose payload no longer normalises were left as they are"
        )
    if report.changed and not dry_run:
        click.echo("  run `mpi relink` to match the changed records again")


@db_group.command("roles")
@click.option("--owner", default="mpi_owner", show_default=True, help="Role owning the schema.")
@click.option(
    "--service", default="mpi_service", show_default=True, help="Role of the service and loads."
)
@click.option(
    "--owner-password-env",
    metavar="VAR",
    default=None,
    help="Environment variable holding the owner's password (default: no password set).",
)
@click.option(
    "--service-password-env",
    metavar="VAR",
    default=None,
    help="Environment variable holding the service role's password (default: none set).",
)
@pass_env
@fail_cleanly
def db_roles(
    env: Env,
    owner: str,
    service: str,
    owner_password_env: str | None,
    service_password_env: str | None,
) -> None:
    """Create the least-privilege roles (again: idempotent), as a superuser.

    The owner role owns the schema and runs `mpi db upgrade`; the service role runs `mpi
    serve`, loads and the webhook worker, and may INSERT and SELECT the audit trail but
    never UPDATE, DELETE or TRUNCATE it. Passwords are read from the named environment
    variables (never from the command line) and sent only as SCRAM hashes; without one,
    the role logs in however pg_hba.conf allows (certificate, peer, a password set by
    you). Run it again after every `mpi db upgrade`.

    Example: MPI_SERVICE_PW=... mpi db roles --service-password-env MPI_SERVICE_PW
    """
    import os

    from mpi.errors import ConfigError

    def password(var: str | None) -> str | None:
        if var is None:
            return None
        value = os.environ.get(var)
        if not value:
            raise ConfigError(f"environment variable {var} is not set or empty")
        return value

    owner_password, service_password = password(owner_password_env), password(service_password_env)
    with env.connection() as conn:
        report = database.ensure_roles(
            conn,
            owner,
            service,
            owner_password=owner_password,
            service_password=service_password,
        )
    made = f"created {', '.join(report.created)}; " if report.created else ""
    click.echo(
        f"{made}{owner} owns the schema ({report.reassigned} objects given to it now);"
        f" {service} may use it, and only INSERT and SELECT the audit trail"
    )


@db_group.command("check")
@click.option("--no-audit", is_flag=True, help="Skip recomputing the audit hash chain.")
@pass_env
@fail_cleanly
def db_check(env: Env, no_audit: bool) -> None:
    """Check the store's invariants; exit 1 naming each one that is breached.

    Every active record linked to exactly one person, no link to a merged person, merge
    pointers ending at an active survivor, open review items still meaningful, no-match
    assertions never crossed, link history replaying to the links, identity events agreeing
    with them, name and postcode counters equal to a recount, and the audit chain intact.

    Example: mpi db check
    """
    from mpi import integrity

    with env.connection() as conn:
        findings = integrity.check(conn, audit_chain=not no_audit)
    for f in findings:
        status = "ok" if f.ok else f"BREACHED ({f.breaches})"
        click.echo(f"{f.name:<26} {status:<16} {f.seconds:7.2f} s  {f.description}")
        for example in f.examples:
            click.echo(f"    {example}")
    broken = [f.name for f in findings if not f.ok]
    if broken:
        raise click.ClickException(f"store invariants breached: {', '.join(broken)}")
    click.echo(f"store sound: {len(findings)} invariants hold")


@db_group.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_env
@fail_cleanly
def db_backup(env: Env, file: Path) -> None:
    """Write a backup of the whole store (pg_dump, custom format) to FILE.

    Records, links, history, events, review items, users and the audit trail with its
    chain tails. Restore it with ``mpi db restore``.

    Example: mpi db backup /backups/mpi-$(date +%F).dump
    """
    database.backup(env.url, file)
    click.echo(f"backup written to {file} ({file.stat().st_size:,} bytes)")


@db_group.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--database", "name", required=True, help="The new database to restore into.")
@pass_env
@fail_cleanly
def db_restore(env: Env, file: Path, name: str) -> None:
    """Restore a backup into a NEW database on the configured server, then check it.

    The database must not exist yet. After the restore the schema is brought up to date
    and the store's invariants and the audit chain are checked (as ``mpi db check``);
    then point DATABASE_URL at the new database.

    Example: mpi db restore /backups/mpi-2026-12-03.dump --database mpi_restored
    """
    _, broken = database.restore(env.settings, name, file)
    if broken:
        raise click.ClickException(
            f"restored into {name}, but invariants are breached: {', '.join(broken)}"
        )
    click.echo(f"restored into database {name}: store sound, audit chain intact")
