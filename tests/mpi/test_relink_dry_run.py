"""mpi relink --dry-run: the plans as a diff (moves, merges, splits, review items and how
they would be resolved), with nothing written; the report equals what a real run does."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from mpi.cli import main
from mpi.links import Thresholds
from mpi.records import register
from mpi.relink import relink
from mpi.store import systems
from tests.helpers import row

ALICE = dict(
    given_name="Alice",
    family_name="Okonkwo",
    sex="female",
    birth_date="1984-03-17",
    postcode="LS6 2AB",
)


def _state(conn: psycopg.Connection[Any]) -> tuple[Any, ...]:
    return tuple(
        conn.execute(sql).fetchall()
        for sql in (
            "SELECT record_id, person_id, method FROM link ORDER BY record_id",
            "SELECT id, status, candidate_person_id FROM review_item ORDER BY id",
            "SELECT id, status, merged_into FROM person ORDER BY id",
            "SELECT count(*) FROM identity_event",
            "SELECT count(*) FROM link_history",
        )
    )


def _two_records(conn: psycopg.Connection[Any], ctx: Any) -> None:
    systems.ensure_system(conn, "GP", "GP practices", "gp", 1)
    systems.ensure_system(conn, "HOSP", "Hospital EPR", "hospital", 2)
    register(conn, ctx, "GP", row(ctx, "G1", **ALICE))
    register(conn, ctx, "HOSP", row(ctx, "H1", **ALICE))


def _open_items(conn: psycopg.Connection[Any]) -> int:
    return conn.execute("SELECT count(*) FROM review_item WHERE status = 'open'").fetchone()[0]


def _same(dry: Any, done: Any) -> None:
    fields = (
        "links_formed",
        "links_broken",
        "records_moved",
        "reviews_opened",
        "reviews_closed",
        "persons_merged",
        "persons_split",
        "persons_created",
        "reviews_resolved_by_link",
        "reviews_resolved_apart",
    )
    assert {f: getattr(dry, f) for f in fields} == {f: getattr(done, f) for f in fields}


def test_a_dry_run_shows_an_item_a_new_model_resolves_as_a_link(conn, ctx):
    # under a cautious model the two records wait in review; the default model links them
    cautious = replace(ctx, thresholds=Thresholds(link=1 - 1e-15, review=0.5))
    _two_records(conn, cautious)
    assert _open_items(conn) == 1
    state = _state(conn)
    dry = relink(conn, ctx, dry_run=True)
    assert _state(conn) == state  # nothing written
    assert dry.dry_run and dry.records_moved == 1 and dry.persons_merged == 1
    assert dry.reviews_closed == dry.reviews_resolved_by_link == 1
    assert dry.reviews_resolved_apart == 0 and dry.persons_split == 0
    assert any(kind == "review resolved by a link" for kind, _ in dry.examples)
    done = relink(conn, ctx)
    _same(dry, done)
    assert _open_items(conn) == 0
    assert conn.execute("SELECT count(DISTINCT person_id) FROM link").fetchone()[0] == 1
    merged = conn.execute("SELECT count(*) FROM person WHERE status = 'merged'").fetchone()[0]
    assert merged == 1


def test_a_dry_run_shows_an_item_a_new_model_closes_apart(conn, ctx):
    cautious = replace(ctx, thresholds=Thresholds(link=1 - 1e-15, review=0.5))
    _two_records(conn, cautious)
    strict = replace(ctx, thresholds=Thresholds(link=1 - 1e-15, review=1 - 2e-15))
    state = _state(conn)
    dry = relink(conn, strict, dry_run=True)
    assert _state(conn) == state
    assert dry.reviews_closed == dry.reviews_resolved_apart == 1
    assert dry.reviews_resolved_by_link == 0 and dry.records_moved == 0
    assert dry.persons_merged == dry.persons_split == 0
    _same(dry, relink(conn, strict))
    assert _open_items(conn) == 0


def test_a_dry_run_shows_a_split(conn, ctx):
    _two_records(conn, ctx)  # linked by the default model
    assert conn.execute("SELECT count(DISTINCT person_id) FROM link").fetchone()[0] == 1
    strict = replace(ctx, thresholds=Thresholds(link=1 - 1e-15, review=1 - 2e-15))
    state = _state(conn)
    dry = relink(conn, strict, dry_run=True)
    assert _state(conn) == state
    assert dry.persons_split == dry.persons_created == dry.records_moved == 1
    assert dry.links_broken == 1 and dry.persons_merged == 0
    _same(dry, relink(conn, strict))
    assert conn.execute("SELECT count(DISTINCT person_id) FROM link").fetchone()[0] == 2


@pytest.fixture
def runner(committed_db, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", committed_db)
    return CliRunner()


def test_the_command_prints_the_diff_and_writes_nothing(runner, committed_db, ctx):
    cautious = replace(ctx, thresholds=Thresholds(link=1 - 1e-15, review=0.5))
    with psycopg.connect(committed_db) as conn:
        _two_records(conn, cautious)
        state = _state(conn)
    dry = runner.invoke(main, ["relink", "--dry-run", "--quiet"])
    assert dry.exit_code == 0, dry.output
    assert "dry run: nothing changed" in dry.output
    assert "resolved as a link:    1" in dry.output
    assert "persons that would merge: 1" in dry.output
    with psycopg.connect(committed_db) as conn:
        assert _state(conn) == state
