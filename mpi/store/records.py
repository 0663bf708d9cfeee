"""SQL for source records and their blocking keys."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import psycopg
from psycopg.rows import class_row, namedtuple_row
from psycopg.types.json import Jsonb

from matching.fields import COLUMNS, column_definitions, column_names
from matching.types import NormalisedRecord
from mpi.errors import NotFound
from mpi.models import RecordDetail, SourceSystem, StoredRecord

log = logging.getLogger(__name__)

_MATCH_LOCK = 7_040_002  # all matching holds it: shared per registration, exclusive per batch


@dataclass(frozen=True, slots=True)
class RecordRow:
    """A record ready to store: the raw payload verbatim and its normalised form."""

    local_id: str
    raw: dict[str, Any]
    content_hash: str
    norm: NormalisedRecord
    keys: frozenset[str]
    raw_json: str | None = None  # ``raw`` as JSON text, when already made (content hash)


@dataclass(frozen=True, slots=True)
class Upserted:
    """What storing one row did: ``outcome`` is inserted, updated or unchanged."""

    record_id: int
    local_id: str
    outcome: str


#: The normalised columns, declared in :data:`matching.fields.COLUMNS` (storage order).
_NORM_NAMES = column_names()
_NORM_COLUMNS = ", ".join(_NORM_NAMES)
_N = len(_NORM_NAMES)
_ARRAYS = tuple(n for n, c in enumerate(COLUMNS) if c.is_array)
_values_of = attrgetter(*_NORM_NAMES)

#: Result rows are read by column name (psycopg's ``namedtuple_row``: as quick to fetch as
#: plain tuples), never by position.
Row = Any


def _norm_values(norm: NormalisedRecord, array: Callable[[Sequence[str]], Any]) -> tuple[Any, ...]:
    """The record's values of :data:`_NORM_COLUMNS`, in order, each array made by ``array``."""
    values = list(_values_of(norm))
    for n in _ARRAYS:
        values[n] = array(values[n])
    return tuple(values)


def _norm_from(row: Row) -> NormalisedRecord:
    """The normalised record of a row holding :data:`_NORM_COLUMNS`, read by name."""
    values = list(_values_of(row))
    for n in _ARRAYS:
        values[n] = tuple(values[n] or ())
    return NormalisedRecord(*values)  # its attributes are the columns, in this order


def _named(conn: psycopg.Connection[Any]) -> psycopg.Cursor[Any]:
    """A cursor whose rows are named tuples: each column read by its name."""
    return conn.cursor(row_factory=namedtuple_row)


def lock_for_batch(conn: psycopg.Connection[Any]) -> None:
    """Hold the matching lock exclusively until the transaction ends (bulk loads)."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MATCH_LOCK,))


#: With ``%(generic)s`` true, the lock statement makes the rest of the transaction use
#: generic plans of its prepared statements (in the same statement, to save one): in
#: "auto" mode PostgreSQL re-plans the matching read (its arrays of keys and IDs) for
#: every registration, which costs more than running it; the generic plans of the
#: registration's statements are the same index look-ups (bench/RESULTS-api.md).
_GENERIC_PLANS = (
    " CASE WHEN %(generic)s THEN set_config('plan_cache_mode', 'force_generic_plan', true)"
    " END AS generic_plans,"
)

_LOCK_SQL = (
    "SELECT s.id, s.code, s.name, s.kind, s.trust_rank,"
    " pg_advisory_xact_lock_shared(%(match)s) AS locked,"
    + _GENERIC_PLANS
    + " (SELECT count(pg_advisory_xact_lock(h)) AS keys_locked FROM ("
    "   SELECT DISTINCT hashtextextended(k, 0) AS h FROM unnest("
    "    coalesce(old.keys, '{}') || %(keys)s::text[]"
    "    || ('record:' || s.id || ':' || %(local)s)) AS k ORDER BY h) ordered)"
    " FROM source_system s LEFT JOIN LATERAL ("
    "  SELECT r.blocking_keys AS keys FROM source_record r"
    "  WHERE r.system_id = s.id AND r.local_id = %(local)s) old ON true"
    " WHERE s.code = %(code)s"
)


def _lock_params(
    system_code: str, local_id: str, keys: Iterable[str], *, generic_plans: bool
) -> dict[str, Any]:
    return {
        "match": _MATCH_LOCK,
        "keys": sorted(keys),
        "local": local_id,
        "code": system_code,
        "generic": generic_plans,
    }


def _locked_system(row: Row | None, system_code: str) -> SourceSystem:
    if row is None:
        raise NotFound(f"unknown system {system_code!r}: add it first (mpi systems add)")
    return SourceSystem(
        id=row.id,
        code=row.code,
        name=row.name,
        kind=row.kind,
        trust_rank=row.trust_rank,
    )


def lock_for_register(
    conn: psycopg.Connection[Any],
    system_code: str,
    local_id: str,
    keys: Iterable[str],
    *,
    generic_plans: bool = False,
) -> SourceSystem:
    """Find the system, then share the matching lock and lock the record's keys until commit.

    One statement: the record itself, its new blocking ``keys`` and the keys it has now
    (an update) are locked in a fixed order. Two registrations of one person share a
    blocking key, so the second waits for the first to commit and then sees its record:
    one person, not two. With ``generic_plans``, as :func:`store_and_view`.

    Raises:
        NotFound: no system has this code.
    """
    params = _lock_params(system_code, local_id, keys, generic_plans=generic_plans)
    row = _named(conn).execute(_LOCK_SQL, params).fetchone()
    return _locked_system(row, system_code)


_UPSERT_SET = (
    " ON CONFLICT (system_id, local_id) DO UPDATE SET"
    " raw = excluded.raw, content_hash = excluded.content_hash, "
    + ", ".join(f"{c} = excluded.{c}" for c in _NORM_NAMES)
    + ","
    " blocking_keys = excluded.blocking_keys, status = 'active',"
    " version = source_record.version + 1, updated_at = now()"
    " WHERE source_record.content_hash <> excluded.content_hash"
    "    OR source_record.status <> 'active'"
)


# The row to store travels as one JSON document (psycopg dumps one parameter instead of 25,
# six of them lists); jsonb_populate_record gives it the table's column types.
_STORE_ONE = (
    "WITH d AS (SELECT * FROM jsonb_populate_record(NULL::source_record, %(doc)s)),"
    " up AS ("
    " INSERT INTO source_record (system_id, local_id, raw, content_hash, "
    + _NORM_COLUMNS
    + ", blocking_keys) SELECT s.id, d.local_id, d.raw, d.content_hash, "
    + ", ".join("d." + c for c in _NORM_NAMES)
    + ", d.blocking_keys FROM source_system s, d WHERE s.code = %(code)s"
    + _UPSERT_SET
    + " RETURNING id, (xmax = 0) AS inserted),"
    " gone AS (DELETE FROM blocking_key b USING up, d"
    "  WHERE b.record_id = up.id AND NOT up.inserted AND NOT (b.key = ANY(d.blocking_keys))),"
    " added AS (INSERT INTO blocking_key (key, record_id)"
    "  SELECT k, up.id FROM up, d, unnest(d.blocking_keys) AS k"
    "  WHERE up.inserted OR NOT EXISTS"
    "   (SELECT 1 FROM blocking_key b WHERE b.key = k AND b.record_id = up.id))"
    " SELECT up.id AS stored_id, up.inserted, r.id AS record_id FROM (SELECT 1) one"
    " LEFT JOIN up ON true"
    " LEFT JOIN source_record r ON r.local_id = %(local)s"
    "  AND r.system_id = (SELECT id FROM source_system WHERE code = %(code)s)"
)


def _store_document(row: RecordRow, keys: list[str]) -> Jsonb:
    """The row as :data:`_STORE_ONE`'s document: column name to value."""
    document = dict(zip(_NORM_NAMES, _norm_values(row.norm, list), strict=True))
    birth_date = row.norm.birth_date
    document["birth_date"] = birth_date.isoformat() if birth_date else None
    document |= {
        "local_id": row.local_id,
        "raw": row.raw,
        "content_hash": row.content_hash,
        "blocking_keys": keys,
    }
    return Jsonb(document)


def store_and_view(
    conn: psycopg.Connection[Any],
    system_code: str,
    row: RecordRow,
    cap: int,
    *,
    generic_plans: bool = False,
) -> tuple[SourceSystem, Upserted, MatchView]:
    """:func:`lock_for_register`, store the record and its keys, then :func:`match_view`.

    Three statements in one round trip (a pipeline); each runs once the one before has
    finished, so the record is stored and the matching read made only once the locks are
    held. An unchanged row is left alone; a changed one gets exactly its new keys (as
    :func:`upsert_records` then :func:`replace_blocking_keys`). Its open review items are
    left to the plan (:attr:`mpi.linking.plan.LinkPlan.superseded`). The read searches
    the record's keys unless it is unchanged (it then has none to search, as for
    :func:`match_view`). With ``generic_plans`` the rest of the transaction uses generic
    plans of its prepared statements (:data:`_GENERIC_PLANS`, set by the lock statement).

    Raises:
        NotFound: no system has this code (nothing is stored).
    """
    keys = sorted(row.keys)
    with conn.pipeline():
        locked = _named(conn).execute(
            _LOCK_SQL, _lock_params(system_code, row.local_id, keys, generic_plans=generic_plans)
        )
        stored = _named(conn).execute(
            _STORE_ONE,
            {"code": system_code, "local": row.local_id, "doc": _store_document(row, keys)},
        )
        viewed = _named(conn).execute(
            _VIEW_OF_ONE,
            {"code": system_code, "local": row.local_id, "keys": keys, "cap": cap},
            binary=True,
        )
        system = _locked_system(locked.fetchone(), system_code)
        found = stored.fetchone()
        rows = viewed.fetchall()
    assert found is not None
    if found.stored_id is None:
        upserted = Upserted(found.record_id, row.local_id, "unchanged")
        return system, upserted, _match_view_of(rows, {upserted.record_id: frozenset()}, cap)
    outcome = "inserted" if found.inserted else "updated"
    upserted = Upserted(found.stored_id, row.local_id, outcome)
    return system, upserted, _match_view_of(rows, {upserted.record_id: row.keys}, cap)


def _array_literal(items: Iterable[str]) -> str:
    """A ``text[]`` input literal, every element quoted (COPY sends it as text)."""
    return (
        "{" + ",".join('"' + i.replace("\\", "\\\\").replace('"', '\\"') + '"' for i in items) + "}"
    )


def _ids_literal(ids: Iterable[int]) -> str:
    """A ``bigint[]`` input literal (a batch's thousands of IDs, without psycopg's
    per-element array dumping)."""
    return "{" + ",".join(map(str, ids)) + "}"


def _staging_values(ord_: int, row: RecordRow) -> tuple[Any, ...]:
    """One staging row: arrays as literals and the payload as JSON text, which COPY parses
    in the server (psycopg's array dumper is Python code, and the payload's JSON text is
    already made for the content hash)."""
    return (
        ord_,
        row.local_id,
        row.raw_json if row.raw_json is not None else json.dumps(row.raw),
        row.content_hash,
        *_norm_values(row.norm, _array_literal),
        _array_literal(sorted(row.keys)),
    )


def upsert_records(
    conn: psycopg.Connection[Any], system_id: int, rows: Sequence[RecordRow]
) -> list[Upserted]:
    """Insert new records and update changed ones in one set-based pass (COPY + upsert).

    A row whose raw payload hash equals the stored one (and is active) is left unchanged.
    """
    if not rows:
        return []
    conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS staging_record ("
        " ord integer, local_id text, raw jsonb, content_hash text, " + column_definitions() + ","
        " blocking_keys text[]) ON COMMIT DELETE ROWS"
    )
    conn.execute("TRUNCATE staging_record")
    with conn.cursor() as cur:
        with cur.copy(
            "COPY staging_record (ord, local_id, raw, content_hash, "
            + _NORM_COLUMNS
            + ", blocking_keys) FROM STDIN"
        ) as copy:
            for i, row in enumerate(rows):
                copy.write_row(_staging_values(i, row))
        cur.execute(
            "WITH up AS ("
            " INSERT INTO source_record (system_id, local_id, raw, content_hash, "
            + _NORM_COLUMNS
            + ", blocking_keys)"
            " SELECT %(system)s, local_id, raw, content_hash, "
            + _NORM_COLUMNS
            + ", blocking_keys FROM staging_record ORDER BY ord"
            + _UPSERT_SET
            + " RETURNING id, local_id, (xmax = 0) AS inserted)"
            " SELECT coalesce(up.id, r.id) AS record_id, s.local_id,"
            "  CASE WHEN up.id IS NULL THEN 'unchanged'"
            "       WHEN up.inserted THEN 'inserted' ELSE 'updated' END AS outcome"
            " FROM staging_record s"
            " LEFT JOIN up ON up.local_id = s.local_id"
            " LEFT JOIN source_record r ON r.system_id = %(system)s AND r.local_id = s.local_id"
            " ORDER BY s.ord",
            {"system": system_id},
        )
        return [Upserted(pk, local_id, outcome) for pk, local_id, outcome in cur.fetchall()]


def replace_blocking_keys(
    conn: psycopg.Connection[Any], record_ids: Iterable[int], new_records: Iterable[int] = ()
) -> None:
    """Index these records' stored ``blocking_keys`` (``new_records`` have none to delete).

    The key rows are made in the server from the records' column, just written by
    :func:`upsert_records`, instead of being sent again one (key, record) row at a time.
    """
    ids = list(record_ids)
    new = set(new_records)
    delete_blocking_keys(conn, [rid for rid in ids if rid not in new])
    insert_blocking_keys(conn, ids)


def delete_blocking_keys(conn: psycopg.Connection[Any], record_ids: Sequence[int]) -> None:
    """Remove the key rows of these records (before their new keys are indexed)."""
    if record_ids:
        conn.execute("DELETE FROM blocking_key WHERE record_id = ANY(%s)", (list(record_ids),))


def insert_blocking_keys(conn: psycopg.Connection[Any], record_ids: Sequence[int]) -> None:
    """Index these records' stored ``blocking_keys`` (they have no key rows now).

    One statement, which a batch sends in pipeline mode and leaves to the server while
    it matches (:func:`candidate_pairs` with ``pending``).
    """
    if record_ids:
        conn.execute(
            "INSERT INTO blocking_key (key, record_id)"
            " SELECT k, r.id FROM source_record r, unnest(r.blocking_keys) AS k"
            " WHERE r.id = ANY(%s::bigint[])",
            (_ids_literal(record_ids),),
        )


def stored_keys(
    conn: psycopg.Connection[Any], record_ids: Sequence[int]
) -> dict[int, frozenset[str]]:
    """The stored blocking keys of these records."""
    rows = conn.execute(
        "SELECT id, blocking_keys FROM source_record WHERE id = ANY(%s)", (list(record_ids),)
    ).fetchall()
    return {pk: frozenset(keys) for pk, keys in rows}


def read_candidates(
    conn: psycopg.Connection[Any],
    keys_by_record: dict[int, frozenset[str]],
    cap: int,
    *,
    new: Sequence[int] = (),
    changed: Sequence[int] = (),
) -> MatchView:
    """The matching read of a batch: the one candidate reader of linking.

    Candidates of these records by blocking key (a key shared by more than ``cap``
    records is skipped and logged), their persons' records, no-match pairs and, for a few
    records, the name counters and enterprise IDs (:class:`MatchView`). ``changed``
    records were just stored (``new`` of them inserted): their key rows are replaced by
    the keys of their ``blocking_keys`` column. A few records are read in one statement
    (:func:`match_view`); a batch of more than
    :data:`~mpi.store.persons.SMALL` in four, quicker for thousands of records, and its
    changed records' key rows are left to :func:`indexing_pending`, which writes them
    while the batch is planned.
    """
    from mpi.store.persons import SMALL

    if len(keys_by_record) <= SMALL:
        replace_blocking_keys(conn, changed, new_records=new)
        return match_view(conn, keys_by_record, cap)
    fresh = set(new)
    delete_blocking_keys(conn, [r for r in changed if r not in fresh])
    pending = list(changed)
    candidates = candidate_pairs(conn, keys_by_record, cap, pending=pending)
    wanted = set(keys_by_record).union(*candidates.values())
    first = records_for_matching(conn, wanted)
    persons = {r.person for r in first if r.person is not None}
    more = person_records_for_matching(conn, persons, [r.id for r in first])
    records = first + more
    no_match = no_match_partners(conn, [r.id for r in records])
    return MatchView(candidates, records, no_match, None, {}, tuple(pending))


@contextmanager
def indexing_pending(conn: psycopg.Connection[Any], view: MatchView | None) -> Iterator[None]:
    """Write the key rows :func:`read_candidates` left pending, while the body runs.

    The statement goes in pipeline mode, so the server indexes the keys while the batch
    is planned here; the pipeline is synced when the body ends.
    """
    if view is None or not view.pending:
        yield
        return
    with conn.pipeline():
        insert_blocking_keys(conn, view.pending)
        yield


def candidate_pairs(
    conn: psycopg.Connection[Any],
    keys_by_record: dict[int, frozenset[str]],
    cap: int,
    *,
    pending: Iterable[int] = (),
) -> dict[int, set[int]]:
    """For each record, the records sharing at least one blocking key with it.

    One index scan for all the keys; a key shared by more than ``cap`` records is skipped
    and logged, so that a common key (a busy postcode and birth year) cannot explode the
    candidate set. ``pending`` records of ``keys_by_record`` have no key rows yet (a
    batch writes them while it matches): they hold their keys as if they had.
    """
    found: dict[int, set[int]] = {rid: set() for rid in keys_by_record}
    wanted = sorted({key for keys in keys_by_record.values() for key in keys})
    if not wanted:
        return found
    rows = conn.execute(
        "SELECT key, record_id FROM blocking_key WHERE key = ANY(%s::text[])",
        (_array_literal(wanted),),
        binary=True,
    ).fetchall()
    holders: dict[str, list[int]] = {}
    for key, record_id in rows:
        holders.setdefault(key, []).append(record_id)
    for record_id in pending:
        for key in keys_by_record[record_id]:
            holders.setdefault(key, []).append(record_id)
    for key, records in holders.items():
        if len(records) > cap:
            log.warning("blocking key %s is shared by more than %d records: skipped", key, cap)
            holders[key] = []
    for record_id, keys in keys_by_record.items():
        bucket = found[record_id]
        for key in keys:
            bucket.update(holders.get(key, ()))
        bucket.discard(record_id)
    return found


_STORED_SELECT = (
    "SELECT r.id, r.system_id, s.code AS system_code, r.local_id, "
    + ", ".join("r." + c for c in _NORM_NAMES)
    + ", l.person_id AS person, l.method AS link_method, s.trust_rank, r.updated_at"
    " FROM source_record r JOIN source_system s ON s.id = r.system_id"
    " LEFT JOIN link l ON l.record_id = r.id"
)


def _stored(row: Row) -> StoredRecord:
    return StoredRecord(
        id=row.id,
        system_id=row.system_id,
        system_code=row.system_code,
        local_id=row.local_id,
        norm=_norm_from(row),
        person=row.person,
        link_method=row.link_method,
        trust_rank=row.trust_rank,
        updated_at=row.updated_at,
    )


def _by_ids(
    conn: psycopg.Connection[Any],
    select: str,
    parse: Callable[[Row], StoredRecord],
    record_ids: Iterable[int],
) -> list[StoredRecord]:
    """The records of ``select`` (:data:`_STORED_SELECT` or :data:`_MATCHING_SELECT`) with
    these IDs, each made by ``parse``."""
    ids = list(record_ids)
    if not ids:
        return []
    rows = _named(conn).execute(
        select + " WHERE r.id = ANY(%s::bigint[])", (_ids_literal(ids),), binary=True
    )
    return [parse(r) for r in rows.fetchall()]


def _of_persons(
    conn: psycopg.Connection[Any],
    select: str,
    parse: Callable[[Row], StoredRecord],
    person_ids: Iterable[int],
    known: Iterable[int],
) -> list[StoredRecord]:
    """The active records of ``select`` linked to these persons, except ``known`` IDs."""
    ids = list(person_ids)
    if not ids:
        return []
    rows = _named(conn).execute(
        select + " WHERE l.person_id = ANY(%s::bigint[]) AND r.status = 'active'"
        " AND NOT (r.id = ANY(%s::bigint[]))",
        (_ids_literal(ids), _ids_literal(known)),
        binary=True,
    )
    return [parse(r) for r in rows.fetchall()]


def active_stored_after(
    conn: psycopg.Connection[Any], after_id: int, limit: int
) -> list[StoredRecord]:
    """Active records with an ID above ``after_id``, in ID order, with their links."""
    rows = _named(conn).execute(
        _STORED_SELECT + " WHERE r.status = 'active' AND r.id > %s ORDER BY r.id LIMIT %s",
        (after_id, limit),
        binary=True,
    )
    return [_stored(r) for r in rows.fetchall()]


def stored_records(conn: psycopg.Connection[Any], record_ids: Iterable[int]) -> list[StoredRecord]:
    """These records with their current links."""
    return _by_ids(conn, _STORED_SELECT, _stored, record_ids)


_MATCHING_SELECT = (
    "SELECT r.id, r.system_id, "
    + ", ".join("r." + c for c in _NORM_NAMES)
    + ", l.person_id AS person, l.method AS link_method"
    " FROM source_record r LEFT JOIN link l ON l.record_id = r.id"
)


def _matching(row: Row) -> StoredRecord:
    return StoredRecord(
        id=row.id,
        system_id=row.system_id,
        system_code="",
        local_id="",
        norm=_norm_from(row),
        person=row.person,
        link_method=row.link_method,
    )


def records_for_matching(
    conn: psycopg.Connection[Any], record_ids: Iterable[int]
) -> list[StoredRecord]:
    """These records with their links, only what matching reads (a batch's many rows).

    Like :func:`stored_records`, without the system's code, the local ID, trust rank and
    update time (``system_code`` and ``local_id`` are empty).
    """
    return _by_ids(conn, _MATCHING_SELECT, _matching, record_ids)


def person_records_for_matching(
    conn: psycopg.Connection[Any], person_ids: Iterable[int], known: Iterable[int] = ()
) -> list[StoredRecord]:
    """:func:`records_of_persons` with only what matching reads (see
    :func:`records_for_matching`)."""
    return _of_persons(conn, _MATCHING_SELECT, _matching, person_ids, known)


@dataclass(frozen=True, slots=True)
class TermCounts:
    """Active records in all, per first given name, per family name and per postcode."""

    total: int
    given: dict[str, int]
    family: dict[str, int]
    postcode: dict[str, int]


@dataclass(frozen=True, slots=True)
class MatchView:
    """What matching a batch needs from the store, read in one statement.

    Attributes:
        candidates: for each batch record, the records sharing an uncapped key with it.
        records: the batch records, the candidates and every other active record of
            their persons, with their current links.
        no_match: for each of those records, the records asserted to be another person.
        counts: the name and postcode counters (:func:`term_counts`) of every given name,
            family name and postcode of ``records``.
        enterprise_ids: the enterprise ID of each person ``records`` are linked to.
        pending: batch records whose key rows are still to be written
            (:func:`indexing_pending`).

    ``counts`` is ``None`` and ``enterprise_ids`` empty when the read (a batch's) did not
    include them.
    """

    candidates: dict[int, set[int]]
    records: list[StoredRecord]
    no_match: dict[int, set[int]]
    counts: TermCounts | None
    enterprise_ids: dict[int, str]
    pending: tuple[int, ...] = ()


def _view_sql(probes: str) -> str:
    """The matching read of :func:`match_view`; ``probes`` selects the batch records' IDs.

    Columns: those of :data:`_STORED_SELECT`, then the record's no-match partners, its
    uncapped keys among the wanted ones, the capped wanted keys, its person's enterprise
    ID and, on one row only, the counters of the rows' names and postcodes as
    ``[kind, name, n]`` rows.
    """
    same = " FROM wanted w JOIN source_record r ON r.id = w.id"
    return (
        "WITH held AS (SELECT key, record_id, count(*) OVER (PARTITION BY key) AS n"
        "  FROM blocking_key WHERE key = ANY(%(keys)s)),"
        " probe AS (SELECT record_id AS id FROM held WHERE n <= %(cap)s UNION " + probes + "),"
        " persons AS (SELECT DISTINCT l.person_id FROM probe p JOIN link l ON l.record_id = p.id),"
        " wanted AS (SELECT id FROM probe UNION"
        "  SELECT l.record_id FROM persons p JOIN link l ON l.person_id = p.person_id"
        "  JOIN source_record m ON m.id = l.record_id WHERE m.status = 'active'),"
        " terms AS (SELECT 'given' AS kind, unnest(r.given_names) AS name" + same + " UNION"
        "  SELECT 'family', r.family_name" + same + " WHERE r.family_name <> '' UNION"
        "  SELECT 'postcode', r.postcode" + same + " WHERE r.postcode <> '' UNION"
        "  SELECT 'total', '') "
        + _STORED_SELECT.replace(
            " FROM source_record r",
            ", ARRAY(SELECT CASE WHEN n.record_a = r.id"
            " THEN n.record_b ELSE n.record_a END FROM no_match n"
            " WHERE n.record_a = r.id OR n.record_b = r.id) AS partners,"
            " hk.keys AS held, ARRAY(SELECT DISTINCT key FROM held WHERE n > %(cap)s) AS capped,"
            " pe.person_id AS enterprise_id,"
            " CASE WHEN r.id = (SELECT min(id) FROM wanted) THEN (SELECT"
            "  array_agg(ARRAY[t.kind, t.name, c.n::text]) FROM terms t, LATERAL (SELECT"
            "  sum(f.n) AS n FROM name_frequency f WHERE f.kind = t.kind AND f.name = t.name) c"
            "  WHERE c.n IS NOT NULL) END AS counts" + same,
            1,
        )
        + " LEFT JOIN person pe ON pe.id = l.person_id"
        " LEFT JOIN (SELECT record_id, array_agg(key) AS keys FROM held"
        "  WHERE n <= %(cap)s GROUP BY record_id) hk ON hk.record_id = r.id"
    )


_VIEW_BY_IDS = _view_sql("SELECT unnest(%(ids)s::bigint[])")
_VIEW_OF_ONE = _view_sql(
    "SELECT r.id FROM source_record r JOIN source_system s ON s.id = r.system_id"
    " WHERE s.code = %(code)s AND r.local_id = %(local)s"
)


def _match_view_of(
    rows: Sequence[Row], keys_by_record: dict[int, frozenset[str]], cap: int
) -> MatchView:
    holders: dict[str, list[int]] = {}
    for r in rows:
        for key in r.held or ():
            holders.setdefault(key, []).append(r.id)
    asked = {key for keys in keys_by_record.values() for key in keys}
    if rows:
        for key in rows[0].capped:
            if key in asked:
                log.warning("blocking key %s is shared by more than %d records: skipped", key, cap)
    candidates: dict[int, set[int]] = {}
    for record_id, keys in keys_by_record.items():
        bucket = candidates[record_id] = set()
        for key in keys:
            bucket.update(holders.get(key, ()))
        bucket.discard(record_id)
    partners = {r.id: set(r.partners) for r in rows if r.partners}
    total = 0
    counts: dict[str, dict[str, int]] = {"given": {}, "family": {}, "postcode": {}}
    for r in rows:
        for kind, name, n in r.counts or ():
            if kind == "total":
                total = int(n)
            elif int(n):
                counts[kind][name] = int(n)
    return MatchView(
        candidates,
        [_stored(r) for r in rows],
        partners,
        TermCounts(total, counts["given"], counts["family"], counts["postcode"]),
        {r.person: r.enterprise_id for r in rows if r.person is not None},
    )


def match_view(
    conn: psycopg.Connection[Any], keys_by_record: dict[int, frozenset[str]], cap: int
) -> MatchView:
    """Candidates of these records (by blocking key), their persons' records, no-match pairs.

    One statement for what :func:`candidate_pairs`, :func:`stored_records`,
    :func:`records_of_persons`, :func:`no_match_partners` and :func:`term_counts` (for
    the names and postcodes of the records read) return. A key shared by more than ``cap``
    records is skipped and logged, so that a common key (a busy postcode and birth year)
    cannot explode the candidate set.
    """
    ids = list(keys_by_record)
    if not ids:
        return MatchView({}, [], {}, TermCounts(0, {}, {}, {}), {})
    wanted = sorted({key for keys in keys_by_record.values() for key in keys})
    rows = (
        _named(conn)
        .execute(_VIEW_BY_IDS, {"ids": ids, "keys": wanted, "cap": cap}, binary=True)
        .fetchall()
    )
    return _match_view_of(rows, keys_by_record, cap)


def records_of_persons(
    conn: psycopg.Connection[Any],
    person_ids: Iterable[int],
    known: Iterable[int] = (),
) -> list[StoredRecord]:
    """Every active record linked to these persons, except the ``known`` record IDs."""
    return _of_persons(conn, _STORED_SELECT, _stored, person_ids, known)


def analyse(conn: psycopg.Connection[Any]) -> None:
    """Refresh the planner's statistics of the matching tables (after bulk changes)."""
    conn.execute("ANALYZE source_record, blocking_key, link, person")


def vacuum_counters(conn: psycopg.Connection[Any]) -> None:
    """Clear the dead row versions of the name and postcode counters (needs autocommit).

    Every batch and registration updates counter rows in place; where autovacuum is off
    (or lags behind a bulk load), their dead versions slow each counter read.
    """
    conn.execute("VACUUM (ANALYZE) name_frequency")


def record_id(conn: psycopg.Connection[Any], system_code: str, local_id: str) -> int | None:
    """The internal ID of (system, local ID), or ``None``."""
    row = conn.execute(
        "SELECT r.id FROM source_record r JOIN source_system s ON s.id = r.system_id"
        " WHERE s.code = %s AND r.local_id = %s",
        (system_code, local_id),
    ).fetchone()
    if row is None:
        return None
    (pk,) = row
    return int(pk)


_DETAIL_SELECT = (
    "SELECT r.id, s.code AS system_code, s.name AS system_name, s.kind AS system_kind,"
    " s.trust_rank, r.local_id, r.raw, "
    + ", ".join("r." + c for c in _NORM_NAMES)
    + ", r.status, r.version, r.created_at, r.updated_at,"
    " p.person_id, l.method AS link_method, l.probability, l.linked_at, l.linked_by"
    " FROM source_record r JOIN source_system s ON s.id = r.system_id"
    " LEFT JOIN link l ON l.record_id = r.id LEFT JOIN person p ON p.id = l.person_id"
)


def _detail(row: Row) -> RecordDetail:
    raw = row.raw if isinstance(row.raw, dict) else json.loads(row.raw)
    return RecordDetail(
        id=row.id,
        system_code=row.system_code,
        system_name=row.system_name,
        system_kind=row.system_kind,
        trust_rank=row.trust_rank,
        local_id=row.local_id,
        raw=raw,
        norm=_norm_from(row),
        status=row.status,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        person_id=row.person_id,
        link_method=row.link_method,
        probability=row.probability,
        linked_at=row.linked_at,
        linked_by=row.linked_by,
    )


def record_details_of_person(conn: psycopg.Connection[Any], person_pk: int) -> list[RecordDetail]:
    """Every record linked to a person, for display, most trusted system first."""
    rows = (
        _named(conn)
        .execute(
            _DETAIL_SELECT + " WHERE l.person_id = %s ORDER BY s.trust_rank, s.code, r.local_id",
            (person_pk,),
        )
        .fetchall()
    )
    return [_detail(r) for r in rows]


def record_detail(conn: psycopg.Connection[Any], record_pk: int) -> RecordDetail | None:
    """One record for display."""
    row = _named(conn).execute(_DETAIL_SELECT + " WHERE r.id = %s", (record_pk,)).fetchone()
    return _detail(row) if row else None


def no_match_partners(
    conn: psycopg.Connection[Any], record_ids: Sequence[int]
) -> dict[int, set[int]]:
    """For each record, the records asserted to be a different person."""
    found: dict[int, set[int]] = {}
    if not record_ids:
        return found
    rows = conn.execute(
        "SELECT record_a, record_b FROM no_match"
        " WHERE record_a = ANY(%(ids)s) OR record_b = ANY(%(ids)s)",
        {"ids": list(record_ids)},
    ).fetchall()
    for a, b in rows:
        found.setdefault(a, set()).add(b)
        found.setdefault(b, set()).add(a)
    return found


def add_no_match(
    conn: psycopg.Connection[Any], record_a: int, record_b: int, asserted_by: str, reason: str
) -> None:
    """Assert that two records are different people (idempotent)."""
    a, b = sorted((record_a, record_b))
    conn.execute(
        "INSERT INTO no_match (record_a, record_b, asserted_by, reason) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT DO NOTHING",
        (a, b, asserted_by, reason),
    )


def add_no_matches(
    conn: psycopg.Connection[Any],
    pairs: Iterable[tuple[int, int]],
    asserted_by: str,
    reason: str,
) -> list[list[int]]:
    """Assert each pair of records to be different people, in one statement.

    Returns:
        The pairs that were not asserted before, each as ``[lower, higher]``, in the
        order given.
    """
    wanted = [(min(a, b), max(a, b)) for a, b in pairs if a != b]
    if not wanted:
        return []
    rows = conn.execute(
        "INSERT INTO no_match (record_a, record_b, asserted_by, reason)"
        " SELECT a, b, %s, %s FROM unnest(%s::bigint[], %s::bigint[]) AS p (a, b)"
        " ON CONFLICT DO NOTHING RETURNING record_a, record_b",
        (asserted_by, reason, [a for a, _ in wanted], [b for _, b in wanted]),
    ).fetchall()
    added = {(a, b) for a, b in rows}
    return [[a, b] for a, b in wanted if (a, b) in added]


def count_records(conn: psycopg.Connection[Any]) -> int:
    """How many active records are stored."""
    row = conn.execute("SELECT count(*) FROM source_record WHERE status = 'active'").fetchone()
    (count,) = row if row else (0,)
    return int(count)


def records_sharing_keys(conn: psycopg.Connection[Any], keys: Iterable[str], cap: int) -> set[int]:
    """Active records that share at least one of these blocking keys (common keys skipped)."""
    wanted = list(keys)
    if not wanted:
        return set()
    rows = conn.execute(
        "WITH counted AS ("
        "  SELECT key, count(*) AS n FROM blocking_key WHERE key = ANY(%(keys)s) GROUP BY key"
        ")"
        " SELECT DISTINCT bk.record_id FROM counted c JOIN blocking_key bk ON bk.key = c.key"
        " JOIN source_record r ON r.id = bk.record_id AND r.status = 'active'"
        " WHERE c.n <= %(cap)s",
        {"keys": wanted, "cap": cap},
    ).fetchall()
    return {pk for (pk,) in rows}


@dataclass(frozen=True, slots=True)
class Withdrawn:
    """A record just withdrawn, and the link it had."""

    record_id: int
    person_id: int | None
    method: str | None
    probability: float | None


def withdraw_record(
    conn: psycopg.Connection[Any], system_id: int, local_id: str
) -> Withdrawn | None:
    """Mark an active record withdrawn, drop its blocking keys and link; ``None`` if absent.

    The record row stays (with its payload) for history; the caller writes link history.
    """
    row = conn.execute(
        "UPDATE source_record SET status = 'withdrawn', blocking_keys = '{}',"
        " version = version + 1, updated_at = now()"
        " WHERE system_id = %s AND local_id = %s AND status = 'active' RETURNING id",
        (system_id, local_id),
    ).fetchone()
    if row is None:
        return None
    (record_pk,) = row
    conn.execute("DELETE FROM blocking_key WHERE record_id = %s", (record_pk,))
    with conn.cursor(row_factory=class_row(Withdrawn)) as cur:
        link = cur.execute(
            "DELETE FROM link WHERE record_id = %s"
            " RETURNING record_id, person_id, method, probability",
            (record_pk,),
        ).fetchone()
    return link if link is not None else Withdrawn(record_pk, None, None, None)


def term_counts(
    conn: psycopg.Connection[Any],
    given: Iterable[str],
    family: Iterable[str],
    postcodes: Iterable[str] = (),
    *,
    with_total: bool = True,
) -> TermCounts:
    """Active records in all and holding each of these names and postcodes.

    One read of the counters kept by the triggers of migrations 0009 and 0013
    (``name_frequency``), in the same transaction as every change to the records, so the
    counts are exact and include this transaction's own records. A value no active record
    holds is absent. With ``with_total=False`` the total is returned as 0.
    """
    rows = conn.execute(
        "SELECT kind, name, sum(n)::bigint FROM name_frequency"
        " WHERE (kind = 'given' AND name = ANY(%s)) OR (kind = 'family' AND name = ANY(%s))"
        " OR (kind = 'postcode' AND name = ANY(%s)) OR (kind = 'total' AND %s)"
        " GROUP BY kind, name",
        (sorted(set(given)), sorted(set(family)), sorted(set(postcodes)), with_total),
    ).fetchall()
    total = 0
    counts: dict[str, dict[str, int]] = {"given": {}, "family": {}, "postcode": {}}
    for kind, name, n in rows:
        if kind == "total":
            total = int(n)
        elif n:
            counts[kind][name] = int(n)
    return TermCounts(total, counts["given"], counts["family"], counts["postcode"])


def name_counts(
    conn: psycopg.Connection[Any],
    given: Iterable[str],
    family: Iterable[str],
    *,
    with_total: bool = True,
) -> tuple[int, dict[str, int], dict[str, int]]:
    """Active records in all, per first given name and per family name (these names only).

    :func:`term_counts` without postcodes.
    """
    counts = term_counts(conn, given, family, with_total=with_total)
    return counts.total, counts.given, counts.family


def first_local_id(conn: psycopg.Connection[Any], system_code: str) -> str:
    """The local ID of a system's first stored record."""
    row = conn.execute(
        "SELECT r.local_id FROM source_record r JOIN source_system s ON s.id = r.system_id"
        " WHERE s.code = %s ORDER BY r.id LIMIT 1",
        (system_code,),
    ).fetchone()
    if row is None:
        raise NotFound(f"system {system_code!r} has no records")
    (local_id,) = row
    return str(local_id)


def active_raw_after(
    conn: psycopg.Connection[Any], after_id: int, limit: int
) -> list[tuple[int, dict[str, Any], NormalisedRecord, frozenset[str]]]:
    """Active records with an ID above ``after_id``, in ID order: ID, raw payload, stored
    normalised form and blocking keys (re-normalising, :mod:`mpi.renormalise`)."""
    rows = (
        _named(conn)
        .execute(
            "SELECT id, raw, blocking_keys, " + _NORM_COLUMNS + " FROM source_record"
            " WHERE status = 'active' AND id > %s ORDER BY id LIMIT %s",
            (after_id, limit),
        )
        .fetchall()
    )
    return [(r.id, r.raw, _norm_from(r), frozenset(r.blocking_keys or ())) for r in rows]


def rewrite_normalised(
    conn: psycopg.Connection[Any], rows: Sequence[tuple[int, NormalisedRecord, frozenset[str]]]
) -> None:
    """Store a new normalised form and blocking keys for records, their payload unchanged.

    The name counters follow through their triggers; ``updated_at`` and ``version`` stay
    (the system sent nothing new, so survivorship order does not change).
    """
    if not rows:
        return
    with conn.cursor() as cur:
        cur.executemany(
            "UPDATE source_record SET ("
            + _NORM_COLUMNS
            + ", blocking_keys) = ("
            + ", ".join(["%s"] * (_N + 1))
            + ") WHERE id = %s",
            [(*_norm_values(norm, list), sorted(keys), pk) for pk, norm, keys in rows],
        )
    ids = [pk for pk, _, _ in rows]
    conn.execute("DELETE FROM blocking_key WHERE record_id = ANY(%s)", (ids,))
    conn.execute(
        "INSERT INTO blocking_key (key, record_id)"
        " SELECT k, r.id FROM source_record r, unnest(r.blocking_keys) AS k"
        " WHERE r.id = ANY(%s)",
        (ids,),
    )
