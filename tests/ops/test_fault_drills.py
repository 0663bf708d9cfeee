"""Fault drills: kill the service, kill a load, restart PostgreSQL; nothing may be lost.

After each crash: `mpi db check` passes; every acknowledged registration is present,
linked and whole; an unacknowledged one is wholly there or wholly absent; sending it again
(or re-running the load) completes the work and changes nothing else; and webhook
deliveries pending at the crash are delivered afterwards by `mpi webhooks deliver`.
Every process is real: `mpi serve` (gunicorn master and workers), `mpi load`, `mpi
webhooks deliver`, and for the restart drill a PostgreSQL cluster of the test's own.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from tests.ops import drills
from tests.ops.drills import Service, call, patient


def _burst(
    base: str,
    token: str,
    numbers: range,
    acked: set[str],
    lock: threading.Lock,
    stop: threading.Event,
) -> None:
    for n in numbers:
        if stop.is_set():
            return
        status = call(base, "PUT", f"/v1/systems/GP/records/L{n}", token, patient(n))
        if 200 <= status < 300:
            with lock:
                acked.add(f"L{n}")


@contextmanager
def _bursts(base: str, token: str, patients: int, threads: int):
    """``threads`` clients registering ``patients`` between them until the block ends;
    yields the local IDs they send and the set of those acknowledged so far."""
    acked: set[str] = set()
    lock, stop = threading.Lock(), threading.Event()
    share = patients // threads
    workers = [
        threading.Thread(
            target=_burst,
            args=(base, token, range(i * share, (i + 1) * share), acked, lock, stop),
        )
        for i in range(threads)
    ]
    for w in workers:
        w.start()
    try:
        yield {f"L{n}" for n in range(threads * share)}, acked
    finally:
        stop.set()
        for w in workers:
            w.join()


def _count(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0


def _wait_for(predicate, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _after_crash_then_resend(url, token, tmp_path, sent, acked, receiver):
    """The checks after a crash of the service, then a restart and the resend."""
    pending = drills.outbox_events(url, "pending")
    drills.db_check(url)
    found = drills.registrations(url)
    assert acked <= set(found), "an acknowledged registration was lost"
    drills.assert_whole(found, audited=True)
    unacked = sent - acked
    before = {k: v["person"] for k, v in found.items()}
    service = Service(url, tmp_path / "serve-again.log")
    try:
        for local_id in sorted(unacked | set(list(acked)[:5])):
            n = int(local_id[1:])
            status = call(
                service.base, "PUT", f"/v1/systems/GP/records/{local_id}", token, patient(n)
            )
            assert 200 <= status < 300, (local_id, status)
    finally:
        service.stop()
    after = drills.registrations(url)
    assert set(after) == sent  # every registration sent is there once
    drills.assert_whole(after, audited=True)
    assert {k: after[k]["person"] for k in before} == before  # nothing else changed
    assert all(after[k]["history"] == found[k]["history"] for k in found)
    drills.db_check(url)
    status = drills.deliver_all(url, receiver)
    assert set(status) == {"delivered"}, status
    assert pending <= receiver.events  # pending at the crash, delivered after it
    assert drills.outbox_events(url) <= receiver.events


def _kill_service_drill(server_url, tmp_path, *, patients: int, threads: int) -> None:
    with drills.fresh_database(server_url) as url:
        token, system = drills.add_system(url)
        receiver = drills.Receiver()
        drills.subscribe(url, system.id, receiver)
        service = Service(url, tmp_path / "serve.log")
        with _bursts(service.base, token, patients, threads) as (sent, acked):
            _wait_for(lambda: len(acked) >= patients // 5)
            first = service.workers()[0]
            os.kill(first, signal.SIGKILL)  # one worker, mid-burst; gunicorn starts another
            _wait_for(lambda: len(acked) >= patients // 2)
            children = service.workers()
            os.kill(service.process.pid, signal.SIGKILL)  # then the master and its workers
            for pid in children:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            service.process.wait()
        assert 0 < len(acked) < len(sent)
        try:
            _after_crash_then_resend(url, token, tmp_path, sent, acked, receiver)
        finally:
            receiver.close()


def test_killing_the_service_mid_burst_loses_no_acknowledged_registration(server_url, tmp_path):
    _kill_service_drill(server_url, tmp_path, patients=160, threads=4)


@pytest.mark.slow
def test_killing_the_service_mid_burst_at_scale(server_url, tmp_path):
    _kill_service_drill(server_url, tmp_path, patients=2000, threads=8)


def _write_csv(path: Path, count: int) -> None:
    columns = (
        "local_id,nhs_number,given_name,family_name,sex,birth_date,address_line,postcode,phone"
    ).split(",")
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for n in range(count):
            p = patient(n)
            writer.writerow(
                [
                    f"L{n}",
                    p["nhs_number"],
                    p["given_name"],
                    p["family_name"],
                    p["sex"][0].upper(),
                    p["birth_date"],
                    "",
                    p["postcode"],
                    "",
                ]
            )


def _snapshot(url: str) -> dict[str, list[tuple]]:
    with psycopg.connect(url) as conn:
        return {
            "records": conn.execute(
                "SELECT id, local_id, content_hash, updated_at FROM source_record ORDER BY id"
            ).fetchall(),
            "links": conn.execute(
                "SELECT record_id, person_id, linked_at FROM link ORDER BY 1"
            ).fetchall(),
            "history": conn.execute("SELECT id, record_id FROM link_history ORDER BY 1").fetchall(),
            "events": conn.execute(
                "SELECT id, record_id FROM identity_event ORDER BY 1"
            ).fetchall(),
        }


def _kill_load_drill(server_url, tmp_path, *, records: int, batch: int) -> None:
    path = tmp_path / "gp.csv"
    _write_csv(path, records)
    with drills.fresh_database(server_url) as url:
        token, system = drills.add_system(url)
        receiver = drills.Receiver()
        drills.subscribe(url, system.id, receiver)
        env = drills.env_for(url, MPI_BATCH_SIZE=str(batch))
        load = subprocess.Popen(
            [*drills.MPI, "load", "GP", str(path), "--quiet"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for(lambda: _count(url, "source_record") >= 2 * batch or load.poll() is not None)
            assert load.poll() is None, "the load finished before it could be killed"
            load.send_signal(signal.SIGKILL)
        finally:
            load.wait()
        loaded = _count(url, "source_record")
        assert 0 < loaded < records
        assert loaded % batch == 0  # whole batches: a batch is one transaction
        pending = drills.outbox_events(url, "pending")
        drills.db_check(url)
        drills.assert_whole(drills.registrations(url), audited=False)
        before = _snapshot(url)
        again = subprocess.run(
            [*drills.MPI, "load", "GP", str(path), "--quiet"],
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,  # a guard against a hang on a loaded machine, not a speed claim
        )
        assert again.returncode == 0, again.stdout + again.stderr
        after = _snapshot(url)
        assert len(after["records"]) == records
        for table, rows in before.items():  # the first part is untouched, only added to
            assert after[table][: len(rows)] == rows, table
        drills.assert_whole(drills.registrations(url), audited=False)
        drills.db_check(url)
        status = drills.deliver_all(url, receiver)
        receiver.close()
        assert set(status) == {"delivered"}, status
        assert pending <= receiver.events


def test_killing_a_load_mid_file_keeps_whole_batches_and_a_rerun_completes_it(server_url, tmp_path):
    _kill_load_drill(server_url, tmp_path, records=1500, batch=100)


@pytest.mark.slow
def test_killing_a_load_mid_file_at_scale(server_url, tmp_path):
    _kill_load_drill(server_url, tmp_path, records=20000, batch=1000)


@pytest.fixture
def cluster():
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="mpi-drill-pg-"))  # reachable by postgres
    server = drills.Cluster(folder)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


def _restart_drill(cluster, tmp_path, *, patients: int, threads: int) -> None:
    with drills.fresh_database(cluster.url) as url:
        token, system = drills.add_system(url)
        receiver = drills.Receiver()
        drills.subscribe(url, system.id, receiver)
        service = Service(url, tmp_path / "serve.log")
        try:
            with _bursts(service.base, token, patients, threads) as (sent, acked):
                _wait_for(lambda: len(acked) >= patients // 4)
                cluster.restart("immediate")  # a crash of the database server, mid-burst
                during = len(acked)
                _wait_for(lambda: len(acked) >= during + patients // 10)  # the service recovers
        finally:
            service.stop()
        try:
            _after_crash_then_resend(url, token, tmp_path, sent, acked, receiver)
        finally:
            receiver.close()


def test_restarting_postgresql_mid_burst_loses_no_acknowledged_registration(cluster, tmp_path):
    _restart_drill(cluster, tmp_path, patients=200, threads=4)


@pytest.mark.slow
def test_restarting_postgresql_mid_burst_at_scale(cluster, tmp_path):
    _restart_drill(cluster, tmp_path, patients=2000, threads=8)
