"""HL7 v2 messages as the MPI reads and answers them, with the `hl7` library (python-hl7).

Parsing, escaping and field access are the library's; this module only decides which
character set a message is in (MSH-18), checks the header the MPI relies on, and builds the
acknowledgements and responses (ACK, RSP^K23, RSP^K22) with the library's escaping.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import hl7

#: MSH-18 character sets (HL7 table 0211) and the Python codecs that read them.
CHARSETS = {
    "ASCII": "ascii",
    "8859/1": "latin-1",
    "8859/15": "iso8859-15",
    "UNICODE UTF-8": "utf-8",
    "UTF-8": "utf-8",
    "CP1252": "cp1252",
}
#: The MPI's own application and facility names in the messages it sends.
OUR_APPLICATION = "MPI"
OUR_FACILITY = "MPI"

#: HL7 table 0357 (message error condition codes) used in ERR-3.
ERROR_CODES = {
    "100": "Segment sequence error",
    "101": "Required field missing",
    "102": "Data type error",
    "103": "Table value not found",
    "200": "Unsupported message type",
    "201": "Unsupported event code",
    "204": "Unknown key identifier",
    "205": "Duplicate key identifier",
    "207": "Application internal error",
}

_TEMPLATE = hl7.parse("MSH|^~\\&|")  # the separators of everything the MPI sends
_ids = itertools.count(1)


@dataclass(frozen=True, slots=True)
class Problem:
    """One error of a message: where (segment, field, component) and why.

    ``segment`` is ``MSH``, ``PID``, ``MRG``, ``QPD`` …; ``position`` the field number
    (0 for the segment as a whole); ``code`` an HL7 table 0357 code.
    """

    segment: str
    position: int
    reason: str
    code: str = "102"
    component: int = 0

    @property
    def location(self) -> str:
        """Where, as people write it: ``PID-7``, ``PID-3.1``, or ``PID``."""
        if not self.position:
            return self.segment
        where = f"{self.segment}-{self.position}"
        return f"{where}.{self.component}" if self.component else where


class Refused(Exception):
    """A message the MPI does not act on: AE (an error in its content) or AR (rejected)."""

    def __init__(self, ack_code: str, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(f"{p.location}: {p.reason}" for p in problems))
        self.ack_code = ack_code
        self.problems = tuple(problems)


@dataclass(frozen=True, slots=True)
class Incoming:
    """A decoded, parsed message and what its header says."""

    message: hl7.Message
    codec: str
    charset: str
    facility: str
    application: str
    control_id: str
    message_code: str
    trigger: str
    version: str
    structure: str = ""
    header: dict[str, str] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """``ADT^A04``, ``QBP^Q23`` …"""
        return f"{self.message_code}^{self.trigger}"


def value(message: hl7.Message, path: str) -> str:
    """The text at an accessor path (``PID.F7``, ``PID.F3.R2.C5``), or ``""`` if absent."""
    try:
        found = message[path]
    except (IndexError, KeyError):
        return ""
    return str(found or "").strip()


def repetitions(message: hl7.Message, segment: str, position: int, limit: int = 50) -> list[int]:
    """The repetition numbers (1, 2, …) present in one field of the first such segment."""
    found = []
    for rep in range(1, limit + 1):
        try:
            message[f"{segment}.F{position}.R{rep}"]
        except (IndexError, KeyError):
            break
        found.append(rep)
    return found


def has_segment(message: hl7.Message, name: str) -> bool:
    """Whether the message has at least one ``name`` segment."""
    try:
        message.segment(name)
    except KeyError:
        return False
    return True


def _header_charset(block: bytes) -> str:
    """MSH-18 as sent, read from the first segment only (Latin-1 reads any bytes)."""
    first = block.split(b"\r", 1)[0].decode("latin-1")
    try:
        return value(hl7.parse(first), "MSH.F18.R1")
    except Exception:  # noqa: BLE001 - an unreadable header is refused by the caller
        return ""


def decode(block: bytes) -> Incoming:
    """Decode and parse one MLLP block.

    The bytes are read in the character set MSH-18 names (none: UTF-8, of which ASCII is
    a part). Bytes that are not of that character set are refused, naming MSH-18: a
    message is never stored with characters guessed.

    Raises:
        Refused: AR for no MSH segment, wrong encoding characters, an unknown or wrong
            character set, or a message the library cannot parse.
    """
    text = block.lstrip(b"\r\n ")
    if not text.startswith(b"MSH"):
        raise Refused(
            "AR", [Problem("MSH", 0, "the message must begin with an MSH segment", "100")]
        )
    if len(text) < 8:
        raise Refused("AR", [Problem("MSH", 2, "the MSH segment is incomplete", "101")])
    separator = chr(text[3])
    encoding_chars = text[4:].split(text[3:4], 1)[0].decode("latin-1")
    if (
        separator != "|"
        or len(encoding_chars) not in (4, 5)
        or len(set(encoding_chars)) != len(encoding_chars)
        or any(c.isalnum() or c in "\r\n |" for c in encoding_chars)
    ):
        raise Refused(
            "AR",
            [Problem("MSH", 2, "the encoding characters must be |^~\\& (MSH-1, MSH-2)", "102")],
        )
    charset = _header_charset(text)
    codec = CHARSETS.get(charset.upper(), None) if charset else "utf-8"
    if codec is None:
        raise Refused(
            "AR",
            [
                Problem(
                    "MSH",
                    18,
                    f"unsupported character set {charset[:20]!r}; use one of "
                    + ", ".join(CHARSETS),
                    "103",
                )
            ],
        )
    try:
        decoded = text.decode(codec)
    except UnicodeDecodeError:
        said = charset or "none (UTF-8)"
        raise Refused(
            "AR",
            [
                Problem(
                    "MSH",
                    18,
                    f"the bytes are not in the declared character set ({said}); declare"
                    " 8859/1 for Latin-1",
                    "102",
                )
            ],
        ) from None
    try:
        message = hl7.parse(decoded.replace("\r\n", "\r").replace("\n", "\r"))
        msh = message.segment("MSH")
    except Exception:  # noqa: BLE001 - whatever the library could not parse is refused
        raise Refused("AR", [Problem("MSH", 0, "the message cannot be parsed", "102")]) from None
    del msh
    control_id = value(message, "MSH.F10")
    code = value(message, "MSH.F9.R1.C1")
    trigger = value(message, "MSH.F9.R1.C2")
    incoming = Incoming(
        message=message,
        codec=codec,
        charset=charset,
        facility=value(message, "MSH.F4.R1.C1"),
        application=value(message, "MSH.F3.R1.C1"),
        control_id=control_id,
        message_code=code,
        trigger=trigger,
        version=value(message, "MSH.F12.R1.C1") or "2.5.1",
        structure=value(message, "MSH.F9.R1.C3"),
    )
    problems = []
    if not control_id:
        problems.append(Problem("MSH", 10, "the message control ID is required", "101"))
    elif len(control_id) > 199:
        problems.append(Problem("MSH", 10, "the message control ID is over 199 characters"))
    if not incoming.facility:
        problems.append(Problem("MSH", 4, "the sending facility is required", "101"))
    if not code or not trigger:
        problems.append(Problem("MSH", 9, "the message type and trigger event are required", "101"))
    if problems:
        raise Refused("AR", problems)
    return incoming


def escape(text: str) -> str:
    """Text with HL7's escape sequences for the separators (the library's escaping)."""
    return str(_TEMPLATE.escape(text))


def _timestamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%d%H%M%S")


def _control_id() -> str:
    return f"MPI{datetime.now(UTC).strftime('%Y%m%d%H%M%S')}{next(_ids):06d}"


def _msh(incoming: Incoming | None, message_type: str) -> str:
    app = escape(incoming.application) if incoming else ""
    facility = escape(incoming.facility) if incoming else ""
    version = escape(incoming.version) if incoming else "2.5.1"
    charset = escape(incoming.charset) if incoming and incoming.charset else ""
    fields = [
        "MSH",
        "^~\\&",
        OUR_APPLICATION,
        OUR_FACILITY,
        app,
        facility,
        _timestamp(),
        "",
        message_type,
        _control_id(),
        "P",
        version,
    ]
    if charset:
        fields += ["", "", "", "", "", charset]
    return "|".join(fields)


def err_segment(problem: Problem) -> str:
    """ERR: location (ERR-2), HL7 error code (ERR-3), severity (ERR-4), reason (ERR-8)."""
    location = f"{problem.segment}^1^{problem.position or ''}"
    if problem.component:
        location += f"^1^{problem.component}"
    text = ERROR_CODES.get(problem.code, "")
    return "|".join(
        [
            "ERR",
            "",
            location,
            f"{problem.code}^{text}^HL70357",
            "E",
            "",
            "",
            "",
            escape(problem.reason[:400]),
        ]
    )


def ack(
    incoming: Incoming | None,
    code: str,
    problems: Sequence[Problem] = (),
    *,
    text: str = "",
) -> str:
    """An ACK: MSA-1 the code, MSA-2 the message's MSH-10, an ERR for each problem."""
    trigger = escape(incoming.trigger) if incoming else ""
    control = escape(incoming.control_id) if incoming else ""
    segments = [
        _msh(incoming, f"ACK^{trigger}^ACK" if trigger else "ACK"),
        "|".join(["MSA", code, control, escape(text[:80])] if text else ["MSA", code, control]),
    ]
    segments += [err_segment(p) for p in problems]
    return "\r".join(segments) + "\r"


def query_response(
    incoming: Incoming,
    response_type: str,
    code: str,
    query_status: str,
    pids: Sequence[str] = (),
    problems: Sequence[Problem] = (),
) -> str:
    """RSP^K23 / RSP^K22: MSH, MSA, ERR…, QAK (tag, status), QPD as asked, PID…."""
    qpd = incoming.message.segment("QPD") if has_segment(incoming.message, "QPD") else None
    tag = escape(value(incoming.message, "QPD.F2")) if qpd is not None else ""
    segments = [
        _msh(incoming, response_type),
        "|".join(["MSA", code, escape(incoming.control_id)]),
        *(err_segment(p) for p in problems),
        "|".join(["QAK", tag, query_status]),
    ]
    if qpd is not None:
        segments.append(str(qpd))  # echoed as sent (its own escapes kept)
    segments += pids
    return "\r".join(segments) + "\r"


def encode(reply: str, incoming: Incoming | None) -> bytes:
    """A reply in the request's character set (characters it cannot hold escaped away)."""
    codec = incoming.codec if incoming else "utf-8"
    return reply.encode(codec, errors="replace")
