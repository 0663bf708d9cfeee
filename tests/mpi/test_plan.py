"""The pure planner (mpi.linking.plan): decisions as data, without a database."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from typing import Any

from mpi.linking.plan import (
    CandidateSet,
    LinkMove,
    Merge,
    NewPerson,
    Probe,
    RecordUpdated,
    ReviewOpen,
    plan,
)
from mpi.models import StoredRecord
from tests.helpers import row, synthetic_nhs_number

NHS_A = synthetic_nhs_number(1)
TERENCE = dict(given_name="Terence", family_name="Barnes", sex="male", birth_date="1955-06-19")
OLD_HOME = dict(address_line="99 Green Lane", postcode="WF1 9XG")
NEW_HOME = dict(address_line="69 Poplar Way", postcode="LS24 8UL")


def stored(
    ctx: Any, pk: int, system: int, person: int | None, method: str | None = "auto", **fields: Any
) -> StoredRecord:
    r = row(ctx, f"L{pk}", **fields)
    return StoredRecord(
        id=pk,
        system_id=system,
        system_code=f"S{system}",
        local_id=f"L{pk}",
        norm=r.norm,
        person=person,
        link_method=method if person is not None else None,
    )


def candidates(*records: StoredRecord, of: dict[int, set[int]]) -> CandidateSet:
    return CandidateSet(candidates=of, records={r.id: r for r in records})


def test_the_planner_touches_no_connection():
    planning = importlib.import_module("mpi.linking.plan")
    tree = ast.parse(Path(planning.__file__).read_text(encoding="utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module)
    assert not {r for r in roots if r.startswith(("psycopg", "mpi.store", "flask", "api"))}


def test_a_record_without_candidates_gets_a_new_person(ctx):
    new = stored(ctx, 1, 1, None, nhs_number=NHS_A, **TERENCE, **OLD_HOME)
    result = plan([Probe(1, "L1", "inserted")], candidates(new, of={1: set()}), ctx, actor="t")
    assert result.steps == (
        NewPerson(-1, 1),
        LinkMove(1, -1, None, "auto", None, None, ctx.model.version, "t", "matched"),
    )
    (outcome,) = result.outcomes
    assert (outcome.decision, outcome.person_id) == ("new_person", -1)
    assert result.superseded == () and result.resolved.records == ()


def test_a_record_links_to_the_person_it_matches(ctx):
    known = stored(ctx, 1, 1, 7, nhs_number=NHS_A, **TERENCE, **OLD_HOME)
    new = stored(ctx, 2, 2, None, nhs_number=NHS_A, **TERENCE, **OLD_HOME)
    result = plan([Probe(2, "L2", "inserted")], candidates(known, new, of={2: {1}}), ctx)
    (move,) = result.moves
    assert (move.record_id, move.person_id, move.previous_person_id) == (2, 7, None)
    assert move.changes_person and move.probability is not None and move.probability > 0.99
    assert result.new_persons == [] and result.reviews == []
    assert result.outcomes[0].decision == "linked"
    assert result.outcomes[0].scored_person_id == 7


def test_an_update_is_announced_superseded_and_re_evaluated_in_place(ctx):
    alone = stored(ctx, 1, 1, 7, nhs_number=NHS_A, **TERENCE, **NEW_HOME)
    result = plan([Probe(1, "L1", "updated", changed=True)], candidates(alone, of={1: set()}), ctx)
    assert result.superseded == (1,)
    assert isinstance(result.steps[0], RecordUpdated) and result.steps[0].person_id == 7
    (move,) = result.moves
    assert move.person_id == move.previous_person_id == 7 and not move.changes_person
    assert move.reason == "re-evaluated" and result.outcomes[0].decision == "kept"


def test_a_relink_re_matches_without_announcing(ctx):
    alone = stored(ctx, 1, 1, 7, nhs_number=NHS_A, **TERENCE, **NEW_HOME)
    result = plan([Probe(1, "L1", "updated")], candidates(alone, of={1: set()}), ctx)
    assert result.superseded == () and not result.of(RecordUpdated)


def test_manual_links_and_unchanged_records_are_kept(ctx):
    manual = stored(ctx, 1, 1, 7, "manual", nhs_number=NHS_A, **TERENCE, **OLD_HOME)
    same = stored(ctx, 2, 2, 8, nhs_number=NHS_A, **TERENCE, **OLD_HOME)
    result = plan(
        [Probe(1, "L1", "updated", changed=True), Probe(2, "L2", "unchanged")],
        candidates(manual, same, of={1: {2}, 2: set()}),
        ctx,
    )
    assert [o.decision for o in result.outcomes] == ["kept_manual", "unchanged"]
    assert result.moves == [] and result.steps == (RecordUpdated(1, 7),)


def test_a_bridge_moves_every_record_then_merges_the_emptied_person(ctx):
    # as tests/mpi/test_register.py's bridge: A1 (old home, no NHS number) and G1 (NHS
    # number, new home) are apart; H1 (NHS number, old home) links to both
    a1 = stored(ctx, 1, 1, 10, **TERENCE, **OLD_HOME)
    g1 = stored(ctx, 2, 2, 20, nhs_number=NHS_A, **TERENCE, **NEW_HOME)
    h1 = stored(ctx, 3, 3, None, nhs_number=NHS_A, **TERENCE, **OLD_HOME)
    result = plan([Probe(3, "L3", "inserted")], candidates(a1, g1, h1, of={3: {1, 2}}), ctx)
    moves, merges = result.moves, result.merges
    assert result.outcomes[0].decision == "linked"
    into = moves[0].person_id
    assert [m.reason for m in moves] == ["matched", "bridged"]
    gone = moves[1].previous_person_id
    assert {into, gone} == {10, 20} and merges == [Merge(gone, into, "its last record moved")]
    # the merge follows the move that emptied the person
    assert result.steps.index(merges[0]) == result.steps.index(moves[1]) + 1
    assert (
        result.resolved.merges == ((gone, into),) and moves[1].record_id in result.resolved.records
    )


def test_no_match_assertions_exclude_a_person(ctx):
    known = stored(ctx, 1, 1, 7, nhs_number=NHS_A, **TERENCE, **OLD_HOME)
    new = stored(ctx, 2, 2, None, nhs_number=NHS_A, **TERENCE, **OLD_HOME)
    view = CandidateSet(candidates={2: {1}}, records={1: known, 2: new}, no_match={2: {1}, 1: {2}})
    result = plan([Probe(2, "L2", "inserted")], view, ctx)
    assert result.outcomes[0].decision == "new_person"
    assert result.outcomes[0].person_id < 0


def test_a_batch_sees_its_own_earlier_records(ctx):
    first = stored(ctx, 1, 1, None, nhs_number=NHS_A, **TERENCE, **OLD_HOME)
    second = stored(ctx, 2, 2, None, nhs_number=NHS_A, **TERENCE, **OLD_HOME)
    result = plan(
        [Probe(1, "L1", "inserted"), Probe(2, "L2", "inserted")],
        candidates(first, second, of={1: {2}, 2: {1}}),
        ctx,
    )
    assert [o.decision for o in result.outcomes] == ["new_person", "linked"]
    assert {o.person_id for o in result.outcomes} == {-1}


def test_an_uncertain_match_opens_a_review_item_with_its_person(ctx):
    # name and birth date alone, at another address: not enough to link
    known = stored(ctx, 1, 1, 7, **TERENCE, **OLD_HOME)
    new = stored(ctx, 2, 2, None, **TERENCE, **NEW_HOME)
    result = plan([Probe(2, "L2", "inserted")], candidates(known, new, of={2: {1}}), ctx)
    outcome = result.outcomes[0]
    assert outcome.decision == "review" and outcome.person_id == -1
    (item,) = result.reviews
    assert (item.record_id, item.candidate_person_id, item.candidate_record_id) == (2, 7, 1)
    assert item.person_id == -1 and item.reason == "possible_match"
    assert outcome.candidate_person_ids == (7,)
    # the item's step follows the new person and the record's link
    assert [type(s) for s in result.steps] == [NewPerson, LinkMove, ReviewOpen]
