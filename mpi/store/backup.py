"""Backup and restore with PostgreSQL's own tools (``pg_dump``/``pg_restore``).

A logical dump in the custom format holds the whole store: records, links, history,
identity events, review items, the audit trail with its chain tails, and the schema's
triggers (restored after the data, so the append-only rules hold again at once). The
tools must be of the server's major version: those of the embedded server (pgserver)
when it is the one running, else those on the machine (Debian's
``/usr/lib/postgresql/N/bin``, or ``PATH``).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import psycopg

from mpi.errors import ConfigError


def tool(url: str, name: str) -> str:
    """The path of PostgreSQL program ``name`` of the major version of the server at ``url``.

    Raises:
        ConfigError: no such program of that version on this machine.
    """
    with psycopg.connect(url) as conn:
        major = conn.info.server_version // 10000
    places = []
    try:
        import pgserver

        places.append(Path(pgserver.__file__).parent / "pginstall" / "bin")
    except ImportError:  # pragma: no cover - a dependency of the package
        pass
    places.append(Path(f"/usr/lib/postgresql/{major}/bin"))
    found = shutil.which(name)
    candidates = [p / name for p in places] + ([Path(found)] if found else [])
    for candidate in candidates:
        if candidate.is_file() and _major(candidate) == major:
            return str(candidate)
    raise ConfigError(f"no {name} of PostgreSQL {major} found (install the client programs)")


def _major(program: Path) -> int | None:
    out = subprocess.run([str(program), "--version"], capture_output=True, text=True, check=False)
    words = out.stdout.split()
    try:
        return int(words[-1].split(".")[0])
    except (IndexError, ValueError):
        return None


def dump(url: str, path: Path) -> None:
    """Write a custom-format dump of the database at ``url`` to ``path``.

    Raises:
        ConfigError: pg_dump is missing or failed (its message is given).
    """
    _run([tool(url, "pg_dump"), "--format=custom", "--no-owner", f"--file={path}", url])


def restore(url: str, path: Path) -> None:
    """Restore a dump made by :func:`dump` into the (new, empty) database at ``url``.

    Raises:
        ConfigError: pg_restore is missing or failed (its message is given).
    """
    _run(
        [
            tool(url, "pg_restore"),
            "--no-owner",
            "--exit-on-error",
            "--single-transaction",
            f"--dbname={url}",
            str(path),
        ]
    )


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ConfigError(f"{Path(command[0]).name} failed: {done.stderr.strip()}")
