"""``mpi relink``: re-score links under a model."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mpi.cli.options import Env, fail_cleanly, pass_env


@click.command("relink")
@click.option("--dry-run", is_flag=True, help="Change nothing; report what would change.")
@click.option("--model", "version", default=None, help="Model version (default: the active).")
@click.option("--batch-size", type=click.IntRange(1), default=1000, show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option(
    "--engine",
    type=click.Choice(["database", "spark"]),
    default="database",
    show_default=True,
    help="database: in PostgreSQL, batch by batch; spark: on Apache Spark (mpi[spark]).",
)
@click.option("--master", default="local[2]", show_default=True, help="Spark's master URL.")
@click.option(
    "--export",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Spark: folder for the Parquet export (default: a temporary one).",
)
@click.option("--from-export", is_flag=True, help="Spark: read --export as it is.")
@click.option(
    "--diff",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Spark: write the changes as JSON Lines to this file.",
)
@pass_env
@fail_cleanly
def relink_command(
    env: Env,
    dry_run: bool,
    version: str | None,
    batch_size: int,
    quiet: bool,
    engine: str,
    master: str,
    export: Path | None,
    from_export: bool,
    diff: Path | None,
) -> None:
    """Re-score automatic links and open review items under a model, in batches.

    Manual links are never touched; changes go to the identity event log. With
    --dry-run nothing changes and the report shows the links that would form or break and
    the review items that would open or close, with examples.

    With --engine spark the same decisions are made on Apache Spark (local mode, or
    --master for a cluster) and applied through the store in batches; --diff writes
    every change (docs/scale.md).

    Example: mpi relink --dry-run --model trained-2
    """
    if engine == "spark":
        from mpi.cli.spark import relink_on_spark

        relink_on_spark(
            env,
            version,
            dry_run=dry_run,
            master=master,
            export=export,
            from_export=from_export,
            diff=diff,
            batch_size=batch_size,
            quiet=quiet,
        )
        return
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
    click.echo(f"    resolved as a link:    {report.reviews_resolved_by_link}")
    click.echo(f"    resolved as apart:     {report.reviews_resolved_apart}")
    click.echo(f"  persons that {verb} merge: {report.persons_merged}")
    click.echo(f"  persons that {verb} split: {report.persons_split}")
    click.echo(f"  persons that {verb} be created: {report.persons_created}")
    for kind, text in report.examples:
        click.echo(f"    {kind}: {text}")
