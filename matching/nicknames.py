"""UK given-name variants (Bob/Robert, Peggy/Margaret, Dai/Dafydd/David, Mo/Mohammed).

The table is ``data/nicknames.csv`` (``canonical,variant`` rows). Two names are variants
when they share a canonical name, either as that name or as one of its variants. The
table is loaded once, on first use, into a dict from name to a frozenset of group ids.
"""

from __future__ import annotations

import csv
import unicodedata
from functools import cache, lru_cache
from importlib import resources

__all__ = ["are_direct_variants", "are_name_variants", "name_groups"]

_EMPTY: frozenset[int] = frozenset()


def _key(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(c for c in decomposed if "A" <= c.upper() <= "Z").upper()


@cache
def _table() -> dict[str, frozenset[int]]:
    text = resources.files("matching").joinpath("data/nicknames.csv").read_text("utf-8")
    lines = (line for line in text.splitlines() if line and not line.startswith("#"))
    groups: dict[str, set[int]] = {}
    ids: dict[str, int] = {}
    for row in csv.DictReader(lines):
        canonical = _key(row["canonical"])
        group = ids.setdefault(canonical, len(ids))
        for name in (canonical, _key(row["variant"])):
            groups.setdefault(name, set()).add(group)
    return {name: frozenset(found) for name, found in groups.items()}


@cache
def _canonical_groups() -> dict[str, int]:
    """Each canonical name's group id (the order of first appearance, as in ``_table``)."""
    text = resources.files("matching").joinpath("data/nicknames.csv").read_text("utf-8")
    lines = (line for line in text.splitlines() if line and not line.startswith("#"))
    ids: dict[str, int] = {}
    for row in csv.DictReader(lines):
        ids.setdefault(_key(row["canonical"]), len(ids))
    return ids


@lru_cache(maxsize=1 << 16)  # training compares a million pairs: names repeat
def name_groups(name: str | None) -> frozenset[int]:
    """The variant groups a given name belongs to.

    Args:
        name: a given name in any case, accents allowed; ``None`` means missing.

    Returns:
        The ids of the groups holding the name; empty when the name is missing or unknown.

    Example:
        >>> bool(name_groups("Bob") & name_groups("Robert"))
        True
    """
    if not name:
        return _EMPTY
    table = _table()
    found = table.get(name)
    if found is None:
        found = table.get(_key(name), _EMPTY)
    return found


def are_name_variants(a: str | None, b: str | None) -> bool:
    """Whether two given names are the same name or known variants of each other.

    Args:
        a: a given name (any case; normalised uppercase ASCII is fastest).
        b: another given name.

    Returns:
        True when both are present and equal, or share a variant group; False otherwise,
        including when either is missing.

    Example:
        >>> are_name_variants("Peggy", "MARGARET")
        True
        >>> are_name_variants("Peggy", "Robert")
        False
    """
    if not a or not b:
        return False
    if a == b:
        return True
    return not name_groups(a).isdisjoint(name_groups(b))


def are_direct_variants(a: str | None, b: str | None) -> bool:
    """Whether two given names are the same name, or one is the canonical form of the other.

    Two variants of one canonical name (JACK and SEAN, both JOHN) are only "sibling"
    variants: brothers may carry them, so they do not count as one name for the safety
    checks (twins, middle names, sex).

    Args:
        a: a given name (any case).
        b: another given name.

    Returns:
        True when both are present and equal, or one is the canonical name of a variant
        group holding the other; False otherwise.

    Example:
        >>> are_direct_variants("JACK", "JOHN"), are_direct_variants("JACK", "SEAN")
        (True, False)
    """
    if not a or not b:
        return False
    if a == b:
        return True
    canonical = _canonical_groups()
    for x, y in ((a, b), (b, a)):
        group = canonical.get(x)
        if group is None:
            group = canonical.get(_key(x))
        if group is not None and group in name_groups(y):
            return True
    return False
