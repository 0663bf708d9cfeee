"""mpi.store.persons.apply: every row a plan's steps imply, in real PostgreSQL."""

from __future__ import annotations

from dataclasses import replace as changed
from typing import Any

import psycopg

from mpi.linking.plan import (
    LinkMove,
    LinkPlan,
    Merge,
    NewPerson,
    Probe,
    ReviewClosure,
    ReviewOpen,
    plan,
)
from mpi.links import Thresholds
from mpi.records import read_candidate_set, register
from mpi.store import persons as person_store
from mpi.store import records as record_store
from mpi.store import systems
from tests.helpers import row, synthetic_nhs_number


def _three(conn: psycopg.Connection[Any], ctx: Any) -> dict[str, tuple[int, int]]:
    """Three records of three different people: local ID -> (record, person)."""
    systems.ensure_system(conn, "GP", "GP practices", "gp", 1)
    people = {
        "A": ("Ada", "Lovelace", "1915-12-10"),
        "B": ("Brian", "Okafor", "1960-02-01"),
        "X": ("Xena", "Hughes", "1999-07-07"),
    }
    for i, (local, (given, family, born)) in enumerate(people.items()):
        register(
            conn,
            ctx,
            "GP",
            row(
                ctx,
                local,
                nhs_number=synthetic_nhs_number(10 + i),
                given_name=given,
                family_name=family,
                birth_date=born,
                sex="female",
                postcode="LS6 2AB",
            ),
        )
    found = conn.execute(
        "SELECT r.local_id, r.id, l.person_id FROM source_record r"
        " JOIN link l ON l.record_id = r.id"
    ).fetchall()
    return {local: (record, person) for local, record, person in found}


def _move(record: int, to: int, previous: int | None, reason: str, who: str = "t") -> LinkMove:
    return LinkMove(record, to, previous, "auto", 0.99, 9.0, "default-1", who, reason)


def _item(record: int, candidate: int, person: int) -> ReviewOpen:
    return ReviewOpen(record, candidate, None, 0.7, 1.0, "possible_match", [], person)


def test_an_item_opened_on_a_person_merged_in_the_same_write_names_the_survivor(conn, ctx):
    # migration 0080's merge trigger runs before the item exists: the plan's closure
    # retargets it
    ids = _three(conn, ctx)
    (a, p), (_, q), (x, xp) = ids["A"], ids["B"], ids["X"]
    steps = (_move(a, q, p, "bridged"), Merge(p, q, "its last record moved"), _item(x, p, xp))
    applied = person_store.apply(
        conn, LinkPlan(steps, resolved=ReviewClosure((a,), ((p, q),)), actor="t")
    )
    assert applied.repointed == {p: []}
    item = conn.execute("SELECT candidate_person_id, status FROM review_item").fetchone()
    assert item == (q, "open")
    assert conn.execute(
        "SELECT status, merged_into FROM person WHERE id = %s", (p,)
    ).fetchone() == (
        "merged",
        q,
    )


def test_without_the_closure_the_item_would_name_the_merged_person(conn, ctx):
    ids = _three(conn, ctx)
    (a, p), (_, q), (x, xp) = ids["A"], ids["B"], ids["X"]
    steps = (_move(a, q, p, "bridged"), Merge(p, q, "its last record moved"), _item(x, p, xp))
    person_store.apply(conn, LinkPlan(steps, actor="t"))
    assert conn.execute("SELECT candidate_person_id FROM review_item").fetchone() == (p,)


def test_a_move_writes_history_and_its_event_a_re_evaluation_only_the_link(conn, ctx):
    ids = _three(conn, ctx)
    (a, p), (b, q) = ids["A"], ids["B"]
    person_store.apply(
        conn,
        LinkPlan(
            (_move(a, p, p, "re-evaluated", "me"), _move(b, p, q, "matched", "me")), actor="me"
        ),
    )
    history = conn.execute(
        "SELECT record_id, person_id, previous_person_id, reason, changed_by FROM link_history"
        " WHERE changed_by = 'me'"
    ).fetchall()
    assert history == [(b, p, q, "matched", "me")]
    events = conn.execute(
        "SELECT event_type, person_id, record_id, other_person_id FROM identity_event"
        " WHERE actor = 'me' ORDER BY id"
    ).fetchall()
    assert events == [("record_moved", p, b, q)]  # a merge is the plan's step, not inferred
    assert conn.execute(
        "SELECT person_id, linked_by FROM link WHERE record_id = %s", (a,)
    ).fetchone() == (
        p,
        "me",
    )


def test_an_undo_keeps_the_link_as_it_was_and_names_the_reviewer_in_history(conn, ctx):
    ids = _three(conn, ctx)
    (a, p), (_, q) = ids["A"], ids["B"]
    undo = LinkMove(a, q, p, "auto", 0.5, 2.0, "old-model", "system", "undo")
    person_store.apply(conn, LinkPlan((undo,), actor="reviewer"))
    link = conn.execute(
        "SELECT person_id, method, probability, model_version, linked_by FROM link"
        " WHERE record_id = %s",
        (a,),
    ).fetchone()
    assert link == (q, "auto", 0.5, "old-model", "system")
    assert conn.execute(
        "SELECT changed_by, reason FROM link_history WHERE reason = 'undo'"
    ).fetchone() == ("reviewer", "undo")


def test_new_persons_temporary_and_reserved_get_their_ids_and_names(conn, ctx):
    ids = _three(conn, ctx)
    (a, p), (b, q) = ids["A"], ids["B"]
    (reserved,) = person_store.reserve_person_ids(conn, 1)
    steps = (
        NewPerson(-1, a),
        _move(a, -1, p, "split"),
        NewPerson(reserved, b),
        _move(b, reserved, q, "split"),
    )
    applied = person_store.apply(conn, LinkPlan(steps, actor="t"))
    new = applied.ids[-1]
    assert conn.execute("SELECT person_id FROM link WHERE record_id = %s", (a,)).fetchone() == (
        new,
    )
    assert conn.execute("SELECT person_id FROM link WHERE record_id = %s", (b,)).fetchone() == (
        reserved,
    )
    names = dict(conn.execute("SELECT id, person_id FROM person").fetchall())
    assert names[reserved] == applied.names[reserved]
    created = conn.execute(
        "SELECT person_id, record_id FROM identity_event WHERE event_type = 'person_created'"
        " AND actor = 't' ORDER BY id"
    ).fetchall()
    assert created == [(new, a), (reserved, b)]


def test_a_batch_engine_plans_stored_records_through_the_public_interface(conn, ctx):
    # what mpi relink --engine spark does per group: read, plan (pure), apply
    strict = changed(ctx, thresholds=Thresholds(link=1 - 1e-15, review=1 - 2e-15))
    systems.ensure_system(conn, "GP", "GP practices", "gp", 1)
    systems.ensure_system(conn, "HOSP", "Hospital EPR", "hospital", 2)
    alice = dict(given_name="Alice", family_name="Okonkwo", sex="female")
    alice |= dict(birth_date="1984-03-17", postcode="LS6 2AB")
    first = register(conn, strict, "GP", row(strict, "G1", **alice))
    second = register(conn, strict, "HOSP", row(strict, "H1", **alice))
    assert first.person_id != second.person_id
    record_store.lock_for_batch(conn)
    batch = [Probe(first.record_id, "G1", "updated"), Probe(second.record_id, "H1", "updated")]
    keys = record_store.stored_keys(conn, [p.record_id for p in batch])
    link_plan = plan(batch, read_candidate_set(conn, ctx, keys), ctx, actor="engine")
    # G1 comes first: it moves to H1's person (its own is left empty and merged)
    assert [o.decision for o in link_plan.outcomes] == ["linked", "kept"]
    assert len(link_plan.merges) == 1
    applied = person_store.apply(conn, link_plan)
    assert applied.names[link_plan.outcomes[0].person_id] == second.person_id
    assert conn.execute("SELECT count(DISTINCT person_id) FROM link").fetchone()[0] == 1


def test_generic_plans_are_asked_for_explicitly(conn, ctx):
    systems.ensure_system(conn, "GP", "GP practices", "gp", 1)
    first = row(ctx, "G1", given_name="Ada", family_name="Lovelace", birth_date="1915-12-10")
    record_store.store_and_view(conn, "GP", first, 200)
    assert conn.execute("SHOW plan_cache_mode").fetchone() == ("auto",)
    register(conn, ctx, "GP", row(ctx, "G2", given_name="Bo", family_name="Li"))
    assert conn.execute("SHOW plan_cache_mode").fetchone() == ("force_generic_plan",)
