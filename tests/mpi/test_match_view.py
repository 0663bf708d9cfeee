"""The registration's one-statement read equals the batch path's separate statements."""

from __future__ import annotations

import logging
from collections.abc import Callable

from mpi.records import load_batch
from mpi.store import persons as person_store
from mpi.store import records as record_store
from mpi.store import systems
from tests.helpers import row


def _separate(conn, keys_by_record, cap):
    candidates = record_store.candidate_pairs(conn, keys_by_record, cap)
    wanted = set(keys_by_record).union(*candidates.values())
    first = record_store.stored_records(conn, wanted)
    persons = {r.person for r in first if r.person is not None}
    more = record_store.records_of_persons(conn, persons, [r.id for r in first])
    records = first + more
    partners = record_store.no_match_partners(conn, [r.id for r in records])
    ids = {r.id for r in records}
    return candidates, records, {k: v for k, v in partners.items() if k in ids}


def _load_gp(
    conn,
    ctx,
    count: int,
    given: list[str],
    family: list[str],
    birth_date: Callable[[int], str],
) -> None:
    """``count`` GP records at one postcode, cycling through the names, loaded as one batch."""
    systems.ensure_system(conn, "GP", "GP practices", "gp", 1)
    people = [
        row(
            ctx,
            f"G{i}",
            given_name=given[i % len(given)],
            family_name=family[i % len(family)],
            birth_date=birth_date(i),
            postcode="LS6 2AB",
        )
        for i in range(count)
    ]
    load_batch(conn, ctx, systems.get_system(conn, "GP"), people)


def test_match_view_equals_the_separate_reads(conn, ctx, caplog):
    _load_gp(
        conn,
        ctx,
        24,
        ["Sarah", "Sara", "Priya", "Tom"],
        ["Smith", "Smyth", "Okafor"],
        lambda i: f"19{60 + i % 5}-02-0{1 + i % 3}",
    )
    ids = {
        r[0]: frozenset(r[1])
        for r in conn.execute("SELECT id, blocking_keys FROM source_record ORDER BY id")
    }
    first, second = sorted(ids)[:2]
    record_store.add_no_match(conn, first, second, "test", "different people")
    for cap in (200, 3):  # with cap 3 the shared postcode keys are skipped
        for record_id in sorted(ids)[:6]:
            probe = {record_id: ids[record_id]}
            with caplog.at_level(logging.WARNING, logger="mpi.store.records"):
                caplog.clear()
                view = record_store.match_view(conn, probe, cap)
                view_warnings = sorted(r.getMessage() for r in caplog.records)
                caplog.clear()
                candidates, records, partners = _separate(conn, probe, cap)
                separate_warnings = sorted(r.getMessage() for r in caplog.records)
            assert view.candidates == candidates
            assert sorted(view.records, key=lambda r: r.id) == sorted(records, key=lambda r: r.id)
            assert view.no_match == partners
            given = {g for r in records for g in r.norm.given_names}
            family = {r.norm.family_name for r in records if r.norm.family_name}
            postcodes = {r.norm.postcode for r in records if r.norm.postcode}
            assert view.counts == record_store.term_counts(conn, given, family, postcodes)
            persons = sorted({r.person for r in records if r.person is not None})
            assert view.enterprise_ids == person_store.enterprise_ids(conn, persons)
            assert view_warnings == separate_warnings
            if cap == 3:
                assert view_warnings  # the busy keys were skipped, and said so


def test_the_registration_read_equals_match_view(conn, ctx):
    """store_and_view's read (the record named by system and local ID) equals match_view."""
    _load_gp(conn, ctx, 8, ["Sarah", "Priya"], ["Smith"], lambda i: f"196{i % 3}-02-01")
    new = row(
        ctx,
        "N1",
        given_name="Sarah",
        family_name="Smith",
        birth_date="1960-02-01",
        postcode="LS6 2AB",
    )
    _, upserted, view = record_store.store_and_view(conn, "GP", new, 200)
    assert upserted.outcome == "inserted"
    expected = record_store.match_view(conn, {upserted.record_id: new.keys}, 200)
    assert view.candidates == expected.candidates and view.candidates[upserted.record_id]
    assert sorted(view.records, key=lambda r: r.id) == sorted(expected.records, key=lambda r: r.id)
    assert (view.no_match, view.counts, view.enterprise_ids) == (
        expected.no_match,
        expected.counts,
        expected.enterprise_ids,
    )
    # the same data again: unchanged, so it has no keys to search (as for match_view)
    _, again, view = record_store.store_and_view(conn, "GP", new, 200)
    assert (again.outcome, again.record_id) == ("unchanged", upserted.record_id)
    assert view.candidates == {upserted.record_id: set()}
    assert upserted.record_id in {r.id for r in view.records}
