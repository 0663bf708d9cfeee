"""Builders for matching tests: synthetic people only (NHS numbers from the 999 range)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

from matching.normalise import normalise
from matching.types import Demographics, NormalisedRecord

NHS_A = "9990000018"
NHS_B = "9990000026"
TODAY = date(2025, 6, 1)

BASE = Demographics(
    nhs_number=NHS_A,
    nhs_number_status="01",
    given_name="Mary Anne",
    family_name="Smith-Jones",
    sex="female",
    birth_date="1980-03-04",
    address_line="12 High Street, Peckham",
    postcode="SE15 4QT",
    phone="07700 900123",
)


def demo(**changes: Any) -> Demographics:
    """The base synthetic person with some fields changed."""
    return replace(BASE, **changes)


def record(**changes: Any) -> NormalisedRecord:
    """The base person with some fields changed, normalised."""
    return normalise(demo(**changes), today=TODAY)
