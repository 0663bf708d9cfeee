"""``mpi db check``: a sound store passes, and each kind of corruption is named."""

from __future__ import annotations

from typing import Any

import pytest

from mpi import audit, identities, integrity, review
from mpi.records import register
from mpi.store import integrity as integrity_store
from tests.helpers import row
from tests.review_data import build, item_version


def _broken(conn: Any) -> dict[str, int]:
    return {f.name: f.breaches for f in integrity.check(conn) if not f.ok}


def _pk(conn: Any, table: str, where: str, *args: Any) -> int:
    return int(conn.execute(f"SELECT id FROM {table} WHERE {where}", args).fetchone()[0])


def _record(conn: Any, local_id: str) -> int:
    return _pk(conn, "source_record", "local_id = %s", local_id)


def _person(conn: Any, person_id: str) -> int:
    return _pk(conn, "person", "person_id = %s", person_id)


def test_every_invariant_is_checked_and_named() -> None:
    names = [i.name for i in integrity_store.INVARIANTS]
    assert len(names) == len(set(names)) >= 9


def test_a_store_built_by_the_domain_is_sound(conn, ctx):
    s = build(conn, ctx)
    review.decide(conn, s.maybe_item, item_version(conn, s.maybe_item), "same", "alice")
    assert _broken(conn) == {}
    findings = integrity.check(conn)
    assert [f.name for f in findings][-1] == "audit_chain"
    assert all(f.examples == () for f in findings)


def test_merges_upon_merges_leave_no_pointer_chain(conn, ctx):
    s = build(conn, ctx)
    other = register(
        conn, ctx, "ASC", row(ctx, "A5", given_name="Ali", family_name="Okonkwo", sex="female")
    ).person_id
    assert identities.merge(conn, s.alice_maybe, other, "alice").outcome == "merged"
    assert identities.merge(conn, s.alice, s.alice_maybe, "alice").outcome == "merged"
    assert _broken(conn) == {}  # ``other`` points at the survivor, not at alice_maybe
    pointer = "SELECT q.person_id FROM person p JOIN person q ON q.id = p.merged_into"
    assert conn.execute(pointer + " WHERE p.person_id = %s", (other,)).fetchone() == (s.alice,)
    latest = max(identities.decisions_of(conn, s.alice), key=lambda d: d.id)
    identities.undo(conn, latest.id, latest.version, "bob")
    assert _broken(conn) == {}  # and back at alice_maybe once that merge is undone
    assert conn.execute(pointer + " WHERE p.person_id = %s", (other,)).fetchone() == (
        s.alice_maybe,
    )


CORRUPTIONS = {
    "active_record_unlinked": "DELETE FROM link WHERE record_id = {G1}",
    "withdrawn_record_linked": "UPDATE source_record SET status = 'withdrawn' WHERE id = {H1}",
    "link_to_merged_person": (
        "UPDATE person SET status = 'merged', merged_into = {john} WHERE id = {alice}"
    ),
    "merge_pointer": (
        "UPDATE person SET status = 'merged', merged_into = {alice} WHERE id = {john};"
        " UPDATE person SET status = 'merged', merged_into = {john} WHERE id = {alice}"
    ),
    "review_item_stale": "UPDATE link SET person_id = {alice} WHERE record_id = {A1}",
    "no_match_crossed": (
        "INSERT INTO no_match (record_a, record_b, asserted_by)"
        " VALUES (least({G1}, {H1}), greatest({G1}, {H1}), 'test')"
    ),
    "history_replay": "UPDATE link SET person_id = {john} WHERE record_id = {G1}",
    "events_follow_history": (
        "DELETE FROM identity_event WHERE record_id = {G1}"
        " AND event_type IN ('record_linked', 'record_moved')"
    ),
    "frequency_counters": "UPDATE name_frequency SET n = n + 1 WHERE kind = 'family'",
    "audit_chain": "DELETE FROM audit_event WHERE id = (SELECT max(id) FROM audit_event)",
}


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_each_corruption_is_named(conn, ctx, name):
    s = build(conn, ctx)
    ids = {k: _record(conn, k) for k in ("G1", "H1", "A1")}
    ids |= {"alice": _person(conn, s.alice), "john": _person(conn, s.john)}
    if name == "audit_chain":
        entry = audit.AuditEntry("rest", "read", "0", 200, system_code="GP")
        audit.record(conn, entry)
    assert _broken(conn) == {}
    conn.execute("SET session_replication_role = replica")  # as an intruder or a bug would
    conn.execute(CORRUPTIONS[name].format(**ids))
    conn.execute("SET session_replication_role = origin")
    broken = _broken(conn)
    assert name in broken, broken
    assert broken[name] >= 1


def test_a_check_of_its_own_sees_one_snapshot_and_writes_committed_meanwhile_do_not_count(
    committed_db, ctx, monkeypatch
):
    """Run as `mpi db check` (an idle connection), every invariant reads one repeatable-read
    snapshot: a registration committed between two invariants' queries is not seen."""
    import psycopg

    seen: list[tuple[str, int]] = []
    real = integrity_store.breaches

    def spying(conn, invariant):
        seen.append(
            (
                conn.execute("SHOW transaction_isolation").fetchone()[0],
                conn.execute("SELECT count(*) FROM source_record").fetchone()[0],
            )
        )
        if len(seen) == 1:  # another connection registers and commits mid-check
            with psycopg.connect(committed_db) as other:
                register(
                    other,
                    ctx,
                    "GP",
                    row(
                        ctx,
                        "MID-1",
                        given_name="Ada",
                        family_name="Lovelace",
                        birth_date="1985-12-10",
                    ),
                    actor="t",
                )
        return real(conn, invariant)

    from mpi.store import systems

    with psycopg.connect(committed_db) as conn:
        systems.ensure_system(conn, "GP", "GP", "gp", 1)
    monkeypatch.setattr(integrity_store, "breaches", spying)
    with psycopg.connect(committed_db) as conn:
        findings = integrity.check(conn, audit_chain=False)
        assert conn.execute("SHOW transaction_isolation").fetchone()[0] == "read committed"
    assert all(f.ok for f in findings)
    assert {s for s in seen} == {("repeatable read", 0)}
