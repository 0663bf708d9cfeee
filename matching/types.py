"""Shared value types of the matching engine.

Everything here is a frozen dataclass: demographics as a connected system sent them, the
normalised form that comparisons read, and the scored, explained result of comparing two
records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True, slots=True)
class Demographics:
    """Demographics as a connected system sent them (strings, unvalidated).

    ``None`` or an empty string means the system did not send the field.
    ``given_name`` may hold several given names separated by spaces ("Mary Anne").
    ``nhs_number_status`` is the UK Core NHS number verification status code ("01".."08").
    ``multiple_birth`` (part of a multiple birth), ``birth_order`` (1 for the first-born
    twin, 2 for the second, ...), ``deceased`` and ``deceased_at`` (an ISO date or
    date-time) come as the system sent them too: a JSON boolean or number, or text
    ("true", "Y", "2") from a file.
    """

    nhs_number: str | None = None
    nhs_number_status: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    sex: str | None = None
    birth_date: str | None = None
    address_line: str | None = None
    postcode: str | None = None
    phone: str | None = None
    multiple_birth: bool | str | None = None
    birth_order: int | str | None = None
    deceased: bool | str | None = None
    deceased_at: str | None = None


@dataclass(frozen=True, slots=True)
class NormalisedRecord:
    """The comparable form of one record, built by :func:`matching.normalise.normalise`.

    Only evidence that may be used for matching is kept: an invalid NHS number is ``None``
    here (and reported in ``issues``), a pseudo-postcode (ZZ99) is ``None``.
    ``multiple_birth`` and ``birth_order`` are safety evidence only (never weighed): two
    different birth orders, or a multiple birth and another given name, are never linked
    automatically. ``deceased`` and ``deceased_at`` are kept for the golden view and not
    compared. ``given_script`` and ``family_script`` hold the original-script form of a
    name in a script other than Latin (``given_names`` and ``family_name`` then hold its
    Latin transliteration); empty for a Latin name.
    """

    nhs_number: str | None = None
    nhs_verified: bool = False
    given_names: tuple[str, ...] = ()
    family_name: str | None = None
    family_parts: tuple[str, ...] = ()
    birth_date: date | None = None
    sex: str | None = None
    postcode: str | None = None
    address: str | None = None
    phone: str | None = None
    given_phonetic: str | None = None
    family_phonetic: str | None = None
    issues: tuple[str, ...] = ()
    multiple_birth: bool | None = None
    birth_order: int | None = None
    deceased: bool | None = None
    deceased_at: str | None = None
    given_script: tuple[str, ...] = ()
    family_script: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FieldScore:
    """One comparison's outcome: which level applied and its match weight (log2 m/u)."""

    comparison: str
    level: str
    weight: float


@dataclass(frozen=True, slots=True)
class MatchScore:
    """The Fellegi–Sunter score of a record pair, with its explanation.

    ``flags`` carries safety findings that forbid an automatic link whatever the weight:
    ``nhs_number_conflict`` (two valid, different NHS numbers), ``nhs_number_shared_conflict``
    (same NHS number, clearly different date of birth), ``twin_risk`` (same family name and
    date of birth, different given names, no shared NHS number).
    """

    weight: float
    probability: float
    fields: tuple[FieldScore, ...] = field(default_factory=tuple)
    flags: tuple[str, ...] = ()
