"""``mpi export records``: the store's active records as a Parquet dataset for a batch engine.

The folder holds ``records/part-NNNNN.parquet`` (one file per range of record IDs, so a
cluster reads them in parallel) with the columns of :data:`RECORD_COLUMNS`, and
``store.json`` with the small tables a relink needs besides: no-match assertions, open
review items and the name and postcode counters. Written with pyarrow (the ``spark``
extra), read by Spark (:func:`mpi.spark.job.read_export`) or any Parquet reader.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from mpi.spark.codec import norm_to_json
from mpi.store import batch as batch_store

__all__ = ["RECORD_COLUMNS", "ExportReport", "export_records", "read_store_json"]

#: The columns of ``records/*.parquet``: ``norm`` is the normalised record as JSON
#: (:mod:`mpi.spark.codec`); ``person`` and ``method`` are the record's link (null when
#: unlinked); ``target``: a relink re-scores it.
RECORD_COLUMNS = (
    "id",
    "system_id",
    "local_id",
    "person",
    "method",
    "target",
    "keys",
    "norm",
)

_FORMAT = 1


@dataclass(frozen=True, slots=True)
class ExportReport:
    """What :func:`export_records` wrote."""

    folder: Path
    records: int
    files: int


def _schema() -> Any:
    import pyarrow as pa

    return pa.schema(
        [
            ("id", pa.int64()),
            ("system_id", pa.int64()),
            ("local_id", pa.string()),
            ("person", pa.int64()),
            ("method", pa.string()),
            ("target", pa.bool_()),
            ("keys", pa.list_(pa.string())),
            ("norm", pa.string()),
        ]
    )


def export_records(
    conn: psycopg.Connection[Any],
    folder: Path | str,
    *,
    rows_per_file: int = 250_000,
    batch: int = 20_000,
) -> ExportReport:
    """Write the active records and the relink's small tables to ``folder``.

    Args:
        conn: the connection (read in one transaction of the caller's, so the files are
            one consistent snapshot).
        folder: the output folder, created; existing ``records/`` files are replaced.
        rows_per_file: records per Parquet file (default 250,000).
        batch: records per read statement (default 20,000).

    Returns:
        The folder, how many records and files were written.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(folder)
    parts = folder / "records"
    parts.mkdir(parents=True, exist_ok=True)
    for old in parts.glob("part-*.parquet"):
        old.unlink()
    schema = _schema()
    low, high = batch_store.id_range(conn)
    total = files = 0
    writer: Any = None
    in_file = 0
    for chunk in batch_store.read_records(conn, low, high, batch=batch):
        if writer is None or in_file >= rows_per_file:
            if writer is not None:
                writer.close()
            writer = pq.ParquetWriter(parts / f"part-{files:05d}.parquet", schema)
            files += 1
            in_file = 0
        table = pa.table(
            {
                "id": [b.record.id for b in chunk],
                "system_id": [b.record.system_id for b in chunk],
                "local_id": [b.record.local_id for b in chunk],
                "person": [b.record.person for b in chunk],
                "method": [b.record.link_method for b in chunk],
                "target": [b.target for b in chunk],
                "keys": [list(b.keys) for b in chunk],
                "norm": [norm_to_json(b.record.norm) for b in chunk],
            },
            schema=schema,
        )
        writer.write_table(table)
        in_file += len(chunk)
        total += len(chunk)
    if writer is None:  # an empty store still gives a readable dataset
        pq.write_table(schema.empty_table(), parts / "part-00000.parquet")
        files = 1
    else:
        writer.close()
    small = {
        "format": _FORMAT,
        "records": total,
        "no_match": batch_store.no_match_pairs(conn),
        "open_review_items": batch_store.open_review_items(conn),
        "counters": batch_store.term_counters(conn),
    }
    (folder / "store.json").write_text(json.dumps(small), encoding="utf-8")
    return ExportReport(folder, total, files)


def read_store_json(folder: Path | str) -> dict[str, Any]:
    """The small tables of an export (``store.json``)."""
    found: dict[str, Any] = json.loads((Path(folder) / "store.json").read_text(encoding="utf-8"))
    if found.get("format") != _FORMAT:
        raise ValueError(f"{folder}: not an export of this version of mpi (format)")
    return found
