"""HL7 v2 notifications (ITI-10) of identity changes, for real: records arrive over MLLP at
`mpi mllp`, `mpi systems hl7-subscribe` and `mpi webhooks deliver` run as processes, and a
receiver made with python-hl7's own asyncio MLLP server (``hl7.mllp.start_hl7_server``)
acknowledges what it is sent.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import hl7
import psycopg
import pytest
from hl7.mllp import start_hl7_server

from mpi import identities
from mpi.store import webhooks as webhook_store
from tests.helpers import synthetic_nhs_number
from tests.hl7.test_mllp import _free_port, active, adt, listener, mllp, msa, send

__all__ = ["listener", "mllp"]  # fixtures from test_mllp

NHS = synthetic_nhs_number(21)


class Receiver:
    """An MLLP receiver on a free port: keeps every message, answers AE ``refuse`` times
    first and AA after that (MSA-2 echoing MSH-10)."""

    def __init__(self, refuse: int = 0) -> None:
        self.refuse = refuse
        self.messages: list[hl7.Message] = []
        self.port = _free_port()
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(10)

    async def _client(self, reader: Any, writer: Any) -> None:
        try:
            while not writer.is_closing():
                message = await reader.readmessage()
                self.messages.append(message)
                code = "AE" if self.refuse > 0 else "AA"
                self.refuse -= 1
                writer.writemessage(message.create_ack(code))
                await writer.drain()
        except asyncio.IncompleteReadError:
            pass
        finally:
            writer.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def main() -> None:
            self.server = await start_hl7_server(self._client, "127.0.0.1", self.port)
            self.ready.set()
            async with self.server:
                await self.server.serve_forever()

        try:
            self.loop.run_until_complete(main())
        except asyncio.CancelledError:
            pass

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url, "MPI_ENVIRONMENT": "test"}
    return subprocess.run(
        [sys.executable, "-c", "from mpi.cli import main; main()", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def subscribe(url: str, code: str, port: int) -> int:
    done = cli(url, "systems", "hl7-subscribe", code, f"127.0.0.1:{port}")
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[1].rstrip(":"))


def deliver(url: str) -> str:
    done = cli(url, "webhooks", "deliver")
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def field(message: hl7.Message, segment: str, position: int) -> str:
    """A whole field, components and repetitions included."""
    return str(message.segment(segment)(position))


def pid3(message: hl7.Message) -> set[str]:
    """PID-3 as ``authority:id`` pairs."""
    found = set()
    for rep in str(message.segment("PID")(3)).split("~"):
        parts = rep.split("^")
        found.add(f"{parts[3].split('&')[0]}:{parts[0]}")
    return found


def gp_sends(port: int, control: str, local: str, **kw: Any) -> None:
    reply = send(port, adt("A04", control, local, facility="GP", **{"nhs": NHS, **kw}))
    assert msa(reply)[0] == "AA"


def test_a31_lists_what_the_system_may_see(mllp: int, database_url: str, receiver: Any) -> None:
    gp_sends(mllp, "G1", "G-1")
    sub = subscribe(database_url, "GP", receiver.port)
    social = subscribe(database_url, "SOCIAL", receiver.port)  # holds no record: nothing
    assert msa(send(mllp, adt("A04", "P1", "P-1", nhs=NHS)))[0] == "AA"  # PAS, same patient
    assert deliver(database_url).startswith("delivered ")
    person = active(database_url, "GP", "G-1")[1]  # type: ignore[index]
    assert receiver.messages, "nothing was sent"
    for message in receiver.messages:
        assert (field(message, "MSH", 9)) == "ADT^A31^ADT_A05"
        assert (field(message, "MSH", 6)) == "GP"
        assert (field(message, "PV1", 2)) == "N"
        assert (field(message, "PID", 5)) == " "
    assert pid3(receiver.messages[-1]) == {f"MPI:{person}", f"NHS:{NHS}", "GP:G-1", "RVJ:P-1"}
    with psycopg.connect(database_url) as conn:
        rows = webhook_store.outbox_status(conn, sub)
        assert rows and all(r["status"] == "delivered" for r in rows)
        assert webhook_store.outbox_status(conn, social) == []


def test_merge_is_an_a40_with_the_retired_id_in_mrg1(
    mllp: int, database_url: str, receiver: Any
) -> None:
    gp_sends(mllp, "G1", "G-1")
    gp_sends(mllp, "G2", "G-2", nhs=None, family="JONES", given="BOB", birth="19700101")
    survivor = active(database_url, "GP", "G-1")[1]  # type: ignore[index]
    retired = active(database_url, "GP", "G-2")[1]  # type: ignore[index]
    assert survivor != retired
    subscribe(database_url, "GP", receiver.port)
    with psycopg.connect(database_url) as conn:
        identities.merge(conn, survivor, retired, "reviewer:ann", note="same patient")
    deliver(database_url)
    merges = [m for m in receiver.messages if (field(m, "MSH", 9)) == "ADT^A40^ADT_A39"]
    assert len(merges) == 1
    assert field(merges[0], "MRG", 1) == f"{retired}^^^MPI^PT"
    assert {"GP:G-1", "GP:G-2", f"MPI:{survivor}"} <= pid3(merges[0])


def test_refused_notification_is_retried_with_the_same_control_id(
    mllp: int, database_url: str
) -> None:
    receiver = Receiver(refuse=1)
    try:
        gp_sends(mllp, "G1", "G-1")
        sub = subscribe(database_url, "GP", receiver.port)
        gp_sends(mllp, "G1b", "G-1", family="SMYTH")  # an update of the GP's own record
        assert deliver(database_url) == "delivered 0, retrying 1, dead 0"
        with psycopg.connect(database_url) as conn:
            (row,) = webhook_store.outbox_status(conn, sub)
            assert row["status"] == "pending" and row["last_error"] == "acknowledged AE"
            conn.execute("UPDATE webhook_outbox SET next_attempt_at = now()")  # backoff over
        assert deliver(database_url) == "delivered 1, retrying 0, dead 0"
        first, again = receiver.messages
        assert field(first, "MSH", 10) == field(again, "MSH", 10)  # a copy to drop
    finally:
        receiver.close()


def test_receiver_down_is_retried(mllp: int, database_url: str) -> None:
    gp_sends(mllp, "G1", "G-1")
    sub = subscribe(database_url, "GP", _free_port())  # nobody listens there
    gp_sends(mllp, "G1b", "G-1", family="SMYTH")
    assert deliver(database_url) == "delivered 0, retrying 1, dead 0"
    with psycopg.connect(database_url) as conn:
        (row,) = webhook_store.outbox_status(conn, sub)
    assert row["attempts"] == 1 and row["status"] == "pending"


def test_objection_leaves_only_the_systems_own_records(
    mllp: int, database_url: str, receiver: Any
) -> None:
    gp_sends(mllp, "G1", "G-1")
    assert msa(send(mllp, adt("A04", "P1", "P-1", nhs=NHS)))[0] == "AA"
    person = active(database_url, "GP", "G-1")[1]  # type: ignore[index]
    done = cli(database_url, "optout", "add", str(person), "--reason", "objection via GP")
    assert done.returncode == 0, done.stderr
    subscribe(database_url, "GP", receiver.port)
    gp_sends(mllp, "G1b", "G-1", family="SMYTH")
    deliver(database_url)
    assert receiver.messages
    assert pid3(receiver.messages[-1]) == {f"MPI:{person}", "GP:G-1"}  # no NHS, no RVJ:P-1


def test_bad_receiver_is_refused_naming_it(database_url: str, mllp: int) -> None:
    done = cli(database_url, "systems", "hl7-subscribe", "GP", "no-port-here")
    assert done.returncode != 0
    assert "receiver" in done.stderr + done.stdout
