"""POST /fhir: the PMIR Mobile Patient Identity Feed (IHE ITI-93) from a connected system.

The body is a message Bundle: entry[0] a MessageHeader with ``eventUri``
``urn:ihe:iti:pmir:2019:patient-feed`` and ``focus`` the history Bundle that is entry[1].
Each history entry is one change to a Patient of the calling system, keyed by the
identifier in the system's own domain (as PIXm feeds are):

- ``POST Patient``: register a new record (one the system already holds is a 409);
- ``PUT Patient?identifier=system|value`` (or ``PUT Patient/<id>``, the key then taken
  from the resource): register or update the record;
- ``PUT`` of a Patient with ``active: false`` and a ``link`` of type ``replaced-by``: a merge
  in the source, the record withdrawn in favour of the surviving one, which ``link.other``
  names by ``identifier`` (this domain), by ``reference`` to another entry's ``fullUrl``, or
  by ``reference`` ``Patient/<enterprise ID>`` of a person the system holds one record of;
- ``DELETE Patient?identifier=system|value``: withdraw the record.

The whole feed is one transaction, through the same ``register`` and ``withdraw`` as the
other surfaces: the first refused entry is answered as an OperationOutcome whose
expression names the entry and the field (``Bundle.entry[1].resource.entry[2].resource
.birthDate``), and nothing of the feed is kept. Otherwise the answer is a message Bundle
with one MessageHeader (``patient-feed-response``, ``response.code`` ``ok``).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from flask import Response

from api.db import get_conn
from api.errors import ApiError
from api.fhir import bp
from api.fhir.input import patient_resource
from api.fhir.patient import _own_domain, _register, _resolve_duplicate
from api.fhir.render import base_url, fhir
from api.requests import audited, caller, draft
from api.validation import json_object
from mpi import access, lookups, records
from mpi.errors import Conflict, FieldProblem, InvalidInput, MPIError, NotFound

FEED_EVENT = "urn:ihe:iti:pmir:2019:patient-feed"
RESPONSE_EVENT = "urn:ihe:iti:pmir:2019:patient-feed-response"
#: Most changes one feed may carry.
MAX_ENTRIES = 100
HISTORY = "Bundle.entry[1].resource"


def _refuse(field: str, reason: str) -> InvalidInput:
    return InvalidInput([FieldProblem(field, reason)])


def _history(message: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The MessageHeader and the history Bundle's entries, checked for shape.

    Raises:
        InvalidInput: not a PMIR message Bundle (the element named).
    """
    if message.get("resourceType") != "Bundle":
        raise _refuse("Bundle.resourceType", "must be Bundle (a PMIR message)")
    if message.get("type") != "message":
        raise _refuse("Bundle.type", "must be message")
    entries = message.get("entry")
    if not isinstance(entries, list) or len(entries) != 2:
        raise _refuse("Bundle.entry", "must be the MessageHeader and the history Bundle")
    if not all(isinstance(e, dict) for e in entries):
        raise _refuse("Bundle.entry", "each entry must be an object")
    header = entries[0].get("resource")
    if not isinstance(header, dict) or header.get("resourceType") != "MessageHeader":
        raise _refuse("Bundle.entry[0].resource", "must be the MessageHeader")
    if header.get("eventUri") != FEED_EVENT:
        raise _refuse("Bundle.entry[0].resource.eventUri", f"must be {FEED_EVENT}")
    header_id = header.get("id")
    if not isinstance(header_id, str) or not header_id.strip() or len(header_id) > 64:
        raise _refuse("Bundle.entry[0].resource.id", "the MessageHeader needs an id")
    history = entries[1].get("resource")
    if not isinstance(history, dict) or history.get("resourceType") != "Bundle":
        raise _refuse(HISTORY, "must be the history Bundle")
    if history.get("type") != "history":
        raise _refuse(f"{HISTORY}.type", "must be history")
    focus = (header.get("focus") or [{}])[0] if isinstance(header.get("focus"), list) else {}
    target = focus.get("reference") if isinstance(focus, dict) else None
    names = {entries[1].get("fullUrl"), f"Bundle/{history.get('id')}"}
    if not isinstance(target, str) or target not in names:
        raise _refuse(
            "Bundle.entry[0].resource.focus", "must reference the history Bundle (entry[1])"
        )
    changes = history.get("entry")
    if not isinstance(changes, list) or not changes:
        raise _refuse(f"{HISTORY}.entry", "must hold at least one change")
    if len(changes) > MAX_ENTRIES:
        raise _refuse(f"{HISTORY}.entry", f"at most {MAX_ENTRIES} changes in one feed")
    for n, change in enumerate(changes):
        if not isinstance(change, dict):
            raise _refuse(f"{HISTORY}.entry[{n}]", "must be an object")
    return header, changes


def _key_in_url(url: str, domain: str, where: str) -> str | None:
    """The local ID a ``Patient?identifier=domain|value`` URL names (``None``: another form).

    Raises:
        InvalidInput: an identifier of another domain, or another search.
    """
    path, _, query = url.partition("?")
    if path.strip("/") != "Patient" or not query:
        return None
    pairs = parse_qsl(query, keep_blank_values=True)
    if len(pairs) != 1 or pairs[0][0] != "identifier":
        raise _refuse(where, "must be Patient?identifier=system|value")
    system, bar, value = pairs[0][1].partition("|")
    if not bar or system != domain or not value.strip():
        raise _refuse(where, f"must name an identifier of this system's domain {domain}")
    return value


def _own_value(resource: dict[str, Any], domain: str) -> str:
    values = [
        i.get("value")
        for i in resource.get("identifier") or []
        if isinstance(i, dict) and i.get("system") == domain
    ]
    if len(values) != 1 or not isinstance(values[0], str) or not values[0].strip():
        raise _refuse("Patient.identifier", f"needs exactly one identifier with system {domain}")
    return values[0]


def _survivor(resource: dict[str, Any], domain: str, keys: dict[str, str]) -> str | None:
    """The surviving local ID of a merge entry, or ``None`` for an entry that is no merge.

    Raises:
        InvalidInput: a replaced-by link that names no record of this system.
    """
    links = [
        (n, link)
        for n, link in enumerate(resource.get("link") or [])
        if isinstance(link, dict) and link.get("type") == "replaced-by"
    ]
    if not links:
        return None
    n, link = links[0]
    if resource.get("active") is not False or len(links) > 1:
        raise _refuse("Patient.active", "a merged Patient is active: false with one replaced-by")
    other = link.get("other") if isinstance(link.get("other"), dict) else {}
    identifier = other.get("identifier") if isinstance(other.get("identifier"), dict) else None
    if identifier is not None:
        value = identifier.get("value")
        if identifier.get("system") == domain and isinstance(value, str) and value.strip():
            return value
        raise _refuse(f"Patient.link[{n}].other.identifier", f"must be an identifier of {domain}")
    reference = other.get("reference")
    if isinstance(reference, str) and reference in keys:
        return keys[reference]  # another entry of this feed
    if isinstance(reference, str) and reference.startswith("Patient/"):
        who = caller()
        facts = access.person_facts(get_conn(), who, reference[len("Patient/") :])
        if facts is not None and facts.status == "active":
            held = [r.local_id for r in facts.records if r.system_id == who.system_id]
            if len(held) == 1:
                return held[0]
    raise _refuse(
        f"Patient.link[{n}].other",
        "must name the surviving record: an identifier of this domain, another entry's"
        " fullUrl, or Patient/<id> of a person this system holds exactly one record of",
    )


def _apply(n: int, change: dict[str, Any], domain: str, keys: dict[str, str]) -> None:
    """One history entry, in the feed's transaction."""
    who = caller()
    conn = get_conn()
    request = change.get("request") if isinstance(change.get("request"), dict) else {}
    method, url = request.get("method"), request.get("url")
    if method not in ("POST", "PUT", "DELETE"):
        raise _refuse("request.method", "must be POST, PUT or DELETE")
    if not isinstance(url, str) or not url.strip() or len(url) > 2000:
        raise _refuse("request.url", "is required")
    if method == "DELETE":
        value = _key_in_url(url, domain, "request.url")
        if value is None:
            raise _refuse("request.url", "a delete must be Patient?identifier=system|value")
        draft().record(who.system_code, value)
        found = lookups.person_of_record(conn, who.system_code, value)
        if found is None:
            raise NotFound(f"no record {value!r} of this system to delete")
        draft().persons([found[1]])
        records.withdraw(conn, who.system_code, value, actor=f"system:{who.system_code}")
        return
    resource = patient_resource(change.get("resource"))
    value = _own_value(resource, domain)
    if method == "POST":
        if url.strip("/") != "Patient":
            raise _refuse("request.url", "a create must be POST Patient")
        if lookups.person_of_record(conn, who.system_code, value) is not None:
            raise Conflict(
                f"this system already holds a Patient with identifier {domain}|{value}:"
                " send it as PUT"
            )
        _register(value, resource, created_status=201)
        return
    named = _key_in_url(url, domain, "request.url")
    if named is None and not url.startswith("Patient/"):
        raise _refuse("request.url", "must be Patient/<id> or Patient?identifier=system|value")
    if named is not None and named != value:
        raise _refuse("Patient.identifier", "must be the identifier request.url names")
    survivor = _survivor(resource, domain, keys)
    if survivor is not None:
        _resolve_duplicate(value, survivor)
        return
    _register(value, resource, created_status=201)


def _where(n: int, field: str | None) -> str:
    entry = f"{HISTORY}.entry[{n}]"
    if not field:
        return entry
    if field == "Patient" or field.startswith("Patient."):
        return f"{entry}.resource{field[len('Patient') :]}"
    return f"{entry}.{field}"


@bp.post("", strict_slashes=False)  # "[base]/" too, as fhirclient posts a message
@audited("patient.feed", "update")
def feed() -> Response:
    """PMIR ITI-93: apply a message Bundle of Patient changes in one transaction."""
    who = caller()
    access.require(who, "register")
    header, changes = _history(json_object())
    conn = get_conn()
    domain = _own_domain(conn, who)
    keys: dict[str, str] = {}  # fullUrl -> the local ID of that entry's Patient
    for change in changes:
        resource = change.get("resource")
        if isinstance(change.get("fullUrl"), str) and isinstance(resource, dict):
            try:
                keys[change["fullUrl"]] = _own_value(resource, domain)
            except InvalidInput:
                pass  # refused when the entry is applied
    draft().detail["entries"] = len(changes)
    for n, change in enumerate(changes):
        try:
            _apply(n, change, domain, keys)
        except InvalidInput as exc:
            raise InvalidInput(
                [FieldProblem(_where(n, p.field), p.reason) for p in exc.problems]
            ) from None
        except ApiError as exc:
            raise ApiError(
                exc.status, exc.code, str(exc), field=_where(n, exc.field), severity=exc.severity
            ) from None
        except (NotFound, Conflict) as exc:
            status, code = (404, "not-found") if isinstance(exc, NotFound) else (409, "duplicate")
            raise ApiError(status, code, str(exc), field=_where(n, "request")) from None
        except MPIError:
            raise
    response = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "message",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "entry": [
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "resource": {
                    "resourceType": "MessageHeader",
                    "id": str(uuid.uuid4()),
                    "eventUri": RESPONSE_EVENT,
                    "source": {"endpoint": base_url()},
                    "response": {"identifier": header["id"], "code": "ok"},
                },
            }
        ],
    }
    return fhir(response, 200)
