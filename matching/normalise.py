"""Normalise demographics into the comparable form that matching reads.

:func:`normalise` checks a record (a bad, impossible or future birth date, an unknown sex
code and, where refused, a test-range NHS number stop it) and builds a
:class:`~matching.types.NormalisedRecord`. Data-quality findings that do not stop
matching are kept in ``issues``; the affected field is dropped so that it is never used
as evidence:

- ``nhs_number_invalid``: the NHS number fails its check (``nhs_number`` is ``None``);
- ``birth_date_placeholder``: the birth date is 1900-01-01 (``birth_date`` is ``None``);
- ``postcode_invalid``: not one of the six UK postcode formats (``postcode`` is ``None``);
- ``postcode_pseudo``: an NHS pseudo-postcode ZZ99 (``postcode`` is ``None``).

The field helpers (:func:`normalise_given_names`, :func:`normalise_family_name`,
:func:`normalise_postcode`, ...) are public and cached, so normalising a busy feed costs
a few microseconds per record.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from functools import lru_cache

from matching import nhs_number
from matching.errors import InvalidDemographics, Problem
from matching.similarity import phonetic
from matching.types import Demographics, NormalisedRecord
from matching.vital import vital_status

__all__ = [
    "EARLIEST_BIRTH_DATE",
    "PLACEHOLDER_BIRTH_DATE",
    "normalise",
    "normalise_address",
    "normalise_family_name",
    "normalise_given_names",
    "normalise_phone",
    "normalise_postcode",
    "normalise_sex",
    "parse_birth_date",
    "postcode_area",
    "postcode_district",
    "postcode_sector",
    "to_ascii_upper",
]

EARLIEST_BIRTH_DATE = date(1880, 1, 1)
"""Birth dates before this are refused as errors."""

PLACEHOLDER_BIRTH_DATE = date(1900, 1, 1)
"""A birth date systems use for "not known"; dropped and reported as an issue."""

_CACHE = 65536

# Names ----------------------------------------------------------------------------------

_DROPPED = re.compile(r"['’‘`´.]")  # removed without splitting: O'Brien -> OBRIEN
_NOT_LETTER = re.compile(r"[^A-Z]+")  # hyphens, spaces and anything else split tokens
_TITLES = frozenset(
    "MR MRS MS MISS MX DR DOCTOR PROF PROFESSOR REV REVD SIR DAME LADY LORD MASTER FR".split()
)
_SUFFIXES = frozenset("JR JNR JUNIOR SR SNR SENIOR II III IV ESQ".split())
_PARTICLES = frozenset("O MC MAC VAN VON DE DER DEN DEL LE LA DI DA DU ST".split())


def to_ascii_upper(text: str) -> str:
    """Uppercase ASCII form of a text: accents stripped after NFKD (Zoë → ZOE).

    Args:
        text: any text.

    Returns:
        The text in uppercase with every non-ASCII character removed after decomposition.

    Example:
        >>> to_ascii_upper("Zoë Kociński")
        'ZOE KOCINSKI'
    """
    if text.isascii():
        return text.upper()
    decomposed = unicodedata.normalize("NFKD", text)
    return decomposed.encode("ascii", "ignore").decode("ascii").upper()


def _name_tokens(raw: str) -> list[str]:
    text = _DROPPED.sub("", to_ascii_upper(raw))
    return [t for t in _NOT_LETTER.split(text) if t]


@lru_cache(maxsize=_CACHE)
def normalise_given_names(raw: str | None) -> tuple[str, ...]:
    """Split given names into uppercase ASCII tokens, without titles or suffixes.

    Args:
        raw: the given names as sent ("Mary-Anne", "Dr Zoë"); ``None`` means missing.

    Returns:
        The names in order, e.g. ``("MARY", "ANNE")``; ``()`` when nothing is left.

    Example:
        >>> normalise_given_names("Mr John Paul")
        ('JOHN', 'PAUL')
    """
    if not raw:
        return ()
    tokens = _name_tokens(raw)
    start = 0
    while start < len(tokens) and tokens[start] in _TITLES:
        start += 1
    end = len(tokens)
    while end > start and tokens[end - 1] in _SUFFIXES:
        end -= 1
    return tuple(tokens[start:end])


@lru_cache(maxsize=_CACHE)
def normalise_family_name(raw: str | None) -> tuple[str, ...]:
    """Split a family name into its parts, joining particles to the word after them.

    Hyphens and spaces separate double-barrelled parts ("Smith-Jones", "Smith Jones");
    a particle (O, MC, MAC, VAN, DE, DER, LE, LA, DI, DA, DU, ST, ...) joins the next word
    instead ("O Brien" → ``OBRIEN``, "Van der Berg" → ``VANDERBERG``). Apostrophes and dots
    are removed, titles at the start and suffixes (JR, SNR, III, ...) at the end dropped.

    Args:
        raw: the family name as sent; ``None`` means missing.

    Returns:
        The parts, e.g. ``("SMITH", "JONES")``, or one part; ``()`` when missing.
        The family name itself is the parts joined without separators.

    Example:
        >>> normalise_family_name("O'Brien-Mc Donald")
        ('OBRIEN', 'MCDONALD')
    """
    if not raw:
        return ()
    tokens = _name_tokens(raw)
    while tokens and tokens[0] in _TITLES and len(tokens) > 1:
        tokens.pop(0)
    while len(tokens) > 1 and tokens[-1] in _SUFFIXES:
        tokens.pop()
    parts: list[str] = []
    prefix = ""
    for token in tokens:
        if token in _PARTICLES:
            prefix += token
        else:
            parts.append(prefix + token)
            prefix = ""
    if prefix:  # trailing particles ("Smith Da"): keep them as a word of their own
        parts.append(prefix)
    return tuple(parts)


# Birth date, sex ------------------------------------------------------------------------

_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")


@lru_cache(maxsize=_CACHE)
def parse_birth_date(raw: str) -> date | str:
    """Parse an ISO ``YYYY-MM-DD`` birth date.

    Args:
        raw: the date as sent, surrounding whitespace allowed.

    Returns:
        The date, or a reason (str) why it is not one.

    Example:
        >>> parse_birth_date("2023-02-30")
        'birth_date 2023-02-30 is not a real date'
    """
    text = raw.strip()
    found = _ISO_DATE.fullmatch(text)
    if found is None:
        return f"birth_date {text!r} must be an ISO date YYYY-MM-DD"
    try:
        return date(int(found[1]), int(found[2]), int(found[3]))
    except ValueError:
        return f"birth_date {text} is not a real date"


_SEX_CODES: dict[str, str | None] = {
    "male": "male",
    "m": "male",
    "1": "male",
    "female": "female",
    "f": "female",
    "2": "female",
    "other": "other",
    "o": "other",
    "9": "other",  # NHS Data Dictionary "Indeterminate (unable to be classified)"
    "unknown": None,
    "u": None,
    "0": None,  # NHS Data Dictionary "Not known"
    "x": None,  # NHS Data Dictionary "Not known" (newer person stated gender code)
}


@lru_cache(maxsize=256)
def normalise_sex(raw: str | None) -> str | None:
    """Map a sex code to a FHIR administrative gender.

    Accepts male/female/other/unknown in any case, M/F/O/U, and the NHS codes 1 (male),
    2 (female), 9 (indeterminate → other), 0 and X (not known).

    Args:
        raw: the code as sent; ``None`` or ``""`` means missing.

    Returns:
        ``"male"``, ``"female"`` or ``"other"``; ``None`` for missing or unknown.

    Raises:
        ValueError: when the code is not one of those above.

    Example:
        >>> normalise_sex("F")
        'female'
    """
    if not raw or not raw.strip():
        return None
    try:
        return _SEX_CODES[raw.strip().lower()]
    except KeyError:
        raise ValueError(
            f"{raw!r} is not a FHIR administrative gender"
            " (male, female, other, unknown, or M/F/O/U, 1/2/9/0)"
        ) from None


# Postcodes ------------------------------------------------------------------------------

_WHITESPACE = re.compile(r"\s+")
# Outward code: AN, ANN, ANA, AAN, AANN, AANA (position rules from BS 7666 / Royal Mail);
# inward code: a digit and two letters, never C I K M O V.
_POSTCODE = re.compile(
    r"[A-PR-UWYZ](?:[0-9][A-HJKPSTUW0-9]?|[A-HK-Y][0-9][ABEHMNPRVWXY0-9]?)"
    r"[0-9][ABD-HJLNP-UW-Z]{2}"
)


@lru_cache(maxsize=_CACHE)
def normalise_postcode(raw: str | None) -> tuple[str | None, str | None]:
    """Validate a UK postcode and give its canonical form.

    Args:
        raw: the postcode as sent ("se154qt", "SE15  4QT"); ``None`` means missing.

    Returns:
        ``(postcode, issue)``: the canonical postcode ("SE15 4QT") and ``None``; or
        ``None`` and ``"postcode_pseudo"`` (an NHS ZZ99 pseudo-postcode) or
        ``"postcode_invalid"``; ``(None, None)`` when missing.

    Example:
        >>> normalise_postcode("se154qt")
        ('SE15 4QT', None)
    """
    if not raw:
        return None, None
    compact = _WHITESPACE.sub("", raw).upper()
    if not compact:
        return None, None
    if compact.startswith("ZZ99"):
        return None, "postcode_pseudo"
    if not _POSTCODE.fullmatch(compact):
        return None, "postcode_invalid"
    return f"{compact[:-3]} {compact[-3:]}", None


def _outward_inward(postcode: str) -> tuple[str, str]:
    compact = _WHITESPACE.sub("", postcode).upper()
    return compact[:-3], compact[-3:]


def postcode_sector(postcode: str | None) -> str | None:
    """The postcode sector: outward code, space, inward digit.

    Args:
        postcode: a canonical or compact postcode; ``None`` means missing.

    Returns:
        For example ``"SE15 4"`` for ``"SE15 4QT"``; ``None`` when missing or too short.

    Example:
        >>> postcode_sector("SE15 4QT")
        'SE15 4'
    """
    if not postcode or len(postcode) < 5:
        return None
    outward, inward = _outward_inward(postcode)
    return f"{outward} {inward[0]}"


def postcode_district(postcode: str | None) -> str | None:
    """The postcode district (the outward code), e.g. ``"SE15"`` for ``"SE15 4QT"``.

    Example:
        >>> postcode_district("SE15 4QT")
        'SE15'
    """
    if not postcode or len(postcode) < 5:
        return None
    return _outward_inward(postcode)[0]


def postcode_area(postcode: str | None) -> str | None:
    """The postcode area (the leading letters), e.g. ``"SE"`` for ``"SE15 4QT"``.

    Example:
        >>> postcode_area("M1 1AA")
        'M'
    """
    if not postcode or len(postcode) < 5:
        return None
    outward = _outward_inward(postcode)[0]
    return outward[:2] if outward[1:2].isalpha() else outward[:1]


# Address, phone -------------------------------------------------------------------------

_ADDRESS_DROPPED = re.compile(r"['’‘`´]")
_ADDRESS_SPLIT = re.compile(r"[^A-Z0-9,]+")
_ABBREVIATIONS = {
    "RD": "ROAD",
    "AVE": "AVENUE",
    "AV": "AVENUE",
    "LN": "LANE",
    "CRES": "CRESCENT",
    "CRESC": "CRESCENT",
    "DR": "DRIVE",
    "CL": "CLOSE",
    "GDNS": "GARDENS",
    "GRN": "GREEN",
    "GRO": "GROVE",
    "PL": "PLACE",
    "SQ": "SQUARE",
    "CT": "COURT",
    "TER": "TERRACE",
    "TERR": "TERRACE",
    "PDE": "PARADE",
    "HSE": "HOUSE",
    "APT": "APARTMENT",
    "BLDGS": "BUILDINGS",
    "SAINT": "ST",
}


@lru_cache(maxsize=_CACHE)
def normalise_address(raw: str | None) -> str | None:
    """Normalise an address line for comparison.

    Uppercase ASCII, punctuation removed, whitespace collapsed and common abbreviations
    expanded (RD → ROAD, AVE → AVENUE, LN → LANE, CRES → CRESCENT, DR → DRIVE, ...). ST
    after a word becomes STREET ("HIGH ST"); at the start of a comma-separated part or
    after a number it stays ST (saint: "12 ST JOHNS ROAD"), and SAINT becomes ST. FLAT and
    APARTMENT are kept.

    Args:
        raw: the address as sent; ``None`` means missing.

    Returns:
        The normalised address, or ``None`` when nothing is left.

    Example:
        >>> normalise_address("Flat 2, 14 St. John's Rd")
        'FLAT 2 14 ST JOHNS ROAD'
        >>> normalise_address("3 High St, Leeds")
        '3 HIGH STREET LEEDS'
    """
    if not raw:
        return None
    text = _ADDRESS_DROPPED.sub("", to_ascii_upper(raw))
    words: list[str] = []
    for segment in text.split(","):
        tokens = [t for t in _ADDRESS_SPLIT.split(segment) if t]
        for index, token in enumerate(tokens):
            if token == "ST" and index > 0 and not tokens[index - 1][0].isdigit():
                token = "STREET"  # "HIGH ST", "HIGH ST PECKHAM"; but "12 ST JOHNS ROAD"
            words.append(_ABBREVIATIONS.get(token, token))
    return " ".join(words) or None


_NOT_DIGIT = re.compile(r"[^0-9]+")


@lru_cache(maxsize=_CACHE)
def normalise_phone(raw: str | None) -> str | None:
    """Normalise a phone number to UK national digits.

    Args:
        raw: the number as sent ("+44 (0)20 7946 0000", "020-7946-0000").

    Returns:
        Digits only, with a +44 or 0044 country code replaced by 0 (``"02079460000"``);
        ``None`` when no digits are left.

    Example:
        >>> normalise_phone("+44 (0)20 7946 0000")
        '02079460000'
    """
    if not raw:
        return None
    text = raw.strip()
    digits = _NOT_DIGIT.sub("", text)
    if not digits:
        return None
    international = text.startswith("+") or digits.startswith("00")
    if international:
        digits = digits.lstrip("0") if digits.startswith("00") else digits
        if digits.startswith("44"):
            national = digits[2:]
            return national if national.startswith("0") else "0" + national
    return digits


# The record -----------------------------------------------------------------------------


@lru_cache(maxsize=_CACHE)
def _given(raw: str | None) -> tuple[tuple[str, ...], str | None]:
    names = normalise_given_names(raw)
    return names, (phonetic(names[0]) if names else None)


@lru_cache(maxsize=_CACHE)
def _family(raw: str | None) -> tuple[str | None, tuple[str, ...], str | None]:
    parts = normalise_family_name(raw)
    if not parts:
        return None, (), None
    name = "".join(parts)
    return name, parts, phonetic(name)


def normalise(
    demo: Demographics,
    *,
    allow_test_nhs_numbers: bool = True,
    today: date | None = None,
) -> NormalisedRecord:
    """Check demographics and build their comparable form.

    Args:
        demo: the demographics as a connected system sent them.
        allow_test_nhs_numbers: accept NHS numbers in the 999 test range (default True;
            production sets False, and such a number is then an error).
        today: the date birth dates must not be after; ``None`` means ``date.today()``.

    Returns:
        The normalised record, with data-quality findings in ``issues``.

    Raises:
        InvalidDemographics: with every problem found: a birth date that is not
            ``YYYY-MM-DD``, not a real date, in the future or before 1880; a sex code
            that is not a FHIR administrative gender or a common code for one; a test-range
            NHS number when those are refused; a multiple-birth or death field that
            :func:`matching.vital.vital_status` refuses.

    Example:
        >>> rec = normalise(Demographics(given_name="Zoë", family_name="O'Brien"))
        >>> rec.given_names, rec.family_name
        (('ZOE',), 'OBRIEN')
    """
    problems: list[Problem] = []
    issues: list[str] = []

    number: str | None = None
    if demo.nhs_number:
        checked = nhs_number.check(demo.nhs_number)
        if checked.is_valid:
            number = checked.digits
            if not allow_test_nhs_numbers and checked.digits.startswith("999"):
                problems.append(
                    Problem(
                        "nhs_number",
                        f"{checked.digits} is in the 999 test range, which is refused here",
                    )
                )
        elif checked.digits:
            issues.append("nhs_number_invalid")
    verified = number is not None and (
        nhs_number.normalise_verification_status(demo.nhs_number_status) == "01"
    )

    birth_date: date | None = None
    if demo.birth_date and demo.birth_date.strip():
        parsed = parse_birth_date(demo.birth_date)
        if isinstance(parsed, str):
            problems.append(Problem("birth_date", parsed))
        elif parsed > (today or date.today()):
            problems.append(Problem("birth_date", f"birth_date {parsed} is in the future"))
        elif parsed < EARLIEST_BIRTH_DATE:
            problems.append(Problem("birth_date", f"birth_date {parsed} is before 1880"))
        elif parsed == PLACEHOLDER_BIRTH_DATE:
            issues.append("birth_date_placeholder")
        else:
            birth_date = parsed

    sex: str | None = None
    try:
        sex = normalise_sex(demo.sex)
    except ValueError as exc:
        problems.append(Problem("sex", str(exc)))

    vital, vital_problems = vital_status(
        demo.multiple_birth,
        demo.birth_order,
        demo.deceased,
        demo.deceased_at,
        birth_date=birth_date,
        today=today,
    )
    problems.extend(vital_problems)

    if problems:
        raise InvalidDemographics(problems)

    postcode, postcode_issue = normalise_postcode(demo.postcode)
    if postcode_issue:
        issues.append(postcode_issue)

    given_names, given_phonetic = _given(demo.given_name)
    family_name, family_parts, family_phonetic = _family(demo.family_name)
    return NormalisedRecord(
        nhs_number=number,
        nhs_verified=verified,
        given_names=given_names,
        family_name=family_name,
        family_parts=family_parts,
        birth_date=birth_date,
        sex=sex,
        postcode=postcode,
        address=normalise_address(demo.address_line),
        phone=normalise_phone(demo.phone),
        given_phonetic=given_phonetic,
        family_phonetic=family_phonetic,
        issues=tuple(issues),
        multiple_birth=vital.multiple_birth,
        birth_order=vital.birth_order,
        deceased=vital.deceased,
        deceased_at=vital.deceased_at,
    )
