"""Model versions, activation and relinking, in real PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import psycopg
import pytest

from matching.model import load_default_model
from matching.training import TrainingOptions
from mpi import models_registry
from mpi.errors import Conflict, InvalidInput, NotFound
from mpi.links import Thresholds
from mpi.records import register
from mpi.relink import relink
from mpi.store import records as record_store
from mpi.store import systems
from tests.helpers import row, synthetic_nhs_number

NHS_A = synthetic_nhs_number(1)
NHS_B = synthetic_nhs_number(2)


def _people(conn: psycopg.Connection[Any], ctx: Any) -> None:
    systems.ensure_system(conn, "GP", "GP practices", "gp", 1)
    systems.ensure_system(conn, "HOSP", "Hospital EPR", "hospital", 2)
    alice = dict(
        nhs_number=NHS_A,
        given_name="Alice",
        family_name="Okonkwo",
        sex="female",
        birth_date="1984-03-17",
        address_line="12 Acacia Road",
        postcode="LS6 2AB",
    )
    register(conn, ctx, "GP", row(ctx, "G1", **alice))
    register(conn, ctx, "HOSP", row(ctx, "H1", **alice))
    bob = dict(alice, nhs_number=NHS_B, given_name="Bob", sex="male", birth_date="1950-01-02")
    register(conn, ctx, "GP", row(ctx, "G2", **bob))


def _state(conn: psycopg.Connection[Any]) -> tuple[Any, ...]:
    return tuple(
        conn.execute(sql).fetchall()
        for sql in (
            "SELECT record_id, person_id, method FROM link ORDER BY record_id",
            "SELECT id, status FROM review_item ORDER BY id",
            "SELECT count(*) FROM identity_event",
            "SELECT count(*) FROM link_history",
        )
    )


def test_active_model_is_the_default_until_one_is_activated(conn, ctx):
    assert models_registry.active_model(conn).version == load_default_model().version
    _people(conn, ctx)
    result = models_registry.train_from_store(conn, TrainingOptions(u_pairs=1000))
    version = models_registry.save(conn, result)
    assert version == "trained-1"
    assert models_registry.active_model(conn).version == "default-1"  # saved, not active
    models_registry.activate(conn, version)
    active = models_registry.active_model(conn)
    assert active.version == "trained-1"
    assert active.to_dict() == result.model.to_dict()
    second = models_registry.train_from_store(conn, TrainingOptions(u_pairs=1000))
    assert second.model.version == "trained-2"
    models_registry.save(conn, second, is_active=True)
    assert models_registry.active_model(conn).version == "trained-2"
    models_registry.activate(conn, "trained-1")  # switch back
    assert models_registry.active_model(conn).version == "trained-1"
    models_registry.activate(conn, "default-1")
    assert models_registry.active_model(conn).version == "default-1"
    with pytest.raises(NotFound):
        models_registry.activate(conn, "trained-99")


def test_relink_leaves_manual_decisions_alone(conn, ctx):
    _people(conn, ctx)
    alice_person = conn.execute(
        "SELECT l.person_id FROM link l JOIN source_record r ON r.id = l.record_id"
        " WHERE r.local_id = 'G1'"
    ).fetchone()[0]
    # A reviewer (wrongly, but it is their decision) linked Bob's record to Alice.
    conn.execute(
        "UPDATE link SET person_id = %s, method = 'manual' FROM source_record r"
        " WHERE r.id = link.record_id AND r.local_id = 'G2'",
        (alice_person,),
    )
    before = conn.execute("SELECT * FROM link WHERE method = 'manual'").fetchall()
    report = relink(conn, ctx)
    assert report.records == 2  # G1 and H1; the manual link is not re-scored
    assert conn.execute("SELECT * FROM link WHERE method = 'manual'").fetchall() == before


def test_relink_forms_links_a_new_model_finds_and_dry_run_changes_nothing(conn, ctx):
    strict = replace(ctx, thresholds=Thresholds(link=1 - 1e-15, review=1 - 2e-15))
    systems.ensure_system(conn, "GP", "GP practices", "gp", 1)
    systems.ensure_system(conn, "HOSP", "Hospital EPR", "hospital", 2)
    fields = dict(
        given_name="Alice",
        family_name="Okonkwo",
        sex="female",
        birth_date="1984-03-17",
        postcode="LS6 2AB",
    )
    register(conn, strict, "GP", row(strict, "G1", **fields))
    register(conn, strict, "HOSP", row(strict, "H1", **fields))
    assert conn.execute("SELECT count(DISTINCT person_id) FROM link").fetchone()[0] == 2

    state = _state(conn)
    dry = relink(conn, ctx, dry_run=True)
    assert dry.dry_run and dry.links_formed == 1 and dry.records_moved == 1
    assert any(kind == "link forms" for kind, _ in dry.examples)
    assert _state(conn) == state  # nothing changed

    done = relink(conn, ctx)
    assert done.links_formed == 1
    assert conn.execute("SELECT count(DISTINCT person_id) FROM link").fetchone()[0] == 1
    events = conn.execute(
        "SELECT event_type, actor FROM identity_event WHERE actor LIKE 'relink:%%'"
    ).fetchall()
    assert ("record_moved", "relink:default-1") in events
    again = relink(conn, ctx, dry_run=True)
    assert again.links_formed == again.links_broken == again.records_moved == 0


def _record_id(conn: psycopg.Connection[Any], local_id: str) -> int:
    return conn.execute("SELECT id FROM source_record WHERE local_id = %s", (local_id,)).fetchone()[
        0
    ]


def test_relink_keeps_no_match_assertions_and_decided_review_items(conn, ctx):
    strict = replace(ctx, thresholds=Thresholds(link=1 - 1e-15, review=1 - 2e-15))
    systems.ensure_system(conn, "GP", "GP practices", "gp", 1)
    systems.ensure_system(conn, "HOSP", "Hospital EPR", "hospital", 2)
    fields = dict(
        given_name="Alice",
        family_name="Okonkwo",
        sex="female",
        birth_date="1984-03-17",
        postcode="LS6 2AB",
    )
    # Two pairs the default model would link, kept apart under a strict model.
    register(conn, strict, "GP", row(strict, "G1", **fields))
    register(conn, strict, "HOSP", row(strict, "H1", **fields))
    other = dict(fields, given_name="Chidi", birth_date="1990-06-01", postcode="LS7 1AA")
    register(conn, strict, "GP", row(strict, "G2", **other))
    register(conn, strict, "HOSP", row(strict, "H2", **other))
    g1, h1, g2, h2 = (_record_id(conn, x) for x in ("G1", "H1", "G2", "H2"))
    # A reviewer said G1 and H1 are different people ...
    record_store.add_no_match(conn, g1, h1, "reviewer", "different people")
    # ... and rejected a review item about G2 against H2's person.
    h2_person = conn.execute("SELECT person_id FROM link WHERE record_id = %s", (h2,)).fetchone()[0]
    conn.execute(
        "INSERT INTO review_item (record_id, candidate_person_id, candidate_record_id,"
        " probability, weight, reason, explanation, status, decided_at, decided_by)"
        " VALUES (%s, %s, %s, 0.9, 10, 'possible_match', '[]', 'rejected', now(), 'reviewer')",
        (g2, h2_person, h2),
    )
    decided = conn.execute("SELECT * FROM review_item WHERE status <> 'open'").fetchall()

    report = relink(conn, ctx)
    persons = dict(conn.execute("SELECT record_id, person_id FROM link").fetchall())
    assert persons[g1] != persons[h1]  # the no-match assertion holds
    assert persons[g2] == persons[h2]  # the pair no one decided about links
    assert report.links_formed == 1
    assert conn.execute("SELECT * FROM review_item WHERE status <> 'open'").fetchall() == decided


def test_import_and_export_a_model_document(conn, ctx):
    _people(conn, ctx)
    result = models_registry.train_from_store(conn, TrainingOptions(u_pairs=1000))
    document = result.model.to_dict()
    document["version"] = "region-a-1"
    imported = models_registry.import_model(conn, document, is_active=True)
    assert imported.version == "region-a-1"
    assert models_registry.active_model(conn).to_dict() == document
    with pytest.raises(Conflict):
        models_registry.import_model(conn, document)
    with pytest.raises(Conflict):
        models_registry.import_model(conn, load_default_model().to_dict())
    broken = dict(document, version="region-a-2", prior=2.0)
    broken["thresholds"] = {"link": 0.5, "review": 0.9}
    with pytest.raises(InvalidInput) as caught:
        models_registry.import_model(conn, broken)
    fields = {p.field for p in caught.value.problems}
    assert {"prior", "thresholds.review"} <= fields


def test_model_report_counts_decided_pairs_as_labels(conn, ctx):
    _people(conn, ctx)  # Alice on GP and HOSP (one person), Bob on GP
    g1, h1, g2 = (_record_id(conn, x) for x in ("G1", "H1", "G2"))
    record_store.add_no_match(conn, g1, g2, "reviewer", "different people")
    conn.execute("UPDATE link SET method = 'manual' WHERE record_id = %s", (h1,))
    result = models_registry.report(conn, ctx.model)
    assert result.version == "default-1"
    assert result.sources == {"no_match": 1, "manual_link": 1}
    everything = result.rows[0]
    assert everything.period == "all"
    assert (everything.matches, everything.non_matches) == (1, 1)
    assert everything.recall == 1.0 and everything.precision == 1.0
    assert everything.non_matches_linked == 0
    assert len(result.rows) == 2  # all, and the one month the decisions were made in
