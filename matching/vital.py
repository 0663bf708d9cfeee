"""Multiple birth and death as sent: checked and put in their comparable form.

A record may say that the person is one of a multiple birth (``multiple_birth``) and
which one (``birth_order``: 1 for the first-born), and that the person died
(``deceased``, ``deceased_at``). FHIR sends ``multipleBirthBoolean`` or
``multipleBirthInteger`` and ``deceasedBoolean`` or ``deceasedDateTime``; HL7 v2 PID-24,
PID-25, PID-30 and PID-29; a file, text. Birth order is the one field that tells twins
apart for certain, so matching keeps it as safety evidence (never weighed); death is kept
for the golden view only.

The rules, checked by :func:`vital_status`:

- a flag is ``true``/``false`` (a JSON boolean, or ``true``, ``yes``, ``y``, ``1``,
  ``false``, ``no``, ``n``, ``0`` in any case); empty means not sent;
- a birth order is a whole number from 1 to :data:`MAX_BIRTH_ORDER`; a birth order
  means a multiple birth, so ``multiple_birth`` false with a birth order above 1 is an
  error, and with birth order 1 ("the first and only") the order is dropped;
- a death date is an ISO date (``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``, as FHIR allows)
  or date-time (``YYYY-MM-DDThh:mm[:ss[.fff]]``, with ``Z`` or ``±hh:mm`` or without a
  zone), a real one, not in the future and not before the birth date; it means the
  person died, so ``deceased`` false with a death date is an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from matching.errors import Problem

__all__ = ["MAX_BIRTH_ORDER", "VitalStatus", "parse_flag", "vital_status"]

#: The highest birth order accepted (the most babies of one birth on record is nine).
MAX_BIRTH_ORDER = 16

_TRUE = frozenset({"true", "yes", "y", "1"})
_FALSE = frozenset({"false", "no", "n", "0"})
_PARTIAL_DATE = re.compile(r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?")
_DATE_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.[0-9]{1,9})?)?"
    r"(Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?"
)


@dataclass(frozen=True, slots=True)
class VitalStatus:
    """The checked multiple-birth and death fields (``None``: not sent)."""

    multiple_birth: bool | None = None
    birth_order: int | None = None
    deceased: bool | None = None
    deceased_at: str | None = None


def parse_flag(value: object) -> bool | None | str:
    """A yes/no flag as sent: ``True``, ``False``, ``None`` (not sent) or a reason (str).

    Example:
        >>> parse_flag("Y"), parse_flag(False), parse_flag(""), parse_flag("maybe")
        (True, False, None, 'must be true or false')
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if not text:
            return None
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    return "must be true or false"


def _birth_order(value: object) -> int | None | str:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    if number is None or not 1 <= number <= MAX_BIRTH_ORDER:
        return f"must be a whole number from 1 to {MAX_BIRTH_ORDER}"
    return number


def _death_date(value: object, today: date) -> tuple[str | None, date | None, str | None]:
    """The death date as sent (trimmed), its earliest day, or the reason it is refused."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, None, None
    if not isinstance(value, str):
        return None, None, "must be an ISO date or date-time"
    text = value.strip()
    found = _PARTIAL_DATE.fullmatch(text) or _DATE_TIME.fullmatch(text)
    if found is None:
        return None, None, f"{text!r} must be an ISO date (YYYY-MM-DD) or date-time"
    year, month, day = int(found[1]), int(found[2] or 1), int(found[3] or 1)
    try:
        day_of = date(year, month, day)
        if found.re is _DATE_TIME:
            datetime(year, month, day, int(found[4]), int(found[5]), int(found[6] or 0))
    except ValueError:
        return None, None, f"{text} is not a real date and time"
    if day_of > today:
        return None, None, f"{text} is in the future"
    return text, day_of, None


def vital_status(
    multiple_birth: object,
    birth_order: object,
    deceased: object,
    deceased_at: object,
    *,
    birth_date: date | None = None,
    today: date | None = None,
) -> tuple[VitalStatus, list[Problem]]:
    """Check the multiple-birth and death fields of one record (module docstring rules).

    Args:
        multiple_birth: the multiple-birth flag as sent.
        birth_order: the birth order as sent.
        deceased: the deceased flag as sent.
        deceased_at: the date or date-time of death as sent.
        birth_date: the record's birth date, if valid (a death cannot be before it).
        today: the date a death must not be after; ``None`` means ``date.today()``.

    Returns:
        The values, and every problem found (each naming its field).

    Example:
        >>> vital_status("Y", "2", None, "2020-05-01")[0]
        VitalStatus(multiple_birth=True, birth_order=2, deceased=True, deceased_at='2020-05-01')
    """
    problems: list[Problem] = []
    multiple = parse_flag(multiple_birth)
    if isinstance(multiple, str):
        problems.append(Problem("multiple_birth", multiple))
        multiple = None
    order = _birth_order(birth_order)
    if isinstance(order, str):
        problems.append(Problem("birth_order", order))
        order = None
    if order is not None:
        if multiple is False and order > 1:
            problems.append(
                Problem("birth_order", f"is {order} but multiple_birth is false: send one of them")
            )
        elif multiple is False:
            order = None  # "the first and only": no multiple birth
        else:
            multiple = True
    dead = parse_flag(deceased)
    if isinstance(dead, str):
        problems.append(Problem("deceased", dead))
        dead = None
    when, day_of, reason = _death_date(deceased_at, today or date.today())
    if reason is not None:
        problems.append(Problem("deceased_at", reason))
    if when is not None:
        if dead is False:
            problems.append(Problem("deceased_at", "is given but deceased is false"))
        elif birth_date is not None and day_of is not None and _before_birth(when, birth_date):
            problems.append(Problem("deceased_at", f"{when} is before the birth date"))
        else:
            dead = True
    return VitalStatus(multiple, order, dead, when), problems


def _before_birth(when: str, birth_date: date) -> bool:
    """Whether a (partial) death date lies wholly before the birth date."""
    parts = _PARTIAL_DATE.match(when)
    assert parts is not None
    year, month, day = parts[1], parts[2], parts[3]
    if day is not None:
        return date(int(year), int(month), int(day)) < birth_date
    if month is not None:
        return (int(year), int(month)) < (birth_date.year, birth_date.month)
    return int(year) < birth_date.year
