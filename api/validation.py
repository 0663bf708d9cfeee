"""Parsing request bodies and parameters defensively: 4xx for anything odd, never 500."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from flask import request

from api.errors import ApiError, is_fhir
from matching.nhs_number import check as check_nhs_number
from mpi.errors import FieldProblem, InvalidInput

MAX_DEPTH = 20

#: ``fhirVersion`` media-type parameter values of FHIR R4 (http.html#version-parameter).
FHIR_VERSIONS = frozenset({"4.0", "4.0.1"})

#: JSON bodies under /fhir: R4's type, plain JSON (FHIR http.html allows both) and STU3's.
FHIR_JSON_TYPES = frozenset({"application/fhir+json", "application/json", "application/json+fhir"})


#: ``application/json`` and structured-syntax JSON types (RFC 6839, RFC 6838 names).
_JSON_TYPE = re.compile(r"application/(?:[a-z0-9][a-z0-9!#$&^_.+-]{0,120}\+)?json")
#: A well-formed media type, safe to repeat in an error message.
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,60}/[a-z0-9][a-z0-9!#$&^_.+-]{0,60}")


def is_json_type(mimetype: str) -> bool:
    """Whether a media type (lower case, no parameters) is ``application/json`` or a
    structured-syntax ``application/*+json`` (RFC 6839) such as ``merge-patch+json``."""
    return _JSON_TYPE.fullmatch(mimetype) is not None


def require_media_type(accepts: Callable[[str], bool], expected: str) -> None:
    """Refuse a request body that is not of an accepted media type in UTF-8 (415).

    Args:
        accepts: whether a media type (lower case, without parameters) is accepted.
        expected: the accepted types as the error message names them.

    Raises:
        ApiError: 415 ``not-supported`` naming ``Content-Type`` when the header names
            another type or a ``charset`` other than UTF-8, or when it is missing but a
            body was sent (as HAPI FHIR does). A request with neither header nor body
            passes, so the body checks can say what is missing.
    """
    given = request.headers.get("Content-Type", "").strip()
    if not given:
        if not request.get_data(cache=True):
            return
        raise ApiError(
            415, "not-supported", f"a body needs Content-Type {expected}", field="Content-Type"
        )
    mimetype = request.mimetype
    charset = request.mimetype_params.get("charset")
    if not accepts(mimetype):
        shown = mimetype if _MEDIA_TYPE.fullmatch(mimetype) else "that"
        raise ApiError(
            415, "not-supported", f"the body must be {expected}, not {shown}", field="Content-Type"
        )
    if charset is not None and charset.lower() != "utf-8":
        raise ApiError(
            415, "not-supported", "the body must be in UTF-8 (charset=utf-8)", field="Content-Type"
        )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _DuplicateKey(key)
        found[key] = value
    return found


def json_body() -> Any:
    """The request body as JSON (any JSON value).

    The body must be declared JSON: under /fhir ``application/fhir+json``,
    ``application/json`` or ``application/json+fhir``, under /v1 ``application/json`` or
    any ``application/*+json``; a ``charset`` parameter, if given, must be UTF-8.

    Raises:
        ApiError: 415 naming ``Content-Type`` (see :func:`require_media_type`).
        InvalidInput: not UTF-8, not JSON, a key given twice in one object (parsers
            disagree on which wins), or holding text the database cannot store.
    """
    if is_fhir():
        require_media_type(
            FHIR_JSON_TYPES.__contains__, "application/fhir+json or application/json"
        )
        version = request.mimetype_params.get("fhirversion")  # werkzeug lowers the names
        if version is not None and version not in FHIR_VERSIONS:
            raise ApiError(
                415,
                "not-supported",
                "this server speaks FHIR R4: the body must be fhirVersion=4.0",
                field="Content-Type",
            )
    else:
        require_media_type(is_json_type, "application/json or application/*+json")
    data = request.get_data(cache=True)
    try:
        text = data.decode("utf-8")
        value = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        name = exc.key if not bad_text(exc.key) else "body"
        raise InvalidInput.single(name, "is given twice") from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidInput.single("body", "must be valid JSON in UTF-8") from None
    problems: list[FieldProblem] = []
    _check(value, "body", 0, problems)
    if problems:
        raise InvalidInput(problems[:20])
    return value


def json_object() -> dict[str, Any]:
    """The request body as a JSON object."""
    value = json_body()
    if not isinstance(value, dict):
        raise InvalidInput.single("body", "must be a JSON object")
    return value


#: Format characters a name may need: zero-width non-joiner and joiner (Persian, Indic).
_JOINERS = frozenset("\u200c\u200d")


def bad_text(value: str) -> str | None:
    """Why a string cannot be accepted, or ``None``.

    Refused: control characters (NUL …, but not tab and newlines), lone surrogates,
    Unicode non-characters, the replacement character U+FFFD (the text was mis-decoded
    somewhere, e.g. invalid UTF-8 in a URL), and invisible format characters (category
    Cf: right-to-left and other bidirectional marks and overrides, zero-width spaces,
    byte-order marks, soft hyphens), which make two equal-looking names differ or a
    name display reversed. Zero-width joiners stay allowed.
    """
    if value.isprintable() and "\ufffd" not in value:
        return None  # the common case: letters, marks, punctuation, spaces (one C loop)
    for ch in value:
        if ch.isprintable() and ch != "\ufffd":
            continue
        category = unicodedata.category(ch)
        if category == "Cs":
            return "must not contain lone surrogates"
        if category == "Cc" and ch not in "\t\n\r":
            return "must not contain control characters"
        if category == "Cn" and (0xFDD0 <= ord(ch) <= 0xFDEF or ord(ch) & 0xFFFE == 0xFFFE):
            return "must not contain Unicode non-characters"
        if ch == "\ufffd":
            return "must not contain U+FFFD (text that was not valid UTF-8)"
        if category == "Cf" and ch not in _JOINERS:
            return f"must not contain invisible format characters (U+{ord(ch):04X})"
    return None


def _check(value: Any, path: str, depth: int, problems: list[FieldProblem]) -> None:
    if depth > MAX_DEPTH:
        problems.append(FieldProblem(path, "is nested too deeply"))
        return
    if isinstance(value, str):
        reason = bad_text(value)
        if reason:
            problems.append(FieldProblem(path, reason))
    elif isinstance(value, dict):
        for key, item in value.items():
            reason = bad_text(key)
            if reason:
                problems.append(FieldProblem(path, "keys " + reason))
                continue
            _check(item, f"{path}.{key}" if path != "body" else key, depth + 1, problems)
    elif isinstance(value, list):
        for n, item in enumerate(value):
            _check(item, f"{path}[{n}]", depth + 1, problems)


def text_param(name: str, value: str | None, *, max_length: int = 200) -> str | None:
    """A path or query value as clean text (``None`` stays ``None``)."""
    if value is None:
        return None
    reason = bad_text(value)
    if reason:
        raise InvalidInput.single(name, reason)
    if len(value) > max_length:
        raise InvalidInput.single(name, f"must be at most {max_length} characters")
    return value


def int_param(name: str, value: str | None, *, default: int, low: int, high: int) -> int:
    """A query parameter as a bounded integer."""
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise InvalidInput.single(name, "must be a whole number") from None
    if not low <= number <= high:
        raise InvalidInput.single(name, f"must be between {low} and {high}")
    return number


def nhs_number_problem(field: str, value: str) -> FieldProblem | None:
    """Why an NHS number sent over the API is refused (Modulus 11), or ``None``.

    Over HTTP the sender can correct a mistyped number at once, so an invalid one is a
    400 and nothing is stored (a bulk file load keeps such a row, without the number).
    An empty value means no number and is not a problem.
    """
    if not value.strip():
        return None
    checked = check_nhs_number(value)
    if checked.is_valid:
        return None
    return FieldProblem(field, f"is not a valid NHS number: {checked.reason}")
