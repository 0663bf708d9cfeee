"""The connection pool: opened in the factory, one connection per request on ``g``.

The request's work and its audit event commit together after the view (see
``api.requests``); the connection goes back to the pool in ``teardown_appcontext``.
"""

from __future__ import annotations

import atexit
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, g
from psycopg import errors as psycopg_errors
from psycopg_pool import ConnectionPool, PoolTimeout

from mpi.errors import ConfigError
from mpi.store import db as store_db
from mpi.store import migrate

if TYPE_CHECKING:
    import psycopg


def init_app(app: Flask) -> None:
    """Create the pool, open it and wait for it, so a bad database fails at start-up."""
    url = store_db.server_url(app.config["SETTINGS"])
    try:
        migrate.upgrade(url)
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


def has_conn() -> bool:
    """Whether this request has taken a connection."""
    return "db" in g


def release(exc: BaseException | None = None) -> None:
    """Return the request's connection, rolling back anything left uncommitted."""
    conn = g.pop("db", None)
    if conn is None:
        return
    try:
        store_db.discard(conn)
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
