"""Declared comparisons: for each field, an ordered list of levels.

Each comparison looks at one field of two normalised records and returns the index of the
first level that applies. Level 0 is always ``missing`` (either side has no value; it
carries no weight, because missing is not disagreement) and the last level is the "else"
level (``different``). The level labels are part of the model file and the UI, so they
are fixed here and checked by :class:`matching.model.MatchModel`.

:func:`compare` gives the level index of every comparison for a pair: the comparison
vector that scoring weighs and that EM training will count.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from matching.nicknames import are_name_variants
from matching.similarity import jaro_winkler, token_set_ratio
from matching.types import NormalisedRecord

__all__ = [
    "COMPARISONS",
    "Comparison",
    "Level",
    "MISSING",
    "compare",
    "comparison_names",
    "JARO_WINKLER_HIGH",
    "JARO_WINKLER_MEDIUM",
    "TOKEN_SET_HIGH",
    "TOKEN_SET_MEDIUM",
]

JARO_WINKLER_HIGH = 0.92
JARO_WINKLER_MEDIUM = 0.85
TOKEN_SET_HIGH = 90.0
TOKEN_SET_MEDIUM = 75.0

LevelFunction = Callable[[NormalisedRecord, NormalisedRecord], int]


@dataclass(frozen=True, slots=True)
class Level:
    """One level of a comparison: its label and the condition under which it applies.

    A pair lands on the first level whose condition holds (the comparison's level function
    tests them in order). ``m`` and ``u`` are the level's defaults for a model file that
    lacks the comparison (see :attr:`Comparison.optional`); ``None`` means no default.

    Attributes:
        label: the level's label, also its key in the model file (``"nickname"``).
        condition: when the level applies, for people reading a model or a score.
        m: default m (``None``: the comparison's neutral default, see
            :meth:`Comparison.default_parameters`).
        u: default u.
    """

    label: str
    condition: str
    m: float | None = None
    u: float | None = None


#: Level 0 of every comparison: either side has no value (it weighs 0).
MISSING = Level("missing", "either record has no value")


@dataclass(frozen=True, slots=True)
class Comparison:
    """One declared comparison.

    Attributes:
        name: the comparison's name, also its key in the model file (``"given_name"``).
        levels: the levels in order; ``levels[0]`` is :data:`MISSING`, the last is the
            else level.
        description: what is compared and how, for people reading a model or a score.
        level: the function giving the index of the first level that applies to a pair.
        optional: whether a model file may lack the comparison (one added after models
            were trained): it then takes :meth:`default_parameters`. The eight
            comparisons of the first model are required.
    """

    name: str
    levels: tuple[Level, ...]
    description: str
    level: LevelFunction
    optional: bool = False

    @property
    def labels(self) -> tuple[str, ...]:
        """The level labels in order.

        Example:
            >>> COMPARISONS[4].labels
            ('missing', 'exact', 'different')
        """
        return tuple(level.label for level in self.levels)

    def index(self, label: str) -> int:
        """The index of the level with this label.

        Raises:
            ValueError: when the comparison has no such level.

        Example:
            >>> COMPARISONS[4].index("different")
            2
        """
        return self.labels.index(label)

    def default_parameters(self) -> tuple[tuple[float, float], ...]:
        """The ``(m, u)`` of every level but missing, for a model file without this comparison.

        Each level's declared ``m`` and ``u``; where a level declares none, every level
        takes ``m = u = 1 / (levels - 1)``: weight 0, so the comparison carries no evidence
        until a model is trained with it.

        Example:
            >>> COMPARISONS[4].default_parameters()
            ((0.5, 0.5), (0.5, 0.5))
        """
        rest = self.levels[1:]
        if all(lv.m is not None and lv.u is not None for lv in rest):
            return tuple((float(lv.m), float(lv.u)) for lv in rest)  # type: ignore[arg-type]
        share = 1.0 / len(rest)
        return tuple((share, share) for _ in rest)


def _nhs_number(a: NormalisedRecord, b: NormalisedRecord) -> int:
    x, y = a.nhs_number, b.nhs_number
    if x is None or y is None:
        return 0
    if x == y:
        return 1 if a.nhs_verified and b.nhs_verified else 2
    return 3


def _given_name(a: NormalisedRecord, b: NormalisedRecord) -> int:
    if a.given_script or b.given_script:
        return _given_name_in_scripts(a, b)
    return _given_name_latin(a, b)


def _given_name_latin(a: NormalisedRecord, b: NormalisedRecord) -> int:
    names_a, names_b = a.given_names, b.given_names
    if not names_a or not names_b:
        return 0
    x, y = names_a[0], names_b[0]
    if x == y:
        return 1
    several = len(names_a) > 1 or len(names_b) > 1
    if several:  # "MARY ANNE" against "ANNE": any full given name in common counts
        for n in names_a:
            if len(n) > 1 and n in names_b:
                return 1
    if are_name_variants(x, y):
        return 2
    if several:
        for n in names_a:
            for m in names_b:
                if len(n) > 1 and len(m) > 1 and are_name_variants(n, m):
                    return 2
    if len(x) > 1 and len(y) > 1:
        similarity = jaro_winkler(x, y) or 0.0
        if similarity >= JARO_WINKLER_HIGH:
            return 3
        if similarity >= JARO_WINKLER_MEDIUM:
            return 4
        if a.given_phonetic is not None and a.given_phonetic == b.given_phonetic:
            return 5
    elif x[0] == y[0]:
        return 6
    return 7


def _family_name(a: NormalisedRecord, b: NormalisedRecord) -> int:
    if a.family_script or b.family_script:
        return _family_name_in_scripts(a, b)
    return _family_name_latin(a, b)


def _family_name_latin(a: NormalisedRecord, b: NormalisedRecord) -> int:
    x, y = a.family_name, b.family_name
    if x is None or y is None:
        return 0
    if x == y:
        return 1
    parts_a, parts_b = a.family_parts, b.family_parts
    if len(parts_a) > 1 or len(parts_b) > 1:
        for part in parts_a:
            if part in parts_b:
                return 2
    similarity = jaro_winkler(x, y) or 0.0
    if similarity >= JARO_WINKLER_HIGH:
        return 3
    if similarity >= JARO_WINKLER_MEDIUM:
        return 4
    if a.family_phonetic is not None and a.family_phonetic == b.family_phonetic:
        return 5
    return 6


# Names in other scripts ------------------------------------------------------------------
#
# A name in a script other than Latin is compared in its script when both records have
# one, and through its Latin transliteration otherwise; the levels are the model's own.
#
# - Both in a script: the same original-script name is ``exact`` (for given names also a
#   full given name in common). Different original-script names whose transliterations
#   agree in any way (王 and 汪 are both WANG, 小明 and 晓明 both XIAOMING: homophones
#   written differently, which is how twins are often named) reach ``phonetic`` at most:
#   the same sound, another written name, so the twin rules still see another name.
# - One in a script, one in Latin (محمد against MOHAMMED): the transliteration is
#   compared with the Latin spelling as any two Latin names are; where that finds nothing
#   alike, the consonant skeletons (vowels, Y and W left out, doubled letters once, no
#   final H: Arabic and Hebrew are written without short vowels) agreeing is
#   ``phonetic``: MHMD and MOHAMMED, HSYN and HUSSEIN, FTMH and FATIMA.


def _skeleton(name: str) -> str:
    letters = [c for c in name if c not in "AEIOUYW"]
    out = "".join(c for i, c in enumerate(letters) if i == 0 or c != letters[i - 1])
    return out[:-1] if out.endswith("H") and len(out) > 2 else out


def _skeletons_agree(x: str, y: str) -> bool:
    a, b = _skeleton(x), _skeleton(y)
    return len(a) >= 2 and a == b


def _given_name_in_scripts(a: NormalisedRecord, b: NormalisedRecord) -> int:
    if not a.given_names or not b.given_names:
        return 0
    script_a, script_b = a.given_script, b.given_script
    latin = _given_name_latin(a, b)
    if script_a and script_b:
        if script_a[0] == script_b[0]:
            return _GIVEN_EXACT
        if (len(script_a) > 1 or len(script_b) > 1) and any(
            len(n) > 1 and n in script_b for n in script_a
        ):
            return _GIVEN_EXACT
        return _GIVEN_PHONETIC if latin < _GIVEN_PHONETIC else latin
    if latin == _GIVEN_OTHER and _skeletons_agree(a.given_names[0], b.given_names[0]):
        return _GIVEN_PHONETIC
    return latin


def _family_name_in_scripts(a: NormalisedRecord, b: NormalisedRecord) -> int:
    if a.family_name is None or b.family_name is None:
        return 0
    script_a, script_b = a.family_script, b.family_script
    latin = _family_name_latin(a, b)
    if script_a and script_b:
        if "".join(script_a) == "".join(script_b):
            return _FAMILY_EXACT
        if (len(script_a) > 1 or len(script_b) > 1) and set(script_a) & set(script_b):
            return _FAMILY_SHARES_PART
        return _FAMILY_PHONETIC if latin < _FAMILY_PHONETIC else latin
    if latin == _FAMILY_OTHER and _skeletons_agree(a.family_name, b.family_name):
        return _FAMILY_PHONETIC
    return latin


def _one_keying_error(x: date, y: date) -> bool:
    """One digit of YYYYMMDD different, or two adjacent digits transposed (02 / 20)."""
    a = f"{x.year:04d}{x.month:02d}{x.day:02d}"
    b = f"{y.year:04d}{y.month:02d}{y.day:02d}"
    differ = [i for i in range(8) if a[i] != b[i]]
    if len(differ) == 1:
        return True
    if len(differ) == 2:
        i, j = differ
        return j == i + 1 and a[i] == b[j] and a[j] == b[i]
    return False


def _birth_date(a: NormalisedRecord, b: NormalisedRecord) -> int:
    x, y = a.birth_date, b.birth_date
    if x is None or y is None:
        return 0
    if x == y:
        return 1
    if x.year == y.year and x.day == y.month and x.month == y.day:
        return 2
    if abs(x.toordinal() - y.toordinal()) == 1 or _one_keying_error(x, y):
        return 3
    if x.year == y.year and x.month == y.month:
        return 4
    return 5


def _sex(a: NormalisedRecord, b: NormalisedRecord) -> int:
    x, y = a.sex, b.sex
    if x is None or y is None:
        return 0
    return 1 if x == y else 2


def _postcode(a: NormalisedRecord, b: NormalisedRecord) -> int:
    x, y = a.postcode, b.postcode
    if x is None or y is None:
        return 0
    if x == y:
        return 1
    # Canonical form "OUTWARD NAA": the sector ends two characters before the end.
    if len(x) == len(y) and x[:-2] == y[:-2]:
        return 2
    if x[:-4] == y[:-4]:
        return 3
    return 4


def _numbers(address: str) -> set[str]:
    return {token for token in address.split() if token[0].isdigit()}


def _same_numbers(x: str, y: str) -> bool:
    """False when both addresses have house or flat numbers and they differ (neighbours)."""
    numbers_x, numbers_y = _numbers(x), _numbers(y)
    return not numbers_x or not numbers_y or numbers_x == numbers_y


def _address(a: NormalisedRecord, b: NormalisedRecord) -> int:
    x, y = a.address, b.address
    if x is None or y is None:
        return 0
    if x == y:
        return 1
    ratio = token_set_ratio(x, y) or 0.0
    if ratio >= TOKEN_SET_HIGH and _same_numbers(x, y):
        return 2
    if ratio >= TOKEN_SET_MEDIUM:
        return 3
    return 4


def _phone(a: NormalisedRecord, b: NormalisedRecord) -> int:
    x, y = a.phone, b.phone
    if x is None or y is None:
        return 0
    return 1 if x == y else 2


COMPARISONS: tuple[Comparison, ...] = (
    Comparison(
        "nhs_number",
        (
            MISSING,
            Level("exact_verified", "the same NHS number, verified (status 01) on both"),
            Level("exact", "the same NHS number"),
            Level("different", "two valid, different NHS numbers"),
        ),
        "Valid NHS numbers; exact_verified when both records have verification status 01.",
        _nhs_number,
    ),
    Comparison(
        "given_name",
        (
            MISSING,
            Level("exact", "the same first given name, or any full given name in common"),
            Level("nickname", "a name and its variant (nickname table), any given names"),
            Level("jaro_winkler_high", f"first given names Jaro-Winkler >= {JARO_WINKLER_HIGH}"),
            Level(
                "jaro_winkler_medium", f"first given names Jaro-Winkler >= {JARO_WINKLER_MEDIUM}"
            ),
            Level("phonetic", "the same Metaphone code, or the same sound in another script"),
            Level("initial", "an initial against a name with the same first letter"),
            Level("different", "none of the above"),
        ),
        "First given names (any full given name in common counts as exact): nickname table,"
        f" Jaro-Winkler >= {JARO_WINKLER_HIGH} / >= {JARO_WINKLER_MEDIUM}, Metaphone,"
        " an initial against a name with the same first letter.",
        _given_name,
    ),
    Comparison(
        "family_name",
        (
            MISSING,
            Level("exact", "the same family name (without separators)"),
            Level("shares_part", "a part of a double-barrelled name is the other's name or part"),
            Level("jaro_winkler_high", f"Jaro-Winkler >= {JARO_WINKLER_HIGH}"),
            Level("jaro_winkler_medium", f"Jaro-Winkler >= {JARO_WINKLER_MEDIUM}"),
            Level("phonetic", "the same Metaphone code, or the same sound in another script"),
            Level("different", "none of the above"),
        ),
        "Family names without separators; shares_part when a part of a double-barrelled"
        f" name equals the other's name or part; Jaro-Winkler >= {JARO_WINKLER_HIGH} /"
        f" >= {JARO_WINKLER_MEDIUM}; Metaphone.",
        _family_name,
    ),
    Comparison(
        "birth_date",
        (
            MISSING,
            Level("exact", "the same date"),
            Level("day_month_swapped", "the same year, day and month swapped"),
            Level(
                "one_digit_or_day",
                "one digit of YYYYMMDD different, two adjacent digits transposed, or one day apart",
            ),
            Level("same_year_month", "the same year and month"),
            Level("different", "none of the above"),
        ),
        "Birth dates: day and month swapped; one digit of YYYYMMDD different, two adjacent"
        " digits transposed or one day apart; same year and month.",
        _birth_date,
    ),
    Comparison(
        "sex",
        (MISSING, Level("exact", "the same administrative gender"), Level("different", "another")),
        "Administrative gender.",
        _sex,
    ),
    Comparison(
        "postcode",
        (
            MISSING,
            Level("exact", "the same postcode unit"),
            Level("same_sector", "the same sector (SE15 4)"),
            Level("same_district", "the same district (SE15)"),
            Level("different", "another district"),
        ),
        "UK postcodes (pseudo-postcodes are missing): unit, sector (SE15 4), district (SE15).",
        _postcode,
    ),
    Comparison(
        "address",
        (
            MISSING,
            Level("exact", "the same normalised address lines"),
            Level(
                "token_set_high",
                f"token-set ratio >= {TOKEN_SET_HIGH:g} and the same house and flat numbers",
            ),
            Level("token_set_medium", f"token-set ratio >= {TOKEN_SET_MEDIUM:g}"),
            Level("different", "none of the above"),
        ),
        f"Normalised address lines: token-set ratio >= {TOKEN_SET_HIGH:g} (with the same"
        f" house and flat numbers, so neighbours are not high) / >= {TOKEN_SET_MEDIUM:g}.",
        _address,
    ),
    Comparison(
        "phone",
        (MISSING, Level("exact", "the same digits"), Level("different", "other digits")),
        "Phone numbers (digits).",
        _phone,
    ),
)
_LEVEL_FUNCTIONS = tuple(c.level for c in COMPARISONS)
_GIVEN_EXACT = COMPARISONS[1].index("exact")
_GIVEN_PHONETIC = COMPARISONS[1].index("phonetic")
_GIVEN_OTHER = COMPARISONS[1].index("different")
_FAMILY_EXACT = COMPARISONS[2].index("exact")
_FAMILY_SHARES_PART = COMPARISONS[2].index("shares_part")
_FAMILY_PHONETIC = COMPARISONS[2].index("phonetic")
_FAMILY_OTHER = COMPARISONS[2].index("different")


def comparison_names() -> tuple[str, ...]:
    """The names of the declared comparisons, in order.

    Example:
        >>> comparison_names()[:2]
        ('nhs_number', 'given_name')
    """
    return tuple(c.name for c in COMPARISONS)


def compare(a: NormalisedRecord, b: NormalisedRecord) -> tuple[int, ...]:
    """The comparison vector of a pair: the level index of every comparison, in order.

    Given and family names that disagree both ways are also tried the other way round
    (names entered in the wrong fields); a transposition scores as the level it reaches.

    Args:
        a: one normalised record.
        b: the other.

    Returns:
        One index per comparison of :data:`COMPARISONS` (0 = missing).

    Example:
        >>> from matching.types import NormalisedRecord
        >>> compare(NormalisedRecord(sex="male"), NormalisedRecord(sex="male"))
        (0, 0, 0, 0, 1, 0, 0, 0)
    """
    levels = [level(a, b) for level in _LEVEL_FUNCTIONS]
    if levels[1] == _GIVEN_DIFFERENT and levels[2] == _FAMILY_DIFFERENT:
        swapped = _transposed(a, b)
        if swapped is not None:
            levels[1], levels[2] = swapped
    return tuple(levels)


_GIVEN_DIFFERENT = COMPARISONS[1].index("different")
_FAMILY_DIFFERENT = COMPARISONS[2].index("different")
_GIVEN_LEVELS = {
    "exact": COMPARISONS[1].index("exact"),
    "high": COMPARISONS[1].index("jaro_winkler_high"),
}
_FAMILY_LEVELS = {
    "exact": COMPARISONS[2].index("exact"),
    "high": COMPARISONS[2].index("jaro_winkler_high"),
}


def _transposed(a: NormalisedRecord, b: NormalisedRecord) -> tuple[int, int] | None:
    """Given and family names entered the wrong way round (ADAM THOMAS / THOMAS ADAM).

    Returns the (given, family) levels the swapped names reach, when both reach at least
    ``jaro_winkler_high``; ``None`` otherwise.
    """
    if not a.given_names or not b.given_names or not a.family_name or not b.family_name:
        return None
    given = jaro_winkler(a.given_names[0], b.family_name)
    family = jaro_winkler(a.family_name, b.given_names[0])
    if given is None or family is None or min(given, family) < JARO_WINKLER_HIGH:
        return None
    return (
        _GIVEN_LEVELS["exact" if given == 1.0 else "high"],
        _FAMILY_LEVELS["exact" if family == 1.0 else "high"],
    )
