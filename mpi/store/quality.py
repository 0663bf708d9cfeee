"""SQL for the reviewers' identity search and the data-quality dashboard."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple

import psycopg
from psycopg.rows import args_row, class_row, dict_row

from mpi.store.db import scalar


@dataclass(frozen=True, slots=True)
class PersonHit:
    """A person found by search, with the record that matched."""

    person_id: str
    status: str
    merged_into: str | None
    system_code: str
    local_id: str
    nhs_number: str | None
    given_names: list[str]
    family_name: str | None
    birth_date: date | None
    postcode: str | None


_HIT = (
    "SELECT p.person_id, p.status, m.person_id AS merged_into, s.code, r.local_id, r.nhs_number,"
    " r.given_names, r.family_name, r.birth_date, r.postcode"
    " FROM source_record r JOIN source_system s ON s.id = r.system_id"
    " JOIN link l ON l.record_id = r.id JOIN person p ON p.id = l.person_id"
    " LEFT JOIN person m ON m.id = p.merged_into WHERE r.status = 'active'"
)


def search_records(
    conn: psycopg.Connection[Any],
    *,
    nhs_number: str | None = None,
    local_id: str | None = None,
    family_name: str | None = None,
    given_name: str | None = None,
    birth_date: date | None = None,
    person_id: str | None = None,
    either_order: tuple[str | None, str | None] | None = None,
    limit: int = 50,
) -> list[PersonHit]:
    """Active records matching every given criterion exactly (names are normalised); with
    ``either_order`` (the family and given names read the other way round), the names
    match either way."""
    sql = _HIT
    params: dict[str, Any] = {"limit": limit}
    if nhs_number:
        sql += " AND r.nhs_number = %(nhs)s"
        params["nhs"] = nhs_number
    if local_id:
        sql += " AND r.local_id = %(local)s"
        params["local"] = local_id
    names = []
    if family_name:
        names.append("r.family_name = %(family)s")
        params["family"] = family_name
    if given_name:
        names.append("r.given_names[1] = %(given)s")
        params["given"] = given_name
    if names and either_order and all(either_order):
        sql += (
            f" AND (({' AND '.join(names)}) OR"
            " (r.family_name = %(family2)s AND r.given_names[1] = %(given2)s))"
        )
        params["family2"], params["given2"] = either_order
    elif names:
        sql += " AND " + " AND ".join(names)
    if birth_date:
        sql += " AND r.birth_date = %(dob)s"
        params["dob"] = birth_date
    if person_id:
        sql += " AND p.person_id = %(pid)s"
        params["pid"] = person_id
    sql += " ORDER BY r.family_name, r.given_names, p.person_id, s.code, r.local_id LIMIT %(limit)s"
    with conn.cursor(row_factory=args_row(PersonHit)) as cur:
        return cur.execute(sql, params).fetchall()


def open_age_buckets(conn: psycopg.Connection[Any]) -> list[tuple[str, int]]:
    """Open review items by age: under a day, 1–7 days, 7–30 days, over 30 days."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT count(*) FILTER (WHERE created_at > now() - interval '1 day') AS day,"
            " count(*) FILTER (WHERE created_at <= now() - interval '1 day'"
            "   AND created_at > now() - interval '7 days') AS week,"
            " count(*) FILTER (WHERE created_at <= now() - interval '7 days'"
            "   AND created_at > now() - interval '30 days') AS month,"
            " count(*) FILTER (WHERE created_at <= now() - interval '30 days') AS older"
            " FROM review_item WHERE status = 'open'"
        ).fetchone()
    assert row is not None
    return [
        ("under 1 day", row["day"]),
        ("1–7 days", row["week"]),
        ("7–30 days", row["month"]),
        ("over 30 days", row["older"]),
    ]


class DecisionsOnDay(NamedTuple):
    """Reviewers' decisions of one kind on one day (UTC)."""

    day: date
    kind: str
    decisions: int


class SystemSuspects(NamedTuple):
    """A system's open review items, and of those, duplicates within the system."""

    system: str
    open_items: int
    duplicates: int


class NhsNumberQuality(NamedTuple):
    """A system's active records: in all, with an invalid NHS number, without one, verified."""

    system: str
    records: int
    invalid: int
    missing: int
    verified: int


class ThresholdRate(NamedTuple):
    """Review items at or above a threshold: in all, decided, and judged the same person."""

    threshold: float
    items: int
    decided: int
    same: int


def decisions_per_day(conn: psycopg.Connection[Any], days: int) -> list[DecisionsOnDay]:
    """Reviewers' decisions per day and kind over the last ``days`` days (undos included)."""
    with conn.cursor(row_factory=class_row(DecisionsOnDay)) as cur:
        return cur.execute(
            "SELECT (decided_at AT TIME ZONE 'UTC')::date AS day, kind, count(*) AS decisions"
            " FROM review_decision WHERE decided_at > now() - make_interval(days => %s)"
            " GROUP BY 1, 2 ORDER BY 1, 2",
            (days,),
        ).fetchall()


def suspects_per_system(conn: psycopg.Connection[Any]) -> list[SystemSuspects]:
    """Per system: open items about its records, and of those, duplicates within it."""
    with conn.cursor(row_factory=class_row(SystemSuspects)) as cur:
        return cur.execute(
            "SELECT s.code AS system, coalesce(o.n, 0) AS open_items,"
            " coalesce(o.dup, 0) AS duplicates FROM source_system s"
            " LEFT JOIN (SELECT r.system_id, count(*) AS n,"
            "   count(*) FILTER (WHERE i.reason = 'intra_system_duplicate') AS dup"
            "   FROM review_item i JOIN source_record r ON r.id = i.record_id"
            "   WHERE i.status = 'open' GROUP BY r.system_id) o ON o.system_id = s.id"
            " ORDER BY s.code"
        ).fetchall()


def nhs_number_quality(conn: psycopg.Connection[Any]) -> list[NhsNumberQuality]:
    """Per system: active records, with an invalid NHS number, without one, verified."""
    with conn.cursor(row_factory=class_row(NhsNumberQuality)) as cur:
        return cur.execute(
            "SELECT s.code AS system, count(r.id) AS records,"
            " count(r.id) FILTER (WHERE 'nhs_number_invalid' = ANY(r.issues)) AS invalid,"
            " count(r.id) FILTER (WHERE r.nhs_number IS NULL"
            "   AND NOT ('nhs_number_invalid' = ANY(r.issues))) AS missing,"
            " count(r.id) FILTER (WHERE r.nhs_verified) AS verified"
            " FROM source_system s LEFT JOIN source_record r"
            "   ON r.system_id = s.id AND r.status = 'active'"
            " GROUP BY s.code ORDER BY s.code"
        ).fetchall()


def review_rate_by_threshold(
    conn: psycopg.Connection[Any], thresholds: Sequence[float]
) -> list[ThresholdRate]:
    """For each threshold: items at or above it, of them decided, of them judged the same."""
    with conn.cursor(row_factory=class_row(ThresholdRate)) as cur:
        return cur.execute(
            "SELECT t AS threshold, count(i.id) AS items,"
            " count(i.id) FILTER (WHERE i.status IN ('linked', 'rejected')) AS decided,"
            " count(i.id) FILTER (WHERE i.status = 'linked') AS same"
            " FROM unnest(%s::float8[]) AS t LEFT JOIN review_item i ON i.probability >= t"
            " GROUP BY t ORDER BY t",
            (list(thresholds),),
        ).fetchall()


def record_count(conn: psycopg.Connection[Any]) -> int:
    """Active records in all."""
    return int(scalar(conn, "SELECT count(*) FROM source_record WHERE status = 'active'") or 0)
