"""FHIR Patient: registration (PIXm feed), read, PDQm search, PIXm $ihe-pix, $match, AuditEvent."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from flask import Response, current_app, request
from werkzeug.datastructures import MultiDict

from api.db import get_conn, read_conn
from api.errors import ApiError
from api.fhir import bp
from api.fhir.input import RESOURCE_FIELDS, SEARCH_FIELDS, patient_resource, renamed
from api.fhir.render import MATCH_GRADE, base_url, fhir, identifier_system, outcome, patient
from api.fhir.render import searchset as make_searchset
from api.requests import audited, caller, draft
from api.v1.common import golden, match_context
from api.validation import int_param, json_object, require_media_type, text_param
from matching.nhs_number import check as check_nhs_number  # noqa: I001
from matching.types import Demographics
from mpi import access, audit, lookups, optout, records, systems
from mpi.access import Caller
from mpi.errors import FieldProblem, InvalidInput, NotFound
from mpi.fhir_patient import NHS_NUMBER_SYSTEM, demographics_from_patient
from mpi.optout import Withheld
from mpi.search import SEARCH_CANDIDATES, find_matches
from mpi.systems import SystemIdentity

# -- identifiers and domains -------------------------------------------------------------


def _token(name: str, value: str | None, *, required: bool = True) -> tuple[str, str]:
    """Split a ``system|value`` token parameter."""
    value = text_param(name, value, max_length=300)
    if not value:
        if required:
            raise ApiError(400, "required", f"{name} is required (system|value)", field=name)
        return "", ""
    system, bar, local = value.partition("|")
    if not bar or not system:
        raise ApiError(400, "invalid", f"{name} must be system|value", field=name)
    return system, local


def _domains(conn: Any, *uris: str) -> dict[str, SystemIdentity]:
    """Every known assigning authority: URI -> system.

    Kept for ``DOMAIN_CACHE_SECONDS`` per worker, and read afresh when one of ``uris``
    is missing, so a newly registered identifier system is known at once.
    """
    cached = current_app.extensions.get("mpi_domains")
    now = time.monotonic()
    if cached is not None and cached[0] > now and all(u in cached[1] for u in uris):
        return cached[1]  # type: ignore[no-any-return]
    domains = {
        identifier_system(s.code, s.identifier_system): s for s in systems.system_identities(conn)
    }
    ttl = float(current_app.config["DOMAIN_CACHE_SECONDS"])
    current_app.extensions["mpi_domains"] = (now + ttl, domains)
    return domains


def _own_domain(conn: Any, who: Caller) -> str:
    found = systems.system_identity(conn, who.system_code)
    assert found is not None
    return identifier_system(found.code, found.identifier_system)


def _persons_for_identifier(conn: Any, system: str, value: str) -> list[tuple[int, str]] | None:
    """Persons with this identifier; ``None`` when the domain is unknown."""
    if system == NHS_NUMBER_SYSTEM:
        checked = check_nhs_number(value)
        if not checked.is_valid:
            raise ApiError(
                400, "invalid", f"invalid NHS number: {checked.reason}", field="identifier"
            )
        return lookups.persons_with_nhs_number(conn, checked.digits)
    domain = _domains(conn, system).get(system)
    if domain is None:
        return None
    found = lookups.person_of_record(conn, domain.code, value)
    return [found] if found else []


# -- registration (PIXm ITI-104) ---------------------------------------------------------


def _register(local_value: str, resource: dict[str, Any], *, created_status: int) -> Response:
    who = caller()
    access.require(who, "register")
    conn = get_conn()
    domain = _own_domain(conn, who)
    draft().record(who.system_code, local_value)
    text_param("identifier", local_value, max_length=128)
    idents = resource.get("identifier")
    if idents is None:
        idents = []
    if not isinstance(idents, list) or not all(isinstance(i, dict) for i in idents):
        raise InvalidInput.single("Patient.identifier", "must be a list of Identifier")
    own = [i for i in idents if i.get("system") == domain]
    if any(i.get("value") != local_value for i in own):
        raise InvalidInput.single(
            "Patient.identifier", "the identifier in this system's domain must match the URL"
        )
    if not own:
        resource = {**resource, "identifier": [*idents, {"system": domain, "value": local_value}]}
    demographics = demographics_from_patient(resource)
    existed = lookups.person_of_record(conn, who.system_code, local_value) is not None
    ctx = match_context()
    with renamed(RESOURCE_FIELDS):
        row = records.prepare(ctx, local_value, resource, demographics)
    result = records.register(conn, ctx, who.system_code, row, actor=f"system:{who.system_code}")
    draft().persons([result.person_id])
    draft().detail["decision"] = result.decision
    body = _patient_for(conn, who, result.person_id)
    status = 200 if existed else created_status
    return fhir(body, status, {"Location": f"{base_url()}/Patient/{result.person_id}"})


def _resource_body() -> dict[str, Any]:
    return patient_resource(json_object())


def _replaced_by(resource: dict[str, Any], domain: str) -> str | None:
    """The surviving local ID of a PIXm "resolve duplicate" feed, or ``None``.

    That feed is ``active: false`` with one ``link`` of type ``replaced-by`` whose
    ``other.identifier`` is the surviving identifier in the same domain.

    Raises:
        InvalidInput: a replaced-by link that does not name an identifier of this domain,
            or one on a Patient that is not inactive.
    """
    links = [
        (n, link)
        for n, link in enumerate(resource.get("link") or [])
        if link.get("type") == "replaced-by"
    ]
    if not links:
        return None
    n, link = links[0]
    where = f"Patient.link[{n}].other.identifier"
    if resource.get("active") is not False or len(links) > 1:
        raise InvalidInput.single(
            "Patient.active", "a duplicate resolved in the source is active: false with one link"
        )
    identifier = (link.get("other") or {}).get("identifier") or {}
    value = identifier.get("value")
    if identifier.get("system") != domain or not isinstance(value, str) or not value.strip():
        raise InvalidInput.single(where, f"must be the surviving identifier in {domain}")
    return value


def _resolve_duplicate(subsumed: str, survivor: str) -> Response:
    """PIXm ITI-104 merge in the source domain: the subsumed record is withdrawn (its
    history kept, never resolved again) and the surviving record's Patient answered."""
    who = caller()
    conn = get_conn()
    draft().record(who.system_code, survivor)
    draft().detail["replaced_by"] = True
    if survivor == subsumed:
        raise InvalidInput.single("Patient.link", "a record cannot be replaced by itself")
    kept = lookups.person_of_record(conn, who.system_code, survivor)
    if kept is None:
        raise NotFound(f"no record {survivor!r} of this system to be replaced by")
    gone = lookups.person_of_record(conn, who.system_code, subsumed)
    if gone is not None:
        draft().persons([gone[1]])
        records.withdraw(conn, who.system_code, subsumed, actor=f"system:{who.system_code}")
    draft().persons([kept[1]])
    draft().detail["decision"] = "replaced"
    body = _patient_for(conn, who, kept[1])
    return fhir(body, 200, {"Location": f"{base_url()}/Patient/{kept[1]}"})


@bp.put("/Patient")
@audited("patient.register", "update")
def conditional_update() -> Response:
    """Conditional update keyed by the caller's own identifier: PUT /Patient?identifier=s|v."""
    system, value = _token("identifier", request.args.get("identifier"))
    who = caller()
    conn = get_conn()
    if system == NHS_NUMBER_SYSTEM:
        raise ApiError(
            400,
            "invalid",
            "register with this system's own identifier, not the NHS number",
            field="identifier",
        )
    domains = _domains(conn, system)
    if system not in domains:
        raise ApiError(
            400, "code-invalid", "identifier Assigning Authority not found", field="identifier"
        )
    if domains[system].code != who.system_code:
        access.require_own_system(who, domains[system].code)
    if not value:
        raise ApiError(400, "required", "identifier needs a value", field="identifier")
    access.require(who, "register")
    text_param("identifier", value, max_length=128)
    draft().record(who.system_code, value)
    resource = _resource_body()
    survivor = _replaced_by(resource, _own_domain(conn, who))
    if survivor is not None:
        return _resolve_duplicate(value, survivor)
    return _register(value, resource, created_status=201)


@bp.post("/Patient")
@audited("patient.register", "create")
def create() -> Response:
    """Create: register a Patient carrying an identifier in the caller's domain.

    FHIR create makes a new resource, so an identifier the caller already holds is a 409
    (update it with ``PUT Patient?identifier=``), unless the request is a conditional
    create: ``If-None-Exist: identifier=system|value`` naming that same identifier answers
    the Patient it belongs to with 200 and changes nothing (FHIR http.html#ccreate).
    """
    resource = _resource_body()
    who = caller()
    conn = get_conn()
    domain = _own_domain(conn, who)
    values = [
        i.get("value")
        for i in resource.get("identifier") or []
        if isinstance(i, dict) and i.get("system") == domain
    ]
    if len(values) != 1 or not isinstance(values[0], str) or not values[0].strip():
        raise InvalidInput.single(
            "Patient.identifier", f"needs exactly one identifier with system {domain}"
        )
    value = values[0]
    condition = request.headers.get("If-None-Exist")
    if condition is not None:
        _check_condition(condition, domain, value)
    held = lookups.person_of_record(conn, who.system_code, value)
    if held is not None:
        access.require(who, "register")
        draft().record(who.system_code, value)
        draft().persons([held[1]])
        if condition is None:
            raise ApiError(
                409,
                "duplicate",
                f"this system already holds a Patient with identifier {domain}|{value}:"
                " update it with PUT Patient?identifier=system|value, or send If-None-Exist",
                field="Patient.identifier",
            )
        draft().detail["decision"] = "exists"
        body = _patient_for(conn, who, held[1])
        return fhir(body, 200, {"Location": f"{base_url()}/Patient/{held[1]}"})
    return _register(value, resource, created_status=201)


def _check_condition(condition: str, domain: str, value: str) -> None:
    """The only ``If-None-Exist`` served: ``identifier=`` the body's own identifier.

    Raises:
        InvalidInput: any other search (naming the header).
    """
    text_param("If-None-Exist", condition, max_length=500)
    try:
        pairs = parse_qsl(condition, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        pairs = []
    if pairs != [("identifier", f"{domain}|{value}")]:
        raise InvalidInput.single(
            "If-None-Exist",
            f"must be identifier={domain}|{value}, the Patient's identifier in this system's"
            " domain",
        )


@bp.delete("/Patient")
@audited("patient.withdraw", "delete")
def conditional_delete() -> Response:
    """Withdraw a record: DELETE /Patient?identifier=s|v (PIXm remove)."""
    system, value = _token("identifier", request.args.get("identifier"))
    who = caller()
    access.require(who, "register")
    conn = get_conn()
    domain = _domains(conn, system).get(system)
    if domain is None:
        raise ApiError(
            400, "code-invalid", "identifier Assigning Authority not found", field="identifier"
        )
    access.require_own_system(who, domain.code)
    draft().record(domain.code, value)
    found = lookups.person_of_record(conn, domain.code, value)
    if found:
        draft().persons([found[1]])
    records.withdraw(conn, domain.code, value, actor=f"system:{who.system_code}")
    return Response(status=204)


# -- read --------------------------------------------------------------------------------


def _patient_for(conn: Any, who: Caller, person_id: str) -> dict[str, Any]:
    """The Patient as the caller may see it (:func:`mpi.access.disclose`).

    For a patient who objected, that is the caller's own records only (the golden view and
    the other systems' records withheld, the reason stated).

    Raises:
        NotFound: no such person, or none the caller may see (the same answer).
    """
    seen = access.disclose(conn, who, person_id)
    draft().detail["basis"] = seen.basis
    for r in seen.records:
        draft().record(r.system_code, r.local_id)
    if seen.status != "active":
        return patient(seen.person_id, active=False, replaced_by=seen.merged_into)
    if seen.withheld:
        draft().outcome = "withheld"
        return patient(seen.person_id, records=seen.records, withheld=optout.WITHHELD_MESSAGE)
    return patient(seen.person_id, golden=golden(conn, seen.person_pk), records=seen.records)


@bp.get("/Patient/<person_id>")
@audited("patient.read", "read")
def read(person_id: str) -> Response:
    """The golden Patient; a merged one answers active=false with link replaced-by."""
    who = caller()
    access.require(who, "lookup")
    text_param("id", person_id, max_length=64)
    draft().persons([person_id])
    return fhir(_patient_for(read_conn(), who, person_id))


# -- PDQm search (ITI-78) and $match (ITI-119) -------------------------------------------

#: Demographic search parameters, in the order the self link gives them.
_DEMOGRAPHIC_PARAMS = (
    "family",
    "family:exact",
    "given",
    "given:exact",
    "birthdate",
    "gender",
    "address-postalcode",
)
#: Parameters that narrow the persons other parameters choose (they choose nobody alone).
_FILTER_PARAMS = ("telecom", "address", "address-city", "active")
#: PDQm parameters the MPI cannot answer (it keeps no such data): the search is made
#: without them and says so in an OperationOutcome entry; ``Prefer: handling=strict``
#: makes them a 400 instead.
UNSUPPORTED_PARAMS = {
    "mothersMaidenName": "the MPI keeps no mother's maiden name",
}
SEARCH_PARAMS = (
    "_id",
    "identifier",
    *_DEMOGRAPHIC_PARAMS,
    *_FILTER_PARAMS,
    *UNSUPPORTED_PARAMS,
    "_count",
    "_offset",
    "_format",
)

#: The most matches a search can page through (``_offset`` beyond it is refused).
MAX_OFFSET = 1000


def _exact_name(resource: dict[str, Any], family: str | None, given: str | None) -> bool:
    """Whether the Patient's name holds ``family`` and ``given`` exactly (``:exact``)."""
    names = resource.get("name") or []
    if family is not None and not any(n.get("family") == family for n in names):
        return False
    return given is None or any(given in n.get("given", ()) for n in names)


@dataclass(frozen=True, slots=True)
class _Wanted:
    """Demographic search parameters as filters on a disclosed Patient (ANDed).

    ``family`` and ``given`` as FHIR string search (the start of a name, ignoring case),
    the ``:exact`` forms exactly; ``birthdate`` the day; the postcode without spaces and
    case; ``gender`` the code.
    """

    family: str | None = None
    given: str | None = None
    family_exact: str | None = None
    given_exact: str | None = None
    birthdate: str | None = None
    postcode: str | None = None
    gender: str | None = None
    telecom: str | None = None
    address: str | None = None
    city: str | None = None
    active: bool | None = None

    def any(self) -> bool:
        return any(getattr(self, f) is not None for f in self.__slots__)

    def test(self, resource: dict[str, Any]) -> bool:
        if not _exact_name(resource, self.family_exact, self.given_exact):
            return False
        if self.active is not None and bool(resource.get("active", True)) != self.active:
            return False
        if self.telecom is not None and self.telecom not in {
            _digits(str(t.get("value", ""))) for t in resource.get("telecom") or []
        }:
            return False
        addresses = resource.get("address") or []
        if self.city is not None and not any(
            _starts(str(part), self.city)
            for a in addresses
            for part in [*a.get("line", ()), a.get("city", "")]
        ):
            return False
        if self.address is not None and not any(
            _starts(str(part), self.address) or _squashed(str(part)) == _squashed(self.address)
            for a in addresses
            for part in [*a.get("line", ()), a.get("city", ""), a.get("postalCode", "")]
        ):
            return False
        names = resource.get("name") or []
        if self.family is not None and not any(
            str(n.get("family", "")).casefold().startswith(self.family.casefold()) for n in names
        ):
            return False
        if self.given is not None and not any(
            str(g).casefold().startswith(self.given.casefold())
            for n in names
            for g in n.get("given", ())
        ):
            return False
        if self.birthdate is not None and resource.get("birthDate") != self.birthdate:
            return False
        if self.gender is not None and resource.get("gender") != self.gender:
            return False
        if self.postcode is not None:
            want = _squashed(self.postcode)
            codes = [_squashed(str(a.get("postalCode", ""))) for a in resource.get("address") or []]
            if want not in codes:
                return False
        return True


def _squashed(postcode: str) -> str:
    return "".join(postcode.split()).upper()


def _starts(text: str, value: str) -> bool:
    """FHIR string search: the text starts with the value, ignoring case and accents' case."""
    return bool(text) and text.casefold().startswith(value.casefold())


def _digits(phone: str) -> str:
    """A phone number compared by its digits only (``0113 496 0000`` = ``01134960000``)."""
    return "".join(c for c in phone if c.isdigit())


def _telecom(value: str) -> str:
    """The phone number of a ``telecom`` token search (``[phone|]number``), as digits.

    Raises:
        InvalidInput: another telecom system, or no digits (field ``telecom``).
    """
    system, bar, number = value.rpartition("|")
    if bar and system not in ("", "phone"):
        raise InvalidInput.single("telecom", "only phone numbers are searched (phone|number)")
    digits = _digits(number)
    if not digits:
        raise InvalidInput.single("telecom", "must be a phone number ([phone|]number)")
    return digits


def _entries(
    found: list[tuple[int, str, str, float]],
    *,
    scored: bool,
    keep: Callable[[dict[str, Any]], bool] | None = None,
    limit: int | None = None,
    offset: int = 0,
    domains: frozenset[str] | None = None,
    self_url: str | None = None,
    next_url: Callable[[int], str] | None = None,
    grades: frozenset[str] | None = None,
    ignored: tuple[str, ...] = (),
) -> dict[str, Any]:
    """A searchset of persons under the disclosure rule, with score and match grade.

    ``ignored`` names search parameters the search was made without (an OperationOutcome
    entry, warning ``not-supported``, says which and why).

    A person the caller may see nothing of (:func:`mpi.access.visible`) is left out, as if
    it did not exist. ``keep`` filters the disclosed Patients (the ``:exact`` modifiers),
    ``grades`` keeps only those match grades (``onlyCertainMatches``). ``domains`` (PDQm
    domain filtering) keeps only the identifiers of those systems, and only the persons
    left with at least one of them. The Bundle's ``total`` counts every person left after
    all of these (what the caller may see, never more); the page is ``limit`` of them from
    ``offset``, and ``next_url(offset)`` is the link to the following page when there is
    one. ``self_url`` is the Bundle's self link.
    """
    who = caller()
    conn = read_conn()
    sights = access.visible(conn, who, (f[0] for f in found))
    kept: list[tuple[str, str, float, Any, dict[str, Any], list[Any]]] = []
    for pk, person_id, grade, score in found:
        sight = sights.get(pk)
        if sight is None or (grades is not None and grade not in grades):
            continue
        is_withheld = sight.withheld is not None
        view = {} if is_withheld else golden(conn, pk)
        if keep is not None and (is_withheld or not keep(patient(person_id, golden=view))):
            continue  # a withheld name cannot be compared
        seen = access.records_shown(conn, who, pk, sight)
        if domains is not None:
            view, seen = _in_domains(domains, view, seen)
            if not seen and not view.get("nhs_number"):
                continue  # nothing of the requested domains that this caller may see
        kept.append((person_id, grade, score, sight, view, seen))
    total = len(kept)
    end = total if limit is None else offset + limit
    note = None
    entries: list[dict[str, Any]] = []
    for person_id, grade, score, sight, view, seen in kept[offset:end]:
        for r in seen:
            draft().record(r.system_code, r.local_id)
        if sight.withheld is not None:
            resource = patient(person_id, records=seen, withheld=optout.WITHHELD_MESSAGE)
            note = (note + "; " if note else "") + optout.WITHHELD_MESSAGE
        else:
            resource = patient(person_id, golden=view, records=seen)
        search: dict[str, Any] = {"mode": "match", "score": round(score, 4)}
        if scored:
            search["extension"] = [{"url": MATCH_GRADE, "valueCode": grade}]
        entries.append(
            {"fullUrl": f"{base_url()}/Patient/{person_id}", "resource": resource, "search": search}
        )
        draft().persons([person_id])
    shown = len(entries)
    if note:
        entries.append({"resource": outcome("informational", note), "search": {"mode": "outcome"}})
    if ignored:
        why = "; ".join(f"{name} is not supported ({UNSUPPORTED_PARAMS[name]})" for name in ignored)
        entries.append(
            {
                "resource": outcome(
                    "not-supported", why + ": the search was made without it", "warning"
                ),
                "search": {"mode": "outcome"},
            }
        )
    draft().detail["results"] = shown
    if next_url is None and limit is not None:
        total = shown  # $match: its count is the whole answer, never paged
    bundle = make_searchset(entries, total, self_url=self_url)
    if next_url is not None and end < total:
        bundle.setdefault("link", []).append({"relation": "next", "url": next_url(end)})
    return bundle


def _in_domains(
    domains: frozenset[str], view: dict[str, str], records: list[lookups.LinkedRecord]
) -> tuple[dict[str, str], list[lookups.LinkedRecord]]:
    """The golden view and records cut down to the identifiers of ``domains``.

    The NHS number is the domain ``https://fhir.nhs.uk/Id/nhs-number``; demographics stay.
    """
    if NHS_NUMBER_SYSTEM not in domains:
        view = {k: v for k, v in view.items() if k not in ("nhs_number", "nhs_number_status")}
    kept = [r for r in records if identifier_system(r.system_code, r.identifier_system) in domains]
    return view, kept


@bp.get("/Patient")
@audited("patient.search", "search")
def search() -> Response:
    """PDQm search (ITI-78) by identifier, _id or demographics."""
    return _search(request.args)


#: The only body ``POST /Patient/_search`` takes (FHIR http.html, search by POST).
FORM = "application/x-www-form-urlencoded"


@bp.post("/Patient/_search")
@audited("patient.search", "search")
def search_post() -> Response:
    """PDQm search by POST: the parameters form-encoded in the body (and the query)."""
    require_media_type(lambda t: t == FORM, FORM)
    # request.values is the query then the form; a MultiDict keeps their keys in order
    return _search(MultiDict(request.values.items(multi=True)))


#: Most tokens in one ``identifier`` search value (``a|1,b|2,c|``).
MAX_IDENTIFIER_TOKENS = 20
_ESCAPED = frozenset(",|$\\")


def _identifier_tokens(raw: str) -> list[tuple[str, str]]:
    """The ORed ``system|value`` tokens of an ``identifier`` search, in order.

    Tokens are separated by commas; as FHIR search escapes them, ``\\,``, ``\\|``, ``\\$``
    and ``\\\\`` stand for a literal comma, bar, dollar and backslash. An empty value
    (``system|``) names a domain whose identifiers are wanted (IHE PDQm domain filtering).

    Raises:
        InvalidInput: a token without a system and a bar, or too many tokens.
    """
    tokens: list[tuple[str, str]] = []
    parts: list[list[str]] = [[]]
    chars = iter(raw)
    for char in chars:
        if char == "\\":
            following = next(chars, "")
            parts[-1].append(following if following in _ESCAPED else char + following)
        elif char == "|" and len(parts) == 1:
            parts.append([])
        elif char == ",":
            tokens.append(_one_token(parts))
            parts = [[]]
        else:
            parts[-1].append(char)
    tokens.append(_one_token(parts))
    if len(tokens) > MAX_IDENTIFIER_TOKENS:
        raise InvalidInput.single("identifier", f"give at most {MAX_IDENTIFIER_TOKENS} tokens")
    return tokens


def _one_token(parts: list[list[str]]) -> tuple[str, str]:
    system = "".join(parts[0])
    if len(parts) < 2 or not system:
        raise InvalidInput.single(
            "identifier",
            "each token must be system|value, or system| to ask for a domain's identifiers"
            " (tokens separated by commas)",
        )
    return system, "".join(parts[1])


def _escape_token(text: str) -> str:
    """``text`` with FHIR search's special characters escaped."""
    return "".join("\\" + c if c in _ESCAPED else c for c in text)


def _wanted_domains(conn: Any, tokens: list[tuple[str, str]]) -> list[str]:
    """The domains asked for by system-only tokens, in order (PDQm domain filtering).

    Raises:
        ApiError: 404 (severity warning, as IHE PDQm prefers) for an unknown domain.
    """
    wanted = list(dict.fromkeys(system for system, value in tokens if not value))
    asked = [u for u in wanted if u != NHS_NUMBER_SYSTEM]
    if asked:
        known = _domains(conn, *asked)
        if any(u not in known for u in asked):
            raise _unknown_domain()
    return wanted


def _unknown_domain() -> ApiError:
    """IHE PDQm's preferred answer to an identifier domain it does not know."""
    return ApiError(
        404, "not-found", "targetSystem not found", field="identifier", severity="warning"
    )


def _with_identifiers(conn: Any, tokens: list[tuple[str, str]]) -> list[tuple[int, str]]:
    """The persons holding any of the ``system|value`` tokens, in order, each once.

    Raises:
        ApiError: 404 for an unknown domain, 400 for an invalid NHS number.
    """
    persons: dict[int, str] = {}
    for system, value in tokens:
        matched = _persons_for_identifier(conn, system, value)
        if matched is None:
            raise _unknown_domain()
        persons.update(matched)
    return list(persons.items())


def _self_url(used: list[tuple[str, str]]) -> str:
    """The Bundle self link: the search as performed, with only the parameters used."""
    return f"{base_url()}/Patient?{urlencode(used, safe=':|,/', quote_via=quote)}"


def _search(params: MultiDict[str, str]) -> Response:
    """PDQm search.

    Every parameter given is ANDed: ``_id``, the ``identifier`` tokens with a value (ORed
    among themselves) and the demographics each choose a set of persons, and the result is
    the persons in all of them (in the demographic search's order, best first, when
    demographics are given). System-only ``identifier`` tokens (``system|``, ORed) select
    nobody: they keep only the identifiers of those domains in each Patient, and only the
    Patients left with one. The Bundle pages: ``_count`` per page, ``_offset`` the cursor
    of the ``next`` link; ``total`` counts the matches the caller may see.
    """
    who = caller()
    access.require(who, "lookup")
    unknown = [
        FieldProblem(k, "is not a supported search parameter")
        for k in params
        if k not in SEARCH_PARAMS
    ]
    repeated = [
        FieldProblem(k, "is given more than once") for k in params if len(params.getlist(k)) > 1
    ]
    if unknown or repeated:
        raise InvalidInput(unknown + repeated)
    ignored = tuple(k for k in UNSUPPORTED_PARAMS if k in params)
    if ignored and "handling=strict" in request.headers.get("Prefer", "").replace(" ", ""):
        raise ApiError(
            400,
            "not-supported",
            "; ".join(f"{k} is not supported: {UNSUPPORTED_PARAMS[k]}" for k in ignored),
            field=ignored[0],
        )
    args = {
        k: text_param(k, params.get(k), max_length=2000 if k == "identifier" else 100)
        for k in SEARCH_PARAMS
    }
    count = int_param("_count", args["_count"], default=10, low=1, high=50)
    offset = int_param("_offset", args["_offset"], default=0, low=0, high=MAX_OFFSET)
    conn = read_conn()
    tokens = _identifier_tokens(args["identifier"]) if args["identifier"] else []
    wanted = _wanted_domains(conn, tokens)
    domains = frozenset(wanted) if wanted else None
    filtering = [("identifier", ",".join(_escape_token(u) + "|" for u in wanted))] if wanted else []
    selectors = [(system, value) for system, value in tokens if value]
    birthdate = args["birthdate"]
    if birthdate and birthdate[:2].isalpha():
        if not birthdate.startswith("eq"):
            raise InvalidInput.single("birthdate", "only exact dates (or eq) are supported")
        birthdate = birthdate[2:]
    for name in ("family", "given"):
        if args[name] and args[f"{name}:exact"]:
            raise InvalidInput.single(f"{name}:exact", f"give {name} or {name}:exact, not both")
    family, given = args["family"] or args["family:exact"], args["given"] or args["given:exact"]
    demographic = any((given, family, birthdate, args["address-postalcode"]))
    if not (args["_id"] or selectors or demographic):
        if wanted:
            raise InvalidInput.single(
                "identifier",
                "system| tokens only choose which identifiers are returned; give demographics,"
                " _id or system|value to search",
            )
        filters = [k for k in _FILTER_PARAMS if args[k]]
        if filters:
            raise InvalidInput.single(
                filters[0],
                "narrows a search: give it with family, given, birthdate, address-postalcode,"
                " _id or identifier",
            )
        raise InvalidInput.single("family", "give at least family, given, birthdate or postcode")
    # each given criterion chooses persons; the answer is those chosen by all of them
    chosen: list[list[tuple[int, str, str, float]]] = []
    used: list[tuple[str, str]] = []
    if args["_id"]:
        draft().persons([args["_id"]])
        facts = access.person_facts(conn, who, args["_id"])
        one = facts is not None and facts.status == "active"
        chosen.append([(facts.pk, facts.person_id, "certain", 1.0)] if one and facts else [])
        used.append(("_id", args["_id"]))
    if selectors:
        persons = _with_identifiers(conn, selectors)
        chosen.append([(pk, pid, "certain", 1.0) for pk, pid in persons])
        used.append(("identifier", str(args["identifier"])))
    if demographic and not chosen:
        demographics = Demographics(
            given_name=given,
            family_name=family,
            birth_date=birthdate,
            sex=args["gender"],
            postcode=args["address-postalcode"],
        )
        with renamed(SEARCH_FIELDS):
            # the whole result (up to 50): the disclosure rule, exact names and domains
            # filter it, the page after them
            candidates = find_matches(conn, match_context(), demographics, limit=SEARCH_CANDIDATES)
        chosen.append(
            [(c.person_pk, c.person_id, c.grade, c.score.probability) for c in candidates]
        )
    used += [(k, v) for k in _DEMOGRAPHIC_PARAMS if (v := args[k])]
    used += [(k, v) for k in _FILTER_PARAMS if (v := args[k])]
    active = None
    if args["active"] is not None:
        if args["active"] not in ("true", "false"):
            raise InvalidInput.single("active", "must be true or false")
        active = args["active"] == "true"
    if args["gender"] and not demographic:
        used.append(("gender", args["gender"]))
    if not selectors:
        used += filtering
    found = chosen[0]
    for other in chosen[1:]:
        keys = {f[0] for f in other}
        found = [f for f in found if f[0] in keys]
    if args["_count"]:
        used.append(("_count", str(count)))
    fam, giv, sex = args["family:exact"], args["given:exact"], args["gender"]
    filtered = bool(args["_id"] or selectors)  # demographics then filter, as FHIR strings
    wanted_person = _Wanted(
        family=args["family"] if filtered else None,
        given=args["given"] if filtered else None,
        family_exact=fam,
        given_exact=giv,
        birthdate=birthdate if filtered else None,
        postcode=args["address-postalcode"] if filtered else None,
        gender=sex,
        telecom=_telecom(args["telecom"]) if args["telecom"] else None,
        address=args["address"],
        city=args["address-city"],
        active=active,
    )
    exact = wanted_person.test if wanted_person.any() else None
    paged = [(k, v) for k, v in used if k != "_count"] + [("_count", str(count))]
    return fhir(
        _entries(
            found,
            scored=demographic and not filtered,
            keep=exact,
            limit=count,
            offset=offset,
            domains=domains,
            ignored=ignored,
            self_url=_self_url(used + ([("_offset", str(offset))] if offset else [])),
            next_url=lambda at: _self_url([*paged, ("_offset", str(at))]),
        )
    )


def _match_input() -> tuple[dict[str, Any], bool, int]:
    body = json_object()
    if body.get("resourceType") == "Patient":
        return patient_resource(body), False, 10
    if body.get("resourceType") != "Parameters":
        raise InvalidInput.single("resourceType", "must be Parameters or Patient")
    params = body.get("parameter")
    if not isinstance(params, list) or not all(isinstance(p, dict) for p in params):
        raise InvalidInput.single("Parameters.parameter", "must be a list of parameters")
    resource: dict[str, Any] | None = None
    only_certain = False
    count = 10
    names = [p.get("name") for p in params]
    again = next((n for n, name in enumerate(names) if name in names[:n]), None)
    if again is not None:
        raise InvalidInput.single(
            f"Parameters.parameter[{again}]", f"{names[again]} is given more than once"
        )
    for n, p in enumerate(params):
        name = p.get("name")
        if name == "resource":
            resource = patient_resource(p.get("resource"), f"Parameters.parameter[{n}].resource")
        elif name == "onlyCertainMatches":
            if not isinstance(p.get("valueBoolean"), bool):
                raise InvalidInput.single("onlyCertainMatches", "must be a valueBoolean")
            only_certain = p["valueBoolean"]
        elif name == "count":
            value = p.get("valueInteger")
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 50:
                raise InvalidInput.single("count", "must be a valueInteger from 1 to 50")
            count = value
        else:
            raise InvalidInput.single(f"parameter.{name}", "is not a $match parameter")
    if not isinstance(resource, dict) or resource.get("resourceType") != "Patient":
        raise InvalidInput.single("resource", "must be a Patient")
    return resource, only_certain, count


@bp.post("/Patient/$match")
@audited("patient.match", "execute")
def match() -> Response:
    """$match: candidates best first, each with search.score and the match-grade extension."""
    who = caller()
    access.require(who, "lookup")
    resource, only_certain, count = _match_input()
    with renamed(RESOURCE_FIELDS):
        demographics = demographics_from_patient(resource)
        candidates = find_matches(
            read_conn(), match_context(), demographics, limit=SEARCH_CANDIDATES
        )
    # at most one candidate is certain (the one the linker would link the query to); the
    # access rules see every candidate before onlyCertainMatches and count leave any out
    found = [(c.person_pk, c.person_id, c.grade, c.score.probability) for c in candidates]
    draft().detail["only_certain"] = only_certain
    grades = frozenset({"certain"}) if only_certain else None
    return fhir(_entries(found, scored=True, limit=count, grades=grades))


# -- PIXm (ITI-83) -----------------------------------------------------------------------


@bp.get("/Patient/$ihe-pix")
@audited("patient.pix", "search")
def pix() -> Response:
    """PIXm: the identifiers of the person a source identifier belongs to."""
    who = caller()
    access.require(who, "lookup")
    conn = read_conn()
    sources = request.args.getlist("sourceIdentifier")
    if len(sources) != 1:
        raise ApiError(
            400, "required", "exactly one sourceIdentifier is required", field="sourceIdentifier"
        )
    system, value = _token("sourceIdentifier", sources[0])
    if not value:
        raise ApiError(400, "required", "sourceIdentifier needs a value", field="sourceIdentifier")
    targets = [
        text_param("targetSystem", t, max_length=300) or ""
        for t in request.args.getlist("targetSystem")
    ]
    asked = [u for u in (system, *targets) if u != NHS_NUMBER_SYSTEM]
    domains = _domains(conn, *asked)
    if system != NHS_NUMBER_SYSTEM and system not in domains:
        raise ApiError(
            400,
            "code-invalid",
            "sourceIdentifier Assigning Authority not found",
            field="sourceIdentifier",
        )
    if any(t != NHS_NUMBER_SYSTEM and t not in domains for t in targets):
        raise ApiError(403, "code-invalid", "targetSystem not found", field="targetSystem")
    if system in domains:
        draft().record(domains[system].code, value)
        one = access.record_facts(conn, who, domains[system].code, value)
        found = [one] if one else []
    else:
        found = [
            f
            for _, person_id in _persons_for_identifier(conn, system, value) or []
            if (f := access.person_facts(conn, who, person_id)) is not None
        ]
    for facts in found:
        draft().persons([facts.person_id])
    disclosed = [seen for f in found if (seen := access.decide(conn, who, f)) is not None]
    if not disclosed:
        if found:  # answered as an unknown identifier; the audit keeps what happened
            draft().outcome = "denied"
            draft().detail["basis"] = "none"
        raise ApiError(
            404,
            "not-found",
            "sourceIdentifier Patient Identifier not found",
            field="sourceIdentifier",
        )
    params: list[dict[str, Any]] = []
    for seen in disclosed:
        draft().detail["basis"] = seen.basis
        if seen.withheld:
            raise Withheld()  # a cross-reference, even to a system holding a record
        identifiers: list[dict[str, Any]] = []
        if seen.status == "active" and seen.nhs_number:
            identifiers.append({"system": NHS_NUMBER_SYSTEM, "value": seen.nhs_number})
        for r in seen.records:
            uri = identifier_system(r.system_code, r.identifier_system)
            identifiers.append(
                {"system": uri, "value": r.local_id, "assigner": {"display": r.system_name}}
            )
            draft().record(r.system_code, r.local_id)
        for ident in identifiers:
            if ident["system"] == system and ident["value"] == value:
                continue  # the source identifier itself is never returned
            if targets and ident["system"] not in targets:
                continue
            params.append({"name": "targetIdentifier", "valueIdentifier": ident})
        params.append(
            {"name": "targetId", "valueReference": {"reference": f"Patient/{seen.person_id}"}}
        )
    return fhir({"resourceType": "Parameters", "parameter": params})


# -- AuditEvent --------------------------------------------------------------------------


@bp.get("/AuditEvent")
@audited("audit.read", "search")
def audit_events() -> Response:
    """AuditEvents about a patient (admin): GET /AuditEvent?patient=Patient/{id}."""
    who = caller()
    access.require(who, "admin")
    ref = text_param("patient", request.args.get("patient"), max_length=100)
    if not ref:
        raise InvalidInput.single("patient", "give patient=Patient/{id}")
    person_id = ref.removeprefix("Patient/")
    draft().persons([person_id])
    count = int_param("_count", request.args.get("_count"), default=100, low=1, high=1000)
    events = audit.of_person(get_conn(), person_id, limit=count)
    uris = {d.code: uri for uri, d in _domains(get_conn()).items()}
    entries = [
        {
            "fullUrl": f"{base_url()}/AuditEvent/{e['id']}",
            "resource": audit.to_fhir(e, identifier_systems=uris),
            "search": {"mode": "match"},
        }
        for e in events
    ]
    if not entries and not lookups.person_exists(get_conn(), person_id):
        raise NotFound(f"no person {person_id!r}")
    return fhir(make_searchset(entries, len(entries)))
