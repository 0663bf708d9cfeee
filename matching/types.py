"""Shared value types of the matching engine.

Everything here is a frozen dataclass: demographics as a connected system sent them, the
normalised form that comparisons read (both made from the declarations in
:mod:`matching.fields`), and the scored, explained result of comparing two records.
"""

from __future__ import annotations

from dataclasses import dataclass, field, make_dataclass
from typing import Any

from matching.fields import COLUMNS, FIELDS


def _value_type(name: str, items: list[tuple[str, Any, Any]], doc: str) -> Any:
    """A frozen, slotted dataclass with these (name, type, default) attributes, in order."""
    made = make_dataclass(
        name, [(n, t, field(default=d)) for n, t, d in items], frozen=True, slots=True
    )
    made.__module__ = __name__
    made.__doc__ = doc
    return made


#: Demographics as a connected system sent them (strings, unvalidated): one attribute per
#: field of :data:`matching.fields.FIELDS`, in its order, each ``None`` by default.
Demographics = _value_type(
    "Demographics",
    [(f.name, f.python_type, None) for f in FIELDS],
    """Demographics as a connected system sent them (strings, unvalidated).

    One attribute per field of :data:`matching.fields.FIELDS`. ``None`` or an empty string
    means the system did not send the field. ``given_name`` may hold several given names
    separated by spaces ("Mary Anne"). ``nhs_number_status`` is the UK Core NHS number
    verification status code ("01".."08"). ``multiple_birth`` (part of a multiple birth),
    ``birth_order`` (1 for the first-born twin, 2 for the second, ...), ``deceased`` and
    ``deceased_at`` (an ISO date or date-time) come as the system sent them too: a JSON
    boolean or number, or text ("true", "Y", "2") from a file.
    """,
)

#: The comparable form of one record: one attribute per column of
#: :data:`matching.fields.COLUMNS`, in its (storage) order.
NormalisedRecord = _value_type(
    "NormalisedRecord",
    [(c.name, c.python_type, c.default) for c in COLUMNS],
    """The comparable form of one record, built by :func:`matching.normalise.normalise`.

    One attribute per column of :data:`matching.fields.COLUMNS`. Only evidence that may be
    used for matching is kept: an invalid NHS number is ``None`` here (and reported in
    ``issues``), a pseudo-postcode (ZZ99) is ``None``. ``multiple_birth`` and
    ``birth_order`` are safety evidence only (never weighed): two different birth orders,
    or a multiple birth and another given name, are never linked automatically.
    ``deceased`` and ``deceased_at`` are kept for the golden view and not compared.
    ``given_script`` and ``family_script`` hold the original-script form of a name in a
    script other than Latin (``given_names`` and ``family_name`` then hold its Latin
    transliteration); empty for a Latin name.
    """,
)


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
