"""Blocking keys: the short strings that decide which stored records are scored.

Each key is an AND of fields behind a prefix naming them; a record's keys are ORed, so a
candidate is any stored record sharing at least one key. A key is skipped when one of
its fields is missing. The set is built so that a record with any one field wrong or
missing still shares a key with its match:

==========================  ================================================================
``nhs:<nhs>``               the NHS number
``dob+name:<ymd>:<code>``   birth date and the Metaphone of the family name, and again of the
                            first given name (the same prefix, so names entered in the wrong
                            fields still meet)
``dobswap+fam:<yx>:<fam>``  the birth year with day and month in ascending order, and family
                            Metaphone (only when the day is 12 or less and differs from the
                            month): a record and one whose date has day and month swapped
                            both make this same key
``names+yob:<a>:<b>:<y>``   both name codes, in sorted order, and the year of birth (a wrong
                            day or month)
``pc+yob:<pc>:<yyyy>``      postcode (no space) and year of birth
``pc+fam:<pc>:<fam>``       postcode and family Metaphone (a wrong year of birth)
``adr+yob:<n>:<street>:<y>`` the first house number and the word after it, and the year
                            of birth (no UK postcode, or a mistyped one)
``adr+name:<n>:<street>:<c>`` the house number and street word, and the Metaphone of the
                            family name, and again of the first given name (a wrong year of
                            birth and no postcode, or a mistyped one)
==========================  ================================================================

The keys with a family-name code are also made for each part of a double-barrelled name
("SMITH-JONES" meets "JONES"), except ``dobswap+fam``.
"""

from __future__ import annotations

from datetime import date

from matching.similarity import phonetic
from matching.types import NormalisedRecord

__all__ = ["blocking_keys"]


def _ymd(d: date) -> str:
    return f"{d.year:04d}{d.month:02d}{d.day:02d}"


_NOT_STREET = frozenset({"FLAT", "APARTMENT", "APT", "UNIT", "ROOM", "HOUSE"})


def _house_and_street(address: str | None) -> str | None:
    """The first house number and the word after it: ``"54:HOSEASON"``."""
    if not address:
        return None
    tokens = address.split()
    for i, token in enumerate(tokens[:-1]):
        if token.isdigit():
            word = tokens[i + 1]
            if word.isalpha() and word not in _NOT_STREET:
                return f"{token}:{word}"
    return None


def blocking_keys(rec: NormalisedRecord) -> frozenset[str]:
    """The blocking keys of a normalised record.

    Args:
        rec: the record.

    Returns:
        Its keys (see the module docstring); empty when it has too little to block on.

    Example:
        >>> from datetime import date
        >>> from matching.types import NormalisedRecord
        >>> sorted(blocking_keys(NormalisedRecord(
        ...     family_name="SMITH", family_parts=("SMITH",), family_phonetic="SM0",
        ...     birth_date=date(1980, 3, 4))))
        ['dob+name:19800304:SM0', 'dobswap+fam:19800304:SM0']
    """
    keys: set[str] = set()
    if rec.nhs_number:
        keys.add("nhs:" + rec.nhs_number)
    born = rec.birth_date
    family = rec.family_phonetic
    given = rec.given_phonetic
    postcode = rec.postcode.replace(" ", "") if rec.postcode else None
    street = _house_and_street(rec.address)
    # The whole family name's code, then one per part of a double-barrelled name.
    families = [family] if family else []
    if family and len(rec.family_parts) > 1:
        families.extend(code for code in map(phonetic, rec.family_parts) if code)
    if born is not None:
        ymd = _ymd(born)
        year = ymd[:4]
        for code in families:
            keys.add(f"dob+name:{ymd}:{code}")
            if given:
                low_code, high_code = sorted((given, code))
                keys.add(f"names+yob:{low_code}:{high_code}:{year}")
        if family and born.day <= 12 and born.day != born.month:
            low, high = sorted((born.day, born.month))
            keys.add(f"dobswap+fam:{year}{low:02d}{high:02d}:{family}")
        if given:
            keys.add(f"dob+name:{ymd}:{given}")
        if street:
            keys.add(f"adr+yob:{street}:{year}")
        if postcode:
            keys.add(f"pc+yob:{postcode}:{year}")
    if postcode:
        for code in families:
            keys.add(f"pc+fam:{postcode}:{code}")
    if street:
        for code in {family, given} - {None}:
            keys.add(f"adr+name:{street}:{code}")
    return frozenset(keys)
