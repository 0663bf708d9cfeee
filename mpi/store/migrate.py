"""Numbered SQL migrations, each applied in its own transaction with the row recording it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg

from mpi.store.db import scalar, scalars

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_ID = 7_040_001  # advisory lock held while migrating, so two starts do not race


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered migration file."""

    version: int
    name: str
    sql: str


def available() -> list[Migration]:
    """Every migration shipped with the package, in order."""
    folder = resources.files("mpi.store") / "migrations"
    found = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


def applied_version(conn: psycopg.Connection[Any]) -> int:
    """The highest applied migration version, 0 on an empty database."""
    if not scalar(conn, "SELECT to_regclass('schema_migration') IS NOT NULL"):
        return 0
    return int(scalar(conn, "SELECT coalesce(max(version), 0) FROM schema_migration") or 0)


def applied_versions(conn: psycopg.Connection[Any]) -> set[int]:
    """Every applied migration version."""
    if applied_version(conn) == 0:
        return set()
    return set(scalars(conn, "SELECT version FROM schema_migration"))


def upgrade(url: str) -> list[Migration]:
    """Apply every migration not yet applied, in order; return the ones applied now."""
    done: list[Migration] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        try:
            applied = applied_versions(conn)
            for migration in available():
                if migration.version in applied:
                    continue
                with conn.transaction():
                    conn.execute(migration.sql)
                    conn.execute(
                        "INSERT INTO schema_migration (version, name) VALUES (%s, %s)",
                        (migration.version, migration.name),
                    )
                done.append(migration)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
    return done
