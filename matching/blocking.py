"""Blocking keys: the short strings that decide which stored records are scored.

Each key is an AND of fields behind a prefix naming them; a record's keys are ORed, so a
candidate is any stored record sharing at least one key. A key is skipped when one of
its fields is missing. The set is built so that a record with any one field wrong or
missing still shares a key with its match:

==========================  ================================================================
``nhs:<nhs>``               the NHS number
``dob+fam:<ymd>:<fam>``     birth date and family-name Metaphone
``dob+giv:<ymd>:<giv>``     birth date and first-given-name Metaphone
``dobswap+fam:<yx>:<fam>``  the birth year with day and month in ascending order, and family
                            Metaphone (only when the day is 12 or less and differs from the
                            month): a record and one whose date has day and month swapped
                            both make this same key
``giv+fam+yob:<g>:<f>:<y>`` both name codes and the year of birth (a wrong day or month)
``pc+yob:<pc>:<yyyy>``      postcode (no space) and year of birth
``pc+fam:<pc>:<fam>``       postcode and family Metaphone (a wrong year of birth)
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
        ['dob+fam:19800304:SM0', 'dobswap+fam:19800304:SM0']
    """
    keys: set[str] = set()
    if rec.nhs_number:
        keys.add("nhs:" + rec.nhs_number)
    born = rec.birth_date
    family = rec.family_phonetic
    given = rec.given_phonetic
    postcode = rec.postcode.replace(" ", "") if rec.postcode else None
    # The whole family name's code, then one per part of a double-barrelled name.
    families = [family] if family else []
    if family and len(rec.family_parts) > 1:
        families.extend(code for code in map(phonetic, rec.family_parts) if code)
    if born is not None:
        ymd = _ymd(born)
        year = ymd[:4]
        for code in families:
            keys.add(f"dob+fam:{ymd}:{code}")
            if given:
                keys.add(f"giv+fam+yob:{given}:{code}:{year}")
        if family and born.day <= 12 and born.day != born.month:
            low, high = sorted((born.day, born.month))
            keys.add(f"dobswap+fam:{year}{low:02d}{high:02d}:{family}")
        if given:
            keys.add(f"dob+giv:{ymd}:{given}")
        if postcode:
            keys.add(f"pc+yob:{postcode}:{year}")
    if postcode:
        for code in families:
            keys.add(f"pc+fam:{postcode}:{code}")
    return frozenset(keys)
