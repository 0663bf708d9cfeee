"""``mpi relink``: re-score links under a model."""

from __future__ import annotations

import sys

import click

from mpi.cli.options import Env, fail_cleanly, pass_env


@click.command("relink")
@click.option("--dry-run", is_flag=True, help="Change nothing; report what would change.")
@click.option("--model", "version", default=None, help="Model version (default: the active).")
@click.option("--batch-size", type=click.IntRange(1), default=1000, show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@pass_env
@fail_cleanly
def relink_command(
    env: Env, dry_run: bool, version: str | None, batch_size: int, quiet: bool
) -> None:
    """Re-score automatic links and open review items under a model, in batches.

    Manual links are never touched; changes go to the identity event log. With
    --dry-run nothing changes and the report shows the links that would form or break and
    the review items that would open or close, with examples.

    Example: mpi relink --dry-run --model trained-2
    """
    from mpi.relink import relink

    ctx = env.context(version)
    with env.connection() as conn:
        with click.progressbar(
            length=1,
            label=f"relinking under {ctx.model.version}",
            file=sys.stderr,
            hidden=quiet,
        ) as bar:
            seen = [0]

            def progress(done: int, total: int) -> None:
                bar.length = max(total, 1)
                bar.update(done - seen[0])
                seen[0] = done

            report = relink(conn, ctx, dry_run=dry_run, batch_size=batch_size, progress=progress)
    verb = "would" if dry_run else "did"
    click.echo(
        f"{report.records} records re-scored under {report.model_version}"
        f"{' (dry run: nothing changed)' if dry_run else ''}"
    )
    click.echo(f"  links that {verb} form:   {report.links_formed}")
    click.echo(f"  links that {verb} break:  {report.links_broken}")
    click.echo(f"  records that {verb} move: {report.records_moved}")
    click.echo(f"  review items that {verb} open:  {report.reviews_opened}")
    click.echo(f"  review items that {verb} close: {report.reviews_closed}")
    for kind, text in report.examples:
        click.echo(f"    {kind}: {text}")
