from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest

from matching.comparisons import COMPARISONS
from matching.model import MatchModel, load_default_model
from matching.scoring import findings, match_probability, score
from matching.types import NormalisedRecord
from tests.matching.builders import NHS_B, record

MODEL = load_default_model()


def _score(a: dict[str, Any], b: dict[str, Any]) -> Any:
    return score(MODEL, record(**a), record(**b))


def test_fields_explain_the_score() -> None:
    result = _score({}, {})
    assert [f.comparison for f in result.fields] == [c.name for c in COMPARISONS]
    assert [f.level for f in result.fields] == [
        "exact_verified",
        "exact",
        "exact",
        "exact",
        "exact",
        "exact",
        "exact",
        "exact",
    ]
    assert math.isclose(result.weight, sum(f.weight for f in result.fields))
    assert result.probability > 0.999999
    assert result.flags == ()


def test_weights_come_from_the_model() -> None:
    result = _score({}, {})
    for field, comparison in zip(result.fields, MODEL.comparisons, strict=True):
        level = comparison.levels[comparison.labels.index(field.level)]
        assert math.isclose(field.weight, math.log2(level.m / level.u))


def test_missing_weighs_nothing() -> None:
    result = score(MODEL, NormalisedRecord(), NormalisedRecord())
    assert all(f.level == "missing" and f.weight == 0.0 for f in result.fields)
    assert result.weight == 0.0
    assert math.isclose(result.probability, MODEL.prior)


def test_probability_formula() -> None:
    result = _score({"given_name": "Bob"}, {"given_name": "Robert", "postcode": "M1 1AA"})
    expected = 1 / (1 + 2 ** -(math.log2(MODEL.prior / (1 - MODEL.prior)) + result.weight))
    assert math.isclose(result.probability, expected)


def test_probability_saturates_without_overflow() -> None:
    assert match_probability(0.0, 5000.0) == 1.0
    assert match_probability(0.0, -5000.0) == 0.0


def test_score_is_symmetric() -> None:
    a = {"given_name": "Bob", "birth_date": "1980-04-03"}
    b = {"given_name": "Robert", "family_name": "Jones", "nhs_number_status": "02"}
    assert _score(a, b) == _score(b, a)


def test_adjuster_seam_changes_weights() -> None:
    class Halve:
        def adjust(self, comparison: str, level: str, weight: float, a: Any, b: Any) -> float:
            return weight / 2

    plain = score(MODEL, record(), record())
    halved = score(MODEL, record(), record(), adjuster=Halve())
    assert math.isclose(halved.weight, plain.weight / 2)


# Safety flags and known traps --------------------------------------------------------------


def test_twins_are_flagged() -> None:
    twin_a = {"nhs_number": None, "given_name": "Mary"}
    twin_b = {"nhs_number": None, "given_name": "Susan"}
    result = _score(twin_a, twin_b)
    assert result.flags == ("twin_risk", "sparse_evidence")  # another given name: not strong


@pytest.mark.parametrize(
    ("given_a", "given_b", "level"),
    [
        pytest.param("Jonathan", "Jonothon", "jaro_winkler_medium", id="jaro-winkler-medium"),
        pytest.param("Philippa", "Filipa", "phonetic", id="phonetic"),
        pytest.param("Jonathan", "Xavier", "different", id="different"),
    ],
)
def test_twin_risk_given_name_levels(given_a: str, given_b: str, level: str) -> None:
    result = _score({"nhs_number": None, "given_name": given_a}, {"given_name": given_b})
    assert result.fields[1].level == level
    assert "twin_risk" in result.flags


def test_an_initial_needs_an_unambiguous_match_instead_of_twin_risk() -> None:
    result = _score({"nhs_number": None, "given_name": "Jonathan"}, {"given_name": "J"})
    assert result.fields[1].level == "initial"
    assert "given_name_initial" in result.flags and "twin_risk" not in result.flags


def test_twins_with_different_nhs_numbers_have_both_flags() -> None:
    result = _score({"given_name": "Mary"}, {"given_name": "Susan", "nhs_number": NHS_B})
    assert result.flags == ("nhs_number_conflict", "twin_risk", "sparse_evidence")


def test_same_nhs_number_is_not_twin_risk() -> None:
    assert _score({"given_name": "Mary"}, {"given_name": "M"}).flags == ()


def test_nickname_is_not_twin_risk() -> None:
    assert _score({"nhs_number": None, "given_name": "Bob"}, {"given_name": "Robert"}).flags == ()


def test_relatives_nhs_number_is_flagged() -> None:
    parent = {"given_name": "Mary", "birth_date": "1955-07-19"}
    child = {"given_name": "Mary", "birth_date": "1980-03-04"}
    result = _score(parent, child)
    assert result.flags == ("nhs_number_shared_conflict", "birth_date_conflict")


def test_relatives_nhs_number_without_a_birth_date_is_flagged() -> None:
    # A father's record (names in the wrong fields, no birth date) carrying his son's
    # number, at the son's address: only the number and the home agree.
    father = {"given_name": "Cooper", "family_name": "Daniel", "birth_date": None}
    son = {"given_name": "Luca", "family_name": "Cooper", "birth_date": "2010-09-24"}
    assert "nhs_number_shared_conflict" in _score(father, son).flags
    typo = {"given_name": "Lcua", "family_name": "Cooper", "birth_date": None}
    assert "nhs_number_shared_conflict" not in _score(typo, son).flags
    no_name = {"given_name": None, "family_name": "Cooper", "birth_date": None}
    assert "nhs_number_shared_conflict" not in _score(no_name, son).flags
    # Same family name: too often the same person under another given name to flag.
    renamed = {"given_name": "Emma", "family_name": "Cooper", "birth_date": None}
    assert "nhs_number_shared_conflict" not in _score(renamed, son).flags


def test_birth_dates_years_apart_are_a_conflict() -> None:
    father = {"nhs_number": None, "given_name": "John", "birth_date": "1955-07-19"}
    son = {"nhs_number": None, "given_name": "John", "birth_date": "1982-11-02"}
    assert "birth_date_conflict" in _score(father, son).flags
    near = {"nhs_number": None, "given_name": "John", "birth_date": "1956-08-20"}
    assert "birth_date_conflict" in _score(father, near).flags  # no NHS number to vouch
    same_number = {"given_name": "John", "birth_date": "1955-08-20"}
    vouched = {"given_name": "John", "birth_date": "1956-07-19"}
    assert "birth_date_conflict" not in _score(vouched, same_number).flags


def test_twins_with_a_swapped_birth_date_are_still_a_twin_risk() -> None:
    khalid = {"nhs_number": None, "given_name": "Khalid", "birth_date": "2020-07-03"}
    nasra = {"nhs_number": None, "given_name": "Nasra", "birth_date": "2020-03-07"}
    assert "twin_risk" in _score(khalid, nasra).flags


def test_name_and_birth_date_alone_are_weak_evidence() -> None:
    here = {"nhs_number": None, "postcode": "LS1 4AP", "address_line": "1 High Street"}
    moved = {
        "nhs_number": None,
        "postcode": "BD7 1DP",
        "address_line": "9 Mill Lane",
        "phone": None,
    }
    assert "weak_evidence" in _score(here, moved).flags
    assert "weak_evidence" not in _score(here, here).flags
    no_birth = {**here, "birth_date": None}
    assert "birth_date_missing" in _score(here, no_birth).flags  # same names and home
    moved_no_birth = {**moved, "birth_date": None}
    assert "weak_evidence" in _score(here, moved_no_birth).flags
    with_nhs = {"postcode": "BD7 1DP", "address_line": "9 Mill Lane"}
    assert "weak_evidence" not in _score({}, with_nhs).flags
    no_postcode = {**no_birth, "postcode": None}
    assert "birth_date_missing" in _score(here, no_postcode).flags  # the same address line
    elsewhere = {**no_birth, "postcode": None, "address_line": "9 Mill Lane"}
    assert "weak_evidence" in _score(here, elsewhere).flags


def test_same_nhs_number_same_year_month_is_flagged_when_given_names_differ() -> None:
    result = _score(
        {"birth_date": "1980-03-04"}, {"birth_date": "1980-03-25", "given_name": "Zainab"}
    )
    assert "nhs_number_shared_conflict" in result.flags
    same_name = _score({"birth_date": "1980-03-04"}, {"birth_date": "1980-03-25"})
    assert "nhs_number_shared_conflict" not in same_name.flags


def test_same_nhs_number_with_a_date_typo_is_not_flagged() -> None:
    assert _score({"birth_date": "1980-03-04"}, {"birth_date": "1980-04-03"}).flags == ()
    assert _score({"birth_date": "1980-03-04"}, {"birth_date": "1980-03-07"}).flags == ()


def test_two_different_valid_nhs_numbers_are_flagged_and_weigh_against() -> None:
    result = _score({}, {"nhs_number": NHS_B})
    assert result.flags == ("nhs_number_conflict",)
    assert result.fields[0].level == "different"
    assert result.fields[0].weight < -5


def test_parent_and_child_with_the_same_name_at_one_address_are_not_linked() -> None:
    father = {"nhs_number": None, "given_name": "John", "sex": "male", "birth_date": "1955-07-19"}
    son = {**father, "birth_date": "1982-11-02"}
    result = _score(father, son)
    assert result.probability < MODEL.thresholds["link"]


def test_siblings_at_one_address_are_not_reviewed() -> None:
    a = {"nhs_number": None, "given_name": "John", "birth_date": "1982-11-02"}
    b = {"nhs_number": None, "given_name": "Peter", "birth_date": "1985-01-23"}
    assert _score(a, b).probability < MODEL.thresholds["review"]


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"nhs_number": None}, id="no-nhs-number"),
        pytest.param({"given_name": "Polly"}, id="nickname"),
        pytest.param({"family_name": "Smith-Jonse"}, id="family-typo"),
        pytest.param({"birth_date": "1980-04-03"}, id="day-month-swapped"),
        pytest.param({"postcode": "M1 1AA", "address_line": "1 New Road"}, id="moved"),
    ],
)
def test_one_error_still_links(change: dict[str, Any]) -> None:
    result = _score({}, change)
    assert result.probability >= MODEL.thresholds["link"]
    assert result.flags == ()


def test_findings_of_an_empty_vector() -> None:
    assert findings(NormalisedRecord(), NormalisedRecord(), levels=(0,) * len(COMPARISONS)) == (
        "weak_evidence",
        "sparse_evidence",
    )


def test_findings_is_the_one_source_of_a_scores_flags() -> None:
    """Every flag ``score()`` returns comes from ``findings()``, and each is declared."""
    from matching.findings import ALL
    from matching.normalise import normalise
    from matching.types import Demographics

    twin_a = normalise(Demographics(given_name="Mia", family_name="Cole", birth_date="2015-03-02"))
    twin_b = normalise(Demographics(given_name="Isla", family_name="Cole", birth_date="2015-03-02"))
    result = score(MODEL, twin_a, twin_b)
    names = next(f.weight for f in result.fields if f.comparison == "given_name") + next(
        f.weight for f in result.fields if f.comparison == "family_name"
    )
    assert findings(twin_a, twin_b, names_weight=names) == result.flags
    assert "twin_risk" in result.flags
    assert set(result.flags) <= ALL


def test_score_uses_a_model_built_from_a_dict() -> None:
    document = MODEL.to_dict()
    document["prior"] = 0.5
    model = MatchModel.from_dict(document)
    result = score(model, NormalisedRecord(), NormalisedRecord())
    assert result.probability == 0.5


def test_same_nhs_number_with_a_year_slip_is_not_a_relatives_number():
    from matching.model import load_default_model
    from matching.normalise import normalise
    from matching.scoring import score
    from matching.types import Demographics

    model = load_default_model()
    base = dict(nhs_number="9434765919", given_name="Maryam", family_name="Mirza", sex="female")
    slip = score(
        model,
        normalise(Demographics(birth_date="2019-08-12", **base)),
        normalise(Demographics(birth_date="2020-08-12", **base)),
    )
    assert "nhs_number_shared_conflict" not in slip.flags
    child = dict(base, given_name="Aisha")
    relative = score(
        model,
        normalise(Demographics(birth_date="1988-08-12", **base)),
        normalise(Demographics(birth_date="2019-08-12", **child)),
    )
    assert "nhs_number_shared_conflict" in relative.flags
    same_name_child = score(
        model,
        normalise(Demographics(birth_date="1988-08-12", **base)),
        normalise(Demographics(birth_date="2019-08-12", **base)),
    )
    assert "nhs_number_shared_conflict" in same_name_child.flags


def test_given_names_agreeing_only_through_a_middle_name_are_flagged():
    from matching.model import load_default_model
    from matching.normalise import normalise
    from matching.scoring import score
    from matching.types import Demographics

    model = load_default_model()
    base = dict(family_name="Ng", birth_date="2013-01-29", sex="male", postcode="BD13 1SP")
    hao = normalise(Demographics(given_name="Hao Wei", **base))
    wei = normalise(Demographics(given_name="Wei", **base))
    # a twin risk across systems too (twins named after each other: AMELIA / MATILDA AMELIA)
    assert score(model, hao, wei).flags == ("given_name_middle_only", "twin_risk")
    assert score(model, hao, hao).flags == ()


def test_a_one_letter_typo_in_the_first_name_is_not_a_twin_risk():
    from matching.model import load_default_model
    from matching.normalise import normalise
    from matching.scoring import score
    from matching.types import Demographics

    model = load_default_model()
    base = dict(family_name="King", birth_date="2005-05-05", sex="female", postcode="LS7 2WA")
    grace = normalise(Demographics(given_name="Grace", **base))
    assert (
        "twin_risk"
        not in score(model, grace, normalise(Demographics(given_name="Goace", **base))).flags
    )
    assert (
        "twin_risk"
        in score(model, grace, normalise(Demographics(given_name="Greta", **base))).flags
    )


@pytest.mark.parametrize(
    ("given_a", "sex_a", "given_b", "sex_b", "is_twin_risk"),
    [
        pytest.param("Mia", "female", "Mit", "female", False, id="short-slip-keeps-initial"),
        pytest.param("Zoe", "female", "Zeo", "", False, id="short-transposition-no-sex"),
        pytest.param("Wei", "male", "Mei", "female", True, id="short-twins-other-initial"),
        pytest.param("Wei", "male", "Mei", "male", True, id="short-other-initial-same-sex"),
        pytest.param("Leo", "male", "Lea", "female", True, id="one-letter-but-other-sex"),
        pytest.param("Grace", "female", "Goace", "male", True, id="slip-but-other-sex"),
        pytest.param("Sunita", "female", "Anita", "female", True, id="two-edits"),
        pytest.param("Al", "male", "Ai", "male", True, id="two-letter-names"),
    ],
)
def test_which_first_name_slips_are_not_twin_risks(
    given_a: str, sex_a: str, given_b: str, sex_b: str, is_twin_risk: bool
) -> None:
    from matching.normalise import normalise
    from matching.types import Demographics

    model = load_default_model()
    base = dict(family_name="Sutcroft", birth_date="1996-01-20", postcode="WF2 1FS")
    a = normalise(Demographics(given_name=given_a, sex=sex_a or None, **base))
    b = normalise(Demographics(given_name=given_b, sex=sex_b or None, **base))
    assert ("twin_risk" in score(model, a, b).flags) is is_twin_risk


def test_twins_are_flagged_when_one_family_name_has_a_typo() -> None:
    poppy = {"nhs_number": None, "given_name": "Poppy", "family_name": "Robertss"}
    grace = {"given_name": "Grace", "family_name": "Roberts"}
    assert "twin_risk" in _score(poppy, grace).flags


def test_the_same_given_names_in_another_order_are_not_twins_by_middle_name() -> None:
    from matching.normalise import normalise
    from matching.types import Demographics

    model = load_default_model()
    base = dict(family_name="Sandhu", birth_date="1984-06-17", sex="male", postcode="WF9 6GU")
    sunil = normalise(Demographics(given_name="Sunil Anil", **base))
    anil = normalise(Demographics(given_name="Anil Sunil", **base))
    assert "given_name_middle_only" not in score(model, sunil, anil).flags
    just_anil = normalise(Demographics(given_name="Anil", **base))
    assert "given_name_middle_only" in score(model, sunil, just_anil).flags


def test_no_birth_date_with_a_typo_in_a_name_at_the_same_home_needs_a_unique_match() -> None:
    here = {
        "nhs_number": None,
        "given_name": "Mary",
        "postcode": "LS1 4AP",
        "address_line": "1 High Street",
    }
    typo = {**here, "birth_date": None, "given_name": "Mray"}
    result = _score(here, typo)
    assert result.fields[1].level == "jaro_winkler_high"
    assert "birth_date_missing" in result.flags


@pytest.mark.parametrize(
    ("son_born", "is_conflict"),
    [
        pytest.param("1988-04-02", True, id="decade-digit"),
        pytest.param("1985-04-02", True, id="transposed-year"),
        pytest.param("1959-04-02", False, id="year-typo"),
        pytest.param("1958-04-03", False, id="day-typo"),
    ],
)
def test_a_son_born_on_his_fathers_birthday_is_a_birth_date_conflict(
    son_born: str, is_conflict: bool
) -> None:
    home = {"given_name": "John", "family_name": "Hayes", "address_line": "169 Lister Close"}
    father = {**home, "birth_date": "1958-04-02"}
    son = {**home, "nhs_number": None, "birth_date": son_born}
    result = _score(father, son)
    assert result.fields[3].level == "one_digit_or_day"
    assert ("birth_date_conflict" in result.flags) is is_conflict


def test_a_same_name_son_with_his_own_nhs_number_has_two_contradictions() -> None:
    # The household fields agree and lift the probability into the review band, but the
    # pair holds two independent findings: the MPI opens no review item for it.
    father = {"given_name": "John", "sex": "male", "birth_date": "1955-07-19"}
    son = {**father, "birth_date": "1982-11-02", "nhs_number": NHS_B}
    result = _score(father, son)
    assert {"nhs_number_conflict", "birth_date_conflict"} <= set(result.flags)
    assert result.fields[0].level == "different"


def test_a_boy_and_girl_twin_are_a_twin_risk_of_another_sex() -> None:
    result = _score(
        {"nhs_number": None, "given_name": "Tobi", "sex": "male"},
        {"given_name": "Kemi", "sex": "female"},
    )
    assert "twin_risk" in result.flags
    assert next(f.level for f in result.fields if f.comparison == "sex") == "different"


# --- Safety rules from the 42,000-person scale check (bench/RESULTS.md) ---

_HOME = dict(nhs_number=None, address_line="4 Mill Lane, Holton", postcode="LS7 2WA", phone=None)


def test_sibling_variants_of_one_name_are_a_twin_risk() -> None:
    # JACK and SEAN are both variants of JOHN: twins, not one person
    jack = record(given_name="Jack Arthur", family_name="Holton", sex="male", **_HOME)
    sean = record(given_name="Seán Henry", family_name="Holton", sex="male", **_HOME)
    assert "twin_risk" in score(MODEL, jack, sean).flags
    # a name and its canonical form are one person
    john = record(given_name="John", family_name="Holton", sex="male", **_HOME)
    assert "twin_risk" not in score(MODEL, jack, john).flags


def test_twins_named_after_each_other_are_a_twin_risk_across_systems() -> None:
    matilda = record(given_name="Matilda Amelia", family_name="Stanshaw", **_HOME)
    amelia = record(given_name="Amelia", family_name="Stanshaw", **_HOME)
    flags = score(MODEL, matilda, amelia).flags
    assert "twin_risk" in flags and "given_name_middle_only" in flags


def test_a_relatives_nhs_number_with_another_sex_and_no_birth_date_conflicts() -> None:
    home = dict(_HOME, nhs_number="9992053690")
    millie = record(
        given_name="Millie Ava",
        family_name="Williams",
        sex="female",
        birth_date="1997-07-17",
        **home,
    )
    jack = record(given_name="Jack", family_name="Williams", sex="male", birth_date=None, **home)
    assert "nhs_number_shared_conflict" in score(MODEL, millie, jack).flags
    # the same sex: a keying slip in the name is still possible, no new conflict
    same_sex = record(
        given_name="Jack", family_name="Williams", sex="female", birth_date=None, **home
    )
    assert "nhs_number_shared_conflict" not in score(MODEL, millie, same_sex).flags


def test_another_sex_and_given_names_not_agreeing_is_a_sex_conflict() -> None:
    usman = record(
        given_name="M Usman", family_name="Mirza", sex="male", birth_date="1970-09-02", **_HOME
    )
    mariam = record(
        given_name="Mariam", family_name="Mirza", sex="female", birth_date="1975-09-02", **_HOME
    )
    assert "sex_conflict" in score(MODEL, usman, mariam).flags
    # the same given name (or its canonical form) with a sex keyed wrongly is no conflict
    jack = record(given_name="Jack", family_name="Mirza", sex="male", **_HOME)
    assert "sex_conflict" not in score(MODEL, jack, replace(jack, sex="female")).flags
    john = record(given_name="John", family_name="Mirza", sex="female", **_HOME)
    assert "sex_conflict" not in score(MODEL, jack, john).flags
    # an agreeing NHS number says it is one person
    a = record(given_name="M Usman", family_name="Mirza", sex="male")
    assert (
        "sex_conflict"
        not in score(MODEL, a, record(given_name="Mariam", family_name="Mirza")).flags
    )


def test_middle_names_sharing_nothing_without_a_birth_date_conflict() -> None:
    mother = record(
        given_name="Precious Grace", family_name="Danquah", birth_date="1974-08-04", **_HOME
    )
    child = record(
        given_name="Precious Blessing Mercy", family_name="Danquah", birth_date=None, **_HOME
    )
    result = score(MODEL, mother, child)
    assert "middle_name_conflict" in result.flags
    # a middle name dropped, an initial, a typo or a swap is no disagreement
    for other in ("Precious", "Precious G", "Precious Gracie", "Grace Precious"):
        again = record(given_name=other, family_name="Danquah", birth_date=None, **_HOME)
        assert "middle_name_conflict" not in score(MODEL, mother, again).flags, other
    # with both birth dates the rule does not apply
    dated = replace(child, birth_date=mother.birth_date)
    assert "middle_name_conflict" not in score(MODEL, mother, dated).flags


def test_spellings_and_shortenings_of_one_name_are_no_twin_risk() -> None:
    base = dict(family_name="Khan", sex="male", **_HOME)
    for x, y in (("Mohammad", "Muhammad"), ("Dai", "Dafydd"), ("Bella", "Isabella")):
        result = score(MODEL, record(given_name=x, **base), record(given_name=y, **base))
        assert "twin_risk" not in result.flags, (x, y)


# Issue 10: sparse evidence, a co-twin's NHS number, birth order -----------------------------


@pytest.mark.parametrize(
    ("a", "b", "sparse"),
    [
        pytest.param({}, {}, False, id="everything"),
        pytest.param({}, {"given_name": None, "birth_date": None}, True, id="nhs-and-family"),
        pytest.param({}, {"given_name": None, "family_name": None}, True, id="nhs-and-birth-date"),
        pytest.param({}, {"given_name": None}, False, id="nhs-birth-date-and-family"),
        pytest.param({}, {"birth_date": None}, True, id="no-birth-date"),
        pytest.param({}, {"nhs_number": None}, False, id="full-demographics"),
        pytest.param(
            {},
            {"nhs_number": None, "postcode": None, "address_line": None, "phone": None},
            True,
            id="names-and-birth-date-only",
        ),
        pytest.param(
            {},
            {"nhs_number": None, "family_name": "Okafor"},
            False,
            id="given-birth-date-home-and-phone",
        ),
        pytest.param(
            {},
            {"nhs_number": None, "family_name": "Okafor", "phone": None},
            True,
            id="given-birth-date-and-home-only",
        ),
    ],
)
def test_sparse_evidence(a: dict[str, Any], b: dict[str, Any], sparse: bool) -> None:
    assert ("sparse_evidence" in _score(a, b).flags) is sparse


def test_a_co_twins_nhs_number_is_a_shared_conflict() -> None:
    twin = {"given_name": "Oliver", "sex": "male", "postcode": "LS1 4AP", "address_line": "1 Rd"}
    result = _score({}, twin)
    assert "nhs_number_shared_conflict" in result.flags
    assert "nhs_number_shared_conflict" not in _score({}, {"sex": "male"}).flags  # a slip
    assert "nhs_number_shared_conflict" not in _score({}, {"given_name": "Olive"}).flags


def test_birth_orders_and_multiple_births() -> None:
    assert "birth_order_conflict" in _score({"birth_order": "1"}, {"birth_order": "2"}).flags
    same = _score({"birth_order": "1"}, {"multiple_birth": "Y", "birth_order": "1"})
    assert not {"birth_order_conflict", "multiple_birth_conflict"} & set(same.flags)
    other = _score({"multiple_birth": "Y"}, {"given_name": "Susan"})
    assert "multiple_birth_conflict" in other.flags
    assert "multiple_birth_conflict" in _score({"multiple_birth": "Y"}, {"given_name": "M"}).flags
    nameless = {"multiple_birth": "Y", "given_name": None}
    assert "multiple_birth_conflict" in _score(nameless, {}).flags
    told_apart = _score({**nameless, "birth_order": "2"}, {"birth_order": "2"})
    assert "multiple_birth_conflict" not in told_apart.flags
    assert (
        "multiple_birth_conflict" not in _score({"multiple_birth": "N"}, {"given_name": "S"}).flags
    )
