"""The Spark relink against the in-database relink, on a real store and a local Spark.

The region is loaded under stricter thresholds than the default model's, so relinking
under the default model forms links, moves records and closes review items. Every run
that writes does so inside a transaction that is rolled back, so each test starts from
the same store.
"""

from __future__ import annotations

from typing import Any

import psycopg

from mpi.links import new_enterprise_id
from mpi.spark.run import relink as relink_on_spark
from mpi.store import models as model_store
from tests.spark.helpers import agreement, unexplained


def test_a_dry_run_changes_nothing_and_finds_what_the_database_relink_does(region, runs):
    assert runs.unchanged
    diff = runs.spark.diff
    assert diff.records == runs.in_database.records > 1500
    assert len(diff.moved) > 50  # the strict load left many links to form
    assert len(diff.merges) > 50 and diff.reviews_closed
    share, differ = agreement(runs.links, diff.assignment)
    assert share >= 0.99, differ[:10]
    with psycopg.connect(region.url) as conn:
        assert unexplained(conn, region.ctx, runs.before, runs.links, diff.assignment, differ) == []
    assert abs(len(diff.moved) - runs.in_database.records_moved) <= len(differ)
    assert set(runs.spark.timings) == {
        "export",
        "read",
        "candidates",
        "scoring",
        "groups",
        "decisions",
        "write_back",
    }


def test_applying_writes_links_history_and_events_and_a_second_run_finds_nothing(
    region, spark, runs
):
    dry = runs.spark
    with psycopg.connect(region.url) as conn, conn.transaction(force_rollback=True):
        done = relink_on_spark(conn, region.ctx, spark=spark, batch_records=500)
        assert done.diff.summary() == dry.diff.summary()
        share, differ = agreement(model_store.link_map(conn), done.diff.assignment)
        assert share == 1.0, differ[:10]
        moved = conn.execute(
            "SELECT count(*) FROM identity_event WHERE actor = 'relink:default-1'"
            " AND event_type = 'record_moved'"
        ).fetchone()[0]
        history = conn.execute(
            "SELECT count(*) FROM link_history WHERE changed_by = 'relink:default-1'"
        ).fetchone()[0]
        assert moved == history == len(done.diff.moved)
        merged = conn.execute("SELECT count(*) FROM person WHERE status = 'merged'").fetchone()[0]
        assert merged >= len(done.diff.merges)
        closed = conn.execute(
            "SELECT count(*) FROM review_item WHERE status = 'superseded'"
            " AND decided_by = 'relink:default-1'"
        ).fetchone()[0]
        assert closed >= len(done.diff.reviews_closed)
        again = relink_on_spark(conn, region.ctx, spark=spark, dry_run=True)
        assert again.diff.moved == [] and again.diff.merges == [] and again.diff.splits == []


def _pair_to_merge(conn: psycopg.Connection[Any], report: Any) -> tuple[int, int]:
    """Two records in different persons that the relink would put in one."""
    move = next(m for m in report.diff.moved if isinstance(m["to"], int) and m["from"])
    other = conn.execute(
        "SELECT record_id FROM link WHERE person_id = %s ORDER BY record_id LIMIT 1",
        (move["to"],),
    ).fetchone()[0]
    return move["record"], other


def test_manual_links_and_no_match_assertions_are_honoured(region, spark, runs):
    first = runs.spark
    with psycopg.connect(region.url) as conn, conn.transaction(force_rollback=True):
        kept_apart, partner = _pair_to_merge(conn, first)
        conn.execute(
            "INSERT INTO no_match (record_a, record_b, asserted_by, reason)"
            " VALUES (%s, %s, 'test', 'not the same person')",
            (min(kept_apart, partner), max(kept_apart, partner)),
        )
        # A reviewer linked a record by hand where the model would move it.
        pinned = next(
            m for m in first.diff.moved if m["record"] not in (kept_apart, partner) and m["from"]
        )
        conn.execute("UPDATE link SET method = 'manual' WHERE record_id = %s", (pinned["record"],))
        manual_before = conn.execute(
            "SELECT * FROM link WHERE method = 'manual' ORDER BY record_id"
        ).fetchall()
        relink_on_spark(conn, region.ctx, spark=spark)
        links = model_store.link_map(conn)
        assert links[kept_apart] != links[partner]
        assert (
            conn.execute("SELECT * FROM link WHERE method = 'manual' ORDER BY record_id").fetchall()
            == manual_before
        )


def test_a_group_whose_links_changed_since_the_read_is_left_alone(region, spark, runs, tmp_path):
    from mpi.spark.export import export_records

    with psycopg.connect(region.url) as conn, conn.transaction(force_rollback=True):
        export_records(conn, tmp_path)
        move = runs.spark.diff.moved[0]
        # the service moves the record elsewhere after the export was read
        elsewhere = new_enterprise_id()
        conn.execute("INSERT INTO person (person_id) VALUES (%s)", (elsewhere,))
        conn.execute(
            "UPDATE link SET person_id = (SELECT id FROM person WHERE person_id = %s)"
            " WHERE record_id = %s",
            (elsewhere, move["record"]),
        )
        done = relink_on_spark(conn, region.ctx, spark=spark, export=tmp_path, reuse_export=True)
        assert done.diff.conflicts > 0
        person = conn.execute(
            "SELECT p.person_id FROM link l JOIN person p ON p.id = l.person_id"
            " WHERE l.record_id = %s",
            (move["record"],),
        ).fetchone()[0]
        assert person == elsewhere
