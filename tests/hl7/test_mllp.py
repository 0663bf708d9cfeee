"""`mpi mllp` for real: the listener as a process, spoken to with python-hl7's own MLLP
client (``hl7.client.MLLPClient``) and, for bad bytes and broken connections, raw sockets.

Every message type of the README's table, every refusal, and the robustness cases; the
store and the audit trail are read back from PostgreSQL to check what was (not) kept.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import hl7
import psycopg
import pytest
from hl7.client import MLLPClient

from mpi.store import hl7 as hl7_store
from mpi.store import systems as system_store
from tests.api.conftest import reset_service_tables
from tests.helpers import synthetic_nhs_number

SECRETS = ("SMITH", "ALICE", "19800315", "LS1 4AP", "L-1001", "MÜLLER")
NHS = synthetic_nhs_number(11)
NHS2 = synthetic_nhs_number(12)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_listener(
    database_url: str, *args: str, log: Path | None = None, **env_vars: str
) -> Iterator[int]:
    """`mpi mllp` as a real process on a free port (with ``args`` and ``env_vars``);
    yields the port once it takes connections, and stops the listener after. With ``log``
    it logs verbosely there, and a listener that does not start fails with its log."""
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "MPI_ENVIRONMENT": "test", **env_vars}
    command = [sys.executable, "-c", "from mpi.cli import main; main()"]
    command += ["-v", "mllp"] if log else ["mllp"]
    command += ["--bind", f"127.0.0.1:{port}", *args]
    if log is None:
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
    else:
        with log.open("wb") as out:
            process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    why = log.read_text() if log else "mpi mllp did not start"
                    raise AssertionError(why) from None
                time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture(scope="module")
def listener(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """`mpi mllp` on a free port (1 MiB limit, 2 s idle); yields (port, log file)."""
    log = tmp_path_factory.mktemp("mllp") / "mllp.log"
    limits = {"MPI_MLLP_IDLE_SECONDS": "2", "MPI_MLLP_MAX_BYTES": str(1024 * 1024)}
    with running_listener(database_url, log=log, **limits) as port:
        yield port, log


@pytest.fixture
def mllp(listener: Any, database_url: str) -> Iterator[Any]:
    """Empty tables; systems PAS (facility RVJ) and GP (facility = its code)."""
    reset_service_tables(database_url)
    with psycopg.connect(database_url) as c:
        system_store.add_system(c, "PAS", "Acute PAS", "hospital", 3)
        hl7_store.set_facility(c, "PAS", "RVJ")
        system_store.add_system(c, "GP", "GP cluster", "gp", 1)
        system_store.add_system(c, "SOCIAL", "Social care", "social-care", 5)
    yield listener[0]
    reset_service_tables(database_url)


def send(port: int, message: str | bytes, encoding: str = "utf-8") -> hl7.Message:
    """Send with the library's client and parse the reply with the library."""
    with MLLPClient("127.0.0.1", port, encoding=encoding) as client:
        reply = client.send_message(message)
    body = reply.strip(b"\x0b\x1c\r")
    return hl7.parse(body.decode("latin-1" if encoding != "utf-8" else "utf-8"))


def adt(
    event: str,
    control: str,
    local: str = "L-1001",
    *,
    facility: str = "RVJ",
    nhs: str | None = NHS,
    family: str = "SMITH",
    given: str = "ALICE",
    birth: str = "19800315",
    sex: str = "F",
    extra: str = "",
    charset: str = "",
) -> str:
    ids = f"{local}^^^{facility}^PI" if local else ""
    if nhs:
        ids += ("~" if ids else "") + f"{nhs}^^^NHS^NH"
    msh = f"MSH|^~\\&|PAS|{facility}|MPI|MPI|20240101120000||ADT^{event}^ADT_A01|{control}|P|2.5.1"
    if charset:
        msh += f"||||||{charset}"
    pid = f"PID|1||{ids}||{family}^{given}||{birth}|{sex}|||1 HIGH ST^^LEEDS^^LS1 4AP"
    return "\r".join([msh, "EVN|" + event, pid, *([extra] if extra else []), "PV1|1|O"]) + "\r"


def query(kind: str, control: str, qpd: str, facility: str = "RVJ", rcp: str = "I") -> str:
    structure = "QBP_Q21"
    msh = f"MSH|^~\\&|PAS|{facility}|MPI|MPI|20240101120000||QBP^{kind}^{structure}|{control}|P|2.5"
    return "\r".join([msh, qpd, f"RCP|{rcp}"]) + "\r"


def msa(reply: hl7.Message) -> tuple[str, str]:
    return str(reply["MSA.F1"]), str(reply["MSA.F2"])


def errors(reply: hl7.Message) -> list[tuple[str, str, str]]:
    """(location, code, reason) of each ERR."""
    found = []
    try:
        segments = reply.segments("ERR")
    except KeyError:
        return []
    for seg in segments:
        location = str(seg(2)).split("^")
        where = f"{location[0]}-{location[2]}" if len(location) > 2 and location[2] else location[0]
        found.append((where, str(seg(3)).split("^")[0], str(seg(8))))
    return found


def counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as c:
        return {
            t: c.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
            for t in ("source_record", "person", "identity_event", "hl7_message")
        }


def audit_rows(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as c:
        return c.execute(
            "SELECT action, outcome, system_code, person_ids, records, detail"
            " FROM audit_event ORDER BY id"
        ).fetchall()


def active(url: str, system: str, local: str) -> tuple[str, str | None] | None:
    with psycopg.connect(url) as c:
        return c.execute(
            "SELECT r.status, p.person_id FROM source_record r JOIN source_system s"
            " ON s.id = r.system_id LEFT JOIN link l ON l.record_id = r.id"
            " LEFT JOIN person p ON p.id = l.person_id WHERE s.code = %s AND r.local_id = %s",
            (system, local),
        ).fetchone()


# -- the identity feed ---------------------------------------------------------------


@pytest.mark.parametrize("event", ["A01", "A04", "A05", "A08", "A28", "A31"])
def test_adt_registers_through_register(mllp: int, database_url: str, event: str) -> None:
    reply = send(mllp, adt(event, f"C-{event}"))
    assert msa(reply) == ("AA", f"C-{event}")
    assert str(reply["MSH.F9.R1.C1"]) == "ACK"
    status, person = active(database_url, "PAS", "L-1001")  # type: ignore[misc]
    assert status == "active" and person
    rows = audit_rows(database_url)
    assert [(r[0], r[1], r[2]) for r in rows] == [("record.register", "success", "PAS")]
    assert rows[0][3] == [person] and rows[0][5]["message"] == f"ADT^{event}"


def test_same_person_from_two_systems_links(mllp: int, database_url: str) -> None:
    assert msa(send(mllp, adt("A04", "P1")))[0] == "AA"
    assert msa(send(mllp, adt("A04", "G1", "G-1", facility="GP")))[0] == "AA"
    assert active(database_url, "PAS", "L-1001")[1] == active(database_url, "GP", "G-1")[1]  # type: ignore[index]


def test_update_changes_the_record(mllp: int, database_url: str) -> None:
    send(mllp, adt("A04", "U1"))
    assert msa(send(mllp, adt("A08", "U2", family="JONES")))[0] == "AA"
    with psycopg.connect(database_url) as c:
        family = c.execute("SELECT family_name FROM source_record").fetchone()[0]  # type: ignore[index]
    assert family.upper() == "JONES"


def test_resent_message_changes_nothing(mllp: int, database_url: str) -> None:
    first = send(mllp, adt("A04", "DUP-1"))
    before = counts(database_url)
    again = send(mllp, adt("A04", "DUP-1", family="OTHER"))  # same MSH-10, same facility
    assert msa(first) == msa(again) == ("AA", "DUP-1")
    assert counts(database_url) == before
    with psycopg.connect(database_url) as c:
        family = c.execute("SELECT family_name FROM source_record").fetchone()[0]  # type: ignore[index]
    assert family.upper() == "SMITH"
    # the same MSH-10 from another facility is another message
    assert msa(send(mllp, adt("A04", "DUP-1", "G-1", facility="GP")))[0] == "AA"
    assert counts(database_url)["source_record"] == 2


@pytest.mark.parametrize(
    ("changes", "location", "words"),
    [
        ({"birth": "19800230"}, "PID-7", "not a real date"),
        ({"birth": "1980-99"}, "PID-7", "birth_date"),
        ({"local": ""}, "PID-3", "own local ID"),
        ({"nhs": "9434765918"}, "PID-3", "NHS number is invalid"),
        ({"nhs": None, "family": "", "given": "", "birth": ""}, "PID-5", "at least"),
        ({"sex": "Q"}, "PID-8", "gender"),
    ],
)
def test_refusals_name_the_field_and_store_nothing(
    mllp: int, database_url: str, changes: dict[str, Any], location: str, words: str
) -> None:
    reply = send(mllp, adt("A04", "BAD-1", **changes))
    assert msa(reply) == ("AE", "BAD-1")
    found = errors(reply)
    assert any(loc == location and words.lower() in reason.lower() for loc, _, reason in found), (
        found
    )
    assert counts(database_url) == {
        "source_record": 0,
        "person": 0,
        "identity_event": 0,
        "hl7_message": 0,
    }
    assert [(r[0], r[1]) for r in audit_rows(database_url)] == [("record.register", "invalid")]
    # corrected and sent again with the same MSH-10, it is processed
    assert msa(send(mllp, adt("A04", "BAD-1")))[0] == "AA"


def test_unknown_facility_is_rejected(mllp: int, database_url: str) -> None:
    reply = send(mllp, adt("A04", "X1", facility="NOWHERE"))
    assert msa(reply) == ("AR", "X1")
    assert errors(reply)[0][0] == "MSH-4"
    assert counts(database_url)["source_record"] == 0
    assert [(r[1], r[2]) for r in audit_rows(database_url)] == [("denied", None)]


def test_pas_code_is_not_its_facility_once_mapped(mllp: int, database_url: str) -> None:
    """PAS sends as RVJ: its code no longer names it."""
    assert msa(send(mllp, adt("A04", "X2", facility="PAS")))[0] == "AR"


def test_unsupported_event_is_rejected(mllp: int, database_url: str) -> None:
    reply = send(mllp, adt("A03", "X3"))
    assert msa(reply) == ("AR", "X3")
    assert errors(reply)[0][:2] == ("MSH-9", "201")
    reply = send(mllp, adt("A04", "X4").replace("ADT^A04", "ORU^R01"))
    assert errors(reply)[0][:2] == ("MSH-9", "200")


def test_a40_merges_two_local_records(mllp: int, database_url: str) -> None:
    send(mllp, adt("A04", "M1", "L-OLD", nhs=None, family="SMYTH"))
    send(mllp, adt("A04", "M2", "L-NEW", nhs=None, birth="19790101"))
    reply = send(mllp, adt("A40", "M3", "L-NEW", extra="MRG|L-OLD^^^RVJ^PI"))
    assert msa(reply) == ("AA", "M3")
    assert active(database_url, "PAS", "L-OLD")[0] == "withdrawn"  # type: ignore[index]
    assert active(database_url, "PAS", "L-NEW")[0] == "active"  # type: ignore[index]
    with psycopg.connect(database_url) as c:
        kinds = [r[0] for r in c.execute("SELECT event_type FROM identity_event ORDER BY id")]
        history = c.execute("SELECT count(*) FROM link_history WHERE reason = 'withdrawn'")
        assert history.fetchone()[0] == 1  # type: ignore[index]
    assert "record_withdrawn" in kinds
    assert audit_rows(database_url)[-1][0] == "record.merge"


def test_a40_with_unknown_prior_stores_nothing(mllp: int, database_url: str) -> None:
    before = counts(database_url)
    reply = send(mllp, adt("A40", "M4", "L-NEW", extra="MRG|L-NONE^^^RVJ^PI"))
    assert msa(reply)[0] == "AE" and errors(reply)[0][0] == "MRG-1"
    assert counts(database_url) == before
    reply = send(mllp, adt("A40", "M5", "L-NEW"))
    assert errors(reply)[0][0] == "MRG"


def test_a47_changes_the_local_identifier(mllp: int, database_url: str) -> None:
    send(mllp, adt("A04", "I1", "L-OLD"))
    person = active(database_url, "PAS", "L-OLD")[1]  # type: ignore[index]
    reply = send(mllp, adt("A47", "I2", "L-NEW", extra="MRG|L-OLD^^^RVJ^PI"))
    assert msa(reply) == ("AA", "I2")
    assert active(database_url, "PAS", "L-OLD") is None
    assert active(database_url, "PAS", "L-NEW") == ("active", person)
    with psycopg.connect(database_url) as c:
        detail = c.execute(
            "SELECT detail FROM identity_event WHERE event_type = 'record_updated'"
        ).fetchone()[0]  # type: ignore[index]
    assert detail == {"local_id_changed_from": "L-OLD"}
    send(mllp, adt("A04", "I3", "L-OTHER", nhs=NHS2, family="JONES"))
    reply = send(mllp, adt("A47", "I4", "L-OTHER", extra="MRG|L-NEW^^^RVJ^PI"))
    assert msa(reply)[0] == "AE" and errors(reply)[0][:2] == ("PID-3", "205")


@pytest.mark.parametrize("event", ["A23", "A29"])
def test_delete_withdraws(mllp: int, database_url: str, event: str) -> None:
    send(mllp, adt("A04", "D1"))
    assert msa(send(mllp, adt(event, "D2")))[0] == "AA"
    assert active(database_url, "PAS", "L-1001")[0] == "withdrawn"  # type: ignore[index]
    assert audit_rows(database_url)[-1][:2] == ("record.withdraw", "success")
    reply = send(mllp, adt(event, "D3", "L-NONE"))
    assert msa(reply)[0] == "AE" and errors(reply)[0][:2] == ("PID-3", "204")


# -- PIX and PDQ -----------------------------------------------------------------------


def pix(port: int, control: str, ident: str, *, facility: str = "RVJ", domains: str = "") -> Any:
    qpd = f"QPD|IHE PIX Query|Q-{control}|{ident}|{domains}"
    return send(port, query("Q23", control, qpd, facility))


def test_pix_returns_what_the_disclosure_rule_allows(mllp: int, database_url: str) -> None:
    send(mllp, adt("A04", "P1"))
    send(mllp, adt("A04", "P2", "G-1", facility="GP"))
    reply = pix(mllp, "Q1", "L-1001^^^RVJ")
    assert msa(reply) == ("AA", "Q1")
    assert str(reply["QAK.F1"]) == "Q-Q1" and str(reply["QAK.F2"]) == "OK"
    assert str(reply["MSH.F9.R1.C2"]) == "K23"
    returned = str(reply.segment("PID")(3))
    assert "G-1^^^GP^PI" in returned and f"{NHS}^^^NHS" in returned
    assert "L-1001" not in returned  # the source identifier itself is not returned
    # what domains returned: only GP
    reply = pix(mllp, "Q2", "L-1001^^^RVJ", domains="^^^GP")
    assert str(reply.segment("PID")(3)) == "G-1^^^GP^PI"
    # by NHS number
    reply = pix(mllp, "Q3", f"{NHS}^^^NHS")
    assert "L-1001^^^RVJ^PI" in str(reply.segment("PID")(3))
    # a system with no record of the person is answered as for an unknown identifier
    social = pix(mllp, "Q4", "L-1001^^^RVJ", facility="SOCIAL")
    unknown = pix(mllp, "Q5", "L-NOPE^^^RVJ", facility="SOCIAL")
    assert msa(social)[0] == msa(unknown)[0] == "AE"
    assert str(social["QAK.F2"]) == str(unknown["QAK.F2"]) == "AE"
    assert errors(social)[0][:2] == errors(unknown)[0][:2] == ("QPD-3", "204")
    outcomes = [(r[0], r[1]) for r in audit_rows(database_url) if r[0] == "patient.pix"]
    assert outcomes[-2:] == [("patient.pix", "denied"), ("patient.pix", "invalid")]


def test_pix_unknown_domains(mllp: int, database_url: str) -> None:
    send(mllp, adt("A04", "P1"))
    reply = pix(mllp, "Q6", "L-1001^^^NOWHERE")
    assert msa(reply)[0] == "AE" and errors(reply)[0][:2] == ("QPD-3", "204")
    reply = pix(mllp, "Q7", "L-1001^^^RVJ", domains="^^^NOWHERE")
    assert msa(reply)[0] == "AE" and errors(reply)[0][:2] == ("QPD-4", "204")
    reply = pix(mllp, "Q8", "L-1001^^^RVJ", domains="^^^SOCIAL")  # known, no identifier there
    assert msa(reply)[0] == "AA" and str(reply["QAK.F2"]) == "NF"


def pdq(port: int, control: str, fields: str, facility: str = "RVJ") -> Any:
    qpd = f"QPD|IHE PDQ Query|Q-{control}|{fields}"
    return send(port, query("Q22", control, qpd, facility, rcp="I|10^RD"))


def test_pdq_demographics(mllp: int, database_url: str) -> None:
    send(mllp, adt("A04", "P1"))
    reply = pdq(mllp, "D1", "@PID.5.1^SMITH~@PID.7^19800315")
    assert msa(reply) == ("AA", "D1") and str(reply["QAK.F2"]) == "OK"
    pid = reply.segment("PID")
    assert str(pid(5)) == "SMITH^ALICE" and str(pid(7)) == "19800315" and str(pid(8)) == "F"
    assert "L-1001^^^RVJ^PI" in str(pid(3))
    # a system without a relationship sees nobody: NF, as for no match
    reply = pdq(mllp, "D2", "@PID.5.1^SMITH~@PID.7^19800315", facility="SOCIAL")
    assert msa(reply)[0] == "AA" and str(reply["QAK.F2"]) == "NF"
    with pytest.raises(KeyError):
        reply.segment("PID")
    reply = pdq(mllp, "D3", "@PID.99^X")
    assert msa(reply)[0] == "AE" and errors(reply)[0][0] == "QPD-3"


# -- robustness ------------------------------------------------------------------------


def raw(port: int, data: bytes, *, replies: int = 1, timeout: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        got = b""
        while got.count(b"\x1c\r") < replies:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        return got


def parsed(data: bytes) -> hl7.Message:
    return hl7.parse(data.strip(b"\x0b\x1c\r").decode("latin-1"))


def test_no_msh_and_wrong_encoding_characters(mllp: int, database_url: str) -> None:
    reply = parsed(raw(mllp, b"\x0bPID|1||L-1^^^RVJ\r\x1c\r"))
    assert msa(reply)[0] == "AR" and errors(reply)[0][0] == "MSH"
    reply = parsed(raw(mllp, b"\x0bMSH|^^^^|PAS|RVJ|||||ADT^A04|Z1|P|2.5\r\x1c\r"))
    assert msa(reply)[0] == "AR" and errors(reply)[0][0] == "MSH-2"
    reply = parsed(raw(mllp, b"\x0bMSH|^~\\&|PAS|RVJ|||||ADT^A04||P|2.5\r\x1c\r"))
    assert errors(reply)[0][0] == "MSH-10"
    assert counts(database_url)["source_record"] == 0


def test_malformed_frame_then_a_good_message_on_the_same_connection(mllp: int) -> None:
    good = b"\x0b" + adt("A04", "F1").encode() + b"\x1c\r"
    data = raw(mllp, b"garbage without a start byte\x1c\r" + good, replies=2)
    replies = [parsed(b) for b in data.split(b"\x1c\r") if b.strip()]
    assert [msa(r)[0] for r in replies] == ["AR", "AA"]


def test_latin1_honours_msh18(mllp: int, database_url: str) -> None:
    message = adt("A04", "E1", family="MÜLLER", charset="8859/1")
    reply = send(mllp, message, encoding="latin-1")
    assert msa(reply)[0] == "AA"
    with psycopg.connect(database_url) as c:
        family = c.execute("SELECT raw->>'family_name' FROM source_record").fetchone()[0]  # type: ignore[index]
    assert family == "MÜLLER"
    # Latin-1 bytes without MSH-18 are not UTF-8: refused, nothing guessed
    reply = send(mllp, adt("A04", "E2", "L-2", family="MÜLLER").encode("latin-1"))
    assert msa(reply)[0] == "AR" and errors(reply)[0][0] == "MSH-18"
    assert counts(database_url)["source_record"] == 1


def test_oversized_message_is_refused_and_others_still_served(mllp: int, listener: Any) -> None:
    big = adt("A04", "BIG", extra="NTE|1||" + "X" * (10 * 1024 * 1024))
    with socket.create_connection(("127.0.0.1", mllp), timeout=30) as s:
        try:
            s.sendall(b"\x0b" + big.encode() + b"\x1c\r")
        except OSError:
            pass  # the listener may close before all of it is sent
        got = b""
        try:
            while not got.endswith(b"\x1c\r"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        except OSError:
            pass
    if got:
        reply = parsed(got)
        assert msa(reply)[0] == "AR" and "over" in errors(reply)[0][2]
    assert msa(send(mllp, adt("A04", "AFTER-BIG")))[0] == "AA"
    assert "over MPI_MLLP_MAX_BYTES" in Path(listener[1]).read_text(errors="replace")


def test_idle_and_half_sent_clients_do_not_stop_others(mllp: int, listener: Any) -> None:
    idle = socket.create_connection(("127.0.0.1", mllp))
    half = socket.create_connection(("127.0.0.1", mllp))
    half.sendall(b"\x0b" + adt("A04", "HALF").encode()[:60])
    half.close()  # gone mid-message
    assert msa(send(mllp, adt("A04", "OTHER")))[0] == "AA"
    idle.settimeout(10)
    assert idle.recv(10) == b""  # closed by the listener after MPI_MLLP_IDLE_SECONDS
    idle.close()
    time.sleep(0.5)
    text = Path(listener[1]).read_text(encoding="utf-8", errors="replace")
    assert "mid-message" in text and "idle" in text


def test_log_has_no_patient_data(mllp: int, listener: Any) -> None:
    send(mllp, adt("A04", "LOG1"))
    send(mllp, adt("A04", "LOG2", birth="19800230"))
    pix(mllp, "LOG3", "L-1001^^^RVJ")
    time.sleep(0.3)
    text = Path(listener[1]).read_text(encoding="utf-8", errors="replace")
    assert "AA in" in text
    for secret in (*SECRETS, NHS):
        assert secret not in text


def test_tls(database_url: str, tmp_path: Path, mllp: int) -> None:
    """With MPI_MLLP_TLS_CERT/KEY the listener speaks MLLP over TLS (the library's asyncio
    client, verifying the certificate)."""
    import asyncio

    import trustme
    from hl7.mllp import open_hl7_connection

    authority = trustme.CA()
    cert = authority.issue_cert("127.0.0.1")
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(cert_file)
    cert.private_key_pem.write_to_path(key_file)
    tls = {"MPI_MLLP_TLS_CERT": str(cert_file), "MPI_MLLP_TLS_KEY": str(key_file)}

    async def talk(port: int) -> Any:
        import ssl

        context = ssl.create_default_context()
        authority.configure_trust(context)
        reader, writer = await open_hl7_connection("127.0.0.1", port, ssl=context)
        writer.writemessage(hl7.parse(adt("A04", "TLS1")))
        await writer.drain()
        try:
            return await asyncio.wait_for(reader.readmessage(), 20)
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except (OSError, ssl.SSLError):
                pass

    with running_listener(database_url, **tls) as port:
        # in a thread of its own: another test's library may hold this thread's event loop
        with ThreadPoolExecutor(1) as pool:
            reply = pool.submit(lambda: asyncio.run(talk(port))).result(timeout=60)
        assert msa(reply) == ("AA", "TLS1")
        # plain MLLP to the TLS port gets no answer in clear
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"\x0b" + adt("A04", "PLAIN").encode() + b"\x1c\r")
            try:
                got = s.recv(100)
            except OSError:
                got = b""
        assert b"MSA" not in got
    assert counts(database_url)["source_record"] == 1


def test_opted_out_patient_pix_is_withheld(mllp: int, database_url: str) -> None:
    """As PIXm: a patient who objected is not cross-referenced, even to a holder."""
    from mpi import optout

    send(mllp, adt("A04", "O1"))
    send(mllp, adt("A04", "O2", "G-1", facility="GP"))
    person = active(database_url, "PAS", "L-1001")[1]  # type: ignore[index]
    with psycopg.connect(database_url) as c:
        optout.add(c, person, "test", actor="test")
    reply = pix(mllp, "W1", "L-1001^^^RVJ")
    assert msa(reply)[0] == "AE" and "withheld" in errors(reply)[0][2]
    assert "G-1" not in str(reply)
    reply = pdq(mllp, "W2", "@PID.3.1^G-1~@PID.3.4^GP", facility="SOCIAL")
    assert str(reply["QAK.F2"]) == "NF"


def test_processes_share_the_port_and_stop_together(database_url: str, mllp: int) -> None:
    with running_listener(database_url, "--processes", "2") as port:
        replies = [send(port, adt("A04", f"PR{i}", f"L-{i}", nhs=None)) for i in range(6)]
        assert [msa(r)[0] for r in replies] == ["AA"] * 6
    time.sleep(0.5)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    assert counts(database_url)["source_record"] == 6


def test_listener_follows_mpi_model_activate(database_url: str, mllp: int) -> None:
    """`mpi model activate` reaches a running listener within MPI_MODEL_REFRESH_SECONDS."""
    from matching.model import load_default_model
    from mpi import models_registry

    default = load_default_model().version
    document = load_default_model().to_dict()
    document["version"] = "mllp-refresh-1"
    with psycopg.connect(database_url) as c:
        models_registry.import_model(c, document)
    try:
        with running_listener(database_url, MPI_MODEL_REFRESH_SECONDS="0.3") as port:
            _follows_activate(database_url, port, default)
    finally:
        with psycopg.connect(database_url) as c:
            models_registry.activate(c, default)
            c.execute("DELETE FROM match_model WHERE version = 'mllp-refresh-1'")


def _follows_activate(database_url: str, port: int, default: str) -> None:
    """One message under the default model, then ``mpi model activate``: a later one is
    linked under the new model."""
    from mpi import models_registry

    def version_of(local: str) -> str:
        with psycopg.connect(database_url) as c:
            row = c.execute(
                "SELECT l.model_version FROM link l JOIN source_record r ON r.id = l.record_id"
                " WHERE r.local_id = %s",
                (local,),
            ).fetchone()
        assert row is not None
        return str(row[0])

    assert msa(send(port, adt("A04", "MR0", "M-0", nhs=None)))[0] == "AA"
    assert version_of("M-0") == default
    with psycopg.connect(database_url) as c:
        models_registry.activate(c, "mllp-refresh-1")
    deadline = time.monotonic() + 30
    n = 0
    while True:  # each message is new; one after the check must use the new model
        n += 1
        assert msa(send(port, adt("A04", f"MR{n}", f"M-{n}", nhs=None, given=f"G{n}")))[0]
        if version_of(f"M-{n}") == "mllp-refresh-1":
            break
        assert time.monotonic() < deadline, "the listener kept the old model"
        time.sleep(0.3)


def test_readme_sample_a04_gets_the_ack_the_readme_shows(mllp: int, database_url: str) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## HL7 v2 over MLLP") :]
    block = section[section.index("```text\n") + 8 :]
    lines = block[: block.index("```")].strip().splitlines()
    sample = "\r".join(lines[: lines.index("")]) + "\r"
    shown_ack = lines[lines.index("") + 1 :]
    reply = send(mllp, sample)
    assert msa(reply) == ("AA", "MSG00001")
    assert str(reply.segment("MSH")(9)) == shown_ack[0].split("|")[8] == "ACK^A04^ACK"
    assert active(database_url, "PAS", "L-1001")[0] == "active"  # type: ignore[index]
    bad = sample.replace("19800315", "19800230").replace("MSG00001", "MSG00002")
    reply = send(mllp, bad)
    assert msa(reply) == ("AE", "MSG00002")
    (where, code, reason) = errors(reply)[0]
    assert (where, code) == ("PID-7", "102") and "birth_date" in reason
    assert f"`MSA|AE|MSG00002` and `ERR||PID^1^7|102^Data type error^HL70357|E||||{reason}`" in (
        section
    )
