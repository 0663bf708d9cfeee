"""GET /fhir/metadata: the CapabilityStatement."""

from __future__ import annotations

from flask import Response

from api.fhir import bp
from api.fhir.patient import SEARCH_PARAMS, UNSUPPORTED_PARAMS
from api.fhir.render import UKCORE_PATIENT, base_url, fhir
from api.requests import public
from mpi import __version__

EXACT = (
    "Matched fuzzily (as the matching engine scores names); with the :exact modifier the"
    " returned Patient's name must hold the value exactly. Search also by POST to"
    " Patient/_search."
)
IDENTIFIER = (
    "system|value tokens, ORed with commas (\\, escapes a comma in a value), select the"
    " Patients holding one of them. system| tokens (IHE PDQm domain filtering, e.g."
    " identifier=urn:oid:1.2.3|,https://fhir.nhs.uk/Id/nhs-number|) select nobody: the search"
    " is made on the other parameters (or the system|value tokens beside them) and each"
    " Patient keeps only the identifiers of those domains; a Patient left with none that the"
    " caller may see is not returned. An unknown domain is a 404 OperationOutcome (warning,"
    " not-found, 'targetSystem not found'). The Bundle self link names the parameters used."
)
SECURITY = (
    "Static bearer tokens, one or more per connected system, issued by the operator"
    " (mpi systems add --scope, mpi systems token; stored only as a SHA-256 hash, revoked"
    " with mpi systems revoke) and sent as 'Authorization: Bearer <token>'. Not OAuth or"
    " SMART on FHIR: there is no authorization server, no token endpoint, no expiry and no"
    " end-user consent. Scopes per token: register, lookup, review, admin. Without a valid"
    " token: 401. A system sees a Patient only through a care relationship (a record of its"
    " own linked to it) or a declared emergency purpose (X-Purpose-Of-Use: ETREAT with"
    " X-Emergency-Reason). The X-User-Id, X-User-Role and X-User-Org headers are recorded in"
    " the audit trail as the calling system asserts them; they are not authenticated."
    " Transport security (TLS) is the deployment's reverse proxy's."
)
PATIENT = (
    "Records are registered and withdrawn by the calling system's own identifier only:"
    " conditional update PUT Patient?identifier=system|value and conditional delete DELETE"
    " Patient?identifier=system|value (conditionalUpdate, conditionalDelete), or create POST"
    " Patient (an identifier the system already holds is a 409, unless the request is a"
    " conditional create with If-None-Exist: identifier=system|value naming it, which"
    " answers that Patient with 200 and changes nothing: conditionalCreate). The golden"
    " Patient (Patient/[id]) is the MPI's own and is not updated or deleted directly: PUT"
    " and DELETE on Patient/[id] answer 405."
)
NARROWS = " Narrows the Patients the other parameters choose (ANDed); alone it is a 400 naming it."
DOCUMENTATION = {
    "family": EXACT,
    "given": EXACT,
    "identifier": IDENTIFIER,
    "telecom": "A phone number ([phone|]number), compared by its digits." + NARROWS,
    "address": "The start of any address line, or the postcode (spaces and case ignored)."
    + NARROWS,
    "address-city": "The start of any address line (the MPI keeps the town in the lines)."
    + NARROWS,
    "active": "true or false; every Patient the search returns is active (a merged one is not"
    " returned)." + NARROWS,
}
PMIR_FEED = "https://profiles.ihe.net/ITI/PMIR/MessageDefinition/IHE.PMIR.MessageDefinition"
FEED = (
    "PMIR Mobile Patient Identity Feed [ITI-93]: POST [base] with a message Bundle"
    " (MessageHeader eventUri urn:ihe:iti:pmir:2019:patient-feed, focus the history Bundle of"
    " entry[1]). Each history entry changes one Patient of the calling system, keyed by its"
    " identifier in the system's own domain: POST Patient (create; one already held is a"
    " 409), PUT Patient?identifier=system|value or PUT Patient/<id> (create or update), PUT"
    " of an active: false Patient with link replaced-by (merge in the source: the record is"
    " withdrawn for the surviving one, named by identifier, by another entry's fullUrl, or as"
    " Patient/<id> of a person the system holds one record of), DELETE"
    " Patient?identifier=system|value (withdraw). One transaction: the first refused entry is"
    " a 4xx OperationOutcome whose expression names the entry and field, and nothing of the"
    " feed is kept; otherwise a message Bundle with one MessageHeader"
    " (urn:ihe:iti:pmir:2019:patient-feed-response, response.code ok). Needs the register"
    " scope."
)
#: Search parameters (modifiers such as ``:exact`` are not parameters of their own).
PATIENT_SEARCH = tuple(
    n
    for n in SEARCH_PARAMS
    if ":" not in n and n not in ("_count", "_offset", "_format", *UNSUPPORTED_PARAMS)
)
UNSUPPORTED = (
    " Search parameters not supported: "
    + "; ".join(f"{k} ({why})" for k, why in UNSUPPORTED_PARAMS.items())
    + ". A search giving one is made without it, and its Bundle carries an OperationOutcome"
    " entry (warning, not-supported) naming it; with Prefer: handling=strict it is a 400"
    " OperationOutcome (not-supported) instead. Any other unknown parameter is a 400."
)


@bp.get("/metadata")
@public
def metadata() -> Response:
    """What this server supports (PIXm Manager, PDQm Supplier, $match)."""
    search_types = {
        "_id": "token",
        "identifier": "token",
        "birthdate": "date",
        "gender": "token",
        "telecom": "token",
        "active": "token",
    }
    return fhir(
        {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": "2026-12-01",
            "publisher": "mpi",
            "kind": "instance",
            "software": {"name": "mpi", "version": __version__},
            "implementation": {"description": "Master patient index", "url": base_url()},
            "fhirVersion": "4.0.1",
            "format": ["application/fhir+json", "json"],
            "messaging": [
                {
                    "endpoint": [
                        {
                            "protocol": {
                                "system": "http://terminology.hl7.org/CodeSystem/message-transport",
                                "code": "http",
                            },
                            "address": base_url(),
                        }
                    ],
                    "documentation": FEED,
                    "supportedMessage": [{"mode": "receiver", "definition": PMIR_FEED}],
                }
            ],
            "rest": [
                {
                    "mode": "server",
                    "security": {
                        "description": SECURITY,
                    },
                    "resource": [
                        {
                            "type": "Patient",
                            "supportedProfile": [UKCORE_PATIENT],
                            "documentation": PATIENT + UNSUPPORTED,
                            "interaction": [
                                {"code": "read"},
                                {"code": "search-type"},
                                {"code": "create"},
                            ],
                            "conditionalCreate": True,
                            "conditionalUpdate": True,
                            "conditionalDelete": "single",
                            "searchParam": [
                                {"name": n, "type": search_types.get(n, "string")}
                                | (
                                    {"documentation": DOCUMENTATION[n]}
                                    if n in DOCUMENTATION
                                    else {}
                                )
                                for n in PATIENT_SEARCH
                            ],
                            "operation": [
                                {
                                    "name": "match",
                                    "definition": "http://hl7.org/fhir/OperationDefinition/Patient-match",
                                },
                                {
                                    "name": "ihe-pix",
                                    "definition": "https://profiles.ihe.net/ITI/PIXm/OperationDefinition/"
                                    "IHE.PIXm.pix",
                                },
                            ],
                        },
                        {
                            "type": "AuditEvent",
                            "interaction": [{"code": "search-type"}],
                            "searchParam": [{"name": "patient", "type": "reference"}],
                        },
                    ],
                }
            ],
        }
    )
