"""Review domain logic: queue priority, claims, decisions, four eyes, merge, split, undo."""

from __future__ import annotations

from typing import Any

import pytest

from mpi import dashboard, identities, review, reviewers
from mpi.errors import Conflict, Forbidden, InvalidInput, NotFound
from mpi.links import Thresholds
from mpi.records import register
from tests.helpers import row
from tests.review_data import NHS_A, build, events, item_version, last_event_id, person_of

T = Thresholds(link=0.999, review=0.5)


def _record(conn: Any, local_id: str) -> int:
    return int(
        conn.execute("SELECT id FROM source_record WHERE local_id = %s", (local_id,)).fetchone()[0]
    )


@pytest.mark.parametrize(
    ("description", "args", "expected"),
    [
        ("at the link threshold, new, two systems", (0.999, 0, 2, "possible_match"), 0.45),
        ("half-way between thresholds", (0.7495, 0, 1, "possible_match"), 0.0),
        ("two weeks old counts fully", (0.7495, 14 * 86400, 1, "possible_match"), 0.3),
        ("five systems count fully", (0.7495, 0, 5, "possible_match"), 0.2),
        ("urgent reason", (0.7495, 0, 1, "twin_risk"), 0.1),
        ("everything", (0.5, 30 * 86400, 9, "nhs_number_shared_conflict"), 1.0),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_priority(description: str, args: tuple[Any, ...], expected: float) -> None:
    p, age, systems, reason = args
    assert review.priority(p, T, age, systems, reason) == pytest.approx(expected, abs=1e-3)


def test_queue_is_sorted_by_priority_and_filters(conn, ctx):
    s = build(conn, ctx)
    queue = review.work_queue(conn, ctx.thresholds)
    assert [e.priority for e in queue] == sorted((e.priority for e in queue), reverse=True)
    for e in queue:  # the database ranks with the documented formula
        expected = review.priority(
            e.item.probability, ctx.thresholds, e.age_seconds, e.item.systems, e.item.reason
        )
        assert e.priority == pytest.approx(expected, abs=1e-3)
    assert len(review.work_queue(conn, ctx.thresholds, limit=1)) == 1
    assert {e.item.id for e in queue} >= {s.maybe_item, s.john_item}
    only = review.work_queue(conn, ctx.thresholds, reason="possible_match")
    assert [e.item.id for e in only] == [s.maybe_item]
    by_system = review.work_queue(conn, ctx.thresholds, system="ASC")  # either side
    assert s.maybe_item in {e.item.id for e in by_system}
    assert s.john_item not in {e.item.id for e in by_system}
    with pytest.raises(InvalidInput):
        review.work_queue(conn, ctx.thresholds, reason="nonsense")
    summary = review.summary(conn)
    assert summary["open"] == len(queue) and summary["by_reason"]["possible_match"] == 1


def test_same_person_links_and_undo_restores(conn, ctx):
    s = build(conn, ctx)
    before = last_event_id(conn)
    done = review.decide(conn, s.maybe_item, item_version(conn, s.maybe_item), "same", "alice")
    assert done.outcome == "linked" and done.person_id == s.alice
    assert person_of(conn, "A1") == s.alice
    assert events(conn, before) == ["record_moved", "persons_merged", "review_decided"]
    history = conn.execute(
        "SELECT reason, method, changed_by FROM link_history ORDER BY id DESC LIMIT 1"
    ).fetchone()
    assert history == ("review_linked", "manual", "alice")
    (decision,) = identities.decisions_of(conn, s.alice)
    identities.undo(conn, decision.id, decision.version, "bob")
    assert person_of(conn, "A1") == s.alice_maybe
    status = conn.execute(
        "SELECT status, version > 1 FROM review_item WHERE id = %s", (s.maybe_item,)
    ).fetchone()
    assert status == ("open", True)  # the item can be decided again
    method = conn.execute(
        "SELECT method FROM link WHERE record_id = %s", (_record(conn, "A1"),)
    ).fetchone()
    assert method == ("auto",)
    with pytest.raises(Conflict, match="undone already"):
        identities.undo(conn, decision.id, decision.version + 1, "bob")


def test_not_the_same_asserts_no_match_and_matching_respects_it(conn, ctx):
    s = build(conn, ctx)
    review.decide(conn, s.maybe_item, item_version(conn, s.maybe_item), "different", "bob")
    assert conn.execute("SELECT count(*) FROM no_match").fetchone()[0] == 2
    again = register(
        conn,
        ctx,
        "ASC",
        row(
            ctx,
            "A1",
            nhs_number=NHS_A,
            given_name="Alice",
            family_name="Okonkwo",
            sex="female",
            birth_date="1984-03-17",
            address_line="12 Acacia Road",
            postcode="LS6 2AB",
        ),
    )
    assert again.person_id != s.alice and s.alice not in again.candidate_person_ids
    (decision,) = identities.decisions_of(conn, s.alice)
    identities.undo(conn, decision.id, decision.version, "bob")
    assert conn.execute("SELECT count(*) FROM no_match").fetchone()[0] == 0


def test_stale_version_and_decided_items_change_nothing(conn, ctx):
    s = build(conn, ctx)
    version = item_version(conn, s.maybe_item)
    with pytest.raises(Conflict, match="changed while you were looking"):
        review.decide(conn, s.maybe_item, version + 1, "same", "alice")
    review.decide(conn, s.maybe_item, version, "different", "alice")
    with pytest.raises(Conflict, match="already decided by alice"):
        review.decide(conn, s.maybe_item, version, "same", "bob")
    with pytest.raises(NotFound):
        review.decide(conn, 999_999, 1, "same", "bob")
    with pytest.raises(InvalidInput, match="outcome"):
        review.decide(conn, s.maybe_item, version, "maybe", "bob")


def test_claims_keep_others_off_and_skip_releases(conn, ctx):
    s = build(conn, ctx)
    version = review.claim(conn, s.maybe_item, item_version(conn, s.maybe_item), "alice")
    with pytest.raises(Conflict, match="being worked on by alice"):
        review.claim(conn, s.maybe_item, version, "bob")
    with pytest.raises(Conflict, match="claimed by alice"):
        review.decide(conn, s.maybe_item, version, "same", "bob")
    assert review.decide(conn, s.maybe_item, version, "skip", "alice").outcome == "skipped"
    skips = conn.execute(
        "SELECT skips, claimed_by FROM review_item WHERE id = %s", (s.maybe_item,)
    ).fetchone()
    assert skips == (1, None)
    assert review.claim_next(conn, ctx.thresholds, "bob") is not None


def test_four_eyes_for_different_valid_nhs_numbers(conn, ctx):
    s = build(conn, ctx)
    first = review.decide(conn, s.john_item, item_version(conn, s.john_item), "same", "alice")
    assert first.outcome == "first_review"
    assert person_of(conn, "H7") == s.john_dup
    with pytest.raises(Forbidden, match="second reviewer"):
        review.decide(conn, s.john_item, item_version(conn, s.john_item), "same", "alice")
    done = review.decide(conn, s.john_item, item_version(conn, s.john_item), "same", "bob")
    assert done.outcome == "linked" and person_of(conn, "H7") == s.john
    decision = identities.decisions_of(conn, s.john)[0]
    assert (decision.decided_by, decision.second_by) == ("alice", "bob")


def test_merge_of_different_nhs_numbers_waits_for_a_second_reviewer(conn, ctx):
    s = build(conn, ctx)
    conn.execute("UPDATE review_item SET status = 'superseded' WHERE id = %s", (s.john_item,))
    done = identities.merge(conn, s.john, s.john_dup, "alice")
    assert done.outcome == "second_review"
    item = conn.execute(
        "SELECT reason, first_review_by FROM review_item WHERE status = 'open' AND record_id = %s",
        (_record(conn, "H7"),),
    ).fetchone()
    assert item == ("merge_request", "alice")  # labelled as what it is
    assert person_of(conn, "H7") == s.john_dup


def test_merge_split_and_their_undo_in_order(conn, ctx):
    s = build(conn, ctx)
    merged = identities.merge(conn, s.alice, s.alice_maybe, "alice")
    assert merged.outcome == "merged" and person_of(conn, "A1") == s.alice
    with pytest.raises(Conflict, match="merged into"):
        identities.merge(conn, s.alice, s.alice_maybe, "alice")
    with pytest.raises(InvalidInput):
        identities.merge(conn, s.alice, s.alice, "alice")
    with pytest.raises(NotFound):
        identities.merge(conn, s.alice, "NOPE-NOPE-NOPE", "alice")
    everything = [_record(conn, x) for x in ("G1", "H1", "A1")]
    with pytest.raises(InvalidInput, match="leave at least one"):
        identities.split(conn, s.alice, everything, "alice")
    with pytest.raises(InvalidInput, match="at least one record"):
        identities.split(conn, s.alice, [], "alice")
    with pytest.raises(Conflict, match="no longer linked"):
        identities.split(conn, s.alice, [_record(conn, "G7")], "alice")
    split = identities.split(conn, s.alice, [_record(conn, "A1")], "alice")
    assert person_of(conn, "A1") == split.person_id
    merge_decision = next(d for d in identities.decisions_of(conn, s.alice) if d.kind == "merge")
    with pytest.raises(Conflict, match="undo it first"):
        identities.undo(conn, merge_decision.id, merge_decision.version, "bob")
    identities.undo(conn, split.decision_id or 0, 1, "bob")
    gone = conn.execute(
        "SELECT status FROM person WHERE person_id = %s", (split.person_id,)
    ).fetchone()
    assert gone == ("merged",)  # the split's person points back
    identities.undo(conn, merge_decision.id, merge_decision.version, "bob")
    assert person_of(conn, "A1") == s.alice_maybe
    status = conn.execute("SELECT status FROM review_item WHERE id = %s", (s.maybe_item,))
    assert status.fetchone() == ("open",)  # the item the merge closed is back in the queue
    undo = identities.decisions_of(conn, s.alice)[0]
    assert undo.kind == "undo"
    with pytest.raises(InvalidInput, match="cannot be undone"):
        identities.undo(conn, undo.id, undo.version, "bob")


def test_search(conn, ctx):
    s = build(conn, ctx)
    by_nhs = review.search(conn, review.SearchQuery(nhs_number=" ".join([NHS_A[:3], NHS_A[3:]])))
    assert {h.person_id for h in by_nhs} == {s.alice}
    by_name = review.search(conn, review.SearchQuery(family_name="okonkwo", given_name="alice"))
    assert {h.person_id for h in by_name} == {s.alice}
    by_dob = review.search(conn, review.SearchQuery(birth_date="1961-02-11"))
    assert {h.person_id for h in by_dob} == {s.john, s.john_dup}
    assert review.search(conn, review.SearchQuery(local_id="A1"))[0].person_id == s.alice_maybe
    with pytest.raises(InvalidInput) as bad:
        review.search(conn, review.SearchQuery(nhs_number="12", birth_date="31/02/1984"))
    assert {p.field for p in bad.value.problems} == {"nhs_number", "birth_date"}
    with pytest.raises(InvalidInput, match="given_name"):
        review.search(conn, review.SearchQuery(given_name="Alice"))


def test_dashboard_counts(conn, ctx):
    s = build(conn, ctx)
    review.decide(conn, s.maybe_item, item_version(conn, s.maybe_item), "same", "alice")
    board = dashboard.build(conn, ctx.thresholds)
    assert board.queue["open"] == 2
    assert sum(n for _, n in board.ages) == 2
    assert board.per_day[-1][1] == {"same": 1}
    systems = {q.system: q for q in board.systems}
    assert systems["ASC"].missing_nhs == 1 and systems["GP"].records == 3
    current = [r for r in board.rates if r.is_current]
    assert len(current) == 1 and current[0].same == 1


def test_accounts_hash_passwords_and_lock_out(conn):
    account = reviewers.add(conn, "dq.officer", "a long enough passphrase", role="admin")
    stored = conn.execute("SELECT password_hash FROM reviewer").fetchone()[0]
    assert stored.startswith("$argon2id$") and "passphrase" not in stored
    with pytest.raises(InvalidInput) as bad:
        reviewers.add(conn, "Bad Name", "short", role="boss")
    assert {p.field for p in bad.value.problems} == {"username", "role", "password"}
    with pytest.raises(reviewers.LoginRefused, match="password is wrong"):
        reviewers.login(conn, "nobody", "whatever it is")
    for _ in range(2):
        with pytest.raises(reviewers.LoginRefused, match="password is wrong"):
            reviewers.login(conn, "dq.officer", "not the passphrase", max_failures=3)
    with pytest.raises(reviewers.LoginRefused, match="password is wrong") as locked:
        reviewers.login(conn, "dq.officer", "not the passphrase", max_failures=3)
    assert locked.value.locked
    with pytest.raises(reviewers.LoginRefused, match="locked"):
        reviewers.login(conn, "dq.officer", "a long enough passphrase")
    conn.execute("UPDATE reviewer SET locked_until = now() - interval '1 second'")
    opened = reviewers.login(conn, "dq.officer", "a long enough passphrase")
    assert opened.reviewer.id == account.id
    found = reviewers.session(conn, opened.token)
    assert found is not None and found.csrf_token == opened.csrf_token
    stored_token = conn.execute("SELECT token_hash FROM reviewer_session").fetchone()[0]
    assert stored_token != opened.token
    reviewers.logout(conn, opened.token)
    assert reviewers.session(conn, opened.token) is None
    with pytest.raises(Forbidden):
        reviewers.check_csrf(opened.csrf_token, "forged")


def test_two_sessions_deciding_one_item_at_once(committed_db, ctx):
    import threading

    import psycopg

    with psycopg.connect(committed_db) as conn:
        s = build(conn, ctx)
        version = item_version(conn, s.maybe_item)
    barrier = threading.Barrier(2)
    results: dict[str, str] = {}

    def work(reviewer: str, outcome: str) -> None:
        with psycopg.connect(committed_db) as conn:
            barrier.wait()
            try:
                done = review.decide(conn, s.maybe_item, version, outcome, reviewer)
                results[reviewer] = done.outcome
            except Conflict as exc:
                conn.rollback()
                results[reviewer] = str(exc)

    threads = [
        threading.Thread(target=work, args=("alice", "same")),
        threading.Thread(target=work, args=("bob", "different")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    won = [r for r, v in results.items() if v in ("linked", "rejected")]
    lost = [r for r, v in results.items() if "already decided" in v]
    assert len(won) == 1 and len(lost) == 1, results
    with psycopg.connect(committed_db) as conn:
        decisions = conn.execute("SELECT decided_by FROM review_decision").fetchall()
        assert decisions == [(won[0],)]
        no_match = conn.execute("SELECT count(*) FROM no_match").fetchone()[0]
        assert (no_match > 0) == (won[0] == "bob")
        moved = person_of(conn, "A1") == s.alice
        assert moved == (won[0] == "alice")


def test_independent_decisions_undo_in_any_order(conn, ctx):
    s = build(conn, ctx)
    review.decide(conn, s.maybe_item, item_version(conn, s.maybe_item), "different", "alice")
    with pytest.raises(Conflict, match="declared different people"):
        identities.merge(conn, s.alice, s.alice_maybe, "alice")
    split = identities.split(conn, s.alice, [_record(conn, "H1")], "alice")  # later, on alice
    rejection = next(d for d in identities.decisions_of(conn, s.alice) if d.kind == "no_match")
    identities.undo(conn, rejection.id, rejection.version, "bob")
    assert (
        conn.execute(
            "SELECT count(*) FROM no_match WHERE %s IN (record_a, record_b)", (_record(conn, "A1"),)
        ).fetchone()[0]
        == 0
    )
    identities.undo(conn, split.decision_id or 0, 1, "bob")
    assert person_of(conn, "H1") == s.alice


def test_idle_and_expired_sessions_end(conn):
    reviewers.add(conn, "idle.one", "a long enough passphrase")
    opened = reviewers.login(conn, "idle.one", "a long enough passphrase")
    assert reviewers.session(conn, opened.token) is not None
    conn.execute("UPDATE reviewer_session SET last_seen_at = now() - interval '31 minutes'")
    assert reviewers.session(conn, opened.token) is None
    conn.execute("UPDATE reviewer_session SET last_seen_at = now(), expires_at = now()")
    assert reviewers.session(conn, opened.token) is None
    conn.execute("UPDATE reviewer_session SET expires_at = now() + interval '1 hour'")
    conn.execute("UPDATE reviewer SET is_active = false")
    assert reviewers.session(conn, opened.token) is None


def test_ended_sessions_are_purged_when_someone_signs_in(conn):
    reviewers.add(conn, "old.one", "a long enough passphrase")
    reviewers.add(conn, "new.one", "a long enough passphrase")
    expired = reviewers.login(conn, "old.one", "a long enough passphrase")
    idle = reviewers.login(conn, "old.one", "a long enough passphrase")
    live = reviewers.login(conn, "old.one", "a long enough passphrase")
    conn.execute(
        "UPDATE reviewer_session SET expires_at = now() - interval '1 second'"
        " WHERE token_hash = %s",
        (reviewers.token_hash(expired.token),),
    )
    conn.execute(
        "UPDATE reviewer_session SET last_seen_at = now() - interval '31 minutes'"
        " WHERE token_hash = %s",
        (reviewers.token_hash(idle.token),),
    )
    reviewers.login(conn, "new.one", "a long enough passphrase")
    kept = {r[0] for r in conn.execute("SELECT token_hash FROM reviewer_session")}
    assert reviewers.token_hash(live.token) in kept
    assert not {reviewers.token_hash(expired.token), reviewers.token_hash(idle.token)} & kept
    assert len(kept) == 2
    conn.execute("UPDATE reviewer_session SET expires_at = now()")
    assert reviewers.purge_sessions(conn) == 2
