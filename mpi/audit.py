"""The audit trail: one event per access to a patient, append-only and hash-chained.

The trail is :data:`mpi.store.audit.CHAINS` hash chains, so that concurrent requests do
not queue for one chain. Each event belongs to one chain; its hash is SHA-256 over the
previous event's hash in that chain and the event's canonical JSON, so that changing,
removing or reordering any event breaks its chain from there on, and each chain's tail
(newest event, hash and length, kept in ``audit_chain``) shows whether its newest events
were cut off (:func:`verify`). A chain is held by one transaction at a time, from the
append until commit, so each chain is in commit order; event IDs order events across
chains. The database refuses UPDATE, DELETE and TRUNCATE on the events, and lets a tail
only move forward one event at a time; emptying the events (with the triggers bypassed)
leaves the tails, so the loss shows. Events hold identifiers only (person IDs, system and
local IDs), never demographics.

Whoever can bypass the triggers can also rewrite the tails. A :class:`Checkpoint` (the
chains' heads with their lengths, :func:`checkpoint`) kept outside the database anchors
the trail: :func:`verify` given checkpoints proves that every event up to each
checkpointed head is still there and hashes to it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

import psycopg

from mpi.errors import Conflict, InvalidInput
from mpi.store import audit as audit_store

OUTCOMES = ("success", "withheld", "denied", "not-found", "invalid", "error")

#: HL7 v3 ActReason purposes of use: treatment, and emergency treatment (break-glass).
PURPOSES = ("TREAT", "ETREAT")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """What one audit event says: who, why, what, about whom, with what outcome.

    ``records`` are the (system, local ID) pairs the request named or disclosed;
    ``person_ids`` every person touched, including every person returned by a search.
    """

    action: str
    subtype: str
    outcome: str
    http_status: int
    purpose: str = "TREAT"
    emergency: bool = False
    system_code: str | None = None
    user_id: str | None = None
    user_role: str | None = None
    user_org: str | None = None
    person_ids: tuple[str, ...] = ()
    records: tuple[tuple[str, str], ...] = ()
    detail: dict[str, Any] = field(default_factory=dict)
    client_address: str | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The result of walking the chain: ``broken_at`` is the first bad event ID, if any.

    ``anchors`` is how many checkpointed chain heads were found in place.
    """

    events: int
    is_intact: bool
    broken_at: int | None = None
    reason: str | None = None
    anchors: int = 0


@dataclass(frozen=True, slots=True)
class ChainHead:
    """One chain's newest event at a moment: its ID and hash, and the chain's length."""

    chain: int
    events: int
    last_id: int
    last_hash: str


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The heads of every non-empty chain at ``taken_at``: an anchor kept outside the
    database (one JSON line, :meth:`to_json`), against which :func:`verify` proves that
    nothing up to these heads was lost or rewritten."""

    taken_at: datetime
    heads: tuple[ChainHead, ...]

    @property
    def events(self) -> int:
        """How many events the trail held at the checkpoint."""
        return sum(h.events for h in self.heads)

    def to_json(self) -> str:
        """The checkpoint as one line of JSON."""
        return json.dumps(
            {
                "checkpoint_at": self.taken_at.astimezone(UTC).isoformat(),
                "events": self.events,
                "chains": [
                    {
                        "chain": h.chain,
                        "events": h.events,
                        "last_id": h.last_id,
                        "last_hash": h.last_hash,
                    }
                    for h in self.heads
                ],
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> Checkpoint:
        """Parse one line written by :meth:`to_json`.

        Raises:
            ValueError: the line is not a checkpoint; the message says what is wrong.
        """
        try:
            body = json.loads(text)
            taken_at = datetime.fromisoformat(body["checkpoint_at"])
            heads = tuple(
                ChainHead(int(c["chain"]), int(c["events"]), int(c["last_id"]), c["last_hash"])
                for c in body["chains"]
            )
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"not an audit checkpoint ({type(exc).__name__}: {exc})") from None
        for h in heads:
            if not (
                0 <= h.chain < audit_store.CHAINS
                and h.events > 0
                and isinstance(h.last_hash, str)
                and len(h.last_hash) == 64
            ):
                raise ValueError(f"chain {h.chain}: not a valid chain head")
        if "events" in body and body["events"] != sum(h.events for h in heads):
            raise ValueError("its event count is not the sum of its chains' lengths")
        return cls(taken_at, heads)


def read_checkpoints(lines: Iterable[str]) -> list[Checkpoint]:
    """Parse a checkpoint file (one JSON line each; blank lines are skipped).

    Raises:
        InvalidInput: a line is not a checkpoint (field ``checkpoint``, naming the line).
    """
    found = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            found.append(Checkpoint.from_json(line))
        except ValueError as exc:
            raise InvalidInput.single("checkpoint", f"line {n}: {exc}") from None
    return found


_ENTRY_FIELDS = tuple(f.name for f in fields(AuditEntry))


def _canonical(values: dict[str, Any]) -> bytes:
    body = dict(values)
    body["recorded_at"] = body["recorded_at"].astimezone(UTC).isoformat()
    body["person_ids"] = list(body["person_ids"])
    body["records"] = [list(r) for r in body["records"]]
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return text.encode("ascii")


def chain_hash(prev_hash: str, values: dict[str, Any]) -> str:
    """The hash of an event given its predecessor's hash."""
    return hashlib.sha256(prev_hash.encode("ascii") + b"\n" + _canonical(values)).hexdigest()


def record(conn: psycopg.Connection[Any], entry: AuditEntry) -> None:
    """Append an audit event in the caller's transaction.

    The event goes to the first chain no other transaction holds; that chain's tail stays
    locked until the transaction ends, so each chain is in commit order. Call it last in
    the transaction, to hold the tail briefly.
    """
    values = {name: getattr(entry, name) for name in _ENTRY_FIELDS}
    values["recorded_at"] = datetime.now(UTC)
    values["person_ids"] = list(dict.fromkeys(entry.person_ids))
    values["records"] = [list(r) for r in dict.fromkeys(entry.records)]
    audit_store.append(conn, values, _canonical(values))


def checkpoint(conn: psycopg.Connection[Any]) -> Checkpoint:
    """The heads of every non-empty chain now, to keep outside the database.

    Each head is checked to be an event in the trail with the hash its tail records (a
    cheap check; :func:`verify` walks the whole trail).

    Raises:
        Conflict: a chain does not end where its tail says (run ``mpi audit verify``).

    Example:
        >>> print(checkpoint(conn).to_json())  # doctest: +SKIP
        {"checkpoint_at":"2026-12-03T12:00:00+00:00","events":3,"chains":[...]}
    """
    taken_at = datetime.now(UTC)
    heads = tuple(
        ChainHead(chain, events, last_id, last_hash)
        for chain, (last_id, last_hash, events) in sorted(audit_store.tails(conn).items())
        if events and last_id is not None
    )
    found = audit_store.heads(conn, [h.last_id for h in heads])
    for h in heads:
        if found.get(h.last_id) != (h.chain, h.last_hash):
            raise Conflict(
                f"audit chain {h.chain} does not end where its tail says (event {h.last_id});"
                " run mpi audit verify"
            )
    return Checkpoint(taken_at, heads)


def verify(conn: psycopg.Connection[Any], checkpoints: Iterable[Checkpoint] = ()) -> VerifyReport:
    """Walk every chain and recompute every hash; check each chain against its tail, and
    against the heads of the given checkpoints.

    Within a chain each event must name its predecessor's hash (the first names ``''``)
    and hash to its stored value; the chain's newest event and length must be those its
    tail records, and every chain must have its tail. So a changed, removed, inserted or
    reordered event is found wherever it is (first, last, in between, or all of them),
    however it went. A checkpointed head must still be in its chain, at the position and
    with the hash the checkpoint recorded: as each hash covers all before it, nothing up
    to the checkpoint was lost or rewritten, even by someone who rewrote the tails. The
    break reported is the lowest event ID at fault (``None`` for a missing tail).

    Returns:
        The number of events checked, the checkpointed heads found, and the first event
        where a chain breaks.

    Example:
        >>> verify(conn).is_intact  # doctest: +SKIP
        True
    """
    tails = audit_store.tails(conn)
    anchors: dict[tuple[int, int], list[tuple[ChainHead, datetime]]] = {}
    for cp in checkpoints:
        for head in cp.heads:
            anchors.setdefault((head.chain, head.last_id), []).append((head, cp.taken_at))
    breaks: list[tuple[int, str]] = []
    for missing in sorted(set(range(audit_store.CHAINS)) - set(tails)):
        breaks.append((0, f"chain {missing} has lost its tail"))
    n = 0
    anchored = 0
    chain: int | None = None
    prev = ""
    length = 0
    last_id: int | None = None
    broken = False

    seen: set[int] = set()

    def close(chain_: int | None) -> None:
        if chain_ is None:
            return
        seen.add(chain_)
        if broken:
            return
        tail = tails.get(chain_)
        if tail is None:
            breaks.append((last_id or 0, f"chain {chain_} is not a known chain"))
        elif (tail.last_id, tail.last_hash, tail.events) != (last_id, prev, length):
            at = tail.last_id if tail.last_id is not None else last_id or 0
            lost = tail.events - length
            what = f" ({lost} events lost)" if lost > 0 else ""
            breaks.append((at, f"chain {chain_} does not end where its tail says{what}"))

    for row in audit_store.all_events(conn):
        n += 1
        if row["chain"] != chain:
            close(chain)
            chain, prev, length, last_id, broken = row["chain"], "", 0, None, False
        length += 1
        last_id = row["id"]
        for head, taken_at in anchors.pop((row["chain"], row["id"]), ()):
            if (head.events, head.last_hash) != (length, row["hash"]):
                breaks.append(
                    (row["id"], f"event {row['id']} is not the head checkpointed at {taken_at}")
                )
            else:
                anchored += 1
        if broken:
            continue
        values = {c: row[c] for c in audit_store.COLUMNS}
        if row["prev_hash"] != prev:
            breaks.append((row["id"], "previous hash does not match"))
            broken = True
        elif chain_hash(prev, values) != row["hash"]:
            breaks.append((row["id"], "content does not match its hash"))
            broken = True
        prev = row["hash"]
    close(chain)
    for other, (tail_id, _, events) in sorted(tails.items()):
        if other not in seen and events:
            breaks.append((tail_id or 0, f"chain {other} has lost its {events} events"))
    for (chain_, head_id), heads in anchors.items():
        breaks.append(
            (
                head_id,
                f"event {head_id} of chain {chain_}, its head at checkpoint {heads[0][1]},"
                " is missing",
            )
        )
    if breaks:
        at, reason = min(breaks)
        return VerifyReport(n, False, at or None, reason, anchored)
    return VerifyReport(n, True, anchors=anchored)


def of_person(
    conn: psycopg.Connection[Any], person_id: str, *, limit: int = 100
) -> list[dict[str, Any]]:
    """Audit events about a person, newest first (for subject-access requests)."""
    return audit_store.of_person(conn, person_id, limit)


_ACTION_CODES = {
    "create": "C",
    "read": "R",
    "update": "U",
    "delete": "D",
    "search": "E",
    "execute": "E",
}
_SUBTYPE_CODES = {
    "create": "create",
    "read": "read",
    "update": "update",
    "delete": "delete",
    "search": "search-type",
    "execute": "operation",
}
_OUTCOME_CODES = {
    "success": "0",
    "withheld": "4",
    "denied": "4",
    "not-found": "4",
    "invalid": "4",
    "error": "8",
}


def to_fhir(
    event: dict[str, Any], *, identifier_systems: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Render a stored audit event as a FHIR R4 AuditEvent (IHE BALP shape).

    Args:
        event: a stored event (:func:`of_person`).
        identifier_systems: system code -> identifier system URI, for the records'
            identifiers; a system not in it is named ``urn:mpi:system:<code>``.
    """
    uris = identifier_systems or {}
    user: dict[str, Any] = {
        "type": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/v3-RoleClass", "code": "AGNT"}
            ]
        },
        "who": {"display": event["user_id"] or "unknown user"},
        "requestor": True,
        "purposeOfUse": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                        "code": event["purpose"],
                    }
                ]
            }
        ],
    }
    if event["user_id"]:
        user["who"] = {
            "identifier": {
                "system": "https://fhir.nhs.uk/Id/sds-user-id",
                "value": event["user_id"],
            }
        }
    if event["user_role"]:
        user["role"] = [
            {
                "coding": [
                    {
                        "system": "https://fhir.nhs.uk/Id/sds-role-profile-id",
                        "code": event["user_role"],
                    }
                ]
            }
        ]
    agents: list[dict[str, Any]] = [user]
    client: dict[str, Any] = {
        "who": {"display": event["system_code"] or "anonymous"},
        "requestor": False,
    }
    if event["client_address"]:
        client["network"] = {"address": event["client_address"], "type": "2"}
    agents.append(client)
    if event["user_org"]:
        agents.append(
            {
                "type": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-RoleClass",
                            "code": "PROV",
                        }
                    ]
                },
                "who": {
                    "identifier": {
                        "system": "https://fhir.nhs.uk/Id/ods-organization-code",
                        "value": event["user_org"],
                    }
                },
                "requestor": False,
            }
        )
    entities: list[dict[str, Any]] = [
        {
            "what": {"reference": f"Patient/{pid}"},
            "type": {
                "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                "code": "1",
            },
            "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1"},
        }
        for pid in event["person_ids"]
    ]
    for system, local_id in event["records"]:
        entities.append(
            {
                "what": {
                    "identifier": {
                        "system": uris.get(system) or f"urn:mpi:system:{system}",
                        "value": local_id,
                    }
                },
                "type": {
                    "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                    "code": "2",
                },
            }
        )
    if event["request_id"]:
        entities.append(
            {
                "what": {"identifier": {"value": event["request_id"]}},
                "type": {
                    "system": "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType",
                    "code": "XrequestId",
                },
            }
        )
    resource: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": str(event["id"]),
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
            "code": "rest",
        },
        "subtype": [
            {
                "system": "http://hl7.org/fhir/restful-interaction",
                "code": _SUBTYPE_CODES[event["subtype"]],
            }
        ],
        "action": _ACTION_CODES[event["subtype"]],
        "recorded": event["recorded_at"].astimezone(UTC).isoformat(),
        "outcome": _OUTCOME_CODES.get(event["outcome"], "8"),
        "outcomeDesc": f"{event['action']}: {event['outcome']} ({event['http_status']})",
        "agent": agents,
        "source": {"observer": {"display": "mpi"}},
    }
    if event["emergency"]:
        resource["purposeOfEvent"] = [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                        "code": "ETREAT",
                    }
                ]
            }
        ]
    if entities:
        resource["entity"] = entities
    return resource
