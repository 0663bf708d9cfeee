"""HL7 v2 notifications of identity changes to subscribed systems (IHE ITI-10 over MLLP).

A system subscribes with ``mpi systems hl7-subscribe CODE HOST:PORT`` (``--tls`` for MLLP
over TLS). Its subscription is a row of the webhook outbox's subscriptions with an
``mllp://`` (or ``mllps://``) target, so identity events reach it from the same outbox, in
the transaction that wrote them, under the same disclosure rule (migration 0020), and
``mpi webhooks deliver`` sends them at least once, retrying with the same backoff.

Each event becomes, for the subscribing system:

- ``persons_merged`` it may see both sides of: ``ADT^A40^ADT_A39`` with PID-3 the
  surviving person's identifiers and MRG-1 the retired enterprise ID;
- any other change to a person it may see (a record linked, moved, updated, withdrawn,
  a person created or split): ``ADT^A31^ADT_A05`` per person, PID-3 listing the
  identifiers the disclosure rule shows that system (as a PIX query would answer), PID-5
  a single space and PV1-2 ``N``, as ITI-10 has it;
- an event that names no person it may see (``review_opened``): nothing (delivered).

The rule is applied again when the message is built, so a patient's objection or a
record withdrawn after the event is honoured. MSH-10 is derived from the outbox row, so a
message sent again carries the same control ID and a receiver can drop the copy.
A delivery counts only when every message of it is acknowledged AA (or CA).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import hl7
from hl7.mllp import open_hl7_connection

from mpi import access
from mpi.access import Caller
from mpi.hl7.messages import OUR_APPLICATION, OUR_FACILITY, escape
from mpi.store import hl7 as hl7_store

SCHEMES = ("mllp", "mllps")
#: The assigning authority of the MPI's own enterprise IDs in PID-3 and MRG-1.
MPI_AUTHORITY = "MPI"
NHS_AUTHORITY = "NHS"
NHS_OID = "2.16.840.1.113883.2.1.4.1"

#: ``sender(url, messages) -> None``; raises ``OSError`` saying why a delivery failed.
MllpSender = Callable[[str, Sequence[str]], None]


class NotificationError(OSError):
    """A notification was not acknowledged AA (refused, no answer, connection failed)."""


def is_mllp(url: str) -> bool:
    """Whether a subscription target is an MLLP one (``mllp://`` or ``mllps://``)."""
    return urlsplit(url).scheme in SCHEMES


def target_url(bind: str, *, tls: bool = False) -> str:
    """``HOST:PORT`` as a subscription target; :class:`ValueError` if it is not one."""
    host, sep, port = bind.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) <= 65535:
        raise ValueError(f"the receiver must be HOST:PORT, not {bind!r}")
    shown = f"[{host}]" if ":" in host else host
    return f"{'mllps' if tls else 'mllp'}://{shown}:{int(port)}"


def _cx(facilities: dict[str, str], domain: str, local: str) -> str:
    if domain == NHS_AUTHORITY:
        return f"{escape(local)}^^^{NHS_AUTHORITY}&{NHS_OID}&ISO^NH"
    if domain == MPI_AUTHORITY:
        return f"{escape(local)}^^^{MPI_AUTHORITY}^PT"
    return f"{escape(local)}^^^{escape(facilities.get(domain, domain))}^PI"


def _identifiers(
    conn: Any, caller: Caller, person_id: str, facilities: dict[str, str]
) -> str | None:
    """PID-3 of an active person as the rule shows it to ``caller``, or ``None``."""
    facts = access.person_facts(conn, caller, person_id)
    if facts is None or facts.status != "active":
        return None
    seen = access.decide(conn, caller, facts)
    if seen is None:
        return None
    pairs = [(MPI_AUTHORITY, seen.person_id)]
    if seen.nhs_number:
        pairs.append((NHS_AUTHORITY, seen.nhs_number))
    pairs += [(r.system_code, r.local_id) for r in seen.records]
    return "~".join(_cx(facilities, domain, local) for domain, local in pairs)


def _msh(facility: str, structure: str, control: str, when: str) -> str:
    fields = ["MSH", "^~\\&", OUR_APPLICATION, OUR_FACILITY, "", escape(facility), when, ""]
    return "|".join([*fields, structure, control, "P", "2.5", "", "", "", "", "", "UNICODE UTF-8"])


def notifications(
    conn: Any, system_id: int, system_code: str, delivery_id: int, payload: dict[str, Any]
) -> list[str]:
    """The HL7 v2 messages (``\\r``-separated segments) one outbox row becomes for a system.

    ``payload`` is the outbox's (migration 0020): it names only persons the system could
    see when the event happened; each is judged again now.
    """
    caller = Caller(system_id, system_code, frozenset({"lookup"}), token_id=0)
    facilities = hl7_store.facilities(conn)
    facility = facilities.get(system_code, system_code)
    when = str(payload.get("occurred_at", ""))
    stamp = "".join(ch for ch in when[:19] if ch.isdigit())
    person, other = payload.get("person_id"), payload.get("other_person_id")
    messages: list[str] = []

    def control() -> str:
        return f"MPI-N{delivery_id}-{len(messages) + 1}"

    if payload.get("type") == "persons_merged" and person and other:
        ids = _identifiers(conn, caller, str(person), facilities)
        if ids is not None:
            segments = [
                _msh(facility, "ADT^A40^ADT_A39", control(), stamp),
                f"EVN|A40|{stamp}",
                f"PID|||{ids}|| ",
                f"MRG|{_cx(facilities, MPI_AUTHORITY, str(other))}",
            ]
            return ["\r".join(segments) + "\r"]
        other = None  # the survivor is not to be shown: nothing about the merge either
    if payload.get("type") == "review_opened":
        return []
    for named in dict.fromkeys(p for p in (person, other) if p):
        ids = _identifiers(conn, caller, str(named), facilities)
        if ids is None:
            continue
        segments = [
            _msh(facility, "ADT^A31^ADT_A05", control(), stamp),
            f"EVN|A31|{stamp}",
            f"PID|||{ids}|| ",
            "PV1||N",
        ]
        messages.append("\r".join(segments) + "\r")
    return messages


def mllp_sender(
    url: str, messages: Sequence[str], *, ca_certs: str | None = None, timeout: float = 10.0
) -> None:
    """Send messages on one MLLP connection (TLS for ``mllps://``, verified against the
    host name, ``ca_certs`` trusted instead of the system's CAs when given), each answered
    before the next is sent.

    Raises:
        NotificationError: a message was not acknowledged AA/CA, or the connection failed.
    """
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES or not parts.hostname or not parts.port:
        raise NotificationError(f"not an MLLP target: {parts.scheme}://")
    context = None
    if parts.scheme == "mllps":
        context = ssl.create_default_context(cafile=ca_certs)

    async def exchange() -> None:
        reader, writer = await asyncio.wait_for(
            open_hl7_connection(parts.hostname, parts.port, ssl=context, encoding="utf-8"),
            timeout,
        )
        try:
            for text in messages:
                writer.writemessage(hl7.parse(text))
                await writer.drain()
                reply = await asyncio.wait_for(reader.readmessage(), timeout)
                try:
                    code = str(reply["MSA.F1"])
                except (KeyError, IndexError):
                    code = ""
                if code not in ("AA", "CA"):
                    raise NotificationError(f"acknowledged {code or 'without MSA'}")
        finally:
            writer.close()

    try:
        asyncio.run(exchange())
    except NotificationError:
        raise
    except (TimeoutError, asyncio.IncompleteReadError) as exc:
        raise NotificationError(f"no acknowledgement ({type(exc).__name__})") from exc
    except (OSError, ssl.SSLError, hl7.exceptions.HL7Exception) as exc:
        raise NotificationError(type(exc).__name__) from exc


__all__ = ["MllpSender", "NotificationError", "is_mllp", "mllp_sender", "notifications"]
