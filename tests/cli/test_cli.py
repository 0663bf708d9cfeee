"""The mpi command line, run with CliRunner against a real database."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from mpi.cli import main
from tests.helpers import synthetic_nhs_number

HEADER = "local_id,nhs_number,given_name,family_name,sex,birth_date,address_line,postcode,phone"


@pytest.fixture
def runner(committed_db, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", committed_db)
    return CliRunner()


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def test_every_command_has_help():
    def walk(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
        found = []
        for name, command in group.commands.items():
            found.append((prefix + name, command))
            if isinstance(command, click.Group):
                found += walk(command, prefix + name + " ")
        return found

    for name, command in walk(main):
        assert command.help and "Example" in command.help, f"mpi {name} needs help"


def test_load_with_bad_rows_rejects_them_and_loads_the_rest(runner, tmp_path):
    nhs = synthetic_nhs_number(3)
    gp = _write(
        tmp_path / "gp.csv",
        [
            f"G1,{nhs},Robert,Smith,male,1970-05-01,1 High Street,LS1 4AP,",
            "G2,,Mary,Jones,female,2023-02-30,2 Low Street,LS1 4AQ,",
            "G3,,Ann,Lee,female,2090-01-01,,,",
            "G4,,Sam,Hill,zebra,1980-01-01,,,",
            "G5,too,many,columns,in,this,row,here,now,extra",
            "G6,,Priya,Patel,female,1992-12-12,3 Mill Lane,BD7 1DP,",
        ],
    )
    result = runner.invoke(main, ["load", "GP_TEST", str(gp), "--kind", "gp", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "2 records loaded" in result.output
    rejects = list(csv.DictReader(io.StringIO((tmp_path / "gp.csv.rejects.csv").read_text())))
    assert [r["local_id"] for r in rejects] == ["G2", "G3", "G4", "G5"]
    assert "birth_date" in rejects[0]["reason"]
    assert "future" in rejects[1]["reason"]
    assert "sex" in rejects[2]["reason"]

    again = runner.invoke(main, ["load", "GP_TEST", str(gp), "--quiet"])
    assert "unchanged: 2" in again.output


def test_wrong_header_is_refused_with_the_expected_columns(runner, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,name\n1,x\n", encoding="utf-8")
    result = runner.invoke(main, ["load", "X", str(bad), "--quiet"])
    assert result.exit_code == 1
    assert "local_id,nhs_number,given_name" in result.output


def test_load_resolve_export_and_person(runner, tmp_path):
    nhs = synthetic_nhs_number(4)
    _write(
        tmp_path / "gp.csv",
        [f"G1,{nhs},Margaret,Hughes,female,1948-07-21,5 Park Road,HX3 6AA,01422 000000"],
    )
    _write(
        tmp_path / "hosp.csv",
        [f"H1,{nhs[:3]} {nhs[3:6]} {nhs[6:]},Peggy,HUGHES,F,1948-07-21,5 Park Rd,hx36aa,"],
    )
    assert (
        runner.invoke(
            main,
            [
                "load",
                "GP",
                str(tmp_path / "gp.csv"),
                "--kind",
                "gp",
                "--trust-rank",
                "1",
                "--quiet",
            ],
        ).exit_code
        == 0
    )
    assert (
        runner.invoke(main, ["load", "HOSP", str(tmp_path / "hosp.csv"), "--quiet"]).exit_code == 0
    )

    resolved = runner.invoke(main, ["resolve", "HOSP", "H1"])
    assert resolved.exit_code == 0, resolved.output
    assert "GP\tG1" in resolved.output and "HOSP\tH1" in resolved.output
    person_id = resolved.output.split()[1]

    crossref = runner.invoke(main, ["export", "crossref"])
    rows = list(csv.DictReader(io.StringIO(crossref.output)))
    assert {(r["system"], r["local_id"], r["person_id"]) for r in rows} == {
        ("GP", "G1", person_id),
        ("HOSP", "H1", person_id),
    }

    shown = runner.invoke(main, ["person", person_id])
    assert shown.exit_code == 0, shown.output
    assert "Margaret" in shown.output  # the GP (trust rank 1) supplies the given name
    assert "record_linked" in shown.output

    missing = runner.invoke(main, ["resolve", "HOSP", "NOPE"])
    assert missing.exit_code == 1 and "no record" in missing.output


def test_export_review_lists_the_candidate_record(runner, tmp_path):
    _write(tmp_path / "a.csv", ["A1,,Daniel,Kowalski,male,1979-11-02,8 Elm Grove,WF2 7AB,"])
    _write(tmp_path / "b.csv", ["B1,,Dan,Kowalsky,male,1979-11-02,,,"])
    runner.invoke(main, ["load", "A", str(tmp_path / "a.csv"), "--quiet"])
    runner.invoke(main, ["load", "B", str(tmp_path / "b.csv"), "--quiet"])
    out = tmp_path / "review.csv"
    result = runner.invoke(main, ["export", "review", "-o", str(out)])
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert rows, "expected an open review item"
    assert (rows[0]["system"], rows[0]["local_id"]) == ("B", "B1")
    assert (rows[0]["candidate_system"], rows[0]["candidate_local_id"]) == ("A", "A1")
    assert 0 < float(rows[0]["probability"]) < 1


def test_evaluate_reports_precision_recall_and_false_merges(runner, tmp_path):
    n1, n2 = synthetic_nhs_number(5), synthetic_nhs_number(6)
    _write(
        tmp_path / "a.csv",
        [f"A1,{n1},Olivia,Brown,female,2001-01-01,,,", f"A2,{n2},Oliver,Green,male,1965-03-03,,,"],
    )
    _write(tmp_path / "b.csv", [f"B1,{n1},Olivia,Brown,female,2001-01-01,,,"])
    runner.invoke(main, ["load", "A", str(tmp_path / "a.csv"), "--quiet"])
    runner.invoke(main, ["load", "B", str(tmp_path / "b.csv"), "--quiet"])
    truth = tmp_path / "truth.csv"
    truth.write_text("system,local_id,person_id\nA,A1,p1\nB,B1,p1\nA,A2,p2\n")
    result = runner.invoke(main, ["evaluate", "--truth", str(truth)])
    assert result.exit_code == 0, result.output
    assert "precision 1.00000" in result.output and "recall 1.00000" in result.output
    assert "false-merge clusters (an identity holding more than one true person): 0" in (
        result.output
    )


def test_load_fhir_ndjson(runner, tmp_path):
    import json

    nhs = synthetic_nhs_number(7)
    patient = {
        "resourceType": "Patient",
        "identifier": [
            {"system": "https://portal.example.org/Id/mrn", "value": "P100"},
            {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": nhs},
        ],
        "name": [{"family": "Nowak", "given": ["Łukasz"]}],
        "gender": "male",
        "birthDate": "1988-09-09",
        "address": [{"line": ["7 Kings Road"], "postalCode": "LS2 9JT"}],
    }
    path = tmp_path / "portal.ndjson"
    path.write_text(json.dumps(patient) + "\n{not json\n", encoding="utf-8")
    result = runner.invoke(main, ["load", "PORTAL", str(path), "--kind", "portal", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "1 records loaded" in result.output and "rejected: 1" in result.output
    resolved = runner.invoke(main, ["resolve", "PORTAL", "P100"])
    assert resolved.exit_code == 0


def test_db_upgrade_reports_the_version(runner):
    result = runner.invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0
    assert "schema version" in result.output


def test_demo_loads_measures_and_can_go_on_serving(runner, monkeypatch, server_url):
    import uuid

    from mpi.cli import service
    from mpi.store import db

    served: dict[str, object] = {}
    monkeypatch.setattr(service, "exec_gunicorn", lambda url, **kw: served.update(url=url, **kw))
    name = f"mpi_demo_test_{uuid.uuid4().hex[:8]}"
    try:
        result = runner.invoke(
            main, ["demo", "--persons", "60", "--database", name, "--serve", "--bind", "x:1"]
        )
        assert result.exit_code == 0, result.output
        assert "pairwise precision" in result.output
        assert "classic traps" in result.output
        assert "export TOKEN=" in result.output
        assert served["bind"] == "x:1" and name in str(served["url"])
    finally:
        db.drop_database(server_url, name)


def test_db_check_passes_a_loaded_store_and_names_a_breach(runner, tmp_path, committed_db):
    import psycopg

    gp = _write(
        tmp_path / "gp.csv",
        [
            f"G1,{synthetic_nhs_number(5)},Robert,Smith,male,1970-05-01,1 High Street,LS1 4AP,",
            "G2,,Priya,Patel,female,1992-12-12,3 Mill Lane,BD7 1DP,",
        ],
    )
    assert (
        runner.invoke(main, ["load", "GP_TEST", str(gp), "--kind", "gp", "--quiet"]).exit_code == 0
    )
    result = runner.invoke(main, ["db", "check"])
    assert result.exit_code == 0, result.output
    assert "store sound" in result.output and "audit_chain" in result.output
    with psycopg.connect(committed_db, autocommit=True) as conn:
        conn.execute("DELETE FROM link WHERE record_id = (SELECT min(id) FROM source_record)")
    result = runner.invoke(main, ["db", "check"])
    assert result.exit_code == 1
    assert "active_record_unlinked" in result.output and "BREACHED (1)" in result.output
    assert "Priya" not in result.output and "Smith" not in result.output  # IDs, not patients
