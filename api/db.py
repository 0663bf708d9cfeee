"""The connection pool: opened in the factory, one connection per request on ``g``.

The request's work and its audit event commit together after the view (see
``api.requests``); the connection goes back to the pool in ``teardown_appcontext``.
"""

from __future__ import annotations

import atexit
import logging
from collections import Counter
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, g
from psycopg import errors as psycopg_errors
from psycopg_pool import ConnectionPool, PoolTimeout

from mpi import database
from mpi.errors import ConfigError

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger("api.db")

#: Lookups of this worker by where they were read: ``replica`` or ``primary``.
READ_ROUTES: Counter[str] = Counter()


def init_app(app: Flask) -> None:
    """Create the pool, open it and wait for it, so a bad database fails at start-up."""
    url = database.server_url(app.config["SETTINGS"])
    try:
        database.upgrade(url)
    except Exception as exc:  # noqa: BLE001 - any failure here is a configuration problem
        raise ConfigError(f"cannot use the database: {type(exc).__name__}") from exc
    pool: ConnectionPool[Any] = ConnectionPool(
        url,
        min_size=int(app.config["POOL_MIN_SIZE"]),
        max_size=int(app.config["POOL_MAX_SIZE"]),
        timeout=float(app.config["POOL_TIMEOUT"]),
        open=False,
        name="mpi",
    )
    pool.open()
    try:
        pool.wait(timeout=30)
    except Exception as exc:  # noqa: BLE001
        pool.close()
        raise ConfigError("the connection pool could not connect to the database") from exc
    app.extensions["mpi_pool"] = pool
    atexit.register(pool.close)
    read_url = app.config.get("READ_DATABASE_URL") or app.config["SETTINGS"].read_database_url
    if read_url:
        replica: ConnectionPool[Any] = ConnectionPool(
            read_url,
            min_size=int(app.config["POOL_MIN_SIZE"]),
            max_size=int(app.config["POOL_MAX_SIZE"]),
            timeout=float(app.config["POOL_TIMEOUT"]),
            open=False,
            name="mpi-read",
            kwargs={"autocommit": True},  # reads only: no transaction left open on a standby
        )
        replica.open()
        app.extensions["mpi_read_pool"] = replica
        atexit.register(replica.close)
    app.teardown_appcontext(release)


def pool() -> ConnectionPool[Any]:
    """The app's pool."""
    return current_app.extensions["mpi_pool"]  # type: ignore[no-any-return]


def get_conn() -> psycopg.Connection[Any]:
    """This request's connection (taken from the pool on first use)."""
    ctx = g._get_current_object()  # one proxy look-up, not three
    conn = ctx.get("db")
    if conn is None:
        conn = ctx.db = pool().getconn()
    return conn  # type: ignore[no-any-return]


def has_replica() -> bool:
    """Whether lookups may be served from a read replica (``MPI_READ_DATABASE_URL``)."""
    return "mpi_read_pool" in current_app.extensions


def read_conn() -> psycopg.Connection[Any]:
    """The connection a lookup reads from: the replica when one is configured and it has
    replayed the caller's last write, otherwise this request's primary connection.

    The audit of the lookup is still written on the primary connection (:func:`get_conn`),
    in the request's transaction. A replica that cannot give a connection within
    ``POOL_TIMEOUT``, or that fails, sends the lookup to the primary (logged).
    """
    ctx = g._get_current_object()
    conn = ctx.get("read_db")
    if conn is not None:
        return conn  # type: ignore[no-any-return]
    if not has_replica():
        return get_conn()
    who = ctx.get("caller")
    lsn = database.last_write(get_conn(), who.system_id) if who is not None else None
    replica: ConnectionPool[Any] = current_app.extensions["mpi_read_pool"]
    try:
        conn = replica.getconn()
    except (PoolTimeout, psycopg_errors.OperationalError):
        log.warning("read replica unavailable: lookup served by the primary")
        READ_ROUTES["primary"] += 1
        return get_conn()
    try:
        current = database.has_replayed(conn, lsn)
    except psycopg_errors.Error:
        replica.putconn(conn)
        log.warning("read replica failed: lookup served by the primary")
        READ_ROUTES["primary"] += 1
        return get_conn()
    if not current:  # the replica lags behind the caller's own last write
        replica.putconn(conn)
        READ_ROUTES["primary"] += 1
        return get_conn()
    ctx.read_db = conn
    READ_ROUTES["replica"] += 1
    return conn


def note_write() -> None:
    """After a write request committed, note how far the caller's writes reached (only
    when a replica is configured), so that its next lookups wait for the replica to get
    there. Its own small transaction on the primary."""
    who = g.get("caller")
    if who is None or not has_replica() or not has_conn():
        return
    conn = get_conn()
    try:
        database.record_write(conn, who.system_id)
        conn.commit()
    except psycopg_errors.Error:  # the work is committed: its reply must not become a 500
        log.warning("could not note the write position: the next lookups may lag")
        database.discard(conn)


def has_conn() -> bool:
    """Whether this request has taken a connection."""
    return "db" in g


def release(exc: BaseException | None = None) -> None:
    """Return the request's connections, rolling back anything left uncommitted."""
    replica = g.pop("read_db", None)
    if replica is not None:
        current_app.extensions["mpi_read_pool"].putconn(replica)
    conn = g.pop("db", None)
    if conn is None:
        return
    try:
        database.discard(conn)
    finally:
        pool().putconn(conn)


#: SQLSTATEs of a database that cannot take the request for now: a read-only server (a
#: standby, ``default_transaction_read_only``); class 53, a full disk or another exhausted
#: resource; a server shutting down, crashed or starting up.
_UNAVAILABLE = ("25006", "53", "57P01", "57P02", "57P03")


def database_lost(exc: BaseException) -> bool:
    """Whether an error means the database went away (a restart, a failover), cannot take
    writes for now (read-only, disk full), or the pool had no connection to give within
    ``POOL_TIMEOUT``. The request's transaction is rolled back whole."""
    if isinstance(exc, PoolTimeout):
        return True
    if isinstance(exc, psycopg_errors.Error) and (exc.sqlstate or "").startswith(_UNAVAILABLE):
        return True
    return has_conn() and get_conn().broken


def is_ready() -> bool:
    """Whether the database answers."""
    try:
        with pool().connection(timeout=2) as conn:
            conn.execute("SELECT 1")
        return True
    except Exception:  # noqa: BLE001 - readiness reports any failure as not ready
        return False
