"""searchable(): what a search gives a system related to none of its results."""

from __future__ import annotations

from mpi.access import Caller, searchable

UNRELATED = Caller(system_id=0, system_code="VIEWER", scopes=frozenset({"lookup"}), token_id=0)


def test_a_single_certain_match_is_judged_on_the_plausible_results(conn):
    # persons 1..3 are unknown to the caller (it holds no record of any of them)
    assert searchable(conn, UNRELATED, [1], ["certain"]) == ([1], None)
    # a possible result (below the review threshold) is no rival, and is not returned
    allowed, note = searchable(conn, UNRELATED, [1, 2], ["certain", "possible"])
    assert allowed == [1] and note
    # a probable one is: two plausible people are a list to browse, not a single match
    assert searchable(conn, UNRELATED, [1, 2], ["certain", "probable"])[0] == []
    assert searchable(conn, UNRELATED, [1, 2, 3], ["probable", "possible", "possible"])[0] == []
    admin = Caller(system_id=0, system_code="ADMIN", scopes=frozenset({"admin"}), token_id=0)
    assert searchable(conn, admin, [1, 2], ["certain", "probable"]) == ([1, 2], None)
