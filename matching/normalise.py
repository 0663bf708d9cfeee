"""Normalise demographics into the comparable form that matching reads.

:func:`normalise` checks a record (a bad, impossible or future birth date, an unknown sex
code and, where refused, a test-range NHS number stop it) and builds a
:class:`~matching.types.NormalisedRecord`. Data-quality findings that do not stop
matching are kept in ``issues``; the affected field is dropped so that it is never used
as evidence:

- ``nhs_number_invalid``: the NHS number fails its check (``nhs_number`` is ``None``);
- ``birth_date_placeholder``: the birth date is 1900-01-01 (``birth_date`` is ``None``);
- ``postcode_invalid``: not one of the six UK postcode formats (``postcode`` is ``None``);
- ``postcode_pseudo``: an NHS pseudo-postcode ZZ99 (``postcode`` is ``None``);
- ``name_not_comparable``: a given or family name was sent but nothing comparable is left
  of it (only symbols, digits, punctuation or ``?`` put in by a system that could not
  encode the letters); such a record never links on demographics alone.

Names in any script: letters of a script other than Latin (Arabic, Chinese, Cyrillic,
Greek, Devanagari, ...) are transliterated to Latin by ``anyascii`` for matching, and the
original-script form is kept beside it (``given_script``, ``family_script``), so that two
records in one script are compared in that script (see
:mod:`matching.comparisons`). Latin text is normalised exactly as before: accents are
stripped after NFKD and a Latin letter with no ASCII decomposition is dropped.

The field helpers (:func:`normalise_given_names`, :func:`normalise_family_name`,
:func:`normalise_postcode`, ...) are public and cached, so normalising a busy feed costs
a few microseconds per record.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from functools import lru_cache

from anyascii import anyascii

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
    "normalise_script_name",
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


#: First words of the Unicode names of letters and marks that are not of another script:
#: Latin letters (a Latin letter without an ASCII decomposition, such as Ł, is dropped as
#: it always was), modifier letters, combining diacritics and letter-like symbols.
_NOT_OTHER_SCRIPT = frozenset(
    "LATIN MODIFIER COMBINING MATHEMATICAL DOUBLE-STRUCK TURNED VARIATION CARON EULER OHM"
    " PLANCK MICRO MUSICAL".split()
)
#: Scripts whose combining marks are optional vowel signs (harakat, niqqud), left out of
#: both forms so that a voweled and an unvoweled spelling of one name agree.
_OPTIONAL_MARKS = ("ARABIC", "HEBREW")


@lru_cache(maxsize=_CACHE)
def _latin_char(char: str) -> tuple[str, bool]:
    """The ASCII form of one non-ASCII character, and whether it is of another script.

    A character whose NFKD decomposition holds ASCII keeps that (é → e, ﬁ → fi: the form
    it always had); a letter, mark or digit of another script is transliterated by
    ``anyascii`` (optional Arabic and Hebrew vowel marks give nothing); anything else
    (punctuation, symbols, emoji, Latin letters without an ASCII decomposition) is
    dropped, as before.
    """
    ascii_part = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode("ascii")
    if ascii_part:
        return ascii_part, False
    category = unicodedata.category(char)
    if category[0] not in "LMN":
        return "", False
    name = unicodedata.name(char, "")
    first = name.split(" ", 1)[0]
    if first in _NOT_OTHER_SCRIPT:
        return "", False
    if category == "Mn" and first in _OPTIONAL_MARKS:
        return "", True
    return anyascii(char), True


def _to_latin(text: str) -> tuple[str, bool]:
    """The ASCII form of a text, and whether any character of it was of another script."""
    if text.isascii():
        return text, False
    parts = []
    other = False
    for char in text:
        if char.isascii():
            parts.append(char)
        else:
            latin, script = _latin_char(char)
            parts.append(latin)
            other = other or script
    return "".join(parts), other


def to_ascii_upper(text: str) -> str:
    """Uppercase ASCII form of a text: accents stripped after NFKD, other scripts transliterated.

    Latin text keeps the form it always had (Zoë → ZOE); letters of another script are
    transliterated to Latin with ``anyascii`` (Иван → IVAN, 王 → WANG, محمد → MHMD:
    Arabic without its optional vowel marks).

    Args:
        text: any text.

    Returns:
        The text in uppercase ASCII; punctuation and symbols outside ASCII removed.

    Example:
        >>> to_ascii_upper("Zoë Kociński")
        'ZOE KOCINSKI'
        >>> to_ascii_upper("Ελένη Иванова")
        'ELENI IVANOVA'
    """
    if text.isascii():
        return text.upper()
    return _to_latin(text)[0].upper()


# The original-script form: what two records in one script are compared on.
_SCRIPT_DROPPED = frozenset("'’‘`´.")
#: Arabic spellings that vary without changing the name (alef maqsura and ya, ta marbuta
#: and ha, the Persian ya and kaf), folded as Arabic text search does.
_ARABIC_FOLD = str.maketrans({"ى": "ي", "ة": "ه", "ی": "ي", "ک": "ك", "ٱ": "ا"})


def _script_fold(char: str) -> bool:
    """Whether a character (after NFD) is an optional mark left out of the script form."""
    if unicodedata.category(char) != "Mn":
        return False
    if "\u0300" <= char <= "\u036f":  # accents (Greek tonos, Cyrillic breve, diaeresis)
        return True
    return unicodedata.name(char, "").split(" ", 1)[0] in _OPTIONAL_MARKS


@lru_cache(maxsize=_CACHE)
def normalise_script_name(raw: str | None, *, given: bool = True) -> tuple[str, ...]:
    """The original-script form of a name that holds letters of a script other than Latin.

    Compatibility forms unified (NFKC), accents and optional vowel marks (Arabic harakat
    and hamza seats, Hebrew points) removed, case folded, a few Arabic spelling variants
    folded (ى/ي, ة/ه); split into words at anything that is not a letter, mark or digit.
    Titles at the start and suffixes at the end are removed as for Latin names.

    Args:
        raw: the name as sent; ``None`` means missing.
        given: given names (``True``, the default) or a family name.

    Returns:
        The words, e.g. ``("محمد",)``; ``()`` for a name in Latin script only (it has no
        other form) or a missing one.

    Example:
        >>> normalise_script_name("Γιώργος")
        ('γιωργοσ',)
        >>> normalise_script_name("George")
        ()
    """
    if not raw or raw.isascii() or not _to_latin(raw)[1]:
        return ()
    text = unicodedata.normalize("NFD", unicodedata.normalize("NFKC", raw))
    text = "".join(c for c in text if not _script_fold(c) and c not in _SCRIPT_DROPPED)
    text = unicodedata.normalize("NFC", text).casefold().translate(_ARABIC_FOLD)
    tokens: list[str] = []
    word: list[str] = []
    for char in text:
        if unicodedata.category(char)[0] in "LMN":
            word.append(char)
        elif word:
            tokens.append("".join(word))
            word = []
    if word:
        tokens.append("".join(word))
    start, end = 0, len(tokens)
    if given:
        while start < end and tokens[start].upper() in _TITLES:
            start += 1
    elif end > 1 and tokens[0].upper() in _TITLES:
        start = 1
    while end > start + (0 if given else 1) and tokens[end - 1].upper() in _SUFFIXES:
        end -= 1
    return tuple(tokens[start:end])


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


def _sent(raw: str | None) -> bool:
    return bool(raw and raw.strip())


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
    if (_sent(demo.given_name) and not given_names) or (
        _sent(demo.family_name) and not family_name
    ):
        issues.append("name_not_comparable")
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
        given_script=normalise_script_name(demo.given_name),
        family_script=normalise_script_name(demo.family_name, given=False),
        multiple_birth=vital.multiple_birth,
        birth_order=vital.birth_order,
        deceased=vital.deceased,
        deceased_at=vital.deceased_at,
    )
