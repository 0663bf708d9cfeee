"""``mpi export records`` and ``mpi relink --engine spark``: the batch relink on Spark."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from mpi.cli.options import Env, fail_cleanly, pass_env
from mpi.errors import ConfigError


def _needs_spark() -> None:
    try:
        import pyarrow  # noqa: F401
        import pyspark  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            f"the Spark engine needs the spark extra ({exc.name} is missing):"
            " pip install 'mpi[spark]'"
        ) from exc


@click.command("records")
@click.option(
    "-o",
    "--output",
    "folder",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write the Parquet dataset to (created).",
)
@click.option("--rows-per-file", type=click.IntRange(1), default=250_000, show_default=True)
@pass_env
@fail_cleanly
def export_records_command(env: Env, folder: Path, rows_per_file: int) -> None:
    """Every active record, with its link and blocking keys, as Parquet for a batch engine.

    Writes FOLDER/records/part-*.parquet and FOLDER/store.json (no-match assertions, open
    review items, name counters), one consistent snapshot, for `mpi relink --engine spark
    --from-export FOLDER` or spark-submit on a cluster (docs/scale.md).

    Example: mpi export records -o /data/mpi-export
    """
    _needs_spark()
    from mpi.spark.export import export_records

    with env.connection() as conn, conn.transaction():
        report = export_records(conn, folder, rows_per_file=rows_per_file)
    click.echo(f"{report.records} records in {report.files} files under {report.folder}")


def relink_on_spark(
    env: Env,
    version: str | None,
    *,
    dry_run: bool,
    master: str,
    export: Path | None,
    from_export: bool,
    diff: Path | None,
    batch_size: int,
    quiet: bool,
) -> None:
    """``mpi relink --engine spark``: run :func:`mpi.spark.run.relink` and report it."""
    _needs_spark()
    if from_export and export is None:
        raise ConfigError("--from-export needs --export FOLDER (made by mpi export records)")
    if from_export and not (export / "store.json").is_file():  # type: ignore[operator]
        raise ConfigError(f"--export {export}: no export there (run mpi export records -o it)")
    from mpi.spark.run import relink

    ctx = env.context(version)

    def progress(stage: str) -> None:
        if not quiet:
            click.echo(f"spark relink: {stage}", err=True)

    with env.connection() as conn:
        conn.autocommit = True  # the export is one transaction, each write-back batch one
        report = relink(
            conn,
            ctx,
            master=master,
            export=export,
            reuse_export=from_export,
            dry_run=dry_run,
            batch_size=batch_size,
            progress=progress,
        )
    if diff is not None:
        with diff.open("w", encoding="utf-8") as handle:
            report.diff.write(handle)
    summary: dict[str, Any] = report.diff.summary()
    verb = "would" if dry_run else "did"
    click.echo(
        f"{summary['records']} records re-scored on Spark under {report.model_version}"
        f"{' (dry run: nothing changed)' if dry_run else ''}"
    )
    click.echo(f"  records that {verb} move:  {summary['records_moved']}")
    click.echo(f"  persons that {verb} merge: {summary['persons_merged']}")
    click.echo(f"  persons that {verb} split: {summary['persons_split']}")
    click.echo(f"  review items that {verb} open:  {summary['reviews_opened']}")
    click.echo(f"  review items that {verb} close: {summary['reviews_closed']}")
    if summary["conflicts"]:
        click.echo(f"  records left alone (changed since the read): {summary['conflicts']}")
    if diff is not None:
        click.echo(f"  diff written to {diff}")
    timings = {k: round(v, 2) for k, v in report.timings.items()}
    click.echo(f"  seconds per stage: {json.dumps(timings)}", file=sys.stderr)
