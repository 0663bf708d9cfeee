"""mpi.links decisions on hand-built matches (pure: no database)."""

from __future__ import annotations

import pytest

from matching.types import FieldScore, MatchScore
from mpi.links import (
    PersonMatch,
    Thresholds,
    contradictions,
    decide,
    is_clear_non_match,
    is_rival,
    person_flags,
)

THRESHOLDS = Thresholds(link=0.999, review=0.5)


def _match(person: int, probability: float, flags=(), **levels: str) -> PersonMatch:
    fields = tuple(FieldScore(name, level, 0.0) for name, level in levels.items())
    return PersonMatch(person, MatchScore(0.0, probability, fields), person * 10, frozenset(flags))


def test_a_record_without_birth_date_stays_apart_in_a_household_of_several():
    # Arjun (4) is known; his sister is plausible too; "ARJUN VIRDEE" without a birth date
    # may be his father, whom the index does not know yet.
    arjun = _match(1, 0.99999, {"birth_date_missing"}, given_name="exact", sex="exact")
    sister = _match(2, 0.88, given_name="different", sex="different")
    decision = decide([arjun, sister], THRESHOLDS)
    assert decision.action == "new_person"
    # another given name and another sex: the sister is a rival, but no review item
    # (mpi.links.CLEAR_NON_MATCH, issue 11)
    assert {m.person for m, _ in decision.review} == {1}
    alone = decide([arjun, _match(2, 0.3, given_name="different")], THRESHOLDS)
    assert alone.person == 1


def test_another_given_name_and_sex_open_no_review_item():
    brother = _match(2, 0.9, {"sex_conflict"}, given_name="different", sex="different")
    assert is_clear_non_match(brother)
    relative = _match(
        2, 0.9, {"nhs_number_shared_conflict"}, given_name="different", sex="different"
    )
    assert not is_clear_non_match(relative)  # a relative's NHS number is always reviewed
    assert not is_clear_non_match(_match(2, 0.9, given_name="different", sex="exact"))
    assert decide([brother], THRESHOLDS).review == ()


def test_an_initial_is_not_ambiguous_because_of_a_sister():
    arjun = _match(1, 0.99999, {"given_name_initial"}, given_name="initial", sex="exact")
    sister = _match(2, 0.88, given_name="different", sex="different")
    assert decide([arjun, sister], THRESHOLDS).person == 1


def test_a_record_without_birth_date_stays_apart_from_a_same_name_father_and_son():
    son = _match(1, 0.99999, {"birth_date_missing"}, given_name="exact", sex="exact")
    father = _match(2, 0.9, {"birth_date_missing"}, given_name="exact", sex="exact")
    assert decide([son, father], THRESHOLDS).action == "new_person"


def test_an_initial_stays_apart_when_a_twin_shares_it():
    paul = _match(1, 0.99999, {"given_name_initial"}, given_name="initial", sex="exact")
    peter = _match(2, 0.99999, {"given_name_initial"}, given_name="initial", sex="exact")
    sister = _match(3, 0.9, given_name="different", sex="different")
    assert decide([paul, peter, sister], THRESHOLDS).action == "new_person"
    assert decide([paul, sister], THRESHOLDS).person == 1


def test_rivals_below_the_review_threshold_do_not_count():
    assert not is_rival(_match(2, 0.4, given_name="exact"), THRESHOLDS)
    assert is_rival(_match(2, 0.6, given_name="exact"), THRESHOLDS)
    other_sex = _match(2, 0.6, given_name="exact", sex="different")
    assert not is_rival(other_sex, THRESHOLDS)
    assert is_rival(other_sex, THRESHOLDS, has_birth_date=False)


def test_a_twin_risk_counts_only_when_every_plausible_record_has_it():
    twin = MatchScore(0.0, 0.99, flags=("twin_risk",))
    same = MatchScore(0.0, 0.99)
    far = MatchScore(0.0, 0.1)
    assert person_flags([twin, far], 0.5) == {"twin_risk"}
    assert person_flags([twin, same], 0.5) == frozenset()


def test_a_candidate_with_another_nhs_number_or_birth_date_is_no_rival():
    callum = _match(1, 0.99999, {"given_name_initial"}, given_name="initial", sex="exact")
    christopher = _match(2, 0.9, {"nhs_number_conflict"}, given_name="initial", sex="exact")
    father = _match(3, 0.9, {"birth_date_conflict"}, given_name="initial", sex="exact")
    assert decide([callum, christopher, father], THRESHOLDS).person == 1


def test_a_record_without_given_name_is_no_agreement_against_a_twin():
    twin = MatchScore(0.0, 0.99, (FieldScore("given_name", "different", -5.0),), ("twin_risk",))
    nameless = MatchScore(0.0, 0.99, (FieldScore("given_name", "missing", 0.0),))
    same = MatchScore(0.0, 0.99, (FieldScore("given_name", "exact", 6.0),))
    assert person_flags([twin, nameless], 0.5) == {"twin_risk"}
    assert person_flags([twin, nameless, same], 0.5) == frozenset()


def _pair(person: int, probability: float, flags=(), **levels: str) -> PersonMatch:
    """A candidate whose best pair carries ``flags`` (as scoring puts them on the pair)."""
    fields = tuple(FieldScore(name, level, 0.0) for name, level in levels.items())
    result = MatchScore(0.0, probability, fields, tuple(flags))
    return PersonMatch(person, result, person * 10, frozenset(flags))


def test_contradictions_of_a_pair():
    son = _pair(1, 0.51, ("nhs_number_conflict", "birth_date_conflict"), birth_date="different")
    assert contradictions(son.score) == {"nhs_number", "birth_date"}
    twin = _pair(1, 0.9, ("twin_risk",), given_name="different", sex="different")
    assert contradictions(twin.score) == {"twin", "given_name", "sex"}
    middle = _pair(1, 0.9, ("given_name_middle_only", "twin_risk", "nhs_number_conflict"))
    assert contradictions(middle.score) == {"nhs_number"}  # one person's names reordered
    # 1991 keyed as 1901: one digit, a birth-date conflict, but a keying slip.
    slip = _pair(
        1, 0.9, ("nhs_number_conflict", "birth_date_conflict"), birth_date="one_digit_or_day"
    )
    assert contradictions(slip.score) == {"nhs_number"}
    assert not is_clear_non_match(slip)


def test_a_same_name_son_with_another_nhs_number_opens_no_review_item():
    son = _pair(1, 0.51, ("nhs_number_conflict", "birth_date_conflict"), birth_date="different")
    decision = decide([son], THRESHOLDS)
    assert decision.action == "new_person" and decision.review == ()
    assert is_clear_non_match(son)


def test_another_nhs_number_on_another_record_of_the_person_counts():
    # The father's best record has no NHS number; another of his records has his own.
    son = _pair(1, 0.6, ("birth_date_conflict",), birth_date="different")
    father = PersonMatch(
        1, son.score, 10, frozenset({"birth_date_conflict", "nhs_number_conflict"})
    )
    assert not is_clear_non_match(son)
    assert is_clear_non_match(father)


def test_a_birth_date_conflict_that_the_person_explains_does_not_count():
    # A chain of keying slips through another record of the person drops the conflict.
    pair = _pair(1, 0.6, ("birth_date_conflict",), birth_date="different", sex="different")
    chained = PersonMatch(1, pair.score, 10, frozenset())
    assert is_clear_non_match(pair)
    assert not is_clear_non_match(chained)


@pytest.mark.parametrize(
    ("flags", "levels"),
    [
        pytest.param(("nhs_number_conflict",), {"sex": "different"}, id="other-nhs-number-and-sex"),
        pytest.param(
            ("birth_date_conflict",),
            {"birth_date": "different", "sex": "different"},
            id="other-birth-date-and-sex",
        ),
        pytest.param(
            ("birth_date_conflict",),
            {"birth_date": "different", "given_name": "different"},
            id="sibling",
        ),
        pytest.param(
            ("twin_risk",), {"birth_date": "exact", "sex": "different"}, id="boy-and-girl-twin"
        ),
    ],
)
def test_two_independent_contradictions_open_no_review_item(flags, levels):
    assert decide([_pair(1, 0.9, flags, **levels)], THRESHOLDS).review == ()


@pytest.mark.parametrize(
    ("flags", "levels", "reason"),
    [
        pytest.param(("nhs_number_conflict",), {}, "nhs_number_conflict", id="other-nhs-number"),
        pytest.param(
            ("birth_date_conflict",),
            {"birth_date": "different"},
            "birth_date_conflict",
            id="other-birth-date",
        ),
        pytest.param(("twin_risk",), {"given_name": "different"}, "twin_risk", id="twin"),
        pytest.param((), {"sex": "different"}, "possible_match", id="other-sex"),
        pytest.param((), {}, "possible_match", id="possible-match"),
        # A middle name in one system and a mis-keyed valid NHS number in the other look
        # the same as twins with their own numbers: a human decides.
        pytest.param(
            ("nhs_number_conflict", "twin_risk"),
            {"given_name": "different", "birth_date": "exact"},
            "twin_risk",
            id="twin-or-middle-name-with-other-nhs-number",
        ),
    ],
)
def test_one_contradiction_still_goes_to_review(flags, levels, reason):
    decision = decide([_pair(1, 0.9, flags, **levels)], THRESHOLDS)
    assert [r for _, r in decision.review] == [reason]


def test_a_relatives_nhs_number_always_goes_to_review():
    flags = ("nhs_number_shared_conflict", "birth_date_conflict")
    daughter = _pair(1, 0.2, flags, birth_date="different", sex="different")
    assert not is_clear_non_match(daughter)
    assert [r for _, r in decide([daughter], THRESHOLDS).review] == ["nhs_number_shared_conflict"]


def test_a_clear_non_match_leaves_its_review_slot_to_a_possible_match():
    flags = ("nhs_number_conflict", "birth_date_conflict")
    sons = [_pair(p, 0.9, flags, birth_date="different") for p in (1, 2, 3)]
    maybe = _pair(4, 0.6, sex="exact")
    decision = decide([*sons, maybe], THRESHOLDS, max_review=3)
    assert [(m.person, r) for m, r in decision.review] == [(4, "possible_match")]


def test_a_sex_conflict_counts_person_wide_and_a_middle_name_conflict_from_any_record():
    spouse = MatchScore(0.0, 0.99, flags=("sex_conflict",))
    same = MatchScore(0.0, 0.99)
    assert person_flags([spouse], 0.5) == {"sex_conflict"}
    assert person_flags([spouse, same], 0.5) == frozenset()  # one record with a wrong sex
    child = MatchScore(0.0, 0.99, flags=("middle_name_conflict", "birth_date_missing"))
    assert "middle_name_conflict" in person_flags([child, same], 0.5)
    for flag in ("sex_conflict", "middle_name_conflict"):
        assert decide([_match(1, 0.99999, {flag})], THRESHOLDS).action == "new_person"


def _same_system(person: int, probability: float, flags=(), **levels: str) -> PersonMatch:
    fields = tuple(FieldScore(name, level, 0.0) for name, level in levels.items())
    return PersonMatch(
        person, MatchScore(0.0, probability, fields), person * 10, frozenset(flags), True
    )


def test_a_same_system_link_on_name_and_home_without_a_birth_date_goes_to_review():
    # Seed 29's false merges: a GP's undated "SUSAN COOK, 136 WOODLAND AVENUE" (her
    # mother, no NHS number) came first; the daughter's dated record from the same GP
    # matched it on name and home alone. The system's own record does not lift
    # sparse_evidence then: a human decides.
    mother = _same_system(1, 0.99999, {"birth_date_missing", "sparse_evidence"}, given_name="exact")
    decision = decide([mother], THRESHOLDS)
    assert decision.action == "new_person"
    assert [m.person for m, _ in decision.review] == [1]


def test_a_same_system_sparse_link_with_both_birth_dates_still_links():
    known = _same_system(1, 0.99999, {"sparse_evidence"}, given_name="exact")
    assert decide([known], THRESHOLDS).person == 1
