"""Records stored before names in other scripts were transliterated: migration 0100 marks
them, ``mpi db renormalise`` gives them their names (issue 10, finding 6)."""

from __future__ import annotations

import dataclasses
from importlib import resources
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from matching.blocking import blocking_keys
from mpi.cli import main
from mpi.store import records as record_store

HEADER = "local_id,nhs_number,given_name,family_name,sex,birth_date,address_line,postcode,phone"
ROWS = (
    "G1,,محمد,خان,male,2019-06-02,14 Granby Road,LS6 3AX,01134960123",
    "G2,,أحمد,خان,male,2019-06-02,14 Granby Road,LS6 3AX,01134960123",
    "G3,,Robert,Smith,male,1970-05-01,1 High Street,LS1 4AP,",
)


@pytest.fixture
def runner(committed_db, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", committed_db)
    return CliRunner()


def _norms(url: str) -> dict[str, tuple]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT local_id, given_names, family_name, given_script, family_script, issues,"
            " blocking_keys FROM source_record ORDER BY local_id"
        ).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


def _as_before_0100(url: str) -> None:
    """Put the Arabic records back as the old normalisation stored them: no names."""
    with psycopg.connect(url) as conn:
        for pk, raw, norm, _ in record_store.active_raw_after(conn, 0, 100):
            if raw["local_id"] in ("G1", "G2"):
                old = dataclasses.replace(
                    norm,
                    given_names=(),
                    family_name=None,
                    family_parts=(),
                    given_phonetic=None,
                    family_phonetic=None,
                    given_script=(),
                    family_script=(),
                    issues=(),
                )
                record_store.rewrite_normalised(conn, [(pk, old, blocking_keys(old))])
        sql = resources.files("mpi.store") / "migrations" / "0100_names_in_any_script.sql"
        update = sql.read_text(encoding="utf-8").split("UPDATE source_record", 1)[1]
        conn.execute("UPDATE source_record" + update)


def test_old_records_with_vanished_names_are_marked_then_renormalised(
    runner, committed_db, tmp_path: Path
):
    path = tmp_path / "gp.csv"
    path.write_text("\n".join([HEADER, *ROWS]) + "\n", encoding="utf-8")
    loaded = runner.invoke(main, ["load", "GP", str(path), "--kind", "gp", "--quiet"])
    assert loaded.exit_code == 0, loaded.output
    fresh = _norms(committed_db)
    assert fresh["G1"][:2] == (["MHMD"], "KHN") and fresh["G1"][2] == ["محمد"]

    _as_before_0100(committed_db)
    old = _norms(committed_db)
    assert old["G1"][0] == [] and "name_not_comparable" in old["G1"][4]
    assert "name_not_comparable" in old["G2"][4]
    assert old["G3"] == fresh["G3"]  # a Latin name is not touched

    dry = runner.invoke(main, ["db", "renormalise", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "3 records read; 2 would change" in dry.output
    assert _norms(committed_db) == old

    done = runner.invoke(main, ["db", "renormalise"])
    assert done.exit_code == 0, done.output
    assert "3 records read; 2 changed" in done.output and "mpi relink" in done.output
    assert _norms(committed_db) == fresh
    with psycopg.connect(committed_db) as conn:
        keys = conn.execute(
            "SELECT count(*) FROM blocking_key b JOIN source_record r ON r.id = b.record_id"
            " WHERE r.local_id = 'G1' AND b.key LIKE 'dob+name:%%'"
        ).fetchone()
    assert keys is not None and keys[0] >= 2  # the family and given name codes again

    again = runner.invoke(main, ["db", "renormalise"])
    assert "3 records read; 0 changed" in again.output
    relinked = runner.invoke(main, ["relink", "--quiet"])
    assert relinked.exit_code == 0, relinked.output
