from __future__ import annotations

from datetime import date

import pytest

from matching.errors import InvalidDemographics
from matching.normalise import (
    normalise,
    normalise_address,
    normalise_family_name,
    normalise_given_names,
    normalise_phone,
    normalise_postcode,
    normalise_sex,
    postcode_area,
    postcode_district,
    postcode_sector,
)
from matching.types import Demographics
from tests.matching.builders import NHS_A, TODAY, demo, record

# Names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("Zoë", ("ZOE",), id="diaeresis"),
        pytest.param("Zoe", ("ZOE",), id="plain"),
        pytest.param("  mary   anne ", ("MARY", "ANNE"), id="multiple-spaces"),
        pytest.param("Mary-Anne", ("MARY", "ANNE"), id="hyphenated"),
        pytest.param("Mr John Paul", ("JOHN", "PAUL"), id="title"),
        pytest.param("Dr. Siân", ("SIAN",), id="title-with-dot-and-accent"),
        pytest.param("Prof Sir Ian", ("IAN",), id="two-titles"),
        pytest.param("John Jnr", ("JOHN",), id="suffix"),
        pytest.param("D'Arcy", ("DARCY",), id="apostrophe"),
        pytest.param("Miss", (), id="only-a-title"),
        pytest.param("", (), id="empty"),
        pytest.param(None, (), id="none"),
    ],
)
def test_given_names(raw: str | None, expected: tuple[str, ...]) -> None:
    assert normalise_given_names(raw) == expected


@pytest.mark.parametrize(
    ("raw", "parts"),
    [
        pytest.param("O'Brien", ("OBRIEN",), id="apostrophe"),
        pytest.param("O’Brien", ("OBRIEN",), id="curly-apostrophe"),
        pytest.param("OBRIEN", ("OBRIEN",), id="joined"),
        pytest.param("O Brien", ("OBRIEN",), id="particle-o"),
        pytest.param("Mc Donald", ("MCDONALD",), id="particle-mc"),
        pytest.param("Mac Donald", ("MACDONALD",), id="particle-mac"),
        pytest.param("Van der Berg", ("VANDERBERG",), id="two-particles"),
        pytest.param("de la Cruz", ("DELACRUZ",), id="de-la"),
        pytest.param("St. John", ("STJOHN",), id="st-with-dot"),
        pytest.param("Smith-Jones", ("SMITH", "JONES"), id="hyphenated"),
        pytest.param("Smith Jones", ("SMITH", "JONES"), id="double-barrelled-space"),
        pytest.param("O'Brien-Mc Donald", ("OBRIEN", "MCDONALD"), id="particles-in-parts"),
        pytest.param("Kociński", ("KOCINSKI",), id="accent"),
        pytest.param("Smith Jr", ("SMITH",), id="suffix-jr"),
        pytest.param("Jones III", ("JONES",), id="suffix-iii"),
        pytest.param("Mrs Smith", ("SMITH",), id="title"),
        pytest.param("Smith Da", ("SMITH", "DA"), id="trailing-particle"),
        pytest.param(None, (), id="none"),
    ],
)
def test_family_name_parts(raw: str | None, parts: tuple[str, ...]) -> None:
    assert normalise_family_name(raw) == parts


@pytest.mark.parametrize(
    "raw", ["O'Brien", "OBRIEN", "O Brien", "o'brien", "O’Brien"], ids=lambda r: repr(r)
)
def test_obrien_variants_give_one_family_name(raw: str) -> None:
    rec = record(family_name=raw)
    assert rec.family_name == "OBRIEN"
    assert rec.family_parts == ("OBRIEN",)


def test_double_barrelled_family_name_is_joined_with_parts_kept() -> None:
    for raw in ("Smith-Jones", "Smith Jones", "smith - jones"):
        rec = record(family_name=raw)
        assert (rec.family_name, rec.family_parts) == ("SMITHJONES", ("SMITH", "JONES"))


def test_phonetic_codes_are_of_first_given_name_and_whole_family_name() -> None:
    rec = record(given_name="Mary Anne", family_name="Smythe")
    assert rec.given_phonetic == record(given_name="Mary").given_phonetic
    assert rec.family_phonetic == record(family_name="Smith").family_phonetic


# Birth dates -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        pytest.param("2023-02-30", "birth_date 2023-02-30 is not a real date", id="impossible"),
        pytest.param("2023-13-01", "birth_date 2023-13-01 is not a real date", id="month-13"),
        pytest.param("2031-01-01", "birth_date 2031-01-01 is in the future", id="future"),
        pytest.param("2025-06-02", "birth_date 2025-06-02 is in the future", id="tomorrow"),
        pytest.param("1879-12-31", "birth_date 1879-12-31 is before 1880", id="before-1880"),
        pytest.param(
            "04/03/1980", "birth_date '04/03/1980' must be an ISO date YYYY-MM-DD", id="uk-format"
        ),
        pytest.param(
            "19800304", "birth_date '19800304' must be an ISO date YYYY-MM-DD", id="basic-format"
        ),
        pytest.param(
            "1980-3-4", "birth_date '1980-3-4' must be an ISO date YYYY-MM-DD", id="no-padding"
        ),
    ],
)
def test_bad_birth_dates_are_errors(raw: str, reason: str) -> None:
    with pytest.raises(InvalidDemographics) as caught:
        record(birth_date=raw)
    assert [(p.field, p.reason) for p in caught.value.problems] == [("birth_date", reason)]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("1980-03-04", date(1980, 3, 4), id="ordinary"),
        pytest.param(" 1980-03-04 ", date(1980, 3, 4), id="whitespace"),
        pytest.param("2025-06-01", date(2025, 6, 1), id="today"),
        pytest.param("1880-01-01", date(1880, 1, 1), id="earliest"),
        pytest.param("2024-02-29", date(2024, 2, 29), id="leap-day"),
        pytest.param("", None, id="empty"),
        pytest.param(None, None, id="none"),
    ],
)
def test_good_birth_dates(raw: str | None, expected: date | None) -> None:
    rec = record(birth_date=raw)
    assert rec.birth_date == expected
    assert "birth_date_placeholder" not in rec.issues


def test_placeholder_birth_date_is_an_issue_not_evidence() -> None:
    rec = record(birth_date="1900-01-01")
    assert rec.birth_date is None
    assert rec.issues == ("birth_date_placeholder",)


def test_today_defaults_to_the_real_date() -> None:
    with pytest.raises(InvalidDemographics, match="in the future"):
        normalise(Demographics(birth_date="2999-01-01"))


def test_all_problems_are_collected() -> None:
    with pytest.raises(InvalidDemographics) as caught:
        normalise(
            demo(birth_date="2023-02-30", sex="bloke"),
            allow_test_nhs_numbers=False,
            today=TODAY,
        )
    assert [p.field for p in caught.value.problems] == ["nhs_number", "birth_date", "sex"]
    assert "999 test range" in caught.value.problems[0].reason
    assert "nhs_number:" in str(caught.value)


# Sex ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("male", "male", id="male"),
        pytest.param("MALE", "male", id="male-upper"),
        pytest.param("M", "male", id="m"),
        pytest.param("1", "male", id="nhs-1"),
        pytest.param("Female", "female", id="female"),
        pytest.param("f", "female", id="f"),
        pytest.param("2", "female", id="nhs-2"),
        pytest.param("other", "other", id="other"),
        pytest.param("O", "other", id="o"),
        pytest.param("9", "other", id="nhs-9-indeterminate"),
        pytest.param("unknown", None, id="unknown"),
        pytest.param("U", None, id="u"),
        pytest.param("0", None, id="nhs-0-not-known"),
        pytest.param("", None, id="empty"),
        pytest.param(None, None, id="none"),
    ],
)
def test_sex_codes(raw: str | None, expected: str | None) -> None:
    assert normalise_sex(raw) == expected
    assert record(sex=raw).sex == expected


@pytest.mark.parametrize("raw", ["bloke", "3", "mf", "femail"])
def test_unknown_sex_code_is_an_error(raw: str) -> None:
    with pytest.raises(InvalidDemographics) as caught:
        record(sex=raw)
    (problem,) = caught.value.problems
    assert problem.field == "sex"
    assert "not a FHIR administrative gender" in problem.reason


# NHS number -----------------------------------------------------------------------------


def test_valid_verified_nhs_number() -> None:
    rec = record(nhs_number="999 000 0018", nhs_number_status="number-present-and-verified")
    assert (rec.nhs_number, rec.nhs_verified, rec.issues) == (NHS_A, True, ())


@pytest.mark.parametrize("status", ["02", "03", None, "rubbish"])
def test_unverified_nhs_number_is_kept_and_not_an_issue(status: str | None) -> None:
    rec = record(nhs_number_status=status)
    assert (rec.nhs_number, rec.nhs_verified, rec.issues) == (NHS_A, False, ())


@pytest.mark.parametrize("raw", ["9990000019", "1111111111", "12345", "9991234560"])
def test_invalid_nhs_number_is_an_issue_and_dropped(raw: str) -> None:
    rec = record(nhs_number=raw)
    assert rec.nhs_number is None
    assert rec.nhs_verified is False
    assert rec.issues == ("nhs_number_invalid",)


def test_test_range_nhs_number_refused_when_not_allowed() -> None:
    with pytest.raises(InvalidDemographics) as caught:
        normalise(demo(), allow_test_nhs_numbers=False, today=TODAY)
    (problem,) = caught.value.problems
    assert problem.field == "nhs_number"
    assert problem.reason == "9990000018 is in the 999 test range, which is refused here"


def test_issued_range_nhs_number_accepted_when_test_range_refused() -> None:
    rec = normalise(demo(nhs_number="9434765919"), allow_test_nhs_numbers=False, today=TODAY)
    assert rec.nhs_number == "9434765919"


def test_missing_nhs_number_is_not_an_issue() -> None:
    assert record(nhs_number=None).issues == ()
    assert record(nhs_number="  ").issues == ()


# Postcodes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("M1 1AA", "M1 1AA", id="AN-NAA"),
        pytest.param("M60 1NW", "M60 1NW", id="ANN-NAA"),
        pytest.param("CR2 6XH", "CR2 6XH", id="AAN-NAA"),
        pytest.param("DN55 1PT", "DN55 1PT", id="AANN-NAA"),
        pytest.param("W1A 1HQ", "W1A 1HQ", id="ANA-NAA"),
        pytest.param("EC1A 1BB", "EC1A 1BB", id="AANA-NAA"),
        pytest.param("se154qt", "SE15 4QT", id="lower-no-space"),
        pytest.param(" SE15   4QT ", "SE15 4QT", id="extra-spaces"),
    ],
)
def test_valid_postcodes(raw: str, expected: str) -> None:
    assert normalise_postcode(raw) == (expected, None)
    assert record(postcode=raw).postcode == expected


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("SE15 4QC", id="inward-C"),
        pytest.param("SE15 4IT", id="inward-I"),
        pytest.param("SE15 4KT", id="inward-K"),
        pytest.param("SE15 4MT", id="inward-M"),
        pytest.param("SE15 4OT", id="inward-O"),
        pytest.param("SE15 4VT", id="inward-V"),
        pytest.param("QE15 4QT", id="first-Q"),
        pytest.param("SE15", id="outward-only"),
        pytest.param("SE154 4QT", id="too-long"),
        pytest.param("12345", id="digits"),
        pytest.param("2000", id="australian"),
    ],
)
def test_invalid_postcodes_are_issues(raw: str) -> None:
    assert normalise_postcode(raw) == (None, "postcode_invalid")
    rec = record(postcode=raw)
    assert (rec.postcode, rec.issues) == (None, ("postcode_invalid",))


@pytest.mark.parametrize("raw", ["ZZ99 3VZ", "zz993wz", "ZZ99 6CZ"])
def test_pseudo_postcodes_are_never_evidence(raw: str) -> None:
    rec = record(postcode=raw)
    assert (rec.postcode, rec.issues) == (None, ("postcode_pseudo",))


def test_postcode_parts() -> None:
    assert postcode_sector("SE15 4QT") == "SE15 4"
    assert postcode_district("SE15 4QT") == "SE15"
    assert postcode_area("SE15 4QT") == "SE"
    assert postcode_sector("M1 1AA") == "M1 1"
    assert postcode_district("M11AA") == "M1"
    assert postcode_area("M1 1AA") == "M"
    assert postcode_area("W1A 1HQ") == "W"
    assert postcode_sector(None) is None


# Address and phone ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("12 High St.", "12 HIGH STREET", id="st-at-end"),
        pytest.param("3 High St, Leeds", "3 HIGH STREET LEEDS", id="st-before-comma"),
        pytest.param("3 High St Peckham", "3 HIGH STREET PECKHAM", id="st-after-word"),
        pytest.param("St Ann's Court", "ST ANNS COURT", id="st-first-is-saint"),
        pytest.param("Flat 2, 14 St. John's Rd", "FLAT 2 14 ST JOHNS ROAD", id="saint-and-rd"),
        pytest.param("5 Saint Mary's Ave", "5 ST MARYS AVENUE", id="saint-spelled-out"),
        pytest.param("Apt 4, 1 Church Ln", "APARTMENT 4 1 CHURCH LANE", id="apt-and-lane"),
        pytest.param("9 Park Cres", "9 PARK CRESCENT", id="crescent"),
        pytest.param("22 Oak Dr", "22 OAK DRIVE", id="drive"),
        pytest.param("  7   Rue  Émile ", "7 RUE EMILE", id="accents-and-spaces"),
        pytest.param(",,", None, id="only-punctuation"),
        pytest.param(None, None, id="none"),
    ],
)
def test_address(raw: str | None, expected: str | None) -> None:
    assert normalise_address(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("07700 900123", "07700900123", id="spaces"),
        pytest.param("+44 7700 900123", "07700900123", id="plus-44"),
        pytest.param("+44 (0)20 7946 0000", "02079460000", id="plus-44-bracket-0"),
        pytest.param("0044 20 7946 0000", "02079460000", id="0044"),
        pytest.param("020-7946-0000", "02079460000", id="dashes"),
        pytest.param("+353 1 234 5678", "35312345678", id="other-country"),
        pytest.param("n/a", None, id="no-digits"),
        pytest.param(None, None, id="none"),
    ],
)
def test_phone(raw: str | None, expected: str | None) -> None:
    assert normalise_phone(raw) == expected


def test_whole_record() -> None:
    rec = record()
    assert rec.given_names == ("MARY", "ANNE")
    assert (rec.family_name, rec.family_parts) == ("SMITHJONES", ("SMITH", "JONES"))
    assert (rec.birth_date, rec.sex, rec.postcode) == (date(1980, 3, 4), "female", "SE15 4QT")
    assert rec.address == "12 HIGH STREET PECKHAM"
    assert rec.phone == "07700900123"
    assert rec.given_phonetic and rec.family_phonetic
    assert rec.issues == ()


def test_empty_demographics() -> None:
    rec = normalise(Demographics())
    assert rec.given_names == () and rec.family_name is None and rec.issues == ()
