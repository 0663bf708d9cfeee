from __future__ import annotations

from typing import Any

import pytest

from matching.blocking import blocking_keys
from tests.matching.builders import NHS_B, record


def test_keys_of_a_full_record() -> None:
    rec = record(given_name="Mary", family_name="Smith-Jones")
    given, family = rec.given_phonetic, rec.family_phonetic
    smith = record(family_name="Smith").family_phonetic
    jones = record(family_name="Jones").family_phonetic
    names = [tuple(sorted((given, code))) for code in (family, smith, jones)]
    assert blocking_keys(rec) == {
        "nhs:9990000018",
        f"dob+name:19800304:{family}",
        f"dob+name:19800304:{smith}",
        f"dob+name:19800304:{jones}",
        f"dobswap+fam:19800304:{family}",
        f"dob+name:19800304:{given}",
        *(f"names+yob:{low}:{high}:1980" for low, high in names),
        "pc+yob:SE154QT:1980",
        f"pc+fam:SE154QT:{family}",
        f"pc+fam:SE154QT:{smith}",
        f"pc+fam:SE154QT:{jones}",
        "adr+yob:12:HIGH:1980",
        f"adr+name:12:HIGH:{family}",
        f"adr+name:12:HIGH:{given}",
    }


def test_names_in_the_wrong_fields_still_meet() -> None:
    right = record(given_name="Madeline", family_name="Mason", nhs_number=None, postcode=None)
    wrong = record(given_name="Mason", family_name="Madeline", nhs_number=None, postcode=None)
    assert blocking_keys(right) & blocking_keys(wrong)


def test_keys_are_skipped_when_fields_are_missing() -> None:
    rec = record(nhs_number=None, birth_date=None, postcode=None, given_name=None)
    assert blocking_keys(rec) == {f"adr+name:12:HIGH:{rec.family_phonetic}"}
    assert (
        blocking_keys(
            record(
                nhs_number=None, birth_date=None, postcode=None, given_name=None, address_line=None
            )
        )
        == frozenset()
    )
    only_nhs = record(birth_date=None, postcode=None, family_name=None, given_name=None)
    assert blocking_keys(only_nhs) == {"nhs:9990000018"}


@pytest.mark.parametrize(
    ("birth_date", "has_swap_key"),
    [
        pytest.param("1980-03-04", True, id="day-up-to-12"),
        pytest.param("1980-03-12", True, id="day-12"),
        pytest.param("1980-03-13", False, id="day-over-12"),
        pytest.param("1980-03-03", False, id="day-equals-month"),
    ],
)
def test_swap_key_only_when_a_swap_is_a_date(birth_date: str, has_swap_key: bool) -> None:
    keys = blocking_keys(record(birth_date=birth_date))
    assert any(k.startswith("dobswap+fam:") for k in keys) is has_swap_key


def test_keys_are_short() -> None:
    assert max(len(k) for k in blocking_keys(record())) <= 40


# One field wrong or missing: the record must still share a key with its match. Each case
# is checked both with the NHS number on both records and without it on either (the NHS
# key alone would otherwise hide a gap).
ONE_FIELD_CHANGES = [
    pytest.param({"nhs_number": None}, id="nhs-missing"),
    pytest.param({"nhs_number": NHS_B}, id="nhs-wrong"),
    pytest.param({"given_name": None}, id="given-missing"),
    pytest.param({"given_name": "Polly"}, id="given-nickname"),
    pytest.param({"given_name": "Xavier"}, id="given-wrong"),
    pytest.param({"family_name": None}, id="family-missing"),
    pytest.param({"family_name": "Jonse"}, id="family-typo"),
    pytest.param({"family_name": "Okafor"}, id="family-changed-on-marriage"),
    pytest.param({"birth_date": None}, id="birth-date-missing"),
    pytest.param({"birth_date": "1900-01-01"}, id="birth-date-placeholder"),
    pytest.param({"birth_date": "1980-04-03"}, id="birth-date-day-month-swapped"),
    pytest.param({"birth_date": "1980-03-07"}, id="birth-date-day-wrong"),
    pytest.param({"birth_date": "1980-08-04"}, id="birth-date-month-wrong"),
    pytest.param({"birth_date": "1981-03-04"}, id="birth-date-year-wrong"),
    pytest.param({"birth_date": "1908-03-04"}, id="birth-date-year-badly-wrong"),
    pytest.param({"sex": None}, id="sex-missing"),
    pytest.param({"sex": "male"}, id="sex-wrong"),
    pytest.param({"postcode": None}, id="postcode-missing"),
    pytest.param({"postcode": "M1 1AA"}, id="postcode-moved"),
    pytest.param({"postcode": "ZZ99 3VZ"}, id="postcode-pseudo"),
    pytest.param({"address_line": "1 New Road"}, id="address-wrong"),
    pytest.param({"phone": None}, id="phone-missing"),
]


@pytest.mark.parametrize("change", ONE_FIELD_CHANGES)
@pytest.mark.parametrize("nhs", [True, False], ids=["with-nhs", "without-nhs"])
def test_one_field_wrong_or_missing_still_meets(change: dict[str, Any], nhs: bool) -> None:
    base = {} if nhs else {"nhs_number": None}
    names = {"given_name": "Mary", "family_name": "Jones"}
    original = record(**names, **base)
    changed = record(**{**names, **base, **change})
    assert blocking_keys(original) & blocking_keys(changed)


def test_double_barrelled_name_meets_either_part() -> None:
    barrelled = record(nhs_number=None, given_name="Xavier", family_name="Smith-Jones")
    for single in ("Smith", "Jones"):
        other = record(nhs_number=None, given_name="Mary", family_name=single, postcode=None)
        assert blocking_keys(barrelled) & blocking_keys(other)


def test_double_barrelled_name_and_a_day_out_still_meet() -> None:
    a = record(nhs_number=None, family_name="Okonkwo", birth_date="1984-03-17")
    b = record(nhs_number=None, family_name="Okonkwo-Bello", birth_date="1984-03-18", postcode="")
    assert blocking_keys(a) & blocking_keys(b)


def test_different_people_do_not_meet() -> None:
    a = record(nhs_number=None)
    b = record(
        nhs_number=None,
        given_name="Xavier",
        family_name="Okafor",
        birth_date="1955-11-23",
        postcode="M1 1AA",
    )
    assert not blocking_keys(a) & blocking_keys(b)


def test_a_wrong_birth_year_and_no_postcode_still_meet_at_the_same_house() -> None:
    old = record(nhs_number=None, postcode=None, birth_date="1948-02-19", family_name="Brown")
    typo = record(nhs_number=None, postcode=None, birth_date="1949-02-19", family_name="Erown")
    shared = blocking_keys(old) & blocking_keys(typo)
    assert shared and all(k.startswith("adr+name:") for k in shared)
