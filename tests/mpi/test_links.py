"""mpi.links decisions on hand-built matches (pure: no database)."""

from __future__ import annotations

from matching.types import FieldScore, MatchScore
from mpi.links import PersonMatch, Thresholds, decide, is_rival, person_flags

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
    assert {m.person for m, _ in decision.review} == {1, 2}
    alone = decide([arjun, _match(2, 0.3, given_name="different")], THRESHOLDS)
    assert alone.person == 1


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


def test_a_sex_conflict_counts_person_wide_and_a_middle_name_conflict_from_any_record():
    spouse = MatchScore(0.0, 0.99, flags=("sex_conflict",))
    same = MatchScore(0.0, 0.99)
    assert person_flags([spouse], 0.5) == {"sex_conflict"}
    assert person_flags([spouse, same], 0.5) == frozenset()  # one record with a wrong sex
    child = MatchScore(0.0, 0.99, flags=("middle_name_conflict", "birth_date_missing"))
    assert "middle_name_conflict" in person_flags([child, same], 0.5)
    for flag in ("sex_conflict", "middle_name_conflict"):
        assert decide([_match(1, 0.99999, {flag})], THRESHOLDS).action == "new_person"
