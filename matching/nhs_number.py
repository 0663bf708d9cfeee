"""NHS numbers: cleaning, the Modulus 11 check, the test range, display and verification status.

An NHS number is ten digits whose tenth is a Modulus 11 check digit (NHS Data Dictionary).
Numbers whose digits are all the same pass the check but are refused, and numbers starting
``999`` are the test range, valid but never issued.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "VERIFICATION_STATUS_DISPLAYS",
    "NhsNumberCheck",
    "check",
    "clean",
    "format_nhs_number",
    "generate_check_digit",
    "is_test_range",
    "is_valid",
    "normalise_verification_status",
]

_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)
_SEPARATORS = re.compile(r"[\s\-]+")
_TEN_DIGITS = re.compile(r"[0-9]{10}")
_NINE_DIGITS = re.compile(r"[0-9]{9}")

#: UK Core NHS number verification status codes and their displays.
VERIFICATION_STATUS_DISPLAYS = {
    "01": "Number present and verified",
    "02": "Number present but not traced",
    "03": "Trace required",
    "04": "Trace attempted - No match or multiple match found",
    "05": "Trace needs to be resolved - (NHS number or patient detail conflict)",
    "06": "Trace in progress",
    "07": "Number not present and trace not required",
    "08": "Trace postponed (baby under six weeks old)",
}
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def _slug(text: str) -> str:
    return _NON_ALNUM.sub("-", text.strip().lower()).strip("-")


def _status_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for code, display in VERIFICATION_STATUS_DISPLAYS.items():
        table[code] = code
        table[code.lstrip("0")] = code
        table[_slug(display)] = code
    # The retired UK Core string codes, as short forms of the displays.
    table["trace-attempted"] = "04"
    table["trace-needs-to-be-resolved"] = "05"
    table["trace-postponed"] = "08"
    return table


_STATUS_CODES = _status_table()


@dataclass(frozen=True, slots=True)
class NhsNumberCheck:
    """The outcome of checking one NHS number.

    Attributes:
        digits: the input with spaces and dashes removed ("" when nothing was sent).
        is_valid: True when ``digits`` is a usable NHS number.
        reason: why the number is not valid; ``None`` when it is.
    """

    digits: str
    is_valid: bool
    reason: str | None = None


def clean(raw: str | None) -> str:
    """Remove spaces and dashes from a raw NHS number.

    Args:
        raw: the number as sent, e.g. ``"943 476 5919"``; ``None`` means not sent.

    Returns:
        The remaining characters (not necessarily digits); ``""`` for ``None``.

    Example:
        >>> clean("943-476-5919")
        '9434765919'
    """
    if not raw:
        return ""
    return _SEPARATORS.sub("", raw)


def generate_check_digit(nine_digits: str) -> int | None:
    """Compute the Modulus 11 check digit for the first nine digits of an NHS number.

    Args:
        nine_digits: exactly nine ASCII digits.

    Returns:
        The check digit 0–9, or ``None`` when the check would be 10 (no number with these
        nine digits is ever issued) or the input is not nine digits.

    Example:
        >>> generate_check_digit("943476591")
        9
    """
    if not _NINE_DIGITS.fullmatch(nine_digits):
        return None
    total = sum(int(d) * w for d, w in zip(nine_digits, _WEIGHTS, strict=True))
    digit = 11 - total % 11
    if digit == 11:
        return 0
    if digit == 10:
        return None
    return digit


@lru_cache(maxsize=65536)
def check(raw: str | None) -> NhsNumberCheck:
    """Check an NHS number: ten digits, a correct Modulus 11 check digit, not all the same.

    The 999 test range passes this check; refusing it is the caller's choice (see
    :func:`is_test_range`).

    Args:
        raw: the number as sent; spaces and dashes are allowed. ``None`` means not sent.

    Returns:
        The cleaned digits, whether they are valid and, if not, why.

    Example:
        >>> check("943 476 5919").is_valid
        True
        >>> check("9876544321").reason
        'check digit should be 2, not 1'
    """
    digits = clean(raw)
    if not digits:
        return NhsNumberCheck(digits, False, "missing")
    if not _TEN_DIGITS.fullmatch(digits):
        return NhsNumberCheck(digits, False, "must be 10 digits")
    if digits == digits[0] * 10:
        return NhsNumberCheck(digits, False, "all digits are the same")
    expected = generate_check_digit(digits[:9])
    if expected is None:
        return NhsNumberCheck(digits, False, "check digit would be 10, so never issued")
    if expected != int(digits[9]):
        return NhsNumberCheck(digits, False, f"check digit should be {expected}, not {digits[9]}")
    return NhsNumberCheck(digits, True, None)


def is_valid(raw: str | None) -> bool:
    """Whether ``raw`` is a valid NHS number (see :func:`check`).

    Example:
        >>> is_valid("9434765919")
        True
    """
    return check(raw).is_valid


def is_test_range(raw: str | None) -> bool:
    """Whether ``raw`` is in the 999 test range (``999 000 0000``–``999 999 9999``).

    Args:
        raw: an NHS number, spaces and dashes allowed; validity is not checked here.

    Returns:
        True when the cleaned number is ten digits starting ``999``.

    Example:
        >>> is_test_range("999 000 0018")
        True
    """
    digits = clean(raw)
    return bool(_TEN_DIGITS.fullmatch(digits)) and digits.startswith("999")


def format_nhs_number(digits: str) -> str:
    """Display an NHS number in the 3-3-4 form.

    Args:
        digits: ten digits; spaces and dashes are removed first.

    Returns:
        For example ``"943 476 5919"``.

    Raises:
        ValueError: when the cleaned input is not ten digits.

    Example:
        >>> format_nhs_number("9434765919")
        '943 476 5919'
    """
    cleaned = clean(digits)
    if not _TEN_DIGITS.fullmatch(cleaned):
        raise ValueError(f"an NHS number must be 10 digits, got {len(cleaned)} characters")
    return f"{cleaned[:3]} {cleaned[3:6]} {cleaned[6:]}"


def normalise_verification_status(code: str | None) -> str | None:
    """Map an NHS number verification status to its England code ``"01"``–``"08"``.

    Accepts the England codes, the same without the leading zero, and the retired UK Core
    string codes (``"number-present-and-verified"``) or the displays they came from, in any
    case.

    Args:
        code: the status as sent; ``None`` means not sent.

    Returns:
        ``"01"``–``"08"``, or ``None`` when the code is missing or unknown.

    Example:
        >>> normalise_verification_status("number-present-and-verified")
        '01'
    """
    if not code:
        return None
    found = _STATUS_CODES.get(code.strip())
    if found is not None:
        return found
    return _STATUS_CODES.get(_slug(code))
