"""What the fault drills share: a throwaway database, `mpi` as a real process, a webhook
receiver, and the after-crash checks (sound store, whole registrations, deliveries)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
from click.testing import CliRunner

from mpi import access
from mpi.cli import main
from mpi.store import db, migrate
from mpi.store import systems as system_store
from mpi.store import webhooks as webhook_store
from tests.helpers import synthetic_nhs_number

MPI = [sys.executable, "-c", "from mpi.cli import main; main()"]

GIVEN = ("Amelia", "Oliver", "Isla", "Noah", "Ava", "Leo", "Freya", "Arthur", "Ivy", "Theo")
_SYLLABLES = ("ka", "lo", "mi", "nu", "pe", "ro", "si", "tu", "va", "ze")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def patient(n: int) -> dict[str, Any]:
    """The n-th synthetic patient: distinct NHS number (999 range), birth date (for n below
    23,520) and family name, so no two look like one person. (Family names once differed
    only in a number, which matching ignores, and birth dates repeated: a drill of
    thousands was mostly would-be duplicates for review, slow to load for that alone.)"""
    scrambled = (n * 7919 + 13) % 100_000  # neighbours get unrelated names
    family = "".join(_SYLLABLES[int(d)] for d in f"{scrambled:05d}")
    return {
        "nhs_number": synthetic_nhs_number(10_000 + n),
        "given_name": GIVEN[n % len(GIVEN)],
        "family_name": family.title(),
        "sex": "female" if n % 2 else "male",
        "birth_date": f"{1940 + n % 70}-{1 + n // 70 % 12:02d}-{1 + n // 840 % 28:02d}",
        "postcode": "LS1 4AP",
    }


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new migrated database on ``server_url``, dropped afterwards."""
    name = f"mpi_drill_{uuid.uuid4().hex[:10]}"
    url = db.create_database(server_url, name)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        db.drop_database(server_url, name)


def add_system(url: str, code: str = "GP") -> tuple[str, Any]:
    """A connected system with a register+lookup token and an all-events webhook to
    http://127.0.0.1 (see :class:`Receiver`); returns the token and the system."""
    with psycopg.connect(url) as conn:
        system = system_store.add_system(conn, code, code.title(), "gp", 1)
        return access.issue_token(conn, code, ["register", "lookup"], actor="drill"), system


def subscribe(url: str, system_id: int, receiver: Receiver) -> None:
    with psycopg.connect(url) as conn:
        webhook_store.add(conn, system_id, receiver.url, "drill-secret", True)


class Receiver:
    """A webhook receiver on a free port that records each event ID it is sent."""

    def __init__(self) -> None:
        events: set[int] = set()
        self.events = events

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                events.add(int(self.headers["X-MPI-Event"]))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def env_for(url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": url,
        "MPI_ENVIRONMENT": "test",
        "MPI_WEBHOOK_ALLOW_HTTP": "true",
        "MPI_WEBHOOK_ALLOW_HOSTS": "127.0.0.1",
        **extra,
    }


def call(base: str, method: str, path: str, token: str, body: Any = None) -> int:
    """One HTTP call; its status, or 0 when no reply came (refused, reset, timed out)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, urllib.error.URLError):
        return 0


class Service:
    """`mpi serve` as a real process (gunicorn master and workers) on a free port."""

    def __init__(self, url: str, log: Path, workers: int = 2, **env: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [*MPI, "serve", "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers)],
                env=env_for(url, MPI_POOL_MIN_SIZE="1", MPI_POOL_TIMEOUT="3", **env),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.base + "/readyz", timeout=2) as r:  # noqa: S310
                    if r.status == 200 and len(self.workers()) == workers:
                        return
            except OSError:
                pass
            if self.process.poll() is not None:
                raise AssertionError(f"mpi serve exited: {log.read_text()[-3000:]}")
            time.sleep(0.2)
        raise AssertionError(f"mpi serve did not become ready: {log.read_text()[-3000:]}")

    def workers(self) -> list[int]:
        """The gunicorn workers' process IDs (children of the master)."""
        out = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(self.process.pid)],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        return [int(p) for p in out.split()]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def db_check(url: str) -> str:
    """`mpi db check` on ``url``; fails the test naming the breaches."""
    result = CliRunner().invoke(main, ["db", "check"], env={"DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    return result.output


def registrations(url: str, system: str = "GP") -> dict[str, dict[str, Any]]:
    """Each local ID of the system with what its registration left behind: the person it
    is linked to, its blocking keys, identity events and audit events naming it."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT r.local_id, p.person_id,"
            " (SELECT count(*) FROM blocking_key k WHERE k.record_id = r.id),"
            " (SELECT count(*) FROM identity_event e WHERE e.record_id = r.id),"
            " (SELECT count(*) FROM link_history h WHERE h.record_id = r.id),"
            " (SELECT count(*) FROM audit_event a WHERE a.records @> jsonb_build_array("
            "    jsonb_build_array(s.code, r.local_id)) AND a.outcome = 'success')"
            " FROM source_record r JOIN source_system s ON s.id = r.system_id"
            " LEFT JOIN link l ON l.record_id = r.id LEFT JOIN person p ON p.id = l.person_id"
            " WHERE s.code = %s",
            (system,),
        ).fetchall()
    keys = ("person", "blocking_keys", "events", "history", "audits")
    return {r[0]: dict(zip(keys, r[1:], strict=True)) for r in rows}


def assert_whole(found: dict[str, dict[str, Any]], *, audited: bool) -> None:
    """Every record present is whole: linked, with its keys, events and history (and, for
    a registration over HTTP, its audit event)."""
    for local_id, parts in found.items():
        assert parts["person"] is not None, local_id
        assert parts["blocking_keys"] > 0 and parts["events"] > 0, (local_id, parts)
        assert parts["history"] > 0, (local_id, parts)
        if audited:
            assert parts["audits"] >= 1, (local_id, parts)


def deliver_all(url: str, receiver: Receiver, timeout: float = 300) -> dict[str, int]:
    """Run `mpi webhooks deliver --loop` (a real process) until no delivery is pending."""
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE webhook_outbox SET next_attempt_at = now() WHERE status = 'pending'")
    worker = subprocess.Popen(
        [*MPI, "webhooks", "deliver", "--loop", "--interval", "0.1"],
        env=env_for(url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + timeout
        while outbox(url).get("pending") and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        worker.terminate()
        worker.wait()
    return outbox(url)


def outbox(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT status, count(*) FROM webhook_outbox GROUP BY 1").fetchall()
    return {s: int(n) for s, n in rows}


def outbox_events(url: str, status: str | None = None) -> set[int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT event_id FROM webhook_outbox WHERE %s::text IS NULL OR status = %s",
            (status, status),
        ).fetchall()
    return {int(r[0]) for r in rows}


PG_BIN = Path("/usr/lib/postgresql/15/bin")


class Cluster:
    """A throwaway PostgreSQL cluster of the test's own (initdb, pg_ctl) on a free port:
    never the shared server, which the drills must not restart. Run as the ``postgres``
    user when the tests run as root (initdb refuses root)."""

    def __init__(self, folder: Path, *settings: str) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        folder.mkdir(parents=True, exist_ok=True)
        self._as_user = os.geteuid() == 0
        if self._as_user:
            import shutil

            shutil.chown(folder, "postgres", "postgres")
        self._run(
            str(PG_BIN / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        options = [f"-c port={self.port}", "-c listen_addresses=127.0.0.1"]
        options += [f"-c unix_socket_directories={folder}", *(f"-c {s}" for s in settings)]
        self.options = " ".join(options)

    def _run(self, *args: str) -> None:
        command = ["runuser", "-u", "postgres", "--", *args] if self._as_user else list(args)
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self._run(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            self.options,
            "-l",
            str(self.folder / "log"),
            "-w",
            "start",
        )

    def restart(self, mode: str = "immediate") -> None:
        """Stop the server (``immediate``: as a crash, no checkpoint) and start it again."""
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")
        self.start()

    def stop(self) -> None:
        try:
            self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        except subprocess.CalledProcessError:
            pass

    @classmethod
    def standby_of(cls, primary: Cluster, folder: Path) -> Cluster:
        """A streaming standby of ``primary``: pg_basebackup -R into a new folder."""
        standby = cls.__new__(cls)
        standby.folder, standby.data = folder, folder / "data"
        standby.port = free_port()
        standby.url = f"postgresql://postgres@127.0.0.1:{standby.port}/postgres"
        folder.mkdir(parents=True, exist_ok=True)
        standby._as_user = primary._as_user
        if standby._as_user:
            import shutil

            shutil.chown(folder, "postgres", "postgres")
        standby._run(
            str(PG_BIN / "pg_basebackup"),
            "-D",
            str(standby.data),
            "-R",
            "-X",
            "stream",
            "--checkpoint=fast",
            "-h",
            "127.0.0.1",
            "-p",
            str(primary.port),
            "-U",
            "postgres",
        )
        options = [f"-c port={standby.port}", "-c listen_addresses=127.0.0.1"]
        options += [f"-c unix_socket_directories={folder}"]
        standby.options = " ".join(options)
        return standby
