"""Names in any script (issue 10, finding 6): transliteration, the original-script form,
how two records compare, and the safety findings that follow."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from matching.comparisons import COMPARISONS, compare
from matching.model import load_default_model
from matching.normalise import normalise, normalise_script_name, to_ascii_upper
from matching.scoring import score
from matching.types import Demographics
from mpi.demo.synthetic_names import __file__ as names_file

MODEL = load_default_model()
GIVEN = COMPARISONS[1].labels
FAMILY = COMPARISONS[2].labels

#: (script, given, family, the Latin form matching reads)
NAMES = (
    ("arabic", "محمد", "خان", ("MHMD",), "KHN"),
    ("chinese", "小明", "王", ("XIAOMING",), "WANG"),
    ("cyrillic", "Наталья", "Иванова", ("NATALYA",), "IVANOVA"),
    ("greek", "Ελένη", "Παπαδοπούλου", ("ELENI",), "PAPADOPOYLOY"),
    ("devanagari", "राहुल", "शर्मा", ("RAHUL",), "SRMA"),
)


def _old_to_ascii_upper(text: str) -> str:
    """The normalisation before this change: NFKD, then every non-ASCII character dropped."""
    decomposed = unicodedata.normalize("NFKD", text)
    return decomposed.encode("ascii", "ignore").decode("ascii").upper()


def test_latin_text_normalises_exactly_as_before_over_every_code_point():
    changed = []
    for point in range(0x80, 0x110000):
        char = chr(point)
        if to_ascii_upper(char) != _old_to_ascii_upper(char):
            name = unicodedata.name(char, "")
            if name.startswith(("LATIN", "FULLWIDTH LATIN", "COMBINING", "MODIFIER")):
                changed.append(name)
    assert changed == []


def test_the_synthetic_names_normalise_exactly_as_before():
    text = Path(names_file).read_text(encoding="utf-8")
    words = {w for w in text.replace(",", " ").replace(":", " ").split() if not w.isascii()}
    assert words  # Zoë, Łukasz, Wiśniewski, ...
    for word in words:
        assert to_ascii_upper(word) == _old_to_ascii_upper(word), word
        assert normalise_script_name(word) == ()


@pytest.mark.parametrize(("script", "given", "family", "latin", "latin_family"), NAMES)
def test_other_scripts_are_transliterated_and_kept(script, given, family, latin, latin_family):
    rec = normalise(Demographics(given_name=given, family_name=family))
    assert rec.given_names == latin
    assert rec.family_name == latin_family
    assert rec.given_phonetic and rec.family_phonetic  # blocking keys need them
    assert rec.given_script == (given.casefold(),) or script == "greek"
    assert rec.family_script
    assert rec.issues == ()


def test_the_script_form_drops_accents_and_optional_vowel_marks_only():
    assert normalise_script_name("مُحَمَّد") == normalise_script_name("محمد")
    assert normalise_script_name("أحمد") == normalise_script_name("احمد")  # hamza seat
    assert normalise_script_name("فاطمة") == normalise_script_name("فاطمه")
    assert normalise_script_name("Γιώργος") == normalise_script_name("ΓΙΩΡΓΟΣ")
    assert normalise_script_name("ИВАН") == normalise_script_name("Иван")
    assert normalise_script_name("राहुल") != normalise_script_name("राहल")  # a vowel sign
    assert normalise_script_name("小明") != normalise_script_name("晓明")
    assert normalise_script_name("Dr Иван Петров", given=True) == ("иван", "петров")
    assert normalise_script_name(None) == () and normalise_script_name("Zoë") == ()


@pytest.mark.parametrize("name", ["????", "★", "\ue000\ue001", "123", "—"], ids=repr)
def test_a_name_with_nothing_comparable_is_an_issue(name):
    assert "name_not_comparable" in normalise(Demographics(given_name=name)).issues
    assert "name_not_comparable" in normalise(Demographics(family_name=name)).issues
    assert "name_not_comparable" in normalise(Demographics(given_name="Mr")).issues
    assert normalise(Demographics(given_name=" ", family_name=None)).issues == ()


def _rec(given: str | None, family: str | None, **more: str):
    base = {
        "birth_date": "2019-06-02",
        "sex": "male",
        "address_line": "14 Granby Road",
        "postcode": "LS6 3AX",
        "phone": "01134960123",
    }
    base.update(more)
    return normalise(Demographics(given_name=given, family_name=family, **base))


def _levels(a, b) -> tuple[str, str]:
    levels = compare(a, b)
    return GIVEN[levels[1]], FAMILY[levels[2]]


@pytest.mark.parametrize(
    ("one", "other", "expected"),
    [
        (("محمد", "خان"), ("مُحَمَّد", "خان"), ("exact", "exact")),
        (("小明", "王"), ("小明", "王"), ("exact", "exact")),
        # homophones: one sound, two written names (王/汪 are both WANG)
        (("小明", "王"), ("晓明", "汪"), ("phonetic", "phonetic")),
        (("Наталья", "Иванова"), ("Дарья", "Иванова"), ("different", "exact")),
        (("Ελένη", "Παπαδοπούλου"), ("ΕΛΕΝΗ", "ΠΑΠΑΔΟΠΟΥΛΟΥ"), ("exact", "exact")),
        (("राहुल", "शर्मा"), ("रोहित", "शर्मा"), ("different", "exact")),
        # a transliteration against a Latin spelling
        (("Александр", "Иванов"), ("Aleksandr", "Ivanov"), ("exact", "exact")),
        (("小明", "王"), ("Xiaoming", "Wang"), ("exact", "exact")),
        (("محمد", "خان"), ("Mohammed", "Khan"), ("phonetic", "jaro_winkler_high")),
        (("حسين", "حسن"), ("Hussein", "Hassan"), ("phonetic", "phonetic")),
        (("محمد", "خان"), ("Jennifer", "Khan"), ("different", "jaro_winkler_high")),
    ],
)
def test_names_in_a_script_are_compared_in_it_and_against_latin(one, other, expected):
    assert _levels(_rec(*one), _rec(*other)) == expected
    assert _levels(_rec(*other), _rec(*one)) == expected


def test_latin_pairs_compare_as_before():
    a, b = _rec("Mohammed", "Khan"), _rec("Muhammad", "Khan")
    assert _levels(a, b) == ("nickname", "exact") or _levels(a, b)[1] == "exact"
    assert a.given_script == b.given_script == ()


@pytest.mark.parametrize(
    ("first", "second", "family"),
    [
        ("محمد", "أحمد", "خان"),  # MHMD / HMD: one letter apart, two names
        ("حسن", "حسين", "علي"),  # HSN / HSYN: Jaro-Winkler high
        ("小明", "晓明", "王"),  # both XIAOMING
        ("Наталья", "Наталия", "Иванова"),
        ("Mohammed", "Ahmed", "Khan"),  # the same twins in Latin script
    ],
)
def test_twins_in_any_script_are_a_twin_risk(first, second, family):
    result = score(MODEL, _rec(first, family), _rec(second, family))
    assert result.probability > 0.999  # the household agrees on everything else
    assert "twin_risk" in result.flags


def test_the_same_name_in_a_script_raises_no_finding():
    result = score(MODEL, _rec("محمد", "خان"), _rec("مُحَمَّد", "خان"))
    assert result.flags == ()
    assert result.probability > 0.999


def test_a_name_with_nothing_comparable_is_a_safety_finding_without_an_nhs_number():
    unreadable, same = _rec("????", "???"), _rec("????", "???")
    assert "name_not_comparable" in score(MODEL, unreadable, same).flags
    assert "name_not_comparable" in score(MODEL, _rec("Ahmed", "Khan"), unreadable).flags
    nameless = _rec(None, None)
    assert "name_not_comparable" not in score(MODEL, nameless, nameless).flags
    numbered = _rec("????", "???", nhs_number="9990000018")
    assert "name_not_comparable" not in score(MODEL, numbered, numbered).flags
