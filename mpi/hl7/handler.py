"""What an HL7 v2 message does to the MPI: the same register, withdraw, disclosure and audit
as the HTTP APIs.

One message is one transaction: its work, its idempotency row and its audit event commit
together, or (a refusal, an error) nothing of its work is kept and only its audit event is
written. The sending system is the one MSH-4 names (``mpi systems add … --hl7-facility``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from matching import fields
from matching.nhs_number import check as check_nhs_number
from matching.types import Demographics
from mpi import access, audit, records
from mpi.access import Caller
from mpi.errors import Conflict, InvalidInput, NotFound
from mpi.hl7.messages import (
    Incoming,
    Problem,
    Refused,
    ack,
    decode,
    escape,
    has_segment,
    query_response,
    repetitions,
    value,
)
from mpi.identities import golden_view
from mpi.loading import demographics_from_row
from mpi.models import SourceSystem
from mpi.optout import WITHHELD_MESSAGE
from mpi.records import MatchContext
from mpi.search import SEARCH_CANDIDATES, find_matches
from mpi.store import access as access_store
from mpi.store import events as event_store
from mpi.store import hl7 as hl7_store
from mpi.store import records as record_store
from mpi.store.events import EventRow

log = logging.getLogger("mpi.hl7")

REGISTER_EVENTS = ("A01", "A04", "A05", "A08", "A28", "A31")
WITHDRAW_EVENTS = ("A23", "A29")
#: The assigning authority of NHS numbers in PID-3 / QPD-3 (with identifier type NH).
NHS_AUTHORITY = "NHS"
NHS_OID = "2.16.840.1.113883.2.1.4.1"

#: Demographic fields of a registration and where they are in PID (:mod:`matching.fields`).
FIELD_LOCATION = {"local_id": ("PID", 3, 1)} | fields.hl7_locations()
IDENTIFYING = fields.identifying()
_SEX_OUT = {"male": "M", "female": "F", "other": "O", "unknown": "U"}


@dataclass
class Outcome:
    """What one message did, for its audit event and log line."""

    action: str = "hl7.message"
    subtype: str = "update"
    outcome: str = "success"
    person_ids: list[str] = field(default_factory=list)
    records: list[tuple[str, str]] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Directory:
    """The connected systems as MLLP sees them: by sending facility, and code -> facility."""

    by_facility: dict[str, SourceSystem]
    facilities: dict[str, str]
    read_at: float

    @classmethod
    def read(cls, conn: Any) -> Directory:
        by_code: dict[str, SourceSystem] = {}
        named: dict[str, SourceSystem] = {}
        facilities: dict[str, str] = {}
        for system, facility in hl7_store.systems_and_facilities(conn):
            facilities[system.code] = facility or system.code
            if facility is None:
                by_code[system.code] = system
            else:
                named[facility] = system
        # a facility a system names wins over another system's code (as the SQL did)
        return cls({**by_code, **named}, facilities, time.monotonic())


class Handler:
    """Answers one MLLP block at a time on a connection it is given (thread-safe per conn).

    The systems and their facilities are read at most every ``directory_seconds`` (one
    read shared by the process's threads; 0 reads them for every message), and again at
    once when a message names a facility not in them, so a system just added is known to
    its first message.
    """

    def __init__(self, ctx: MatchContext, directory_seconds: float = 5.0) -> None:
        self.ctx = ctx  # swapped by the listener when another model is activated
        self.directory_seconds = directory_seconds
        self._directory: Directory | None = None
        self._memo = threading.local()

    def _systems(self, conn: Any, *, fresh: bool = False) -> Directory:
        """The directory of systems for this message (re-read when stale or ``fresh``)."""
        found = getattr(self._memo, "directory", None)
        if found is not None and not fresh:
            return found  # type: ignore[no-any-return]
        shared = self._directory
        if fresh or shared is None or time.monotonic() - shared.read_at >= self.directory_seconds:
            shared = self._directory = Directory.read(conn)
        self._memo.directory = shared
        return shared

    def _facilities(self, conn: Any) -> dict[str, str]:
        """Every system's facility (code -> facility)."""
        return self._systems(conn).facilities

    def _system_for(self, conn: Any, facility: str) -> SourceSystem | None:
        system = self._systems(conn).by_facility.get(facility)
        if system is None:
            system = self._systems(conn, fresh=True).by_facility.get(facility)
        return system

    def handle(self, conn: Any, block: bytes, peer: str | None) -> tuple[bytes, str]:
        """The reply to one block, and its acknowledgement code (for the log)."""
        incoming: Incoming | None = None
        result = Outcome()
        self._memo.directory = None
        self._memo.ctx = self.ctx  # one message, one model
        try:
            incoming = decode(block)
            result.detail["message"] = incoming.kind
            system = self._system_for(conn, incoming.facility)
            if system is None:
                result.outcome = "denied"
                raise Refused(
                    "AR",
                    [
                        Problem(
                            "MSH",
                            4,
                            "unknown sending facility: add it with mpi systems add --hl7-facility",
                            "204",
                        )
                    ],
                )
            who = Caller(system.id, system.code, frozenset({"register", "lookup"}), token_id=0)
            reply = self._dispatch(conn, who, incoming, result)
            self._audit(conn, result, who, incoming, peer)
            conn.commit()
            return reply, "AA"
        except Refused as refused:
            conn.rollback()
            if result.outcome == "success":
                result.outcome = "invalid"
            result.detail["errors"] = [p.location for p in refused.problems]
            reply = self._refusal(incoming, refused)
            self._audit_alone(conn, result, incoming, peer)
            return reply, refused.ack_code
        except Exception as exc:  # noqa: BLE001 - answered AE, logged without patient data
            conn.rollback()
            log.error("message failed: %s", type(exc).__name__)
            result.outcome = "error"
            problem = Problem("MSH", 0, "the MPI could not process the message", "207")
            reply = self._refusal(incoming, Refused("AE", [problem]))
            self._audit_alone(conn, result, incoming, peer)
            return reply, "AE"

    # -- replies and audit ---------------------------------------------------------------

    def _refusal(self, incoming: Incoming | None, refused: Refused) -> bytes:
        from mpi.hl7.messages import encode

        if incoming is not None and incoming.message_code == "QBP":
            response = "RSP^K22^RSP_K21" if incoming.trigger == "Q22" else "RSP^K23^RSP_K23"
            if has_segment(incoming.message, "QPD") or refused.problems[0].segment == "QPD":
                text = query_response(
                    incoming, response, refused.ack_code, "AE", problems=refused.problems
                )
                return encode(text, incoming)
        return encode(ack(incoming, refused.ack_code, refused.problems), incoming)

    def _audit(
        self,
        conn: Any,
        result: Outcome,
        who: Caller | None,
        incoming: Incoming | None,
        peer: str | None,
    ) -> None:
        audit.record(
            conn,
            audit.AuditEntry(
                action=result.action,
                subtype=result.subtype,
                outcome=result.outcome,
                http_status=0,
                system_code=who.system_code if who else None,
                person_ids=tuple(result.person_ids),
                records=tuple(result.records),
                detail={"channel": "hl7-mllp", **result.detail},
                client_address=peer,
                request_id=f"hl7:{incoming.control_id}"[:64] if incoming else None,
            ),
        )

    def _audit_alone(
        self, conn: Any, result: Outcome, incoming: Incoming | None, peer: str | None
    ) -> None:
        """The audit event of a refused or failed message, in a transaction of its own."""
        try:
            who = None
            if incoming is not None and incoming.facility:
                system = self._system_for(conn, incoming.facility)
                if system is not None:
                    who = Caller(system.id, system.code, frozenset(), token_id=0)
            self._audit(conn, result, who, incoming, peer)
            conn.commit()
        except Exception as exc:  # noqa: BLE001 - the reply still goes out
            conn.rollback()
            log.error("audit of a refused message failed: %s", type(exc).__name__)

    # -- dispatch ------------------------------------------------------------------------

    def _dispatch(self, conn: Any, who: Caller, incoming: Incoming, result: Outcome) -> bytes:
        from mpi.hl7.messages import encode

        code, trigger = incoming.message_code, incoming.trigger
        handlers: dict[tuple[str, str], Callable[..., str]] = {
            **{("ADT", t): self._register for t in REGISTER_EVENTS},
            **{("ADT", t): self._withdraw for t in WITHDRAW_EVENTS},
            ("ADT", "A40"): self._merge,
            ("ADT", "A47"): self._change_id,
            ("QBP", "Q23"): self._pix,
            ("QBP", "Q22"): self._pdq,
        }
        handler = handlers.get((code, trigger))
        if handler is None:
            known = code in ("ADT", "QBP")
            raise Refused(
                "AR",
                [
                    Problem(
                        "MSH",
                        9,
                        f"unsupported {'event' if known else 'message type'} {incoming.kind}",
                        "201" if known else "200",
                    )
                ],
            )
        if code == "ADT":
            seen = hl7_store.claim_message(conn, who.system_id, incoming.control_id, incoming.kind)
            if seen is not None:
                result.action, result.subtype = "record.register", "update"
                result.detail["duplicate"] = True
                text = "already processed: nothing changed"
                return encode(ack(incoming, seen, text=text), incoming)
        return encode(handler(conn, who, incoming, result), incoming)

    # -- patient identity feed -----------------------------------------------------------

    def _own_authority(self, conn: Any, who: Caller, authority: str) -> bool:
        if not authority:
            return True
        facility = self._facilities(conn).get(who.system_code, who.system_code)
        return authority in (facility, who.system_code)

    def _pid(self, conn: Any, who: Caller, message: Any) -> tuple[str, dict[str, Any]]:
        """The local ID and the /v1-shaped demographics of the PID segment."""
        if not has_segment(message, "PID"):
            raise Refused("AE", [Problem("PID", 0, "the message needs a PID segment", "100")])
        local_ids, numbers, problems = [], [], []
        for rep in repetitions(message, "PID", 3):
            ident = value(message, f"PID.F3.R{rep}.C1")
            authority = value(message, f"PID.F3.R{rep}.C4.S1")
            kind = value(message, f"PID.F3.R{rep}.C5").upper()
            if not ident:
                continue
            if kind == "NH" or authority.upper() == NHS_AUTHORITY:
                numbers.append(ident)
            elif self._own_authority(conn, who, authority):
                local_ids.append(ident)
        if not local_ids:
            problems.append(
                Problem(
                    "PID",
                    3,
                    "PID-3 needs the system's own local ID (an identifier"
                    " whose assigning authority is the sending facility, or none)",
                    "101",
                    1,
                )
            )
        elif len(local_ids[0]) > 128:
            problems.append(Problem("PID", 3, "the local ID is over 128 characters", "102", 1))
        if len(numbers) > 1:
            problems.append(Problem("PID", 3, "more than one NHS number (type NH)", "102", 1))
        if numbers:
            checked = check_nhs_number(numbers[0])
            if not checked.is_valid:
                problems.append(
                    Problem("PID", 3, f"the NHS number is invalid: {checked.reason}", "102", 1)
                )
        sex = value(message, "PID.F8")
        raw: dict[str, Any] = {
            "nhs_number": numbers[0] if numbers else "",
            "nhs_number_status": value(message, "PID.F32.R1"),
            "family_name": value(message, "PID.F5.R1.C1.S1"),
            "given_name": " ".join(
                v for v in (value(message, "PID.F5.R1.C2"), value(message, "PID.F5.R1.C3")) if v
            ),
            "birth_date": _hl7_date(value(message, "PID.F7.R1.C1")),
            "sex": sex,
            "address_line": ", ".join(
                v
                for c in (1, 2, 3)
                if (v := value(message, f"PID.F11.R1.C{c}.S1" if c == 1 else f"PID.F11.R1.C{c}"))
            ),
            "postcode": value(message, "PID.F11.R1.C5"),
            "phone": value(message, "PID.F13.R1.C1") or value(message, "PID.F13.R1.C12"),
            "multiple_birth": value(message, "PID.F24"),
            "birth_order": value(message, "PID.F25"),
            "deceased_at": _hl7_date(value(message, "PID.F29.R1.C1")),
            "deceased": value(message, "PID.F30"),
        }
        for name, text in raw.items():
            if len(text) > 200:
                seg, pos, comp = FIELD_LOCATION[name]
                problems.append(Problem(seg, pos, "is over 200 characters", "102", comp))
        if not any(raw[k] for k in IDENTIFYING):
            problems.append(
                Problem("PID", 5, "give at least an NHS number, a name or a birth date", "101")
            )
        if problems:
            raise Refused("AE", problems)
        return local_ids[0], {k: v for k, v in raw.items() if v}

    def _prepare(self, local_id: str, raw: dict[str, Any]) -> records.RecordRow:
        try:
            return records.prepare(self._memo.ctx, local_id, raw, demographics_from_row(raw))
        except InvalidInput as exc:
            problems = []
            for p in exc.problems:
                seg, pos, comp = FIELD_LOCATION.get(p.field, ("PID", 0, 0))
                problems.append(Problem(seg, pos, p.reason, "102", comp))
            raise Refused("AE", problems) from None

    def _register(self, conn: Any, who: Caller, incoming: Incoming, result: Outcome) -> str:
        result.action, result.subtype = "record.register", "update"
        local_id, raw = self._pid(conn, who, incoming.message)
        row = self._prepare(local_id, raw)
        result.records.append((who.system_code, row.local_id))
        registered = records.register(
            conn, self._memo.ctx, who.system_code, row, actor=f"system:{who.system_code}"
        )
        result.person_ids.append(registered.person_id)
        result.detail["decision"] = registered.decision
        return ack(incoming, "AA")

    def _prior(self, conn: Any, who: Caller, message: Any) -> str:
        """MRG-1: the system's own prior local ID."""
        if not has_segment(message, "MRG"):
            raise Refused("AE", [Problem("MRG", 0, "the message needs an MRG segment", "100")])
        prior = value(message, "MRG.F1.R1.C1")
        if not prior:
            raise Refused("AE", [Problem("MRG", 1, "the prior local ID is required", "101", 1)])
        if not self._own_authority(conn, who, value(message, "MRG.F1.R1.C4.S1")):
            raise Refused(
                "AE", [Problem("MRG", 1, "only the system's own local IDs can be merged", "204", 4)]
            )
        return prior

    def _merge(self, conn: Any, who: Caller, incoming: Incoming, result: Outcome) -> str:
        """A40: the prior record (MRG-1) is merged into the surviving one (PID-3)."""
        result.action, result.subtype = "record.merge", "update"
        prior = self._prior(conn, who, incoming.message)
        local_id, raw = self._pid(conn, who, incoming.message)
        if prior == local_id:
            raise Refused("AE", [Problem("MRG", 1, "MRG-1 and PID-3 are the same ID", "205", 1)])
        row = self._prepare(local_id, raw)
        result.action, result.subtype = "record.merge", "update"
        result.records += [(who.system_code, prior), (who.system_code, local_id)]
        actor = f"system:{who.system_code}"
        registered = records.register(conn, self._memo.ctx, who.system_code, row, actor=actor)
        try:
            gone = records.withdraw(conn, who.system_code, prior, actor=actor)
        except NotFound:
            raise Refused(
                "AE", [Problem("MRG", 1, "no active record with the prior local ID", "204", 1)]
            ) from None
        if gone is not None:
            result.person_ids.extend(access_store_enterprise(conn, [gone]))
        result.person_ids.append(registered.person_id)
        result.detail["decision"] = registered.decision
        return ack(incoming, "AA")

    def _change_id(self, conn: Any, who: Caller, incoming: Incoming, result: Outcome) -> str:
        """A47: the record MRG-1 is known from now on as PID-3 (link and history kept)."""
        result.action, result.subtype = "record.change-id", "update"
        prior = self._prior(conn, who, incoming.message)
        local_id, _ = self._pid_ids_only(conn, who, incoming.message)
        result.action, result.subtype = "record.change-id", "update"
        result.records += [(who.system_code, prior), (who.system_code, local_id)]
        try:
            renamed = hl7_store.rename_record(conn, who.system_id, prior, local_id)
        except Conflict:
            raise Refused(
                "AE", [Problem("PID", 3, "the system already has a record with this ID", "205", 1)]
            ) from None
        if renamed is None:
            raise Refused(
                "AE", [Problem("MRG", 1, "no active record with the prior local ID", "204", 1)]
            )
        record_id, person = renamed
        event_store.append(
            conn,
            [
                EventRow(
                    "record_updated",
                    person,
                    record_id,
                    detail={"local_id_changed_from": prior},
                    actor=f"system:{who.system_code}",
                )
            ],
        )
        if person is not None:
            result.person_ids.extend(access_store_enterprise(conn, [person]))
        return ack(incoming, "AA")

    def _pid_ids_only(self, conn: Any, who: Caller, message: Any) -> tuple[str, None]:
        if not has_segment(message, "PID"):
            raise Refused("AE", [Problem("PID", 0, "the message needs a PID segment", "100")])
        for rep in repetitions(message, "PID", 3):
            ident = value(message, f"PID.F3.R{rep}.C1")
            kind = value(message, f"PID.F3.R{rep}.C5").upper()
            authority = value(message, f"PID.F3.R{rep}.C4.S1")
            if ident and kind != "NH" and self._own_authority(conn, who, authority):
                if len(ident) > 128:
                    raise Refused(
                        "AE", [Problem("PID", 3, "the local ID is over 128 characters", "102", 1)]
                    )
                return ident, None
        raise Refused("AE", [Problem("PID", 3, "PID-3 needs the system's own local ID", "101", 1)])

    def _withdraw(self, conn: Any, who: Caller, incoming: Incoming, result: Outcome) -> str:
        result.action, result.subtype = "record.withdraw", "delete"
        local_id, _ = self._pid_ids_only(conn, who, incoming.message)
        result.records.append((who.system_code, local_id))
        found = access_store.person_of_record(conn, who.system_code, local_id)
        if found is not None:
            result.person_ids.append(found[1])
        try:
            records.withdraw(conn, who.system_code, local_id, actor=f"system:{who.system_code}")
        except NotFound:
            raise Refused(
                "AE", [Problem("PID", 3, "no active record with this local ID", "204", 1)]
            ) from None
        return ack(incoming, "AA")

    # -- PIX and PDQ ---------------------------------------------------------------------

    def _domains(self, conn: Any) -> dict[str, str]:
        """Assigning authority (facility or code) -> system code."""
        found: dict[str, str] = {}
        for code, facility in self._facilities(conn).items():
            found[code] = code
            found[facility] = code
        return found

    def _authority(self, message: Any, path: str) -> str:
        return value(message, f"{path}.S1") or value(message, f"{path}.S2")

    def _is_nhs(self, authority: str) -> bool:
        return authority.upper() == NHS_AUTHORITY or authority == NHS_OID

    def _facts_for(
        self, conn: Any, who: Caller, code: str | None, ident: str
    ) -> list[access_store.PersonFacts]:
        if code is not None:
            one = access.record_facts(conn, who, code, ident)
            return [one] if one else []
        return [
            f
            for _, person_id in access_store.persons_with_nhs_number(conn, ident)
            if (f := access.person_facts(conn, who, person_id)) is not None
        ]

    def _pix(self, conn: Any, who: Caller, incoming: Incoming, result: Outcome) -> str:
        """ITI-9: the identifiers of the person QPD-3 names, in the QPD-4 domains."""
        message = incoming.message
        result.action, result.subtype = "patient.pix", "search"
        response = "RSP^K23^RSP_K23"
        if not has_segment(message, "QPD"):
            raise Refused("AE", [Problem("QPD", 0, "the query needs a QPD segment", "100")])
        ident = value(message, "QPD.F3.R1.C1")
        authority = self._authority(message, "QPD.F3.R1.C4")
        if not ident:
            raise Refused("AE", [Problem("QPD", 3, "the person identifier is required", "101", 1)])
        domains = self._domains(conn)
        if not self._is_nhs(authority) and authority not in domains:
            raise Refused("AE", [Problem("QPD", 3, "unknown assigning authority", "204", 4)])
        wanted: list[str] = []
        for rep in repetitions(message, "QPD", 4):
            target = self._authority(message, f"QPD.F4.R{rep}.C4")
            if not target:
                continue
            if not self._is_nhs(target) and target not in domains:
                raise Refused("AE", [Problem("QPD", 4, "unknown target domain", "204", 4)])
            wanted.append(NHS_AUTHORITY if self._is_nhs(target) else domains[target])
        nhs = self._is_nhs(authority)
        code = None if nhs else domains[authority]
        if nhs:
            checked = check_nhs_number(ident)
            if not checked.is_valid:
                raise Refused(
                    "AE", [Problem("QPD", 3, f"invalid NHS number: {checked.reason}", "102", 1)]
                )
            ident = checked.digits
        else:
            result.records.append((code or "", ident))
        found = self._facts_for(conn, who, code, ident)
        result.person_ids.extend(f.person_id for f in found)
        disclosed = [seen for f in found if (seen := access.decide(conn, who, f)) is not None]
        if not disclosed:
            if found:  # answered as an unknown identifier; the audit keeps what happened
                result.outcome = "denied"
                result.detail["basis"] = "none"
            raise Refused("AE", [Problem("QPD", 3, "unknown person identifier", "204", 1)])
        idents: list[str] = []
        for seen in disclosed:
            result.detail["basis"] = seen.basis
            if seen.withheld:
                result.outcome = "withheld"
                raise Refused("AE", [Problem("QPD", 3, WITHHELD_MESSAGE, "207", 1)])
            pairs: list[tuple[str, str]] = []
            if seen.status == "active" and seen.nhs_number:
                pairs.append((NHS_AUTHORITY, seen.nhs_number))
            for r in seen.records:
                pairs.append((r.system_code, r.local_id))
                result.records.append((r.system_code, r.local_id))
            for domain, local in pairs:
                if (domain == (code or NHS_AUTHORITY)) and local == ident:
                    continue  # the source identifier itself is never returned
                if wanted and domain not in wanted:
                    continue
                idents.append(self._cx(conn, domain, local))
        if not idents:
            return query_response(incoming, response, "AA", "NF")
        pid = "|".join(["PID", "", "", "~".join(idents), "", ""])
        return query_response(incoming, response, "AA", "OK", [pid])

    def _cx(self, conn: Any, domain: str, local: str) -> str:
        if domain == NHS_AUTHORITY:
            return f"{escape(local)}^^^{NHS_AUTHORITY}&{NHS_OID}&ISO^NH"
        facility = self._facilities(conn).get(domain, domain)
        return f"{escape(local)}^^^{escape(facility)}^PI"

    def _pdq(self, conn: Any, who: Caller, incoming: Incoming, result: Outcome) -> str:
        """ITI-21: persons matching the QPD-3 demographics, as the disclosure rule allows."""
        message = incoming.message
        result.action, result.subtype = "patient.search", "search"
        response = "RSP^K22^RSP_K21"
        if not has_segment(message, "QPD"):
            raise Refused("AE", [Problem("QPD", 0, "the query needs a QPD segment", "100")])
        asked: dict[str, str] = {}
        for rep in repetitions(message, "QPD", 3):
            name = value(message, f"QPD.F3.R{rep}.C1").lstrip("@").upper()
            asked[name] = value(message, f"QPD.F3.R{rep}.C2")
        supported = {
            "PID.5.1": "family_name",
            "PID.5.1.1": "family_name",
            "PID.5.2": "given_name",
            "PID.7": "birth_date",
            "PID.7.1": "birth_date",
            "PID.8": "sex",
            "PID.11.5": "postcode",
            "PID.3.1": "identifier",
            "PID.3.4": "authority",
            "PID.3.4.1": "authority",
        }
        unknown = [k for k in asked if k not in supported]
        if unknown:
            raise Refused(
                "AE", [Problem("QPD", 3, f"unsupported query field @{unknown[0][:20]}", "103")]
            )
        fields = {supported[k]: v for k, v in asked.items() if v}
        limit = 10
        if has_segment(message, "RCP"):
            quantity = value(message, "RCP.F2.R1.C1")
            if quantity:
                if not quantity.isdigit() or not 1 <= int(quantity) <= 50:
                    raise Refused("AE", [Problem("RCP", 2, "must be 1 to 50", "102", 1)])
                limit = int(quantity)
        if "identifier" in fields:
            authority = fields.get("authority", "")
            domains = self._domains(conn)
            if not self._is_nhs(authority) and authority not in domains:
                raise Refused("AE", [Problem("QPD", 3, "unknown assigning authority", "204")])
            code = None if self._is_nhs(authority) else domains[authority]
            if code is not None:
                result.records.append((code, fields["identifier"]))
            facts = self._facts_for(conn, who, code, fields["identifier"])
            found = [(f.pk, f.person_id) for f in facts if f.status == "active"]
        else:
            demographics = Demographics(
                given_name=fields.get("given_name"),
                family_name=fields.get("family_name"),
                birth_date=_hl7_date(fields.get("birth_date", "")) or None,
                sex=fields.get("sex"),
                postcode=fields.get("postcode"),
            )
            if not any(
                (
                    demographics.given_name,
                    demographics.family_name,
                    demographics.birth_date,
                    demographics.postcode,
                )
            ):
                raise Refused(
                    "AE",
                    [
                        Problem(
                            "QPD", 3, "give at least @PID.5.1, @PID.5.2, @PID.7 or @PID.11.5", "101"
                        )
                    ],
                )
            try:
                candidates = find_matches(
                    conn, self._memo.ctx, demographics, limit=SEARCH_CANDIDATES
                )
            except InvalidInput as exc:
                raise Refused(
                    "AE", [Problem("QPD", 3, f"{p.field}: {p.reason}", "102") for p in exc.problems]
                ) from None
            found = [(c.person_pk, c.person_id) for c in candidates]
        sights = access.visible(conn, who, (pk for pk, _ in found))
        pids: list[str] = []
        for pk, person_id in found:
            if len(pids) >= limit:
                break
            sight = sights.get(pk)
            if sight is None:
                continue
            shown = access.records_shown(conn, who, pk, sight)
            idents = [self._cx(conn, r.system_code, r.local_id) for r in shown]
            for r in shown:
                result.records.append((r.system_code, r.local_id))
            view = {} if sight.withheld else _golden(conn, pk)
            if view.get("nhs_number"):
                idents.insert(0, self._cx(conn, NHS_AUTHORITY, view["nhs_number"]))
            idents.append(f"{escape(person_id)}^^^{escape('MPI')}^PT")
            result.person_ids.append(person_id)
            name = f"{escape(view.get('family_name', ''))}^{escape(view.get('given_name', ''))}"
            address = (
                f"{escape(view.get('address_line', ''))}^^^^{escape(view.get('postcode', ''))}"
                if view.get("address_line") or view.get("postcode")
                else ""
            )
            pids.append(
                "|".join(
                    [
                        "PID",
                        str(len(pids) + 1),
                        "",
                        "~".join(idents),
                        "",
                        name if view else "",
                        "",
                        view.get("birth_date", "").replace("-", ""),
                        _SEX_OUT.get(view.get("sex", ""), ""),
                        "",
                        "",
                        address,
                    ]
                )
            )
        result.detail["results"] = len(pids)
        return query_response(incoming, response, "AA", "OK" if pids else "NF", pids)


def access_store_enterprise(conn: Any, pks: list[int]) -> list[str]:
    """The enterprise IDs of these persons."""
    from mpi.store import persons as person_store

    return list(person_store.enterprise_ids(conn, pks).values())


def _golden(conn: Any, pk: int) -> dict[str, str]:
    details = record_store.record_details_of_person(conn, pk)
    return {name: f.value for name, f in golden_view(details).items()}


def _hl7_date(text: str) -> str:
    """An HL7 date or date-time (``YYYYMMDD[HHMM[SS]]``) as ISO text; other text unchanged
    (so that the date check names it)."""
    digits = text.split("+")[0].split("-")[0].split(".")[0]
    if len(digits) >= 8 and digits.isdigit():
        iso = f"{digits[:4]}-{digits[4:6]}-{digits[6:8]}"
        if len(digits) >= 12:
            iso += f"T{digits[8:10]}:{digits[10:12]}:{digits[12:14] or '00'}"
        return iso
    return text


__all__ = ["Handler"]
