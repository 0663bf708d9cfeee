"""Bulk load of a connected system's file (CSV or FHIR R4 Patient NDJSON), in batches."""

from __future__ import annotations

import csv
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import psycopg

from matching import fields
from matching.types import Demographics
from mpi.errors import InvalidInput
from mpi.fhir_patient import demographics_from_patient, local_identifier
from mpi.models import SourceSystem
from mpi.records import MatchContext, NameCounts, load_batch, prepare
from mpi.store.records import RecordRow, analyse, count_records, vacuum_counters

#: The columns a CSV must have (in any order): the local ID, then the required fields.
CSV_COLUMNS = ("local_id", *fields.csv_columns(required=True))
#: Columns a CSV may add, any of them, in any order.
OPTIONAL_CSV_COLUMNS = fields.csv_columns(required=False)
#: CSV column -> field name (the key of the stored payload and of :func:`demographics_from_row`).
_CSV_FIELDS = {"local_id": "local_id"} | fields.csv_field_names()
_TEXT_FIELDS = frozenset(fields.of_kind("text"))

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Reject:
    """A row that could not be loaded, and why."""

    line: int
    local_id: str
    reason: str
    raw: str


@dataclass(slots=True)
class LoadReport:
    """What a bulk load did."""

    rows: int = 0
    loaded: int = 0
    decisions: dict[str, int] = field(default_factory=dict)
    rejects: list[Reject] = field(default_factory=list)
    seconds: float = 0.0
    #: CSV columns that are not fields, ignored (their values are not stored).
    unknown_columns: tuple[str, ...] = ()

    @property
    def per_second(self) -> float:
        """Rows per second, end to end."""
        return self.rows / self.seconds if self.seconds else 0.0


def _clean(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _as_sent(value: object) -> Any:
    """A multiple-birth or death value as sent: text trimmed (empty = missing), a JSON
    boolean or number as it is (normalisation checks it)."""
    return _clean(value) if isinstance(value, str) else value


def demographics_from_row(row: dict[str, Any]) -> Demographics:
    """The demographics of one CSV row or /v1 body (empty cell = missing).

    Text fields count only as text; ``multiple_birth``, ``birth_order``, ``deceased`` and
    ``deceased_at`` may also be JSON booleans and numbers (the /v1 body).
    """
    return Demographics(
        **{
            name: (_clean if name in _TEXT_FIELDS else _as_sent)(row.get(name))
            for name in fields.names()
        }
    )


def _csv_header(header: list[str]) -> tuple[list[str | None], tuple[str, ...]]:
    """Each column's field name (``None``: an unknown column, ignored), and the unknown
    columns' names.

    The columns may come in any order, with any of :data:`OPTIONAL_CSV_COLUMNS` and any
    unknown ones among them.

    Raises:
        InvalidInput: a column of :data:`CSV_COLUMNS` is missing, or a known one repeated.
    """
    header = [h.strip().lstrip("\ufeff").strip() for h in header]
    missing = [c for c in CSV_COLUMNS if c not in header]
    repeated = sorted({c for c in header if c in _CSV_FIELDS and header.count(c) > 1})
    if missing or repeated:
        problems = []
        if missing:
            problems.append("it lacks " + ", ".join(missing))
        if repeated:
            problems.append("it repeats " + ", ".join(repeated))
        raise InvalidInput.single(
            "header",
            "the CSV header must have the columns " + ",".join(CSV_COLUMNS) + " (in any"
            " order), and may add any of "
            + ",".join(OPTIONAL_CSV_COLUMNS)
            + ": "
            + " and ".join(problems),
        )
    unknown = tuple(h or "(blank)" for h in header if h not in _CSV_FIELDS)
    return [_CSV_FIELDS.get(h) for h in header], unknown


def _csv_rows(
    reader: Any, names: list[str | None]
) -> Iterator[tuple[int, str, dict[str, Any] | None, str]]:
    """The rows after the header: line, local ID, the known columns by field name, text."""
    at = names.index("local_id")
    for values in reader:
        line = reader.line_num
        text = ",".join(values)
        if len(values) != len(names):
            yield line, values[at] if len(values) > at else "", None, text
            continue
        row = {name: value for name, value in zip(names, values, strict=True) if name}
        yield line, values[at].strip(), row, text


def _ndjson_rows(
    handle: TextIO, system_uri: str | None
) -> Iterator[tuple[int, str, dict[str, Any] | None, str]]:
    for line, text in enumerate(handle, start=1):
        if not text.strip():
            continue
        try:
            resource = json.loads(text)
        except json.JSONDecodeError:
            yield line, "", None, text.rstrip("\n")
            continue
        local = local_identifier(resource, system_uri) if isinstance(resource, dict) else None
        yield line, local or "", resource, text.rstrip("\n")


def _to_row(ctx: MatchContext, kind: str, local_id: str, raw: dict[str, Any]) -> RecordRow:
    if kind == "csv":
        demographics = demographics_from_row(raw)
    else:
        demographics = demographics_from_patient(raw)
        if not local_id:
            raise InvalidInput.single("identifier", "no local identifier for this system")
    return prepare(ctx, local_id, raw, demographics)


_Chunk = tuple[list[RecordRow], list[Reject], int]


def _chunks(
    ctx: MatchContext,
    kind: str,
    rows: Iterator[tuple[int, str, dict[str, Any] | None, str]],
    batch_size: int,
) -> Iterator[_Chunk]:
    """Prepared batches of ``batch_size`` rows, with the rejects and the rows read for each."""
    batch: list[RecordRow] = []
    rejects: list[Reject] = []
    count = 0
    for line, local_id, raw, text in rows:
        count += 1
        if raw is None:
            reason = "malformed row: wrong number of columns or not JSON"
            rejects.append(Reject(line, local_id, reason, text))
            continue
        try:
            batch.append(_to_row(ctx, kind, local_id, raw))
        except InvalidInput as exc:
            rejects.append(Reject(line, local_id, str(exc), text))
            continue
        if len(batch) >= batch_size:
            yield batch, rejects, count
            batch, rejects, count = [], [], 0
    yield batch, rejects, count


class _ReadAhead:
    """Runs an iterator in a thread, one item ahead of its consumer.

    The file is read, validated and normalised for the next batch while this thread waits
    for the database on the current one (psycopg releases the GIL while it waits).
    Exceptions reach the consumer in order.
    """

    def __init__(self, items: Iterator[_Chunk]) -> None:
        self._items = items
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="load-read-ahead", daemon=True)
        self._thread.start()

    def _put(self, item: tuple[str, Any]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for item in self._items:
                if not self._put(("item", item)):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            self._put(("error", exc))
            return
        self._put(("end", None))

    def __iter__(self) -> Iterator[_Chunk]:
        while True:
            kind, value = self._queue.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value

    def close(self) -> None:
        """Stop the thread (the consumer is done or failed) and wait for it."""
        self._stop.set()
        self._thread.join()


class _Analyser:
    """Refreshes the planner's statistics on its own connection while the load goes on."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def _run(self) -> None:
        try:
            with psycopg.connect(self.url, autocommit=True) as conn:
                analyse(conn)
                vacuum_counters(conn)
        except BaseException as exc:  # noqa: BLE001 - raised by wait()
            self._error = exc

    def start(self) -> None:
        self.wait()
        self._thread = threading.Thread(target=self._run, name="load-analyse", daemon=True)
        self._thread.start()

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error


def file_kind(path: Path) -> str:
    """``csv`` or ``ndjson`` by the file's name."""
    suffix = path.suffix.lower()
    if suffix in (".ndjson", ".jsonl"):
        return "ndjson"
    if suffix == ".csv":
        return "csv"
    raise InvalidInput.single("file", f"{path.name}: expected a .csv or .ndjson file")


def load_file(
    url: str,
    ctx: MatchContext,
    system: SourceSystem,
    path: Path,
    *,
    batch_size: int = 1000,
    system_uri: str | None = None,
    actor: str = "bulk-load",
    progress: Callable[[int], None] | None = None,
) -> LoadReport:
    """Load a file of one system's records with matching, one transaction per batch.

    Bad rows are collected as rejects with the reason; the rest loads. Loading the same
    file again changes nothing.

    Args:
        url: the database.
        ctx: model, thresholds and limits.
        system: the connected system the records belong to.
        path: a CSV with the columns of :data:`CSV_COLUMNS` in any order (any of
            :data:`OPTIONAL_CSV_COLUMNS` too; other columns are reported in the report's
            ``unknown_columns`` and the log, and ignored), or FHIR Patient NDJSON.
        batch_size: records per transaction.
        system_uri: for NDJSON, the identifier system of the local IDs (``None``: the
            first identifier that is not an NHS number).
        actor: recorded as who linked.
        progress: called with the number of rows done after each batch.

    Returns:
        The report: rows, decisions, rejects and speed.
    """
    kind = file_kind(path)
    report = LoadReport()
    started = time.perf_counter()
    analyser = _Analyser(url)
    with (
        path.open(encoding="utf-8-sig", newline="") as handle,
        # autocommit, so that each batch's transaction() is its own transaction (without
        # it, the first statement opened one for the whole file and batches were savepoints)
        psycopg.connect(url, autocommit=True) as conn,
    ):
        rows: Iterator[tuple[int, str, dict[str, Any] | None, str]]
        if kind == "csv":
            reader = csv.reader(handle)
            header = next(reader, None)
            names, report.unknown_columns = _csv_header(header) if header else ([], ())
            if report.unknown_columns:
                log.warning(
                    "%s: unknown CSV columns ignored: %s",
                    path.name,
                    ", ".join(report.unknown_columns),
                )
            rows = _csv_rows(reader, names) if header else iter(())
        else:
            rows = _ndjson_rows(handle, system_uri)
        # refresh statistics once the load has grown the tables by a quarter, then at
        # each fourfold growth (a fresh database: after 1, 4, 16, 64 batches)
        analyse_at = max(batch_size, count_records(conn) // 4)
        name_counts = NameCounts()
        chunks = _ReadAhead(_chunks(ctx, kind, rows, batch_size))
        try:
            for batch, rejects, count in chunks:
                report.rows += count
                report.rejects.extend(rejects)
                if batch:
                    with conn.transaction():
                        # a crash loses at most the batches not yet flushed: a load is
                        # idempotent, so loading the file again completes it
                        conn.execute("SET LOCAL synchronous_commit = off")
                        results = load_batch(
                            conn, ctx, system, batch, actor=actor, name_counts=name_counts
                        )
                    for result in results:
                        decision = result.decision
                        report.decisions[decision] = report.decisions.get(decision, 0) + 1
                    report.loaded += len(results)
                    if report.loaded >= analyse_at:  # keep the planner's estimates close
                        analyser.start()  # on its own connection, while the load goes on
                        analyse_at *= 4
                    if progress:
                        progress(report.rows)
        finally:
            chunks.close()
            analyser.wait()
        if report.loaded:
            vacuum_counters(conn)  # the counters were updated batch after batch
    report.seconds = time.perf_counter() - started
    return report


def write_rejects(rejects: list[Reject], path: Path) -> None:
    """Write rejects as CSV: line, local_id, reason, raw."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("line", "local_id", "reason", "raw"))
        for r in rejects:
            writer.writerow((r.line, r.local_id, r.reason, r.raw))
