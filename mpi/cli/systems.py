"""``mpi systems``: connected source systems, their tokens and identifier systems."""

from __future__ import annotations

import click

from mpi.cli.options import SCOPE_CHOICE, Env, fail_cleanly, pass_env
from mpi.models import SYSTEM_KINDS


@click.group("systems")
def systems_group() -> None:
    """Connected source systems.

    Example: mpi systems list
    """


@systems_group.command("add")
@click.argument("code")
@click.option("--name", help="Display name (default: the code).")
@click.option("--kind", type=click.Choice(SYSTEM_KINDS), required=True, help="Kind of system.")
@click.option(
    "--trust-rank",
    type=click.IntRange(1, 9),
    default=5,
    show_default=True,
    help="Survivorship rank: 1 is the most trusted source.",
)
@click.option(
    "--scope",
    "scopes",
    type=click.Choice(("register", "lookup", "review", "metrics", "admin")),
    multiple=True,
    help="Issue an API token with this scope (repeat for several); it is printed once.",
)
@click.option("--identifier-system", "uri", help="URI of the system's local IDs (FHIR, PIXm).")
@click.option(
    "--hl7-facility",
    "facility",
    help="HL7 v2 sending facility (MSH-4) of its messages (default: the system's code).",
)
@pass_env
@fail_cleanly
def systems_add(
    env: Env,
    code: str,
    name: str | None,
    kind: str,
    trust_rank: int,
    scopes: tuple[str, ...],
    uri: str | None,
    facility: str | None,
) -> None:
    """Add a connected system, and with --scope its API bearer token (shown only once).

    Only the token's hash is stored; `mpi systems rotate` replaces it, `revoke` ends it.

    Example: mpi systems add GP_CLUSTER --kind gp --trust-rank 1 --scope register --scope lookup
    """
    from mpi import access, systems

    with env.connection() as conn:
        system = systems.add_system(
            conn, code, name or code, kind, trust_rank, identifier_system=uri, hl7_facility=facility
        )
        token = access.issue_token(conn, code, scopes, actor="cli") if scopes else None
    click.echo(f"added {system.code} ({system.kind}, trust rank {system.trust_rank})")
    if token is not None:
        click.echo(f"token ({', '.join(sorted(set(scopes)))}), shown only this once:")
        click.echo(token)


@systems_group.command("list")
@pass_env
@fail_cleanly
def systems_list(env: Env) -> None:
    """List connected systems.

    Example: mpi systems list
    """
    from mpi import systems

    with env.connection() as conn:
        for s in systems.list_systems(conn):
            click.echo(f"{s.code}\t{s.kind}\t{s.trust_rank}\t{s.name}")


@systems_group.command("token")
@click.argument("code")
@click.option(
    "--scope",
    "scopes",
    type=SCOPE_CHOICE,
    multiple=True,
    required=True,
    help="A scope for the token (repeat for several).",
)
@pass_env
@fail_cleanly
def systems_token(env: Env, code: str, scopes: tuple[str, ...]) -> None:
    """Issue an API bearer token for a system and print it once (only its hash is kept).

    Example: mpi systems token GP_CLUSTER --scope register --scope lookup
    """
    from mpi import access

    with env.connection() as conn:
        token = access.issue_token(conn, code, scopes, actor="cli")
    click.echo(token)


@systems_group.command("rotate")
@click.argument("code")
@click.option("--scope", "scopes", type=SCOPE_CHOICE, multiple=True, help="New scopes.")
@pass_env
@fail_cleanly
def systems_rotate(env: Env, code: str, scopes: tuple[str, ...]) -> None:
    """Revoke a system's tokens and print one new token (same scopes unless given).

    Example: mpi systems rotate GP_CLUSTER
    """
    from mpi import access

    with env.connection() as conn:
        token = access.rotate_token(conn, code, scopes or None, actor="cli")
    click.echo(token)


@systems_group.command("revoke")
@click.argument("code")
@pass_env
@fail_cleanly
def systems_revoke(env: Env, code: str) -> None:
    """Revoke every token of a system.

    Example: mpi systems revoke GP_CLUSTER
    """
    from mpi import access

    with env.connection() as conn:
        revoked = access.revoke_tokens(conn, code)
    click.echo(f"revoked {revoked} token(s) of {code}")


@systems_group.command("identifier-system")
@click.argument("code")
@click.argument("uri")
@pass_env
@fail_cleanly
def systems_identifier_system(env: Env, code: str, uri: str) -> None:
    """Register the identifier system URI of a system's local IDs (FHIR, PIXm).

    Example: mpi systems identifier-system GP_CLUSTER https://fhir.gp.example.nhs.uk/Id/pid
    """
    from mpi import systems

    with env.connection() as conn:
        systems.set_identifier_system(conn, code, uri)
    click.echo(f"{code} identifiers are {uri}")


@systems_group.command("hl7-facility")
@click.argument("code")
@click.argument("facility")
@pass_env
@fail_cleanly
def systems_hl7_facility(env: Env, code: str, facility: str) -> None:
    """Name the HL7 v2 sending facility (MSH-4) by which `mpi mllp` knows a system.

    Example: mpi systems hl7-facility ACUTE_PAS RVJ
    """
    from mpi import systems

    with env.connection() as conn:
        systems.set_hl7_facility(conn, code, facility)
    click.echo(f"{code} sends HL7 v2 as facility {facility}")


@systems_group.command("hl7-subscribe")
@click.argument("code")
@click.argument("receiver")
@click.option("--tls", is_flag=True, help="MLLP over TLS (MPI_MLLP_NOTIFY_CA: CA bundle).")
@pass_env
@fail_cleanly
def systems_hl7_subscribe(env: Env, code: str, receiver: str, tls: bool) -> None:
    """Send a system's identity changes as HL7 v2 ADT^A31/A40 over MLLP to HOST:PORT.

    From the webhooks' outbox, only what the disclosure rule lets the system see, sent by
    `mpi webhooks deliver` (at least once, retried). Undo with `mpi systems
    hl7-unsubscribe CODE ID`.

    Example: mpi systems hl7-subscribe GP_CLUSTER engine.trust.nhs.uk:2576
    """
    from mpi import systems, webhooks

    with env.connection() as conn:
        system = systems.get_system(conn, code)
        sub = webhooks.subscribe_hl7(conn, system.id, receiver, tls=tls)
    click.echo(f"subscription {sub.id}: {code} is notified at {sub.url}")


@systems_group.command("hl7-unsubscribe")
@click.argument("code")
@click.argument("subscription_id", type=int)
@pass_env
@fail_cleanly
def systems_hl7_unsubscribe(env: Env, code: str, subscription_id: int) -> None:
    """Stop a system's HL7 v2 notifications (pending ones are dropped).

    Example: mpi systems hl7-unsubscribe GP_CLUSTER 3
    """
    from mpi import systems, webhooks

    with env.connection() as conn:
        system = systems.get_system(conn, code)
        webhooks.unsubscribe(conn, system.id, subscription_id)
    click.echo(f"subscription {subscription_id} of {code} switched off")
