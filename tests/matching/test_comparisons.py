"""Every level of every comparison, table-driven: description, two values, expected level."""

from __future__ import annotations

from typing import Any

import pytest

from matching.comparisons import COMPARISONS, compare
from matching.normalise import normalise
from matching.types import Demographics, NormalisedRecord
from tests.matching.builders import NHS_A, NHS_B, TODAY

_BY_NAME = {c.name: c for c in COMPARISONS}


def _rec(**fields: Any) -> NormalisedRecord:
    return normalise(Demographics(**fields), today=TODAY)


def _level(comparison: str, a: NormalisedRecord, b: NormalisedRecord) -> str:
    declared = _BY_NAME[comparison]
    found = declared.labels[declared.level(a, b)]
    assert declared.labels[declared.level(b, a)] == found, "comparisons must be symmetric"
    return found


def _cases(comparison: str, field: str, rows: list[tuple[str, Any, Any, str]]) -> list[Any]:
    return [
        pytest.param(comparison, {field: a}, {field: b}, level, id=f"{comparison}-{desc}")
        for desc, a, b, level in rows
    ]


NHS = [
    pytest.param("nhs_number", {"nhs_number": NHS_A}, {}, "missing", id="nhs_number-one-missing"),
    pytest.param(
        "nhs_number",
        {"nhs_number": NHS_A},
        {"nhs_number": "9990000019"},
        "missing",
        id="nhs_number-invalid-is-missing",
    ),
    pytest.param(
        "nhs_number",
        {"nhs_number": NHS_A, "nhs_number_status": "01"},
        {"nhs_number": "999 000 0018", "nhs_number_status": "1"},
        "exact_verified",
        id="nhs_number-both-verified",
    ),
    pytest.param(
        "nhs_number",
        {"nhs_number": NHS_A, "nhs_number_status": "01"},
        {"nhs_number": NHS_A, "nhs_number_status": "02"},
        "exact",
        id="nhs_number-one-unverified",
    ),
    pytest.param(
        "nhs_number",
        {"nhs_number": NHS_A},
        {"nhs_number": NHS_B},
        "different",
        id="nhs_number-different",
    ),
]

GIVEN = _cases(
    "given_name",
    "given_name",
    [
        ("missing", "Mary", None, "missing"),
        ("exact", "Mary", "MARY", "exact"),
        ("exact-accent", "Zoë", "Zoe", "exact"),
        ("exact-middle-name-used", "Mary Anne", "Anne", "exact"),
        ("exact-middle-names-cross", "Anne Mary", "Mary Louise", "exact"),
        ("nickname", "Bob", "Robert", "nickname"),
        ("nickname-welsh", "Dai", "Dafydd", "nickname"),
        ("nickname-of-middle-name", "Jane Margaret", "Peggy", "nickname"),
        ("nickname-arabic-spelling", "Mohammed", "Muhammad", "nickname"),
        ("jaro-winkler-high", "Jennifer", "Jenifer", "jaro_winkler_high"),
        ("jaro-winkler-medium", "Jonathan", "Jonothon", "jaro_winkler_medium"),
        ("phonetic", "Philippa", "Filipa", "phonetic"),
        ("initial", "J", "Jennifer", "initial"),
        ("initial-both-sides-differ", "J", "K", "different"),
        ("different", "Mary", "Susan", "different"),
        ("initial-of-other-letter", "P", "Jennifer", "different"),
    ],
)

FAMILY = _cases(
    "family_name",
    "family_name",
    [
        ("missing", None, "Smith", "missing"),
        ("exact", "Smith", "SMITH", "exact"),
        ("exact-apostrophe", "O'Brien", "O Brien", "exact"),
        ("exact-hyphen-or-space", "Smith-Jones", "Smith Jones", "exact"),
        ("shares-part", "Smith-Jones", "Jones", "shares_part"),
        ("shares-part-both-barrelled", "Smith-Jones", "Jones-Brown", "shares_part"),
        ("jaro-winkler-high", "Thompson", "Thomson", "jaro_winkler_high"),
        ("jaro-winkler-high-dropped-letter", "Hussain", "Husain", "jaro_winkler_high"),
        ("jaro-winkler-medium", "Smith", "Smyth", "jaro_winkler_medium"),
        ("phonetic", "Knight", "Nite", "phonetic"),
        ("different", "Smith", "Patel", "different"),
    ],
)

BIRTH = _cases(
    "birth_date",
    "birth_date",
    [
        ("missing", "1980-03-04", None, "missing"),
        ("placeholder-is-missing", "1980-03-04", "1900-01-01", "missing"),
        ("exact", "1980-03-04", "1980-03-04", "exact"),
        ("day-month-swapped", "1980-03-04", "1980-04-03", "day_month_swapped"),
        ("one-digit-day", "1980-03-04", "1980-03-07", "one_digit_or_day"),
        ("one-digit-month", "1980-03-04", "1980-08-04", "one_digit_or_day"),
        ("one-digit-year", "1980-03-04", "1986-03-04", "one_digit_or_day"),
        ("one-digit-decade", "1980-03-04", "1970-03-04", "one_digit_or_day"),
        ("transposed-day-digits", "1979-11-02", "1979-11-20", "one_digit_or_day"),
        ("transposed-year-digits", "1979-11-02", "1997-11-02", "one_digit_or_day"),
        ("one-day-over-month-end", "1980-03-31", "1980-04-01", "one_digit_or_day"),
        ("one-day-over-year-end", "1979-12-31", "1980-01-01", "one_digit_or_day"),
        ("same-year-month", "1980-03-04", "1980-03-25", "same_year_month"),
        ("day-tens-digit", "1980-03-04", "1980-03-14", "one_digit_or_day"),
        ("two-digits-changed", "1980-03-14", "1980-03-25", "same_year_month"),
        ("different", "1980-03-04", "2010-07-19", "different"),
        ("two-digits-of-year", "1980-03-04", "1891-03-04", "different"),
        ("swap-in-another-year", "1980-03-04", "1981-04-03", "different"),
    ],
)

SEX = _cases(
    "sex",
    "sex",
    [
        ("missing", "female", None, "missing"),
        ("unknown-is-missing", "female", "unknown", "missing"),
        ("exact", "female", "F", "exact"),
        ("different", "female", "male", "different"),
    ],
)

POSTCODE = _cases(
    "postcode",
    "postcode",
    [
        ("missing", "SE15 4QT", None, "missing"),
        ("pseudo-is-missing", "ZZ99 3VZ", "ZZ99 3VZ", "missing"),
        ("invalid-is-missing", "SE15 4QT", "SE15 4QC", "missing"),
        ("exact", "SE15 4QT", "se154qt", "exact"),
        ("same-sector", "SE15 4QT", "SE15 4AB", "same_sector"),
        ("same-district", "SE15 4QT", "SE15 6AB", "same_district"),
        ("short-outward-district", "M1 1AA", "M1 2AB", "same_district"),
        ("different", "SE15 4QT", "SE1 4QT", "different"),
    ],
)

ADDRESS = _cases(
    "address",
    "address_line",
    [
        ("missing", "12 High Street", None, "missing"),
        ("exact", "12 High St", "12 HIGH STREET", "exact"),
        ("token-set-high", "12 High Street", "12 High Street, Peckham", "token_set_high"),
        ("token-set-high-typos", "12 High Street", "12 Hight Stret", "token_set_high"),
        ("token-set-medium", "12 Church Road", "12 Church Lane", "token_set_medium"),
        ("neighbours-are-medium", "12 High Street", "14 High Street", "token_set_medium"),
        ("other-flat-is-medium", "Flat 3, 12 High St", "Flat 5, 12 High St", "token_set_medium"),
        ("different", "12 High Street", "4 Acacia Avenue", "different"),
    ],
)

PHONE = _cases(
    "phone",
    "phone",
    [
        ("missing", "07700 900123", None, "missing"),
        ("exact", "07700 900123", "+44 7700 900123", "exact"),
        ("different", "07700 900123", "07700 900999", "different"),
    ],
)


@pytest.mark.parametrize(
    ("comparison", "a", "b", "expected"),
    NHS + GIVEN + FAMILY + BIRTH + SEX + POSTCODE + ADDRESS + PHONE,
)
def test_level(comparison: str, a: dict[str, Any], b: dict[str, Any], expected: str) -> None:
    assert _level(comparison, _rec(**a), _rec(**b)) == expected


def test_every_level_has_a_case() -> None:
    covered = {
        (p.values[0], p.values[3])
        for p in NHS + GIVEN + FAMILY + BIRTH + SEX + POSTCODE + ADDRESS + PHONE
    }
    declared = {(c.name, level) for c in COMPARISONS for level in c.labels}
    assert declared - covered == set()


def test_levels_start_with_missing_and_end_with_different() -> None:
    for comparison in COMPARISONS:
        assert comparison.labels[0] == "missing"
        assert comparison.labels[-1] == "different"
        assert len(set(comparison.labels)) == len(comparison.labels)
        assert all(level.condition for level in comparison.levels), comparison.name


def test_compare_gives_one_index_per_comparison() -> None:
    a = _rec(given_name="Mary", family_name="Smith", sex="female")
    b = _rec(given_name="Mary", family_name="Smyth", birth_date="1980-03-04")
    assert compare(a, b) == (0, 1, 4, 0, 0, 0, 0, 0)
    assert compare(NormalisedRecord(), NormalisedRecord()) == (0,) * len(COMPARISONS)


def test_given_and_family_names_in_the_wrong_fields_agree_the_other_way_round() -> None:
    from matching.comparisons import COMPARISONS, compare
    from matching.normalise import normalise
    from matching.types import Demographics

    a = normalise(Demographics(given_name="Ashleigh", family_name="Quilliam"))
    b = normalise(Demographics(given_name="Quilliam", family_name="Ashleigh"))
    levels = compare(a, b)
    assert COMPARISONS[1].labels[levels[1]] == "exact"
    assert COMPARISONS[2].labels[levels[2]] == "exact"
    c = normalise(Demographics(given_name="Olivia", family_name="Quilliam"))
    assert COMPARISONS[1].labels[compare(a, c)[1]] == "different"
