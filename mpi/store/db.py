"""Where the database is: ``DATABASE_URL``, or an embedded PostgreSQL (pgserver)."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import scalar_row

from mpi.config import Settings
from mpi.errors import ConfigError

log = logging.getLogger(__name__)

_servers: dict[Path, Any] = {}


def embedded_server(data_dir: Path, *, cleanup_mode: str | None = "stop") -> Any:
    """Start (or join) the embedded PostgreSQL server whose data lives in ``data_dir``.

    Args:
        data_dir: the data folder; created on first use.
        cleanup_mode: pgserver's cleanup: ``"stop"`` stops the server when the last
            process using it exits, ``"delete"`` also removes the folder, ``None`` leaves
            it running.

    Returns:
        The pgserver handle (``get_uri()`` gives its connection string).
    """
    data_dir = data_dir.resolve()
    if data_dir in _servers:
        return _servers[data_dir]
    os.environ.setdefault("XDG_RUNTIME_DIR", str(data_dir.parent))
    try:
        with warnings.catch_warnings():  # a shared XDG_RUNTIME_DIR (mode 0777) is not our concern
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
            import pgserver
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise ConfigError(
            "No DATABASE_URL is set and the embedded server (pgserver) is not installed: "
            "pip install pgserver, or set DATABASE_URL to a PostgreSQL server."
        ) from exc
    data_dir.mkdir(parents=True, exist_ok=True)
    log.info("starting embedded PostgreSQL in %s", data_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = pgserver.get_server(data_dir, cleanup_mode=cleanup_mode)
    _servers[data_dir] = server
    return server


def server_url(settings: Settings) -> str:
    """The connection string of the configured database, starting the embedded one if needed."""
    if settings.database_url:
        return settings.database_url
    return str(embedded_server(settings.data_dir).get_uri())


def connect(url: str, **kwargs: Any) -> psycopg.Connection[Any]:
    """Open a connection; the caller owns the transaction."""
    try:
        return psycopg.connect(url, **kwargs)
    except psycopg.OperationalError as exc:
        raise ConfigError(f"cannot connect to the database: {exc}".strip()) from exc


@contextmanager
def transaction(url: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection whose work commits on success and rolls back on error."""
    with connect(url) as conn:
        yield conn


def create_database(url: str, name: str) -> str:
    """Create database ``name`` on the server of ``url`` and return its connection string."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return psycopg.conninfo.make_conninfo(url, dbname=name)


def drop_database(url: str, name: str) -> None:
    """Drop database ``name`` on the server of ``url``, closing its connections."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def server_version(url: str) -> str:
    """The server's version string, for reports."""
    with psycopg.connect(url) as conn:
        version = scalar(conn, "SHOW server_version")
    return str(version) if version is not None else "unknown"


def scalar(conn: psycopg.Connection[Any], query: Any, params: Any = None, **kwargs: Any) -> Any:
    """The one column of the first row of ``query``, ``None`` when it returns no row."""
    with conn.cursor(row_factory=scalar_row) as cur:
        return cur.execute(query, params, **kwargs).fetchone()


def scalars(
    conn: psycopg.Connection[Any], query: Any, params: Any = None, **kwargs: Any
) -> list[Any]:
    """The one column of every row of ``query``."""
    with conn.cursor(row_factory=scalar_row) as cur:
        return cur.execute(query, params, **kwargs).fetchall()


def undo(conn: psycopg.Connection[Any]) -> None:
    """Undo the work of the connection's transaction; one that wrote nothing stays open.

    A transaction that wrote nothing (no transaction ID assigned: reads only, advisory
    locks included) has nothing to undo and is kept, so what follows (an error's audit
    event) goes into it and one COMMIT ends both. It is not rolled back: psycopg
    deallocates every prepared statement of the connection on a ROLLBACK (it cannot tell
    a rolled-back DROP from a plain read), and the next requests on that connection would
    prepare and plan their statements again; a failed lookup (an unknown identifier, a
    refused caller) would make several later lookups cost several times as much. A
    transaction that wrote, or failed, is rolled back. A lost connection is left alone.
    """
    from psycopg.pq import TransactionStatus

    if conn.broken or conn.closed:
        return  # nothing to undo: the connection is gone (its pool discards it)
    try:
        if conn.info.transaction_status == TransactionStatus.INTRANS:
            if scalar(conn, "SELECT pg_current_xact_id_if_assigned() IS NULL"):
                return
        conn.rollback()
    except psycopg.OperationalError:
        if not conn.broken:
            raise  # lost just now, the transaction with it; anything else is not ours


def discard(conn: psycopg.Connection[Any]) -> None:
    """End the connection's transaction without keeping its work (see :func:`undo`)."""
    undo(conn)
    if not conn.broken and not conn.closed:
        conn.commit()  # what is left wrote nothing; a no-op when no transaction is open
