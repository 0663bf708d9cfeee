"""``mpi audit``: the audit trail's hash chains and checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

import click

from mpi.cli.options import Env, fail_cleanly, pass_env


@click.group("audit")
def audit_group() -> None:
    """The audit trail.

    Example: mpi audit verify
    """


@audit_group.command("verify")
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=click.File("r", encoding="utf-8"),
    default=None,
    help="A file of checkpoints (mpi audit checkpoint -o): prove nothing before them was lost.",
)
@pass_env
@fail_cleanly
def audit_verify(env: Env, checkpoint_file: TextIO | None) -> None:
    """Recompute the audit trail's hash chains; exit 1 if one is broken.

    Every chain must end where its tail says, so events missing at the start, the end or in
    between are found, however they went. With --checkpoint, each checkpointed chain head
    must still be in place with its hash: whoever rewrote the trail and its tails in the
    database cannot hide it from a checkpoint kept elsewhere.

    Example: mpi audit verify --checkpoint /secure/mpi-audit.checkpoints
    """
    from mpi import audit

    checkpoints = audit.read_checkpoints(checkpoint_file) if checkpoint_file else []
    with env.connection() as conn:
        report = audit.verify(conn, checkpoints)
    if not report.is_intact:
        where = f" at event {report.broken_at}" if report.broken_at is not None else ""
        raise click.ClickException(f"audit chain broken{where}: {report.reason}")
    held = ""
    if checkpoint_file:
        held = f"; {len(checkpoints)} checkpoint(s) hold ({report.anchors} chain heads)"
    click.echo(f"audit chain intact: {report.events} events{held}")


@audit_group.command("checkpoint")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Append the checkpoint to this file (default: print it).",
)
@pass_env
@fail_cleanly
def audit_checkpoint(env: Env, output: Path | None) -> None:
    """Print the audit chains' heads with their lengths, as one JSON line with the time.

    Keep the lines outside the database (another host, write-once storage, a ticket):
    `mpi audit verify --checkpoint FILE` then proves that every event up to each
    checkpointed head is still there and unchanged. -o appends to FILE.

    Example: mpi audit checkpoint -o /secure/mpi-audit.checkpoints
    """
    from mpi import audit

    with env.connection() as conn:
        cp = audit.checkpoint(conn)
    line = cp.to_json()
    if output is None:
        click.echo(line)
        return
    with output.open("a", encoding="utf-8") as f:
        f.write(line + "\n")
    click.echo(f"checkpoint of {cp.events} events in {len(cp.heads)} chains appended to {output}")
