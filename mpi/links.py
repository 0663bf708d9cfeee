"""Link decisions: thresholds and the safety rules that guard against false merges.

A false merge (two people in one identity) is far worse than a duplicate, so an automatic
link needs a probability at or above the link threshold *and* no safety finding against
any record of the candidate person:

- ``nhs_number_conflict``: two valid, different NHS numbers never auto-link;
- ``nhs_number_shared_conflict``: the same NHS number with a clearly different date of
  birth is a relative's number on the wrong record: always sent to review;
- ``twin_risk``: same family name and date of birth with different given names (twins);
- ``birth_date_conflict``: birth dates years apart (a same-name parent and child);
- ``sex_conflict``: different sex and given names that do not agree (a spouse or
  sibling at one address); ``middle_name_conflict``: no birth date on one side and middle
  names that share nothing (a parent and child sharing a first name). Both go to review
  as a ``possible_match``;
- ``weak_evidence``: nothing beyond name and birth date agrees (no NHS number, postcode,
  address or phone), or there is no birth date to compare;
- ``sparse_evidence``: not the evidence a link needs to open a person's record to the
  system that sent this one (it would then see the other systems' data): an agreeing NHS
  number needs a birth date on both sides and an agreeing name, and without one, given
  name, family name, birth date and a postcode, address or phone must agree. So a record
  with only an NHS number and a name, an NHS number and a birth date, or no birth date
  is stored and goes to review or to a new person, never into an existing identity
  (unless its own system already holds a record of that identity, which it then sees
  already: :func:`blocking_findings`);
- ``name_not_comparable``: a record was sent a name of which nothing comparable is left
  (only symbols, or ``?`` for letters its system could not encode), and no NHS number
  agrees: it never links on demographics alone (a name in another script is
  transliterated and compared, see :mod:`matching.normalise`);
- ``birth_order_conflict``: two different birth orders (twin 1 and twin 2), counted from
  any record; ``multiple_birth_conflict``: a multiple birth and first given names that
  are not one name (or no given name and no agreeing birth order). Both go to review
  as a ``twin_risk``.

Below the link threshold and at or above the review threshold, the record gets a new
person and a review item against each plausible candidate (at most ``max_review``),
except a candidate that two independent contradictions already rule out (see
:func:`is_clear_non_match`): a same-name parent and child with two valid, different NHS
numbers and birth dates decades apart is no work for a reviewer, however much the
household fields (family name, postcode, address, phone) agree.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from matching.comparisons import COMPARISONS
from matching.findings import REVIEW_REASONS as ALL_REASONS
from matching.findings import SAFETY, Finding, ReviewReason
from matching.types import MatchScore, NormalisedRecord

SAFETY_FLAGS = SAFETY
#: Findings that allow an automatic link only when no other identity is plausible.
UNIQUE_ONLY_FLAGS = frozenset({Finding.BIRTH_DATE_MISSING, Finding.GIVEN_NAME_INITIAL})
#: Findings that count against a person only when every plausible record of it has them.
PERSON_WIDE_FLAGS = frozenset(
    {
        Finding.TWIN_RISK,
        Finding.WEAK_EVIDENCE,
        Finding.SEX_CONFLICT,
        Finding.SPARSE_EVIDENCE,
        Finding.MULTIPLE_BIRTH_CONFLICT,
        Finding.NAME_NOT_COMPARABLE,
    }
)
#: Findings that say two records are twins of one birth (reviewed as ``twin_risk``).
MULTIPLE_BIRTH_FLAGS = frozenset({Finding.BIRTH_ORDER_CONFLICT, Finding.MULTIPLE_BIRTH_CONFLICT})

#: Review reasons, most urgent first.
REVIEW_REASONS = ALL_REASONS

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_enterprise_id() -> str:
    """A new opaque enterprise person ID: 60 random bits, Crockford base32, ``XXXX-XXXX-XXXX``."""
    value = secrets.randbits(60)
    chars = "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in range(12))
    return f"{chars[0:4]}-{chars[4:8]}-{chars[8:12]}"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Match probabilities that separate link, review and new person."""

    link: float
    review: float

    def __post_init__(self) -> None:
        if not 0.0 < self.review <= self.link < 1.0:
            raise ValueError(
                f"thresholds must satisfy 0 < review <= link < 1, got review={self.review}"
                f" link={self.link}"
            )


@dataclass(frozen=True, slots=True)
class PersonMatch:
    """How well a record matches one candidate person (over all its records)."""

    person: int
    score: MatchScore
    record_id: int
    flags: frozenset[str]
    same_system: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with a record: link to ``person`` or make a new one, plus review items."""

    action: str
    match: PersonMatch | None
    review: tuple[tuple[PersonMatch, str], ...] = ()

    @property
    def person(self) -> int | None:
        """The person to link to, ``None`` for a new person."""
        return self.match.person if self.action == "link" and self.match else None


def review_reason(match: PersonMatch, probe_issues: Iterable[str] = ()) -> str:
    """The most urgent reason a human should look at this candidate."""
    if Finding.NHS_NUMBER_SHARED_CONFLICT in match.flags:
        return ReviewReason.NHS_NUMBER_SHARED_CONFLICT
    if Finding.TWIN_RISK in match.flags or match.flags & MULTIPLE_BIRTH_FLAGS:
        return ReviewReason.TWIN_RISK
    if Finding.NHS_NUMBER_CONFLICT in match.flags:
        return ReviewReason.NHS_NUMBER_CONFLICT
    if Finding.BIRTH_DATE_CONFLICT in match.flags:
        return ReviewReason.BIRTH_DATE_CONFLICT
    if match.same_system:
        return ReviewReason.INTRA_SYSTEM_DUPLICATE
    if "nhs_number_invalid" in probe_issues:
        return ReviewReason.INVALID_NHS_NUMBER
    return ReviewReason.POSSIBLE_MATCH


#: Pairs of independent contradictions that rule a candidate out without review. Each
#: holds a safety finding, so none could ever link automatically. Another NHS number with
#: another given name or the twin pattern is not among them: one person known by a
#: middle name in one system ("SIMON" for DAVID SIMON) whose number was mis-keyed into
#: another valid one looks just like that (a true match lost at 20,000 persons).
CLEAR_NON_MATCH = frozenset(
    {
        frozenset({"nhs_number", "birth_date"}),  # a same-name parent and child
        frozenset({"nhs_number", "sex"}),
        frozenset({"birth_date", "given_name"}),  # siblings, parent and child
        frozenset({"birth_date", "sex"}),
        frozenset({"twin", "sex"}),  # a boy and a girl twin
        # a brother and sister (or spouses) at one address: 34 items at 20,000 persons
        # (seed 11) and 24 at seed 29, none a true match (bench/RESULTS.md, issue 11)
        frozenset({"given_name", "sex"}),
    }
)


def contradictions(result: MatchScore) -> frozenset[str]:
    """The independent contradictions of one scored pair, each saying "another person".

    ``nhs_number``: two valid, different NHS numbers (``nhs_number_conflict``);
    ``birth_date``: birth dates years apart (``birth_date_conflict``) at level
    ``different``, not one keying slip (1991 keyed as 1901 is a slip, however many years
    it makes; a son born on his father's birthday stays for a reviewer); ``twin``: the twin
    pattern (``twin_risk``: same family name and birth date, different given names);
    ``given_name``: given names at level ``different``; ``sex``: a different
    administrative gender. Given names that agree through a middle name
    (``given_name_middle_only``: perhaps one person's names reordered) are no
    contradiction.

    Args:
        result: the score of the record against one candidate record.

    Returns:
        The contradictions found; empty when none.

    Example:
        >>> from matching.types import FieldScore, MatchScore
        >>> son = MatchScore(
        ...     1.0,
        ...     0.5,
        ...     (FieldScore("birth_date", "different", -9.0),),
        ...     ("nhs_number_conflict", "birth_date_conflict"),
        ... )
        >>> sorted(contradictions(son))
        ['birth_date', 'nhs_number']
    """
    flags = set(result.flags)
    levels = {f.comparison: f.level for f in result.fields}
    middle_name = Finding.GIVEN_NAME_MIDDLE_ONLY in flags
    found = set()
    if Finding.NHS_NUMBER_CONFLICT in flags:
        found.add("nhs_number")
    if Finding.BIRTH_DATE_CONFLICT in flags and levels.get("birth_date") == "different":
        found.add("birth_date")
    if Finding.TWIN_RISK in flags and not middle_name:
        found.add("twin")
    if levels.get("given_name") == "different" and not middle_name:
        found.add("given_name")
    if levels.get("sex") == "different":
        found.add("sex")
    return frozenset(found)


def is_clear_non_match(match: PersonMatch) -> bool:
    """Whether a candidate is so clearly another person that it opens no review item.

    True when the best-scoring pair (the one a reviewer would see) holds one of the pairs
    of independent contradictions in :data:`CLEAR_NON_MATCH`: for example a same-name
    father and son with two valid, different NHS numbers and birth dates decades apart,
    whose probability the agreeing household fields (family name, postcode, address,
    phone) inflate. Against the whole person: another valid NHS number on any of its
    records counts; a birth-date conflict or twin risk counts only when it holds for
    the person too (not a chain of keying slips, not a twin risk that another record
    of the person answers). A relative's NHS number on the wrong record
    (``nhs_number_shared_conflict``) always goes to review. Each pair holds a safety
    finding, so such a candidate would never have been linked automatically either.

    Args:
        match: the candidate person.

    Returns:
        ``True`` when no human needs to look at the candidate.

    Example:
        >>> from matching.types import FieldScore, MatchScore
        >>> son = MatchScore(
        ...     1.0,
        ...     0.51,
        ...     (FieldScore("birth_date", "different", -9.0),),
        ...     ("nhs_number_conflict", "birth_date_conflict"),
        ... )
        >>> is_clear_non_match(PersonMatch(2, son, 7, frozenset(son.flags)))
        True
    """
    if Finding.NHS_NUMBER_SHARED_CONFLICT in match.flags | set(match.score.flags):
        return False
    found = person_contradictions(match)
    return any(pair <= found for pair in CLEAR_NON_MATCH)


def person_contradictions(match: PersonMatch) -> frozenset[str]:
    """The contradictions of a candidate's best pair, as they hold for the whole person.

    Another valid NHS number on any record of the person counts; a birth-date conflict
    or twin risk only when the person-level findings keep it.

    Args:
        match: the candidate person.

    Returns:
        The contradictions (see :func:`contradictions`).
    """
    found = set(contradictions(match.score))
    if Finding.NHS_NUMBER_CONFLICT in match.flags:
        found.add("nhs_number")
    for kind, flag in (("birth_date", Finding.BIRTH_DATE_CONFLICT), ("twin", Finding.TWIN_RISK)):
        if flag not in match.flags:
            found.discard(kind)
    return frozenset(found)


#: Levels at which a candidate is another person for the record, whatever else agrees.
_OTHER_PERSON = frozenset({("given_name", "different"), ("sex", "different")})
#: Findings that say a candidate is another person (another NHS number or birth date).
_CONFLICTS = frozenset({Finding.NHS_NUMBER_CONFLICT, Finding.BIRTH_DATE_CONFLICT})


def is_rival(match: PersonMatch, thresholds: Thresholds, *, has_birth_date: bool = True) -> bool:
    """Whether a candidate makes a record without birth date (or with an initial) ambiguous.

    A rival is plausible (at or above the review threshold) and could be the person the
    record names. Another NHS number or a birth date years apart rules it out ("C CLARK"
    born 2011 with Callum's NHS number is not ambiguous because Christopher, born 1985,
    lives there). For a record with a birth date (an initial), so does a different given
    name or sex: a sister is no rival for "A PATEL", a twin with the same initial is.
    Without a birth date every other plausible person counts: a household of several may
    hold a same-name parent or child the index does not know yet (Arjun, 4, and a
    nameless-date "ARJUN VIRDEE" at his address, where his sister also lives).

    Args:
        match: the candidate.
        thresholds: the link and review probabilities.
        has_birth_date: whether the record has a birth date (default ``True``).

    Example:
        >>> from matching.types import FieldScore, MatchScore
        >>> sister = MatchScore(1.0, 0.8, (FieldScore("given_name", "different", -5.0),))
        >>> is_rival(PersonMatch(2, sister, 7, frozenset()), Thresholds(0.99, 0.5))
        False
        >>> is_rival(
        ...     PersonMatch(2, sister, 7, frozenset()),
        ...     Thresholds(0.99, 0.5),
        ...     has_birth_date=False,
        ... )
        True
    """
    if match.score.probability < thresholds.review or match.flags & _CONFLICTS:
        return False
    if not has_birth_date:
        return True
    return not any((f.comparison, f.level) in _OTHER_PERSON for f in match.score.fields)


def blocking_findings(match: PersonMatch) -> frozenset[str]:
    """The safety findings that stop an automatic link to this candidate.

    ``sparse_evidence`` does not, when the record's system already holds a record of the
    candidate: the link opens nothing that system does not see already (other findings
    still guard against a false merge).
    """
    found = match.flags & SAFETY_FLAGS
    if match.same_system:
        found -= {Finding.SPARSE_EVIDENCE}
    return found


def decide(
    matches: Iterable[PersonMatch],
    thresholds: Thresholds,
    *,
    probe_issues: Iterable[str] = (),
    max_review: int = 3,
) -> Decision:
    """Decide between linking to the best candidate person and making a new one.

    Args:
        matches: one entry per candidate person.
        thresholds: the link and review probabilities.
        probe_issues: data-quality issues of the incoming record (for the review reason).
        max_review: the most review items one record may open.

    Returns:
        The decision; ``review`` lists candidates for a human, with the reason.

    Example:
        >>> decide([], Thresholds(link=0.99, review=0.5)).action
        'new_person'
    """
    issues = tuple(probe_issues)
    ranked = sorted(matches, key=lambda m: m.score.probability, reverse=True)
    chosen: PersonMatch | None = None
    for match in ranked:
        if match.score.probability < thresholds.link:
            break
        if not blocking_findings(match):
            chosen = match
            break
    if chosen is not None and chosen.flags & UNIQUE_ONLY_FLAGS:
        dated = Finding.BIRTH_DATE_MISSING not in chosen.flags
        rivals = [
            m for m in ranked if m is not chosen and is_rival(m, thresholds, has_birth_date=dated)
        ]
        if rivals:
            chosen = None  # no birth date, or an initial: only an unambiguous match links
    review = tuple(
        (m, review_reason(m, issues))
        for m in ranked
        if m is not chosen
        and (
            m.score.probability >= thresholds.review
            or Finding.NHS_NUMBER_SHARED_CONFLICT in m.flags
        )
        and not is_clear_non_match(m)
    )[:max_review]
    if chosen is not None:
        # A second identity that also matches well is a likely duplicate: ask a human.
        return Decision("link", chosen, review)
    return Decision("new_person", ranked[0] if ranked else None, review)


def person_flags(
    scores: Iterable[MatchScore],
    review_threshold: float,
    *,
    members: Sequence[NormalisedRecord] | None = None,
) -> frozenset[str]:
    """The safety findings of a record against a whole person (all its records).

    NHS number and birth-date conflicts count from any record: one conflicting number, or
    one birth date years apart, is enough to stop an automatic link (so a record without a
    birth date cannot carry a same-name son into his father's identity). The others
    (:data:`PERSON_WIDE_FLAGS`) count only when every record of the person that matches at
    all (at or above the review threshold) has them: a twin
    disagrees on the given name with all of its sibling's records, while a person whose
    other record uses a middle name as the first name still agrees through the rest. A
    record with no given name is no agreement against a twin risk.

    With ``members`` (the person's records, in the order of ``scores``), a birth-date
    conflict with one record is dropped when it is two keying slips chained through
    another record of the person: the record agrees cleanly with a record whose birth date
    is one slip from the conflicting one (1954-05-08, 1955-05-08 and 1954-08-05 under one
    NHS number). A same-name son has no such record in his father's identity.

    Args:
        scores: the record's score against each record of the person.
        review_threshold: the probability at which a record counts as plausible.
        members: the person's records, in the order of ``scores``; ``None`` (the
            default) counts every birth-date conflict.

    Returns:
        The person-level findings.
    """
    scores = list(scores)
    if members is not None:
        scores = _without_chained_birth_conflicts(scores, list(members), review_threshold)
    flags = {f for s in scores for f in s.flags if f not in PERSON_WIDE_FLAGS}
    plausible = [s for s in scores if s.probability >= review_threshold]
    for flag in PERSON_WIDE_FLAGS:
        if plausible and all(flag in s.flags for s in plausible):
            flags.add(flag)
    # A record without a given name says nothing against a twin: twins MIA and ISLA plus
    # a nameless record of Mia must not let ISLA in.
    if any(Finding.TWIN_RISK in s.flags for s in plausible) and all(
        Finding.TWIN_RISK in s.flags or _given_level(s) == "missing" for s in plausible
    ):
        flags.add(Finding.TWIN_RISK)
    return frozenset(flags)


def _given_level(score: MatchScore) -> str | None:
    return next((f.level for f in score.fields if f.comparison == "given_name"), None)


_BIRTH_DATE = next(c for c in COMPARISONS if c.name == "birth_date")
#: Birth-date levels one keying slip apart at most.
_BIRTH_CLOSE = frozenset(
    _BIRTH_DATE.index(label) for label in ("exact", "day_month_swapped", "one_digit_or_day")
)
_BIRTH_CLOSE_LABELS = frozenset({"exact", "day_month_swapped", "one_digit_or_day"})
_BIRTH_CONFLICTS = frozenset({Finding.BIRTH_DATE_CONFLICT, Finding.NHS_NUMBER_SHARED_CONFLICT})


def _birth_level(score: MatchScore) -> str | None:
    return next((f.level for f in score.fields if f.comparison == "birth_date"), None)


def _without_chained_birth_conflicts(
    scores: list[MatchScore], members: list[NormalisedRecord], review_threshold: float
) -> list[MatchScore]:
    """Scores with birth-date conflicts that are two chained keying slips removed."""
    if len(members) != len(scores) or not any(_BIRTH_CONFLICTS & set(s.flags) for s in scores):
        return scores
    supports = [
        i
        for i, s in enumerate(scores)
        if s.probability >= review_threshold
        and not set(s.flags) & SAFETY_FLAGS
        and _birth_level(s) in _BIRTH_CLOSE_LABELS
    ]
    result = []
    for i, s in enumerate(scores):
        conflict = _BIRTH_CONFLICTS & set(s.flags)
        if conflict and any(
            j != i and _BIRTH_DATE.level(members[i], members[j]) in _BIRTH_CLOSE for j in supports
        ):
            s = replace(s, flags=tuple(f for f in s.flags if f not in conflict))
        result.append(s)
    return result
