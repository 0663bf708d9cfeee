"""The MLLP listener (``mpi mllp``): the `hl7` library's asyncio server, a thread per
database connection.

Each connection is read one MLLP block at a time (0x0B … 0x1C 0x0D, the library's framing)
and each block answered before the next is read, as MLLP senders expect. The database work
runs in a small pool of threads, each with its own connection, so one slow message does not
stop other connections. A connection that breaks the framing, sends more than
``max_bytes`` in one message, stays idle for ``idle_seconds`` or goes away mid-message is
answered where it can be and closed; the log says why, without patient data.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from hl7.mllp import InvalidBlockError, start_hl7_server

from mpi.config import Settings
from mpi.errors import ConfigError
from mpi.hl7.handler import Handler
from mpi.hl7.messages import Problem, ack
from mpi.records import MatchContext
from mpi.store import db

log = logging.getLogger("mpi.hl7")


@dataclass(frozen=True, slots=True)
class MllpSettings:
    """The listener's settings, from the environment (see README, "HL7 v2 over MLLP").

    ``MPI_MLLP_TLS_CERT`` and ``MPI_MLLP_TLS_KEY`` (PEM files) turn on MLLP over TLS;
    ``MPI_MLLP_MAX_BYTES`` (default 1 MiB) is the largest message, ``MPI_MLLP_IDLE_SECONDS``
    (default 300) how long a connection may send nothing, ``MPI_MLLP_WORKERS`` (default 4)
    the database connections of each process, ``MPI_MLLP_PROCESSES`` (default 1) the
    listening processes (sharing the port with SO_REUSEPORT, as gunicorn's workers do).
    ``MPI_MODEL_REFRESH_SECONDS`` (default 10, as for ``mpi serve``; negative: never) is
    how often each process checks for a newly activated match model and switches to it.
    ``MPI_MLLP_DIRECTORY_SECONDS`` (default 5) is how long the connected systems and their
    facilities are kept between reads (a facility not among them is looked up at once).
    """

    tls_cert: str | None = None
    tls_key: str | None = None
    max_bytes: int = 1024 * 1024
    idle_seconds: float = 300.0
    workers: int = 4
    processes: int = 1
    model_refresh_seconds: float = 10.0
    directory_seconds: float = 5.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> MllpSettings:
        """Read the ``MPI_MLLP_*`` variables; :class:`ConfigError` names a bad one."""
        env = os.environ if env is None else env

        def number(name: str, default: float, low: float) -> float:
            text = env.get(name) or ""
            if not text:
                return default
            try:
                found = float(text)
            except ValueError:
                raise ConfigError(f"{name} must be a number, not {text!r}") from None
            if found < low:
                raise ConfigError(f"{name} must be at least {low:g}, not {text!r}")
            return found

        refresh = env.get("MPI_MODEL_REFRESH_SECONDS") or "10"
        try:
            model_refresh = float(refresh)
        except ValueError:
            raise ConfigError(
                f"MPI_MODEL_REFRESH_SECONDS must be a number, not {refresh!r}"
            ) from None
        cert, key = env.get("MPI_MLLP_TLS_CERT") or None, env.get("MPI_MLLP_TLS_KEY") or None
        if bool(cert) != bool(key):
            raise ConfigError("MPI_MLLP_TLS_CERT and MPI_MLLP_TLS_KEY go together")
        return cls(
            tls_cert=cert,
            tls_key=key,
            max_bytes=int(number("MPI_MLLP_MAX_BYTES", 1024 * 1024, 1024)),
            idle_seconds=number("MPI_MLLP_IDLE_SECONDS", 300.0, 0.1),
            workers=int(number("MPI_MLLP_WORKERS", 4, 1)),
            processes=int(number("MPI_MLLP_PROCESSES", 1, 1)),
            model_refresh_seconds=model_refresh,
            directory_seconds=number("MPI_MLLP_DIRECTORY_SECONDS", 5.0, 0),
        )

    def ssl_context(self) -> ssl.SSLContext | None:
        """The server TLS context, or ``None`` without a certificate."""
        if not self.tls_cert or not self.tls_key:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(self.tls_cert, self.tls_key)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"cannot load MPI_MLLP_TLS_CERT/KEY: {exc}") from exc
        return context


class _Connections(threading.local):
    conn: Any = None


class Listener:
    """Serves MLLP connections on a database URL with a matching context."""

    def __init__(
        self,
        url: str,
        ctx: MatchContext,
        settings: MllpSettings,
        match_settings: Settings | None = None,
    ) -> None:
        self.url = url
        self.settings = settings
        self.match_settings = match_settings
        self.handler = Handler(ctx, settings.directory_seconds)
        self.executor = ThreadPoolExecutor(settings.workers, thread_name_prefix="mllp")
        self._local = _Connections()
        self._all: list[Any] = []
        self._lock = threading.Lock()

    def _conn(self) -> Any:
        conn = self._local.conn
        if conn is None or conn.closed:
            conn = self._local.conn = db.connect(self.url)
            with self._lock:
                self._all.append(conn)
        return conn

    def _handle(self, block: bytes, peer: str | None) -> tuple[bytes, str]:
        try:
            conn = self._conn()
        except Exception as exc:  # noqa: BLE001 - the database is away: AE, try later
            log.error("no database connection: %s", type(exc).__name__)
            problem = Problem("MSH", 0, "the MPI is unavailable; send again later", "207")
            return ack(None, "AE", [problem]).encode("ascii"), "AE"
        try:
            return self.handler.handle(conn, block, peer)
        except Exception as exc:  # noqa: BLE001 - a broken connection is replaced
            log.error("connection failed: %s", type(exc).__name__)
            self._local.conn = None
            try:
                conn.close()
            except Exception:  # noqa: BLE001
                pass
            problem = Problem("MSH", 0, "the MPI could not process the message", "207")
            return ack(None, "AE", [problem]).encode("ascii"), "AE"

    async def client(self, reader: Any, writer: Any) -> None:
        """One connection: read a block, answer it, until the peer leaves or misbehaves."""
        peer_info = writer.get_extra_info("peername")
        peer = str(peer_info[0]) if peer_info else None
        loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    block = await asyncio.wait_for(
                        reader.readblock(), timeout=self.settings.idle_seconds
                    )
                except TimeoutError:
                    log.info("closing %s: idle for %gs", peer, self.settings.idle_seconds)
                    return
                except asyncio.IncompleteReadError as exc:
                    if exc.partial.strip():
                        log.warning("closing %s: disconnected mid-message", peer)
                    return
                except InvalidBlockError:
                    log.warning("%s: a block without the MLLP start byte 0x0B", peer)
                    problem = Problem("MSH", 0, "malformed MLLP frame: no start byte 0x0B", "100")
                    writer.writeblock(ack(None, "AR", [problem]).encode("ascii"))
                    await writer.drain()
                    continue
                except ValueError:  # the library's limit: the rest of the message is unread
                    log.warning(
                        "closing %s: a message over MPI_MLLP_MAX_BYTES (%d)",
                        peer,
                        self.settings.max_bytes,
                    )
                    problem = Problem(
                        "MSH", 0, f"the message is over {self.settings.max_bytes} bytes", "102"
                    )
                    writer.writeblock(ack(None, "AR", [problem]).encode("ascii"))
                    await writer.drain()
                    return
                started = time.perf_counter()
                reply, code = await loop.run_in_executor(self.executor, self._handle, block, peer)
                writer.writeblock(reply)
                await writer.drain()
                log.info("%s: %s in %.1f ms", peer, code, (time.perf_counter() - started) * 1000)
        except (ConnectionError, ssl.SSLError) as exc:
            log.warning("closing %s: %s", peer, type(exc).__name__)
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, ssl.SSLError, OSError):
                pass

    def refresh_model(self) -> None:
        """Switch to the active match model if it is not the one in use (a worker thread).

        Messages already being handled finish with the context they started with.
        """
        if self.match_settings is None:
            return
        from mpi.models_registry import active_model, active_version

        current = self.handler.ctx
        try:
            conn = self._conn()
            try:
                version = active_version(conn)
                model = active_model(conn) if version != current.model.version else None
            finally:
                conn.rollback()
        except Exception:  # noqa: BLE001 - a database hiccup: keep the model, try later
            log.warning("could not check the active match model")
            return
        if model is None:
            return
        self.handler.ctx = MatchContext.build(self.match_settings, model)
        log.warning("match model changed from %s to %s", current.model.version, model.version)

    async def _follow_model(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(max(self.settings.model_refresh_seconds, 0.2))
            await loop.run_in_executor(self.executor, self.refresh_model)

    async def serve(self, host: str, port: int, *, parent: int | None = None) -> None:
        """Listen until cancelled (or, in a child process, until ``parent`` is gone)."""
        server = await start_hl7_server(
            self.client,
            host,
            port,
            limit=self.settings.max_bytes,
            ssl=self.settings.ssl_context(),
            reuse_port=self.settings.processes > 1,
        )
        tasks = set()
        if parent is not None:
            tasks.add(asyncio.get_running_loop().create_task(_orphaned(parent, server)))
        if self.match_settings is not None and self.settings.model_refresh_seconds >= 0:
            tasks.add(asyncio.get_running_loop().create_task(self._follow_model()))
        names = ", ".join(str(s.getsockname()[:2]) for s in server.sockets)
        tls = " over TLS" if self.settings.tls_cert else ""
        log.warning("mpi mllp listening on %s%s", names, tls)
        async with server:
            await server.serve_forever()

    def close(self) -> None:
        """Close the worker threads' database connections."""
        self.executor.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            for conn in self._all:
                try:
                    conn.close()
                except Exception:  # noqa: BLE001
                    pass


def parse_bind(bind: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:2575`` for IPv6) as host and port; :class:`ConfigError` if not."""
    host, sep, port = bind.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535 or not host:
        raise ConfigError(f"--bind must be HOST:PORT, not {bind!r}")
    return host.strip("[]"), int(port)


async def _orphaned(parent: int, server: Any) -> None:
    """Stop a child process's server when the process that started it is gone."""
    while os.getppid() == parent:
        await asyncio.sleep(1)
    server.close()


def run(
    url: str,
    ctx: MatchContext,
    bind: str,
    settings: MllpSettings | None = None,
    match_settings: Settings | None = None,
) -> None:
    """Run the listener in the foreground until interrupted (or SIGTERM).

    With ``processes`` above 1 the process forks that many listeners less one before any
    thread or connection exists; each has its own threads and database connections, and
    SIGTERM to the first ends them all.
    """
    import signal

    host, port = parse_bind(bind)
    settings = settings or MllpSettings.from_env()
    children: list[int] = []
    parent: int | None = None
    me = os.getpid()
    for _ in range(settings.processes - 1):
        pid = os.fork()
        if pid == 0:
            parent, children = me, []
            break
        children.append(pid)

    def stop(signum: int, frame: Any) -> None:
        for child in children:
            try:
                os.kill(child, signal.SIGTERM)
            except ProcessLookupError:
                pass
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    listener = Listener(url, ctx, settings, match_settings)
    try:
        asyncio.run(listener.serve(host, port, parent=parent))
    except KeyboardInterrupt:
        pass
    finally:
        listener.close()
        for child in children:
            try:
                os.waitpid(child, 0)
            except ChildProcessError:
                pass
