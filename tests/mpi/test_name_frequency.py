"""Name frequency counters (migration 0009) follow every change to the records."""

from __future__ import annotations

from typing import Any

import psycopg

from mpi.loading import CSV_COLUMNS, load_file
from mpi.records import load_batch, register, withdraw
from mpi.store import systems
from mpi.store.records import TermCounts, name_counts, term_counts
from tests.conftest import truncate_all
from tests.helpers import row


def _recount(conn: psycopg.Connection[Any]) -> tuple[int, dict[str, int], dict[str, int]]:
    """The counts the counters must equal, counted from the records themselves."""
    total = conn.execute("SELECT count(*) FROM source_record WHERE status = 'active'").fetchone()
    given = conn.execute(
        "SELECT given_names[1], count(*) FROM source_record"
        " WHERE status = 'active' AND given_names[1] IS NOT NULL GROUP BY 1"
    ).fetchall()
    family = conn.execute(
        "SELECT family_name, count(*) FROM source_record"
        " WHERE status = 'active' AND family_name IS NOT NULL GROUP BY 1"
    ).fetchall()
    return total[0], dict(given), dict(family)


def _counters(conn: psycopg.Connection[Any]) -> tuple[int, dict[str, int], dict[str, int]]:
    names = conn.execute(
        "SELECT DISTINCT name FROM name_frequency WHERE kind <> 'total'"
    ).fetchall()
    every = [n for (n,) in names]
    return name_counts(conn, every, every)


def test_counters_follow_inserts_updates_withdrawals_and_reactivation(conn, ctx):
    systems.ensure_system(conn, "GP", "GP practices", "gp", 1)
    system = systems.get_system(conn, "GP")
    people = [("Sarah", "Smith"), ("Sarah", "Jones"), ("Priya", "Smith"), ("Tom", "Okafor")]
    batch = [
        row(ctx, f"G{i}", given_name=g, family_name=f, birth_date=f"19{60 + i}-02-03")
        for i, (g, f) in enumerate(people)
    ]
    load_batch(conn, ctx, system, batch)
    assert _counters(conn) == _recount(conn)
    assert name_counts(conn, ["SARAH"], ["SMITH", "NOBODY"]) == (4, {"SARAH": 2}, {"SMITH": 2})

    # an update that changes the names moves the counts; the same data again changes nothing
    register(conn, ctx, "GP", row(ctx, "G0", given_name="Sara", family_name="Smyth"))
    register(conn, ctx, "GP", row(ctx, "G0", given_name="Sara", family_name="Smyth"))
    assert _counters(conn) == _recount(conn)
    assert name_counts(conn, ["SARAH", "SARA"], ["SMITH"]) == (
        4,
        {"SARAH": 1, "SARA": 1},
        {"SMITH": 1},
    )

    withdraw(conn, "GP", "G3")
    assert _counters(conn) == _recount(conn)
    assert name_counts(conn, ["TOM"], ["OKAFOR"]) == (3, {}, {})
    register(conn, ctx, "GP", row(ctx, "G3", given_name="Tom", family_name="Okafor"))
    assert name_counts(conn, ["TOM"], ["OKAFOR"]) == (4, {"TOM": 1}, {"OKAFOR": 1})

    # a record without names counts in the total only
    register(conn, ctx, "GP", row(ctx, "G9", birth_date="1990-01-01", postcode="LS6 2AB"))
    assert _counters(conn) == _recount(conn)


def test_counters_match_a_bulk_load_and_restart_when_records_are_emptied(
    committed_db, ctx, tmp_path
):
    with psycopg.connect(committed_db) as conn:
        system = systems.ensure_system(conn, "GP", "GP practices", "gp", 1)
    path = tmp_path / "gp.csv"
    lines = [",".join(CSV_COLUMNS)]
    for i in range(30):
        lines.append(f"G{i},,Name{i % 4},Family{i % 7},female,1970-01-{1 + i % 28:02d},,,")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    load_file(committed_db, ctx, system, path, batch_size=7)
    with psycopg.connect(committed_db) as conn:
        assert _counters(conn) == _recount(conn)
        assert _counters(conn)[0] == 30
        # the counters' dead row versions are cleared after the load (autovacuum may be off)
        vacuumed = conn.execute(
            "SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'name_frequency'"
        ).fetchone()
        assert vacuumed is not None and vacuumed[0] >= 1
    truncate_all(committed_db)
    with psycopg.connect(committed_db) as conn:
        assert conn.execute("SELECT count(*) FROM name_frequency").fetchone()[0] == 0
        assert name_counts(conn, ["NAME1"], ["FAMILY1"]) == (0, {}, {})


def _postcode_recount(conn: psycopg.Connection[Any]) -> dict[str, int]:
    rows = conn.execute(
        "SELECT postcode, count(*) FROM source_record"
        " WHERE status = 'active' AND postcode IS NOT NULL GROUP BY 1"
    ).fetchall()
    return dict(rows)


def _postcode_counters(conn: psycopg.Connection[Any]) -> dict[str, int]:
    names = conn.execute("SELECT DISTINCT name FROM name_frequency WHERE kind = 'postcode'")
    return term_counts(conn, [], [], [n for (n,) in names.fetchall()]).postcode


def test_postcode_counters_follow_inserts_updates_withdrawals_and_skip_pseudo_postcodes(conn, ctx):
    systems.ensure_system(conn, "GP", "GP practices", "gp", 1)
    system = systems.get_system(conn, "GP")
    homes = ["LS6 2AB", "LS6 2AB", "LS6 2AB", "SE15 4QT", "ZZ99 3VZ", ""]
    batch = [
        row(
            ctx,
            f"G{i}",
            given_name=f"Name{i}",
            family_name="Hill",
            postcode=p,
            birth_date=f"19{40 + i}-02-03",
        )
        for i, p in enumerate(homes)
    ]
    load_batch(conn, ctx, system, batch)
    assert _postcode_counters(conn) == _postcode_recount(conn) == {"LS6 2AB": 3, "SE15 4QT": 1}
    assert term_counts(conn, [], [], ["ls6 2ab", "ZZ99 3VZ"]).postcode == {}
    assert term_counts(conn, [], [], []).total == 6

    # a move changes both postcodes' counts; the same data again changes nothing
    moved = row(
        ctx,
        "G0",
        given_name="Name0",
        family_name="Hill",
        postcode="se154qt",
        birth_date="1940-02-03",
    )
    register(conn, ctx, "GP", moved)
    register(conn, ctx, "GP", moved)
    assert _postcode_counters(conn) == _postcode_recount(conn) == {"LS6 2AB": 2, "SE15 4QT": 2}

    # a withdrawal stops counting; a move to a pseudo-postcode too
    withdraw(conn, "GP", "G1")
    register(
        conn,
        ctx,
        "GP",
        row(
            ctx,
            "G2",
            given_name="Name2",
            family_name="Hill",
            postcode="ZZ99 1WZ",
            birth_date="1942-02-03",
        ),
    )
    assert _postcode_counters(conn) == _postcode_recount(conn) == {"SE15 4QT": 2}
    assert term_counts(conn, [], [], ["LS6 2AB", "SE15 4QT"]) == TermCounts(
        5, {}, {}, {"SE15 4QT": 2}
    )
