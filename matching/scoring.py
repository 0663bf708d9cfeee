"""Fellegi–Sunter scoring: weights, match probability, explanation and safety flags.

The score of a pair is the sum of the weights (``log2(m / u)``) of the level each
comparison lands on; missing levels weigh 0. The match probability adds the model's prior
as a weight: ``p = 1 / (1 + 2 ** -(log2(prior / (1 - prior)) + weight))``.

Safety flags forbid an automatic link whatever the probability (see
:class:`~matching.types.MatchScore`):

- ``nhs_number_conflict``: two valid, different NHS numbers;
- ``nhs_number_shared_conflict``: the same NHS number but birth dates that are
  ``different`` or only ``same_year_month`` (a relative's number on the wrong record),
  unless the given names agree (``exact`` or ``nickname``) and the dates differ only as a
  keying slip does: same day and month within ten years (1956/1965), or same year and
  month. No parent, child or sibling carries the same given name and such a date. Also
  the same NHS number with no birth date on one side, ``different`` given names and
  family names neither ``exact`` nor ``shares_part``, or another sex: nothing but the
  number (and perhaps the home) says it is one person. Also the same NHS number with
  another sex and another given name (``jaro_winkler_medium``, ``phonetic``, ``initial``
  or ``different``): a co-twin's or sibling's number on the wrong record;
- ``twin_risk``: family name alike (``exact``, ``shares_part``, Jaro-Winkler or
  phonetic: a typo in it hides no twin), birth date ``exact``, given
  name ``jaro_winkler_medium``, ``phonetic``, ``initial`` or ``different``, and NHS number
  not ``exact`` or ``exact_verified``; not for first names one keying slip apart
  (GRACE/GOACE; a short name only when its first letter is kept, MIA/MIT) unless the
  records disagree on sex: twins' names differ by more. Also given names ``nickname``
  only through "sibling" variants, two variants of one canonical name that are not
  spellings or shortenings of each other (JACK and SEAN, both JOHN), and given names
  agreeing only through a middle name (``given_name_middle_only``, across systems too);
- ``sex_conflict``: another sex, no agreeing NHS number, and given names that neither
  agree exactly nor as a name and its canonical form (M USMAN / MARIAM: spouses);
- ``middle_name_conflict``: no birth date on one side, no agreeing NHS number, and
  middle names on both sides that share nothing (PRECIOUS GRACE / PRECIOUS BLESSING
  MERCY: a parent and child sharing a first name);

- ``birth_date_conflict``: birth dates ``different`` with no agreeing NHS number, or two or
  more years apart even with one (a parent and child with the same name at one address);
  also one digit apart but fifteen or more years (1958-04-02 / 1988-04-02, or a transposed
  1958 / 1985) with no agreeing NHS number: a son born on his father's birthday;
  twins are also flagged when one birth date is only a keying slip away (day and month
  swapped, one digit) and the given names are ``different``;
- ``weak_evidence``: no agreeing NHS number, and either no birth date on one side or no
  agreement on postcode (unit, sector or district: people move locally), address or
  phone while the names are not rare (given plus family weight below
  ``RARE_NAMES_WEIGHT``): name and birth date alone are
  not enough to merge two records automatically (strangers share common names and
  birthdays; a same-name parent and child share everything but the birth date).

- ``birth_order_conflict``: both records give a birth order, and they differ;
- ``multiple_birth_conflict``: either record is of a multiple birth, and the first given
  names are neither the same nor a name and its canonical form (or one side has none and
  the birth orders do not agree): twins are told apart by name or birth order only;
- ``name_not_comparable``: no agreeing NHS number, and either record was sent a given or
  family name of which nothing comparable is left (``?`` put in for letters a system
  could not encode, symbols only): a name that cannot be compared is no missing name in
  favour of a link, it may hide twins' different names;
- ``sparse_evidence``: not the evidence a link needs to disclose a person to the system
  that sent the record. A pair is strong (not sparse) when both records have a birth
  date and either the NHS numbers agree and so does a given or a family name, or given
  name, family name and birth date agree and so does a postcode (unit, sector or
  district), an address or a phone (see ``_strong_evidence``).

Three informational flags, not safety flags:

- ``given_name_initial``: what would be a twin risk, but one given name is only an
  initial that the other starts with ("P" and "PAUL"): the caller may link only when no
  other identity is a plausible match (with both twins known, "P" matches both);
- ``birth_date_missing``: no birth date on one side, no agreeing NHS number, but the same
  given and family name (or one typing error away: Jaro-Winkler high) at the same
  address (and postcode, when both have one): the
  caller may link only when no other identity is a plausible match (a same-name father
  and son share all of that);
- ``given_name_middle_only`` when family name and
birth date agree and the given names agree only through a middle name ("HAO WEI" and
"WEI"). A person using a middle name looks the same as twins named after each other
(MATILDA AMELIA and AMELIA), so ``twin_risk`` comes with it: a human decides.

Term-frequency adjustment will plug in through :class:`WeightAdjuster`: it receives each
comparison's level and may change that comparison's weight (a shared rare surname weighs
more than a shared "SMITH").
"""

from __future__ import annotations

from typing import Protocol

from matching.comparisons import COMPARISONS, compare
from matching.findings import Finding
from matching.frequencies import ADJUSTED as TF_ADJUSTED
from matching.frequencies import TermFrequencies
from matching.model import MatchModel
from matching.nicknames import are_direct_variants, are_name_variants
from matching.similarity import damerau_levenshtein, jaro_winkler
from matching.types import FieldScore, MatchScore, NormalisedRecord

__all__ = ["Finding", "WeightAdjuster", "findings", "match_probability", "score"]

_NAMES = tuple(c.name for c in COMPARISONS)
_LABELS = tuple(c.labels for c in COMPARISONS)
_INDEX = {c.name: i for i, c in enumerate(COMPARISONS)}
_NHS = _INDEX["nhs_number"]
_GIVEN = _INDEX["given_name"]
_FAMILY = _INDEX["family_name"]
_BIRTH = _INDEX["birth_date"]
_SEX = _INDEX["sex"]
_POSTCODE = _INDEX["postcode"]
_ADDRESS = _INDEX["address"]
_PHONE = _INDEX["phone"]


def _levels(name: str, *labels: str) -> frozenset[int]:
    declared = _LABELS[_INDEX[name]]
    return frozenset(declared.index(label) for label in labels)


_NHS_SAME = _levels("nhs_number", "exact_verified", "exact")
_NHS_DIFFERENT = _levels("nhs_number", "different")
_BIRTH_CONFLICT = _levels("birth_date", "different", "same_year_month")
_BIRTH_EXACT = _levels("birth_date", "exact")
#: Family names alike enough for twins: a typo in one (ROBERTS/ROBERTSS) hides no twin.
_FAMILY_SAME = _levels(
    "family_name", "exact", "shares_part", "jaro_winkler_high", "jaro_winkler_medium", "phonetic"
)
_GIVEN_AGREES = _levels("given_name", "exact", "nickname")
_GIVEN_NOTHING_IN_COMMON = _levels("given_name", "different")
#: Family names that are the same name (not merely alike), for a shared NHS number.
_FAMILY_SHARED = _levels("family_name", "exact", "shares_part")
_BIRTH_SAME_YEAR_MONTH = _levels("birth_date", "same_year_month")
_GIVEN_DIFFERENT = _levels("given_name", "jaro_winkler_medium", "phonetic", "initial", "different")
_SEX_DIFFERENT = _levels("sex", "different")
_MAX_LOGIT = 1000.0


class WeightAdjuster(Protocol):
    """The seam for term-frequency adjustment of weights and the prior's index size."""

    # An adjuster may also have ``prior_shift``: bits added to the model's prior weight.

    def adjust(
        self,
        comparison: str,
        level: str,
        weight: float,
        a: NormalisedRecord,
        b: NormalisedRecord,
    ) -> float:
        """Return the weight to use for this comparison's level on this pair."""
        ...


#: For each comparison, the index of the level term frequencies adjust (``exact``), or -1.
_TF_EXACT = tuple(c.index("exact") if c.name in TF_ADJUSTED else -1 for c in COMPARISONS)
_FIELD_TABLES: dict[int, tuple[object, tuple[tuple[FieldScore, ...], ...]]] = {}


def _field_table(
    weights: tuple[tuple[float, ...], ...],
) -> tuple[tuple[FieldScore, ...], ...]:
    """The unadjusted :class:`FieldScore` of every level of a model's weights, made once.

    Field scores are immutable, so one instance serves every pair that lands on a level.
    """
    entry = _FIELD_TABLES.get(id(weights))
    if entry is None or entry[0] is not weights:
        table = tuple(
            tuple(FieldScore(_NAMES[i], _LABELS[i][level], w) for level, w in enumerate(row))
            for i, row in enumerate(weights)
        )
        if len(_FIELD_TABLES) >= 64:
            _FIELD_TABLES.clear()
        entry = _FIELD_TABLES[id(weights)] = (weights, table)
    return entry[1]  # type: ignore[return-value]


def match_probability(prior_weight: float, weight: float) -> float:
    """The match probability from the prior (as a weight) and the pair's total weight.

    Args:
        prior_weight: ``log2(prior / (1 - prior))``.
        weight: the sum of the level weights.

    Returns:
        ``1 / (1 + 2 ** -(prior_weight + weight))``.

    Example:
        >>> match_probability(0.0, 0.0)
        0.5
    """
    logit = prior_weight + weight
    if logit > _MAX_LOGIT:
        return 1.0
    if logit < -_MAX_LOGIT:
        return 0.0
    return 1.0 / (1.0 + 2.0**-logit)


def _vector_flags(levels: tuple[int, ...]) -> tuple[str, ...]:
    """The findings that the comparison vector alone gives (the rest need the records).

    Args:
        levels: the vector from :func:`matching.comparisons.compare`.

    Returns:
        The flags found, in a fixed order; ``()`` when none.

    Example:
        >>> _vector_flags((3, 1, 1, 1, 1, 1, 1, 1))
        ('nhs_number_conflict',)
    """
    nhs = levels[_NHS]
    flags = []
    if nhs in _NHS_DIFFERENT:
        flags.append(Finding.NHS_NUMBER_CONFLICT)
    elif nhs in _NHS_SAME:
        if (
            levels[_BIRTH] in _BIRTH_CONFLICT
            or (
                levels[_BIRTH] == 0
                and levels[_GIVEN] in _GIVEN_NOTHING_IN_COMMON
                and (levels[_FAMILY] not in _FAMILY_SHARED or levels[_SEX] in _SEX_DIFFERENT)
            )
            # a co-twin's number: another sex and another given name outweigh the number
            or (levels[_SEX] in _SEX_DIFFERENT and levels[_GIVEN] in _GIVEN_DIFFERENT)
        ):
            flags.append(Finding.NHS_NUMBER_SHARED_CONFLICT)
    if (
        nhs not in _NHS_SAME
        and levels[_BIRTH] in _BIRTH_EXACT
        and levels[_FAMILY] in _FAMILY_SAME
        and levels[_GIVEN] in _GIVEN_DIFFERENT
    ):
        flags.append(Finding.TWIN_RISK)
    return tuple(flags)


def score(
    model: MatchModel,
    a: NormalisedRecord,
    b: NormalisedRecord,
    *,
    adjuster: WeightAdjuster | None = None,
) -> MatchScore:
    """Score a pair of records: total weight, match probability, explanation and flags.

    Args:
        model: the match model (weights, prior).
        a: one normalised record.
        b: the other.
        adjuster: an optional term-frequency adjuster; ``None`` (the default) uses the
            model's weights as they are.

    Returns:
        The score, with one :class:`~matching.types.FieldScore` per comparison in declared
        order and any safety flags.

    Example:
        >>> from matching.model import load_default_model
        >>> from matching.types import NormalisedRecord
        >>> one = NormalisedRecord(family_name="SMITH", sex="female")
        >>> result = score(load_default_model(), one, one)
        >>> [f.level for f in result.fields][:4]
        ['missing', 'missing', 'exact', 'missing']
    """
    levels = compare(a, b)
    table = _field_table(model.weights)
    fields = []
    total = 0.0
    if type(adjuster) is TermFrequencies:  # it changes only the exact levels it adjusts
        for index, level in enumerate(levels):
            field = table[index][level]
            if level == _TF_EXACT[index]:
                weight = adjuster.adjust(field.comparison, field.level, field.weight, a, b)
                field = FieldScore(field.comparison, field.level, weight)
            total += field.weight
            fields.append(field)
    else:
        for index, level in enumerate(levels):
            field = table[index][level]
            if adjuster is not None and level:
                weight = adjuster.adjust(field.comparison, field.level, field.weight, a, b)
                field = FieldScore(field.comparison, field.level, weight)
            total += field.weight
            fields.append(field)
    flags = findings(
        a, b, levels=levels, names_weight=fields[_GIVEN].weight + fields[_FAMILY].weight
    )
    return MatchScore(
        weight=total,
        probability=match_probability(
            model.prior_weight + getattr(adjuster, "prior_shift", 0.0), total
        ),
        fields=tuple(fields),
        flags=flags,
    )


def findings(
    a: NormalisedRecord,
    b: NormalisedRecord,
    *,
    levels: tuple[int, ...] | None = None,
    names_weight: float = 0.0,
) -> tuple[str, ...]:
    """Every finding of a pair, safety and informational (see the module docstring).

    This is the one place findings are made: :func:`score` returns these as its flags.

    Args:
        a: one normalised record.
        b: the other.
        levels: the pair's comparison vector, when already computed (default: compared
            here).
        names_weight: the given plus family name weight of the pair after any
            term-frequency adjustment, for ``weak_evidence`` (rare names need no
            corroboration); the default 0.0 counts the names as common.

    Returns:
        The findings, in a fixed order; ``()`` when none.

    Example:
        >>> from matching.types import NormalisedRecord
        >>> findings(NormalisedRecord(nhs_number="9434765919"),
        ...          NormalisedRecord(nhs_number="9434765870"))
        ('nhs_number_conflict', 'weak_evidence', 'sparse_evidence')
    """
    if levels is None:
        levels = compare(a, b)
    flags = _vector_flags(levels)
    if (
        Finding.TWIN_RISK not in flags
        and levels[_GIVEN] in _GIVEN_NICKNAME
        and levels[_NHS] not in _NHS_SAME
        and levels[_BIRTH] in _BIRTH_EXACT
        and levels[_FAMILY] in _FAMILY_SAME
        and not _directly_agree(a, b)
    ):
        flags = (*flags, Finding.TWIN_RISK)  # JACK and SEAN: both JOHN, but brothers' names
    if levels[_BIRTH] in _BIRTH_DIFFERENT and (
        levels[_NHS] not in _NHS_SAME or _years_apart(a, b) >= 2
    ):
        flags = (*flags, Finding.BIRTH_DATE_CONFLICT)
    elif (
        levels[_BIRTH] in _BIRTH_ONE_DIGIT
        and levels[_NHS] not in _NHS_SAME
        and _years_apart(a, b) >= GENERATION_YEARS
    ):
        # 1958-04-02 / 1988-04-02 is one digit, and a son born on his father's birthday
        flags = (*flags, Finding.BIRTH_DATE_CONFLICT)
    if (
        Finding.TWIN_RISK not in flags
        and levels[_BIRTH] in _BIRTH_TYPO
        and levels[_GIVEN] in _GIVEN_STRICTLY_DIFFERENT
        and levels[_FAMILY] in _FAMILY_SAME
        and levels[_NHS] not in _NHS_SAME
    ):
        flags = (*flags, Finding.TWIN_RISK)
    if levels[_NHS] not in _NHS_SAME:
        if levels[_BIRTH] == 0:
            flags = (
                *flags,
                Finding.BIRTH_DATE_MISSING
                if _same_name_and_home(levels)
                else Finding.WEAK_EVIDENCE,
            )
        elif (
            not any(levels[i] in _CORROBORATES[i] for i in _CORROBORATES)
            and names_weight < RARE_NAMES_WEIGHT
        ):
            flags = (*flags, Finding.WEAK_EVIDENCE)
    if (
        levels[_SEX] in _SEX_DIFFERENT
        and levels[_NHS] not in _NHS_SAME
        and not (levels[_GIVEN] in _GIVEN_EXACT or _directly_agree(a, b))
    ):
        flags = (*flags, Finding.SEX_CONFLICT)
    if levels[_BIRTH] == 0 and levels[_NHS] not in _NHS_SAME and _middle_names_disagree(a, b):
        flags = (*flags, Finding.MIDDLE_NAME_CONFLICT)
    if Finding.TWIN_RISK not in flags and _is_twin_by_middle_name(levels, a, b):
        flags = (*flags, Finding.GIVEN_NAME_MIDDLE_ONLY, Finding.TWIN_RISK)
    elif Finding.TWIN_RISK in flags and _is_one_slip(levels, a, b):
        flags = tuple(f for f in flags if f != Finding.TWIN_RISK)
    elif Finding.TWIN_RISK in flags and levels[_GIVEN] in _GIVEN_INITIAL:
        flags = tuple(Finding.GIVEN_NAME_INITIAL if f == Finding.TWIN_RISK else f for f in flags)
    if flags and Finding.NHS_NUMBER_SHARED_CONFLICT in flags and _is_keying_slip(levels, a, b):
        flags = tuple(f for f in flags if f != Finding.NHS_NUMBER_SHARED_CONFLICT)
    flags = (*flags, *_multiple_birth_flags(levels, a, b))
    if levels[_NHS] not in _NHS_SAME and (
        _NOT_COMPARABLE in a.issues or _NOT_COMPARABLE in b.issues
    ):
        flags = (*flags, Finding.NAME_NOT_COMPARABLE)
    if not _strong_evidence(levels):
        flags = (*flags, Finding.SPARSE_EVIDENCE)
    return flags


_GIVEN_EXACT = _levels("given_name", "exact")
_NOT_COMPARABLE = Finding.NAME_NOT_COMPARABLE
#: Given plus family name weight (after term-frequency adjustment) at which a name is rare
#: enough that name and birth date need no further corroboration: about one chance in a
#: million of two people sharing both names.
RARE_NAMES_WEIGHT = 19.0
_BIRTH_DIFFERENT = _levels("birth_date", "different")
_BIRTH_ONE_DIGIT = _levels("birth_date", "one_digit_or_day")
#: Years between birth dates one digit apart from which they may be a parent and child.
GENERATION_YEARS = 15
_BIRTH_TYPO = _levels("birth_date", "day_month_swapped", "one_digit_or_day")
_GIVEN_STRICTLY_DIFFERENT = _levels("given_name", "different")
_CORROBORATES = {
    _INDEX["postcode"]: _levels("postcode", "exact", "same_sector", "same_district"),
    _INDEX["address"]: _levels("address", "exact", "token_set_high", "token_set_medium"),
    _INDEX["phone"]: _levels("phone", "exact"),
}


_SAME_HOME = (
    (_GIVEN, _levels("given_name", "exact", "jaro_winkler_high")),
    (_FAMILY, _levels("family_name", "exact", "jaro_winkler_high")),
    (_INDEX["postcode"], _levels("postcode", "missing", "exact")),
    (_INDEX["address"], _levels("address", "exact", "token_set_high")),
)


def _same_name_and_home(levels: tuple[int, ...]) -> bool:
    return all(levels[i] in allowed for i, allowed in _SAME_HOME)


def _years_apart(a: NormalisedRecord, b: NormalisedRecord) -> int:
    if a.birth_date is None or b.birth_date is None:
        return 0
    return abs(a.birth_date.year - b.birth_date.year)


def _is_twin_by_middle_name(
    levels: tuple[int, ...], a: NormalisedRecord, b: NormalisedRecord
) -> bool:
    """Same family name and birth date, given names agreeing only through a middle name.

    Not when both hold the same two or more given names in another order (SUNIL ANIL and
    ANIL SUNIL): that is one person's names reordered, not twins named after each other.
    """
    if (
        levels[_GIVEN] not in _GIVEN_EXACT
        or levels[_NHS] in _NHS_SAME
        or levels[_BIRTH] not in _BIRTH_EXACT
        or levels[_FAMILY] not in _FAMILY_SAME
        or not a.given_names
        or not b.given_names
    ):
        return False
    x, y = a.given_names[0], b.given_names[0]
    if (
        x == y
        or are_direct_variants(x, y)
        or _spelling_variants(x, y)
        or not set(a.given_names) & set(b.given_names)
    ):
        return False
    if len(a.given_names) > 1 and sorted(a.given_names) == sorted(b.given_names):
        return False
    similarity = jaro_winkler(x, y)
    return similarity is not None and similarity < 0.92


_GIVEN_INITIAL = _levels("given_name", "initial")
_GIVEN_NICKNAME = _levels("given_name", "nickname")
#: Jaro-Winkler similarity from which two middle names are one name mistyped.
MIDDLE_TYPO_SIMILARITY = 0.88


def _directly_agree(a: NormalisedRecord, b: NormalisedRecord) -> bool:
    """Whether some full given name of one is the other's, or its canonical form.

    JACK and SEAN are both variants of JOHN, but neither is the other's canonical name:
    brothers (and twins) carry such pairs, so they do not agree here. Two names in another
    script agree only when they share an original-script name (王 and 汪 are both WANG).
    """
    if a.given_script and b.given_script:
        return bool(set(a.given_script) & set(b.given_script))
    return any(
        are_direct_variants(n, m) or _spelling_variants(n, m)
        for n in a.given_names
        for m in b.given_names
        if len(n) > 1 and len(m) > 1
    )


#: Jaro-Winkler similarity from which two variants of one name are spellings of one name
#: (MOHAMMAD/MUHAMMAD 0.92, MOHAMED/MUHAMMAD 0.80, SEAN/SHAUN 0.80), not brothers' names
#: (JACK/SEAN 0.50).
SPELLING_SIMILARITY = 0.80


def _spelling_variants(x: str, y: str) -> bool:
    """Two variants of one name that look alike: a spelling or a shortening of one name.

    They agree when they start alike (DAI/DAFYDD, IZZY/ISABELLA), one holds the other
    (BELLA/ISABELLA) or they are close in spelling; JACK/SEAN (both JOHN) share nothing.
    """
    if not are_name_variants(x, y):
        return False
    return x[0] == y[0] or x in y or y in x or (jaro_winkler(x, y) or 0.0) >= SPELLING_SIMILARITY


def _name_fits(name: str, others: tuple[str, ...]) -> bool:
    """Whether a given name agrees with one of ``others`` (same, variant, initial, typo)."""
    for other in others:
        if len(name) == 1 or len(other) == 1:
            if name[0] == other[0]:
                return True
        elif are_name_variants(name, other):
            return True
        elif (jaro_winkler(name, other) or 0.0) >= MIDDLE_TYPO_SIMILARITY:
            return True
    return False


def _middle_names_disagree(a: NormalisedRecord, b: NormalisedRecord) -> bool:
    """Both records hold middle names, and none of either fits any given name of the other.

    PRECIOUS GRACE and PRECIOUS BLESSING MERCY: a parent and child sharing a first name.
    A middle name dropped, reduced to an initial, mistyped or swapped with the first name
    is no disagreement.
    """
    names_a, names_b = a.given_names, b.given_names
    if len(names_a) < 2 or len(names_b) < 2:
        return False
    return not any(_name_fits(n, names_b) for n in names_a[1:]) and not any(
        _name_fits(m, names_a) for m in names_b[1:]
    )


_GIVEN_FUZZY = _levels("given_name", "jaro_winkler_medium", "phonetic")


def _is_one_slip(levels: tuple[int, ...], a: NormalisedRecord, b: NormalisedRecord) -> bool:
    """Whether two first names are one keying slip apart (GRACE/GOACE, LILY/LILH, MIA/MIT).

    Twins' names differ by more than one edit (ELLA/ELLIE, JACK/JAKE), a typo by one. A
    short name one slip away scores ``different`` (MIA/MIT, ZOE/ZEO): it counts as a slip
    when the first letter is kept, since short twin names one letter apart usually differ
    in it (WEI/MEI). Never when the records disagree on sex (LEO/LEA).
    """
    if not a.given_names or not b.given_names or levels[_SEX] in _SEX_DIFFERENT:
        return False
    if a.given_script or b.given_script:
        return False  # a transliteration's letters were never keyed (محمد/أحمد: MHMD/HMD)
    x, y = a.given_names[0], b.given_names[0]
    if levels[_GIVEN] in _GIVEN_FUZZY:
        return damerau_levenshtein(x, y) == 1
    if levels[_GIVEN] in _GIVEN_STRICTLY_DIFFERENT:
        return min(len(x), len(y)) >= 3 and x[0] == y[0] and damerau_levenshtein(x, y) == 1
    return False


def _is_keying_slip(levels: tuple[int, ...], a: NormalisedRecord, b: NormalisedRecord) -> bool:
    """Whether a birth-date disagreement under one NHS number looks like a typing error."""
    if levels[_GIVEN] not in _GIVEN_AGREES:
        return False
    if levels[_BIRTH] in _BIRTH_SAME_YEAR_MONTH:
        return True
    x, y = a.birth_date, b.birth_date
    return (
        x is not None
        and y is not None
        and (x.month, x.day) == (y.month, y.day)
        and abs(x.year - y.year) <= 10
    )


#: Given names that agree, for strong evidence: anything but an initial or nothing alike.
_GIVEN_ALIKE = _levels(
    "given_name", "exact", "nickname", "jaro_winkler_high", "jaro_winkler_medium", "phonetic"
)
#: Family names that agree, for strong evidence.
_FAMILY_ALIKE = _levels(
    "family_name", "exact", "shares_part", "jaro_winkler_high", "jaro_winkler_medium", "phonetic"
)
#: Birth dates that agree, for strong evidence without an agreeing NHS number.
_BIRTH_ALIKE = _levels(
    "birth_date", "exact", "day_month_swapped", "one_digit_or_day", "same_year_month"
)


def _strong_evidence(levels: tuple[int, ...]) -> bool:
    """Whether a pair carries the evidence a link needs to disclose a person (not sparse).

    Both records have a birth date, and either the NHS numbers agree and so does a given
    or a family name, or (full demographics) given name, family name and birth date
    agree, and so does one of postcode (unit, sector or district), address or phone.
    "Agree" means any level but missing and ``different`` (an initial is no given name;
    a birth date under one NHS number is judged by ``nhs_number_shared_conflict``).
    Without it the pair is ``sparse_evidence``: an NHS number with one name, or with a
    birth date only, or names and a birth date alone, or no birth date, never open a
    person's record to the system that sent them.
    """
    if levels[_BIRTH] == 0:
        return False
    given = levels[_GIVEN] in _GIVEN_ALIKE
    family = levels[_FAMILY] in _FAMILY_ALIKE
    if levels[_NHS] in _NHS_SAME:
        return given or family
    home = levels[_POSTCODE] in _CORROBORATES[_POSTCODE] or (
        levels[_ADDRESS] in _CORROBORATES[_ADDRESS]
    )
    phone = levels[_PHONE] in _CORROBORATES[_PHONE]
    given = given or levels[_GIVEN] in _GIVEN_INITIAL  # "P" for PAUL, with all the rest
    return given and levels[_BIRTH] in _BIRTH_ALIKE and family + home + phone >= 2


def _multiple_birth_flags(
    levels: tuple[int, ...], a: NormalisedRecord, b: NormalisedRecord
) -> tuple[str, ...]:
    """``birth_order_conflict`` and ``multiple_birth_conflict`` of a pair.

    ``birth_order_conflict``: both records give a birth order, and they differ (twin 1 is
    never twin 2, whatever else agrees, NHS number included). ``multiple_birth_conflict``:
    either record is of a multiple birth and the given names do not agree exactly or as a
    name and its canonical form (a typo, an initial or a middle name is not enough to
    tell twins apart), or one has no given name and the birth orders do not agree.
    """
    flags: list[str] = []
    if a.birth_order is not None and b.birth_order is not None and a.birth_order != b.birth_order:
        flags.append(Finding.BIRTH_ORDER_CONFLICT)
    if not (a.multiple_birth or b.multiple_birth):
        return tuple(flags)
    if levels[_GIVEN] == 0:
        if a.birth_order is None or a.birth_order != b.birth_order:
            flags.append(Finding.MULTIPLE_BIRTH_CONFLICT)
    elif not _twin_names_agree(levels, a, b):
        flags.append(Finding.MULTIPLE_BIRTH_CONFLICT)
    return tuple(flags)


def _twin_names_agree(levels: tuple[int, ...], a: NormalisedRecord, b: NormalisedRecord) -> bool:
    """Whether first given names are one name: the same, or a name and its canonical form."""
    if levels[_GIVEN] not in _GIVEN_AGREES:
        return False
    x, y = a.given_names[0], b.given_names[0]
    return x == y or are_direct_variants(x, y)
