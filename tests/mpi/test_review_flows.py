"""Review flows that used to corrupt identities or stall work (issue 11, "Broken flows")."""

from __future__ import annotations

from typing import Any

import pytest

from mpi import identities, integrity, review, reviewers
from mpi.errors import Conflict, Forbidden
from mpi.store import decisions as decision_store
from tests.review_data import build, item_version


def _pk(conn: Any, table: str, column: str, value: str) -> int:
    return int(conn.execute(f"SELECT id FROM {table} WHERE {column} = %s", (value,)).fetchone()[0])


def _item(conn: Any, item_id: int) -> tuple[Any, ...]:
    return conn.execute(
        "SELECT status, decided_by, candidate_person_id FROM review_item WHERE id = %s",
        (item_id,),
    ).fetchone()


def _stale(conn: Any) -> int:
    return next(f.breaches for f in integrity.check(conn) if f.name == "review_item_stale")


def test_an_item_closes_when_its_record_moves_into_the_candidate(conn, ctx):
    s = build(conn, ctx)
    alice = _pk(conn, "person", "person_id", s.alice)
    a1 = _pk(conn, "source_record", "local_id", "A1")
    # a bulk load's link write moves the record (no review code runs)
    conn.execute("UPDATE link SET person_id = %s WHERE record_id = %s", (alice, a1))
    assert _item(conn, s.maybe_item)[:2] == ("superseded", "system")
    assert _stale(conn) == 0


def test_an_item_follows_a_merged_candidate_and_closes_inside_one_person(conn, ctx):
    s = build(conn, ctx)
    alice = _pk(conn, "person", "person_id", s.alice)
    maybe = _pk(conn, "person", "person_id", s.alice_maybe)
    # a load bridging the two persons: the candidate's records move, the candidate is merged
    conn.execute("UPDATE link SET person_id = %s WHERE person_id = %s", (maybe, alice))
    conn.execute(
        "UPDATE person SET status = 'merged', merged_into = %s WHERE id = %s", (maybe, alice)
    )
    status, by, candidate = _item(conn, s.maybe_item)
    assert (status, by, candidate) == ("superseded", "system", maybe)
    assert _stale(conn) == 0


def test_an_open_item_of_a_merged_candidate_points_at_the_survivor(conn, ctx):
    s = build(conn, ctx)
    john = _pk(conn, "person", "person_id", s.john)
    other = _pk(conn, "person", "person_id", s.alice)  # any third person
    conn.execute("UPDATE link SET person_id = %s WHERE person_id = %s", (other, john))
    conn.execute(
        "UPDATE person SET status = 'merged', merged_into = %s WHERE id = %s", (other, john)
    )
    status, _, candidate = _item(conn, s.john_item)
    assert (status, candidate) == ("open", other)  # still a question, about the survivor
    assert _stale(conn) == 0


def test_a_decision_inside_one_person_is_refused(conn, ctx):
    s = build(conn, ctx)
    alice = _pk(conn, "person", "person_id", s.alice)
    a1 = _pk(conn, "source_record", "local_id", "A1")
    # a store left in that state before migration 0080 (its triggers bypassed)
    conn.execute("SET LOCAL session_replication_role = replica")
    conn.execute("UPDATE link SET person_id = %s WHERE record_id = %s", (alice, a1))
    conn.execute("SET LOCAL session_replication_role = origin")
    version = item_version(conn, s.maybe_item)
    assert review.decision_view(conn, s.maybe_item).within_one_person
    for outcome in ("different", "same"):
        with pytest.raises(Conflict, match="already belongs to the candidate person"):
            review.decide(conn, s.maybe_item, version, outcome, "alice")
    assert conn.execute("SELECT count(*) FROM no_match").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM review_decision").fetchone()[0] == 0


def test_a_superseded_item_says_why_it_cannot_be_decided(conn, ctx):
    s = build(conn, ctx)
    identities.merge(conn, s.alice, s.alice_maybe, "alice")  # closes the item
    assert _item(conn, s.maybe_item)[0] == "superseded"
    with pytest.raises(Conflict, match="closed without a decision: its record and the candidate"):
        review.decide(conn, s.maybe_item, item_version(conn, s.maybe_item), "different", "bob")


def test_skip_is_never_handed_back_to_the_same_reviewer(conn, ctx):
    s = build(conn, ctx)
    offered = []
    for _ in range(3):
        item_id = review.claim_next(conn, ctx.thresholds, "alice")
        assert item_id is not None
        offered.append(item_id)
        review.decide(conn, item_id, item_version(conn, item_id), "skip", "alice")
    assert len(set(offered)) == 3  # n, k, n, k, n: three different items
    assert review.claim_next(conn, ctx.thresholds, "alice") is None  # all skipped by alice
    assert review.claim_next(conn, ctx.thresholds, "bob") in offered  # still there for others
    skipped = conn.execute(
        "SELECT skips, skipped_by FROM review_item WHERE id = %s", (s.maybe_item,)
    ).fetchone()
    assert skipped == (1, ["alice"])


def test_the_first_reviewer_cannot_claim_the_second_review(conn, ctx):
    s = build(conn, ctx)
    review.decide(conn, s.john_item, item_version(conn, s.john_item), "same", "alice")
    with pytest.raises(Forbidden, match="you gave the first review"):
        review.claim(conn, s.john_item, item_version(conn, s.john_item), "alice")
    for _ in range(3):
        got = review.claim_next(conn, ctx.thresholds, "alice")
        assert got != s.john_item
        if got:
            review.decide(conn, got, item_version(conn, got), "skip", "alice")
    review.claim(conn, s.john_item, item_version(conn, s.john_item), "bob")  # bob can
    done = review.decide(conn, s.john_item, item_version(conn, s.john_item), "same", "bob")
    assert done.outcome == "linked"


def test_the_first_reviewers_note_reaches_the_second(conn, ctx):
    s = build(conn, ctx)
    review.decide(
        conn, s.john_item, item_version(conn, s.john_item), "same", "alice", note="same GP, moved"
    )
    assert review.decision_view(conn, s.john_item).item.first_review_note == "same GP, moved"
    review.decide(conn, s.john_item, item_version(conn, s.john_item), "same", "bob", note="agreed")
    decision = identities.decisions_of(conn, s.john)[0]
    assert (decision.decided_by, decision.first_note) == ("alice", "same GP, moved")
    assert (decision.second_by, decision.note) == ("bob", "agreed")


def test_a_merge_request_keeps_its_note_and_comes_first(conn, ctx):
    s = build(conn, ctx)
    conn.execute("UPDATE review_item SET status = 'superseded' WHERE id = %s", (s.john_item,))
    done = identities.merge(conn, s.john, s.john_dup, "alice", note="one man: NHS number typo")
    assert done.outcome == "second_review"
    top = review.work_queue(conn, ctx.thresholds)[0]
    assert (top.item.reason, top.priority) == (review.MERGE_REQUEST, 1.0)
    item = review.decision_view(conn, top.item.id).item
    assert (item.first_review_by, item.first_review_note) == ("alice", "one man: NHS number typo")
    assert review.REASON_LABELS[item.reason] == "merge requested by a reviewer"
    assert (
        review.work_queue(conn, ctx.thresholds, reason=review.MERGE_REQUEST)[0].item.id == item.id
    )


def test_the_summary_follows_the_filters(conn, ctx):
    build(conn, ctx)
    everything = review.summary(conn)
    asc = review.summary(conn, system="ASC")
    twins = review.summary(conn, system="ASC", reason="possible_match")
    assert everything["open"] == 3
    shown = review.work_queue(conn, ctx.thresholds, system="ASC")
    assert asc["open"] == len(shown) < everything["open"]
    assert twins["open"] == len(
        review.work_queue(conn, ctx.thresholds, system="ASC", reason="possible_match")
    )
    assert sum(asc["by_reason"].values()) == asc["open"]  # by reason: the system filter only


def test_signing_out_releases_the_reviewers_claims(conn, ctx):
    s = build(conn, ctx)
    reviewers.add(conn, "dora", "correct horse battery staple")
    opened = reviewers.login(conn, "dora", "correct horse battery staple")
    review.claim(conn, s.maybe_item, item_version(conn, s.maybe_item), "dora")
    review.claim(conn, s.john_item, item_version(conn, s.john_item), "alice")
    assert reviewers.logout(conn, opened.token) == 1
    claims = dict(
        conn.execute("SELECT id, claimed_by FROM review_item WHERE status = 'open'").fetchall()
    )
    assert claims[s.maybe_item] is None and claims[s.john_item] == "alice"
    assert decision_store.release_claims_of(conn, "nobody") == 0
