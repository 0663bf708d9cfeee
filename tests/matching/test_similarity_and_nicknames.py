from __future__ import annotations

import pytest

from matching import similarity
from matching.nicknames import are_name_variants, name_groups


@pytest.mark.parametrize(
    "function",
    [
        similarity.jaro_winkler,
        similarity.token_set_ratio,
        similarity.levenshtein,
        similarity.damerau_levenshtein,
    ],
    ids=lambda f: f.__name__,
)
@pytest.mark.parametrize(("a", "b"), [(None, "X"), ("X", None), ("", "X"), (None, None)])
def test_missing_gives_none(function, a, b) -> None:  # type: ignore[no-untyped-def]
    assert function(a, b) is None


def test_similarity_values() -> None:
    assert similarity.jaro_winkler("SMITH", "SMITH") == 1.0
    assert similarity.levenshtein("SMITH", "SMYTHE") == 2
    assert similarity.damerau_levenshtein("19800304", "19800340") == 1
    assert similarity.token_set_ratio("HIGH STREET 12", "12 HIGH STREET") == 100.0


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("SMITH", "SMYTHE"),
        ("CATHERINE", "KATHRYN"),
        ("STEPHEN", "STEVEN"),
        ("MOHAMMED", "MUHAMMAD"),
        ("REID", "REED"),
        ("CLARK", "CLARKE"),
    ],
)
def test_phonetic_clusters_uk_variants(a: str, b: str) -> None:
    assert similarity.phonetic(a) == similarity.phonetic(b)


def test_phonetic_missing() -> None:
    assert similarity.phonetic(None) is None
    assert similarity.phonetic("") is None


NICKNAME_PAIRS = [
    ("Bob", "Robert"),
    ("Robbie", "Bobby"),
    ("Peggy", "Margaret"),
    ("Meg", "Maggie"),
    ("Bill", "William"),
    ("Liam", "Will"),
    ("Liz", "Elizabeth"),
    ("Betty", "Libby"),
    ("Eliza", "Beth"),
    ("Kate", "Catherine"),
    ("Cathy", "Katherine"),
    ("Dick", "Richard"),
    ("Rick", "Dick"),
    ("Jim", "James"),
    ("Jamie", "Jimmy"),
    ("Jack", "John"),
    ("Johnny", "Jon"),
    ("Harry", "Henry"),
    ("Hal", "Henry"),
    ("Ted", "Edward"),
    ("Eddie", "Ed"),
    ("Sally", "Sarah"),
    ("Molly", "Mary"),
    ("Polly", "Mary"),
    ("Sandy", "Alexander"),
    ("Sandy", "Alexandra"),
    ("Alex", "Alexandra"),
    ("Terry", "Terence"),
    ("Tony", "Anthony"),
    ("Chris", "Christopher"),
    ("Chris", "Christine"),
    ("Chris", "Christina"),
    ("Mike", "Michael"),
    ("Mick", "Michael"),
    ("Dave", "David"),
    ("Dai", "Dafydd"),
    ("Davy", "David"),
    ("Steve", "Stephen"),
    ("Steven", "Stephen"),
    ("Tom", "Thomas"),
    ("Sue", "Susan"),
    ("Suzanne", "Susan"),
    ("Jenny", "Jennifer"),
    ("Nick", "Nicholas"),
    ("Pat", "Patrick"),
    ("Pat", "Patricia"),
    ("Andy", "Andrew"),
    ("Dan", "Daniel"),
    ("Sam", "Samuel"),
    ("Sam", "Samantha"),
    ("Ben", "Benjamin"),
    ("Joe", "Joseph"),
    ("Jo", "Joanne"),
    ("Jo", "Josephine"),
    ("Matt", "Matthew"),
    ("Pete", "Peter"),
    ("Phil", "Philip"),
    ("Charlie", "Charles"),
    ("Chas", "Chuck"),
    ("Charlie", "Charlotte"),
    ("Fred", "Frederick"),
    ("Alf", "Alfred"),
    ("Archie", "Archibald"),
    ("Ollie", "Oliver"),
    ("Ollie", "Olivia"),
    ("Izzy", "Isabel"),
    ("Isabella", "Isobel"),
    ("Ellie", "Eleanor"),
    ("Elinor", "Ella"),
    ("Abi", "Abigail"),
    ("Becky", "Rebecca"),
    ("Vicky", "Victoria"),
    ("Jess", "Jessica"),
    ("Lucy", "Lucinda"),
    ("Sian", "Jane"),
    ("Jean", "Jane"),
    ("Siobhan", "Joanne"),
    ("Sean", "Shaun"),
    ("Shawn", "Sean"),
    ("Ian", "Iain"),
    ("Mohammed", "Muhammad"),
    ("Mohamed", "Mohammad"),
    ("Muhammed", "Mohd"),
    ("Ahmed", "Ahmad"),
    ("Yusuf", "Yousef"),
    ("Yusuf", "Joseph"),
    ("Fatima", "Fatimah"),
    ("Aisha", "Ayesha"),
    ("Zainab", "Zaynab"),
    ("Hussain", "Hussein"),
    ("Husain", "Hussain"),
    ("Abdul", "Abdullah"),
    ("Olu", "Oluwaseun"),
    ("Seun", "Oluwaseun"),
    ("Zoë", "Zoey"),
]


@pytest.mark.parametrize(("a", "b"), NICKNAME_PAIRS, ids=[f"{a}-{b}" for a, b in NICKNAME_PAIRS])
def test_known_variants(a: str, b: str) -> None:
    assert are_name_variants(a, b)
    assert are_name_variants(b.upper(), a.upper())


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Robert", "Margaret"),
        ("John", "Mary"),
        ("Seun", "Segun"),
        ("Unknownname", "Robert"),
        (None, "Robert"),
        ("", ""),
    ],
)
def test_not_variants(a: str | None, b: str | None) -> None:
    assert not are_name_variants(a, b)


def test_same_name_is_a_variant_of_itself() -> None:
    assert are_name_variants("ZED", "ZED")


def test_table_is_large_enough() -> None:
    from importlib import resources

    text = resources.files("matching").joinpath("data/nicknames.csv").read_text("utf-8")
    rows = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert rows[0] == "canonical,variant"
    assert len(rows) - 1 >= 400
    assert name_groups("ROBERT")
