"""The store's invariants, checked as a whole (``mpi db check``).

A nightly check that the golden cross-reference is sound: every active record linked to
exactly one active person, merge pointers that end at a survivor, review items that still
make sense, no-match assertions respected, link history and identity events that agree
with the links, counters that agree with a recount, and an intact audit chain. Each
invariant is one set-based query (:mod:`mpi.store.integrity`), so the check costs a few
scans of each table, not a query per record.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import IsolationLevel
from psycopg.pq import TransactionStatus

from mpi import audit
from mpi.store import integrity as integrity_store


@dataclass(frozen=True, slots=True)
class Finding:
    """One invariant's result: how many rows breach it, a few of them, and the time taken."""

    name: str
    description: str
    breaches: int
    examples: tuple[str, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        """Whether nothing breaches the invariant."""
        return self.breaches == 0


def check(conn: psycopg.Connection[Any], *, audit_chain: bool = True) -> list[Finding]:
    """Check every invariant of the store, in one repeatable-read snapshot.

    Args:
        conn: the database (the check only reads).
        audit_chain: also recompute the audit trail's hash chain (:func:`mpi.audit.verify`).

    Returns:
        One finding per invariant, in a fixed order; the store is sound when all are ok.
    """
    # A transaction of its own (the connection is idle) is one repeatable-read snapshot, so
    # that writes committed during the check cannot show as breaches; inside the caller's
    # transaction the check sees what that transaction sees.
    own = conn.info.transaction_status == TransactionStatus.IDLE
    saved = (conn.isolation_level, conn.read_only)
    if own:
        conn.isolation_level, conn.read_only = IsolationLevel.REPEATABLE_READ, True
    try:
        return _check(conn, audit_chain)
    finally:
        if own:
            conn.isolation_level, conn.read_only = saved


def _check(conn: psycopg.Connection[Any], audit_chain: bool) -> list[Finding]:
    findings = []
    with conn.transaction():
        for invariant in integrity_store.INVARIANTS:
            started = time.perf_counter()
            count, examples = integrity_store.breaches(conn, invariant)
            findings.append(
                Finding(
                    invariant.name,
                    invariant.description,
                    count,
                    tuple(examples),
                    time.perf_counter() - started,
                )
            )
        if audit_chain:
            started = time.perf_counter()
            report = audit.verify(conn)
            findings.append(
                Finding(
                    "audit_chain",
                    "the audit trail's hash chains verify",
                    0 if report.is_intact else 1,
                    () if report.is_intact else (f"event {report.broken_at}: {report.reason}",),
                    time.perf_counter() - started,
                )
            )
    return findings
