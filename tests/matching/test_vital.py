"""Multiple birth and death fields: checked as sent, in their comparable form (issue 10)."""

from __future__ import annotations

from datetime import date

import pytest

from matching.errors import InvalidDemographics
from matching.vital import VitalStatus, vital_status
from tests.matching.builders import record

TODAY = date(2025, 6, 1)


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        pytest.param((None, None, None, None), VitalStatus(), id="nothing-sent"),
        pytest.param(("", "", "", ""), VitalStatus(), id="empty-cells"),
        pytest.param((True, 2, False, None), VitalStatus(True, 2, False, None), id="json"),
        pytest.param(("Y", "1", "n", ""), VitalStatus(True, 1, False, None), id="text"),
        pytest.param((None, 3, None, None), VitalStatus(True, 3), id="order-means-multiple"),
        pytest.param((False, 1, None, None), VitalStatus(False), id="first-and-only"),
        pytest.param(
            (None, None, None, "2024-02"),
            VitalStatus(deceased=True, deceased_at="2024-02"),
            id="death-date-means-deceased",
        ),
        pytest.param(
            (None, None, True, "2024-02-03T10:15:00+01:00"),
            VitalStatus(deceased=True, deceased_at="2024-02-03T10:15:00+01:00"),
            id="date-time",
        ),
    ],
)
def test_values(sent: tuple[object, ...], expected: VitalStatus) -> None:
    found, problems = vital_status(*sent, birth_date=date(1950, 1, 1), today=TODAY)
    assert problems == []
    assert found == expected


@pytest.mark.parametrize(
    ("sent", "field", "reason"),
    [
        pytest.param(("maybe", None, None, None), "multiple_birth", "true or false", id="flag"),
        pytest.param((None, 0, None, None), "birth_order", "from 1 to 16", id="order-zero"),
        pytest.param((None, "2nd", None, None), "birth_order", "whole number", id="order-text"),
        pytest.param((None, True, None, None), "birth_order", "whole number", id="order-bool"),
        pytest.param((False, 2, None, None), "birth_order", "multiple_birth is false", id="both"),
        pytest.param((None, None, 1.5, None), "deceased", "true or false", id="deceased-number"),
        pytest.param((None, None, None, "03/02/2024"), "deceased_at", "ISO", id="format"),
        pytest.param((None, None, None, "2024-02-30"), "deceased_at", "real", id="not-a-date"),
        pytest.param((None, None, None, "2030-01-01"), "deceased_at", "future", id="future"),
        pytest.param((None, None, None, "1949-12"), "deceased_at", "before the birth", id="early"),
        pytest.param((None, None, False, "2024-01-01"), "deceased_at", "deceased is false", id="f"),
    ],
)
def test_problems_name_the_field(sent: tuple[object, ...], field: str, reason: str) -> None:
    _, problems = vital_status(*sent, birth_date=date(1950, 1, 1), today=TODAY)
    assert [p.field for p in problems] == [field]
    assert reason in problems[0].reason


def test_normalise_keeps_them_and_refuses_bad_ones() -> None:
    twin = record(multiple_birth="Y", birth_order="2", deceased_at="2024-02-03")
    assert (twin.multiple_birth, twin.birth_order) == (True, 2)
    assert (twin.deceased, twin.deceased_at) == (True, "2024-02-03")
    with pytest.raises(InvalidDemographics) as caught:
        record(birth_order="-1", deceased="perhaps")
    assert {p.field for p in caught.value.problems} == {"birth_order", "deceased"}
