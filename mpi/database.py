"""Which database the MPI uses, its schema, and how a failed unit of work is undone.

The outer layers (``api``, ``mpi.cli``) reach the store only through the domain; this is
what they need of the database itself. They keep their own connection handling: the web
process opens a psycopg_pool pool in ``api.db`` (its lifecycle is the process's), the
CLI one connection per command. The domain's job is to say where the database is
(:func:`server_url`), to bring its schema up to date before anything uses it
(:func:`upgrade`), to end a unit of work without keeping it (:func:`undo`,
:func:`discard`), and to keep the read replica's read-your-writes bookkeeping
(:func:`record_write`, :func:`last_write`, :func:`has_replayed`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from mpi.config import Settings
from mpi.errors import Conflict
from mpi.store import backup as backup_store
from mpi.store import db, migrate, replica
from mpi.store.roles import RolesReport, ensure_roles

__all__ = [
    "RolesReport",
    "applied_version",
    "backup",
    "connect",
    "ensure_roles",
    "restore",
    "discard",
    "has_replayed",
    "last_write",
    "record_write",
    "server_url",
    "undo",
    "upgrade",
]


def server_url(settings: Settings) -> str:
    """The database's URL: ``DATABASE_URL``, or the embedded server started on demand."""
    return db.server_url(settings)


def upgrade(url: str) -> list[migrate.Migration]:
    """Apply every schema migration not yet applied; return those applied now."""
    return migrate.upgrade(url)


def applied_version(conn: psycopg.Connection[Any]) -> int:
    """The schema version of the database (the last migration applied)."""
    return migrate.applied_version(conn)


def connect(url: str) -> psycopg.Connection[Any]:
    """A connection; used as ``with connect(url) as conn:`` its transaction commits when
    the block ends without an error and rolls back otherwise."""
    return db.connect(url)


def backup(url: str, path: Path) -> None:
    """Write a backup of the whole store (pg_dump, custom format) to ``path``."""
    backup_store.dump(url, path)


def restore(settings: Settings, name: str, path: Path) -> tuple[str, list[str]]:
    """Restore a backup into the new database ``name`` on the configured server, bring its
    schema up to date and check the store's invariants and audit chain.

    Returns:
        The new database's URL, and the names of the invariants breached (none: sound).

    Raises:
        Conflict: the database exists already (a restore never overwrites one).
    """
    from mpi import integrity

    try:
        url = db.create_database(db.server_url(settings), name)
    except psycopg.errors.DuplicateDatabase:
        raise Conflict(f"database {name} already exists: restore into a new one") from None
    backup_store.restore(url, path)
    migrate.upgrade(url)
    with db.connect(url) as conn:
        broken = [f.name for f in integrity.check(conn) if not f.ok]
    return url, broken


def undo(conn: psycopg.Connection[Any]) -> None:
    """Undo the transaction's work; one that wrote nothing stays open (see the store)."""
    db.undo(conn)


def discard(conn: psycopg.Connection[Any]) -> None:
    """End the connection's transaction without keeping its work."""
    db.discard(conn)


def record_write(conn: psycopg.Connection[Any], system_id: int) -> None:
    """After a system's write committed, note how far its writes reached (for replicas)."""
    replica.record_write(conn, system_id)


def last_write(conn: psycopg.Connection[Any], system_id: int) -> str | None:
    """The WAL position of the system's last write, ``None`` if none was noted."""
    return replica.last_write(conn, system_id)


def has_replayed(conn: psycopg.Connection[Any], lsn: str | None) -> bool:
    """Whether the server of ``conn`` has replayed the WAL up to ``lsn`` (a primary has)."""
    return replica.has_replayed(conn, lsn)
