"""SQL for the least-privilege database roles: an owner for migrations, a service role.

The **owner** owns every table, sequence and function of the schema, so it runs
``mpi db upgrade``; it is not a superuser. The **service** role (``mpi serve``, loads, the
webhook worker, ``mpi audit verify``) may read and write the service's tables, but the
append-only ones only take INSERT and SELECT: the audit events, the identity events and the
link history. Of the audit chains' tails it may read and move them (the database lets a
tail only move forward). It owns nothing, so it can neither disable a trigger nor drop or
truncate a table, and it is no superuser, so it cannot set ``session_replication_role``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import class_row

from mpi.errors import ConfigError
from mpi.store.db import scalar, scalars

#: Tables whose rows are never changed or removed: the service may only add and read.
APPEND_ONLY = ("audit_event", "identity_event", "link_history")
#: The audit chains' tails: read and moved forward (SELECT ... FOR UPDATE, UPDATE).
TAILS = "audit_chain"


@dataclass(frozen=True, slots=True)
class RolesReport:
    """What :func:`ensure_roles` did: roles created now, and objects given to the owner."""

    created: tuple[str, ...]
    reassigned: int


@dataclass(frozen=True, slots=True)
class _Role:
    """An existing role: whether it is a superuser and whether it can log in."""

    is_superuser: bool
    can_login: bool


def _role(conn: psycopg.Connection[Any], name: str) -> _Role | None:
    """An existing role, or ``None``."""
    with conn.cursor(row_factory=class_row(_Role)) as cur:
        return cur.execute(
            "SELECT rolsuper AS is_superuser, rolcanlogin AS can_login"
            " FROM pg_roles WHERE rolname = %s",
            (name,),
        ).fetchone()


def existing_superuser(conn: psycopg.Connection[Any], names: list[str]) -> str | None:
    """The first of these roles that exists and is a superuser, if any."""
    for name in names:
        found = _role(conn, name)
        if found and found.is_superuser:
            return name
    return None


def _password_sql(conn: psycopg.Connection[Any], name: str, password: str) -> sql.Composed:
    # The password is hashed here (SCRAM-SHA-256, libpq's PQencryptPasswordConn), so the
    # clear text never reaches the server or its statement log.
    verifier = conn.pgconn.encrypt_password(
        password.encode("utf-8"), name.encode("utf-8"), b"scram-sha-256"
    )
    return sql.SQL("ALTER ROLE {} PASSWORD {}").format(
        sql.Identifier(name), sql.Literal(verifier.decode("ascii"))
    )


def _ownable_sql() -> str:
    # Everything in the schema public that the owner should own: tables, views and
    # sequences not owned by a column (those follow their table), functions, and types
    # that are not a table's row type or an array.
    return """
        SELECT 'TABLE', c.oid::regclass::text FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'f')
          AND c.relowner <> %(owner)s::regrole
        UNION ALL
        SELECT 'VIEW', c.oid::regclass::text FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('v', 'm')
          AND c.relowner <> %(owner)s::regrole
        UNION ALL
        SELECT 'SEQUENCE', c.oid::regclass::text FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'S'
          AND c.relowner <> %(owner)s::regrole
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid
                          AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i'))
        UNION ALL
        SELECT 'FUNCTION', p.oid::regprocedure::text FROM pg_proc p
        WHERE p.pronamespace = 'public'::regnamespace AND p.prokind IN ('f', 'p')
          AND p.proowner <> %(owner)s::regrole
        UNION ALL
        SELECT 'TYPE', t.oid::regtype::text FROM pg_type t
        WHERE t.typnamespace = 'public'::regnamespace AND t.typtype IN ('e', 'd', 'r', 'm')
          AND t.typowner <> %(owner)s::regrole
    """


def ensure_roles(
    conn: psycopg.Connection[Any],
    owner: str,
    service: str,
    *,
    owner_password: str | None = None,
    service_password: str | None = None,
) -> RolesReport:
    """Create (if missing) the owner and service roles and set their rights, idempotently.

    Run in one transaction by a superuser (or a role that may create roles and owns the
    schema's objects). The roles can log in; a password is set only when given, so they
    authenticate however the server's pg_hba.conf says (password, certificate, peer ...).
    Run it again after ``mpi db upgrade``, so that new tables get the same rights.

    Raises:
        ConfigError: the two names are one, or a named role exists as a superuser (it is
            never demoted here: choose another name).
    """
    if owner == service:
        raise ConfigError("the owner and the service role must be two roles")
    for name in (owner, service):
        if not name or len(name) > 63:
            raise ConfigError(f"role name {name!r} must be 1 to 63 characters")
    superuser = existing_superuser(conn, [owner, service])
    if superuser:
        raise ConfigError(f"role {superuser!r} exists and is a superuser; choose another name")
    created = []
    for name, password in ((owner, owner_password), (service, service_password)):
        if _role(conn, name) is None:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
            created.append(name)
        conn.execute(
            sql.SQL(
                "ALTER ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
            ).format(sql.Identifier(name))
        )
        if password is not None:
            conn.execute(_password_sql(conn, name, password))
    o, s = sql.Identifier(owner), sql.Identifier(service)
    database = sql.Identifier(_current_database(conn))
    conn.execute(
        sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}, {}").format(database, o, s)
    )
    conn.execute(sql.SQL("GRANT USAGE, CREATE ON SCHEMA public TO {}").format(o))
    conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(s))
    objects = conn.execute(_ownable_sql(), {"owner": owner}).fetchall()
    for kind, name in objects:
        # ``name`` comes from regclass/regprocedure/regtype output: already quoted SQL.
        conn.execute(sql.SQL(f"ALTER {kind} {name} OWNER TO {{}}").format(o))  # type: ignore[arg-type]
    _grant_service(conn, s)
    # Tables and sequences the owner creates later (migrations) are usable at once; the
    # append-only rules of a new table need this command to run again.
    conn.execute(
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA public"
            " GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {}"
        ).format(o, s)
    )
    conn.execute(
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA public"
            " GRANT USAGE, SELECT ON SEQUENCES TO {}"
        ).format(o, s)
    )
    return RolesReport(tuple(created), len(objects))


def _current_database(conn: psycopg.Connection[Any]) -> str:
    return str(scalar(conn, "SELECT current_database()"))


def _grant_service(conn: psycopg.Connection[Any], s: sql.Identifier) -> None:
    conn.execute(
        sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}").format(
            s
        )
    )
    conn.execute(sql.SQL("REVOKE TRUNCATE ON ALL TABLES IN SCHEMA public FROM {}").format(s))
    conn.execute(sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(s))
    conn.execute(sql.SQL("GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {}").format(s))
    tables = set(
        scalars(
            conn,
            "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace"
            " AND relkind IN ('r', 'p')",
        )
    )
    for table in APPEND_ONLY:
        if table in tables:
            conn.execute(
                sql.SQL("REVOKE UPDATE, DELETE, TRUNCATE ON {} FROM {}").format(
                    sql.Identifier(table), s
                )
            )
    if TAILS in tables:
        conn.execute(
            sql.SQL("REVOKE INSERT, DELETE, TRUNCATE ON {} FROM {}").format(
                sql.Identifier(TAILS), s
            )
        )
    if conn.info.server_version >= 170000:
        # VACUUM and ANALYZE of the counters after a load (PostgreSQL 17's MAINTAIN; on
        # older servers only the owner may, and the load's VACUUM is skipped with a warning).
        maintained = sorted(tables - set(APPEND_ONLY) - {TAILS})
        if maintained:
            conn.execute(
                sql.SQL("GRANT MAINTAIN ON {} TO {}").format(
                    sql.SQL(", ").join(sql.Identifier(t) for t in maintained), s
                )
            )


def privileges(conn: psycopg.Connection[Any], role: str, table: str) -> set[str]:
    """The privileges a role holds on a table (for operators and tests)."""
    wanted = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")
    row = conn.execute(
        "SELECT " + ", ".join(f"has_table_privilege(%(role)s, %(table)s, '{p}')" for p in wanted),
        {"role": role, "table": table},
    ).fetchone()
    assert row is not None
    return {p for p, held in zip(wanted, row, strict=True) if held}
