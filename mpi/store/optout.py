"""SQL for patients' objections (opt-outs) to the shared care record."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg

from mpi.store.db import scalars


def add(conn: psycopg.Connection[Any], person_pk: int, reason: str, recorded_by: str) -> bool:
    """Record an opt-out; ``False`` if the person had already opted out."""
    cur = conn.execute(
        "INSERT INTO opt_out (person_id, reason, recorded_by) VALUES (%s, %s, %s)"
        " ON CONFLICT (person_id) DO NOTHING",
        (person_pk, reason, recorded_by),
    )
    return cur.rowcount == 1


def remove(conn: psycopg.Connection[Any], person_pk: int) -> bool:
    """Remove an opt-out (of the person or any person merged into it); ``False`` if none."""
    cur = conn.execute(
        "WITH RECURSIVE merged(id) AS (SELECT %s::bigint UNION"
        " SELECT p.id FROM person p JOIN merged m ON p.merged_into = m.id)"
        " DELETE FROM opt_out WHERE person_id IN (SELECT id FROM merged)",
        (person_pk,),
    )
    return cur.rowcount > 0


def opted_out(conn: psycopg.Connection[Any], person_pks: Iterable[int]) -> set[int]:
    """The persons among ``person_pks`` who opted out, themselves or through a merged person."""
    pks = list(person_pks)
    if not pks:
        return set()
    return set(
        scalars(
            conn,
            "WITH RECURSIVE tree(root, id) AS (SELECT x, x FROM unnest(%s::bigint[]) AS x UNION"
            " SELECT t.root, p.id FROM person p JOIN tree t ON p.merged_into = t.id)"
            " SELECT DISTINCT t.root FROM tree t JOIN opt_out o ON o.person_id = t.id",
            (pks,),
        )
    )
