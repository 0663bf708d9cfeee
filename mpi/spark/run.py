"""``mpi relink --engine spark``: export, the Spark stages, the diff and the write-back.

:func:`relink` runs every stage of :mod:`mpi.spark.job` one after another (each
materialised, so that its time is its own) and streams the decided groups to the driver,
which folds them into the :class:`~mpi.spark.diff.Diff` and, unless it is a dry run,
applies them in batches (:func:`mpi.spark.apply.apply_groups`).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from mpi.records import MatchContext
from mpi.spark.apply import apply_groups
from mpi.spark.decide import GroupResult
from mpi.spark.diff import Diff, result_from_json
from mpi.spark.export import export_records, read_store_json

__all__ = ["SparkRelinkReport", "relink"]


@dataclass(frozen=True, slots=True)
class SparkRelinkReport:
    """What the Spark relink changed (or would change), and how long each stage took.

    Attributes:
        model_version: the model used.
        dry_run: whether nothing was written.
        diff: the changes.
        timings: seconds per stage (``export``, ``read``, ``candidates``, ``scoring``,
            ``groups``, ``decisions``, ``write_back``).
        counts: rows per stage (``records``, ``pairs``, ``groups``).
    """

    model_version: str
    dry_run: bool
    diff: Diff
    timings: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


def relink(
    conn: psycopg.Connection[Any] | None,
    ctx: MatchContext,
    *,
    spark: Any = None,
    master: str = "local[2]",
    export: Path | str | None = None,
    reuse_export: bool = False,
    dry_run: bool = False,
    batch_records: int = 5000,
    batch_size: int = 1000,
    actor: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> SparkRelinkReport:
    """Relink every target record on Spark, as :func:`mpi.relink.relink` does in-database.

    Args:
        conn: the store; the export is read in one transaction of it, and each batch of
            the write-back is a transaction of its own (a savepoint, inside the caller's
            transaction). ``None`` only with ``reuse_export`` and ``dry_run``.
        ctx: the model and thresholds.
        spark: a running SparkSession (default: one on ``master``).
        master: Spark's master when ``spark`` is not given (default ``local[2]``).
        export: the folder of the Parquet export (default: a temporary folder); on a
            cluster, a folder every worker reads (HDFS, S3, a shared mount).
        reuse_export: read an existing export in ``export`` (``mpi export records``)
            instead of writing it.
        dry_run: only compute the diff.
        batch_records: records per write-back transaction (whole groups, default 5000).
        batch_size: the in-database relink's batch size, whose order of decisions the
            groups follow (default 1000, as ``mpi relink``).
        actor: who relinks (default ``relink:<model version>``).
        progress: called with the name of each stage as it starts.

    Returns:
        The diff, stage timings and counts.
    """
    from mpi.spark import job

    actor = actor or f"relink:{ctx.model.version}"
    say = progress or (lambda _: None)
    timings: dict[str, float] = {}
    counts: dict[str, int] = {}
    temp = None
    if export is None:
        temp = tempfile.TemporaryDirectory(prefix="mpi-relink-")
        export = temp.name
    folder = str(export)

    def timed(stage: str, fn: Callable[[], Any]) -> Any:
        say(stage)
        start = time.perf_counter()
        value = fn()
        timings[stage] = time.perf_counter() - start
        return value

    try:
        if not reuse_export:
            if conn is None:
                raise ValueError("a connection is needed to export the records")

            def write() -> Any:
                with conn.transaction():
                    return export_records(conn, folder)

            timed("export", write)
        spark = spark or job.session(master)
        adjuster = job.adjuster_of(ctx, folder)
        records = timed("read", lambda: job.read_export(spark, folder).localCheckpoint())
        counts["records"] = records.count()
        pairs = timed(
            "candidates", lambda: job.candidate_pairs(records, ctx.blocking_cap).localCheckpoint()
        )
        counts["pairs"] = pairs.count()
        scored = timed(
            "scoring", lambda: job.score_pairs(pairs, records, ctx, adjuster).localCheckpoint()
        )
        groups = timed(
            "groups",
            lambda: job.connected_groups(spark, records, scored, ctx.thresholds.review),
        )
        decided = timed(
            "decisions",
            lambda: job.decide_groups(
                spark,
                records,
                pairs,
                groups,
                folder,
                ctx,
                adjuster,
                actor=actor,
                batch_size=batch_size,
            ).localCheckpoint(),
        )
        small = read_store_json(folder)
        open_pairs = {(r, p) for _, r, p in small["open_review_items"]}
        diff = Diff()
        pending: list[tuple[int, GroupResult]] = []
        in_batch = 0
        say("write_back")
        start = time.perf_counter()
        for row in decided.toLocalIterator():
            result = result_from_json(row["payload"])
            diff.add(row["g"], result, open_pairs)
            if dry_run:
                continue
            pending.append((row["g"], result))
            in_batch += len(result.before)
            if in_batch >= batch_records:
                diff.conflicts += apply_groups(conn, pending, actor)  # type: ignore[arg-type]
                pending, in_batch = [], 0
        if pending:
            diff.conflicts += apply_groups(conn, pending, actor)  # type: ignore[arg-type]
        timings["write_back"] = time.perf_counter() - start
        counts["groups"] = diff.groups
        return SparkRelinkReport(ctx.model.version, dry_run, diff, timings, counts)
    finally:
        if temp is not None:
            temp.cleanup()
