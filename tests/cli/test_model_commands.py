"""mpi train, model show/activate/report and relink, through CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from mpi.cli import main

HEADER = "local_id,nhs_number,given_name,family_name,sex,birth_date,address_line,postcode,phone"


@pytest.fixture
def runner(committed_db, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", committed_db)
    yield CliRunner()
    with psycopg.connect(committed_db) as conn:
        conn.execute("DELETE FROM match_model")


def test_train_show_activate_report_relink(runner, tmp_path: Path):
    rows = [
        f"G{i},,Given{i % 40},Family{i % 25},female,19{50 + i % 40}-0{1 + i % 9}-1{i % 9},"
        f"{i} High Street,LS6 {i % 9}AB,"
        for i in range(300)
    ]
    path = tmp_path / "gp.csv"
    path.write_text("\n".join([HEADER, *rows, *[r.replace("G", "H", 1) for r in rows[:100]]]))
    loaded = runner.invoke(main, ["load", "GP", str(path), "--quiet"])
    assert loaded.exit_code == 0, loaded.output

    trained = runner.invoke(main, ["train", "--u-pairs", "5000"])
    assert trained.exit_code == 0, trained.output
    assert "trained trained-1" in trained.output and "suggested thresholds" in trained.output

    shown = runner.invoke(main, ["model", "show", "trained-1"])
    assert shown.exit_code == 0, shown.output
    assert "given_name" in shown.output and "weight" in shown.output

    dry = runner.invoke(main, ["relink", "--dry-run", "--model", "trained-1", "--quiet"])
    assert dry.exit_code == 0, dry.output
    assert "dry run: nothing changed" in dry.output

    assert runner.invoke(main, ["model", "activate", "trained-1"]).exit_code == 0
    assert "model trained-1" in runner.invoke(main, ["model", "show"]).output
    report = runner.invoke(main, ["model", "report"])
    assert report.exit_code == 0 and "all" in report.output
    missing = runner.invoke(main, ["model", "activate", "nope"])
    assert missing.exit_code == 1 and "no model version" in missing.output
    assert runner.invoke(main, ["model", "activate", "default-1"]).exit_code == 0


def test_model_export_and_import(runner, tmp_path: Path):
    exported = tmp_path / "default.json"
    done = runner.invoke(main, ["model", "export", "default-1", "-o", str(exported)])
    assert done.exit_code == 0, done.output
    document = json.loads(exported.read_text())
    assert document["version"] == "default-1"
    clash = runner.invoke(main, ["model", "import", str(exported)])
    assert clash.exit_code == 1 and "default" in clash.output
    document["version"] = "region-b-1"
    renamed = tmp_path / "region-b-1.json"
    renamed.write_text(json.dumps(document))
    imported = runner.invoke(main, ["model", "import", str(renamed), "--activate"])
    assert imported.exit_code == 0, imported.output
    assert "model region-b-1" in runner.invoke(main, ["model", "show"]).output
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    refused = runner.invoke(main, ["model", "import", str(bad)])
    assert refused.exit_code == 1 and "file: is not JSON" in refused.output
    document["version"] = "region-b-2"
    document["prior"] = -1
    bad.write_text(json.dumps(document))
    refused = runner.invoke(main, ["model", "import", str(bad)])
    assert refused.exit_code == 1 and "prior" in refused.output
    assert runner.invoke(main, ["model", "activate", "default-1"]).exit_code == 0


def test_model_show_gives_precision_per_score_band_from_the_labels(runner, committed_db, tmp_path):
    rows = [
        f"G{i},,Given{i % 40},Family{i % 25},female,19{50 + i % 40}-0{1 + i % 9}-1{i % 9},"
        f"{i} High Street,LS6 {i % 9}AB,"
        for i in range(60)
    ]
    path = tmp_path / "gp.csv"
    path.write_text("\n".join([HEADER, *rows]))
    assert runner.invoke(main, ["load", "GP", str(path), "--quiet"]).exit_code == 0
    before = runner.invoke(main, ["model", "show"])
    assert before.exit_code == 0, before.output
    assert "no reviewers' decisions (labels) yet" in before.output
    with psycopg.connect(committed_db) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM source_record ORDER BY id LIMIT 6")]
        # three pairs a reviewer said are different people
        for a, b in zip(ids[0::2], ids[1::2], strict=True):
            conn.execute(
                "INSERT INTO no_match (record_a, record_b, asserted_by) VALUES (%s, %s, 'rev')",
                (min(a, b), max(a, b)),
            )
    shown = runner.invoke(main, ["model", "show"])
    assert shown.exit_code == 0, shown.output
    assert "precision per score band, from reviewers' decisions" in shown.output
    band = next(line for line in shown.output.splitlines() if line.strip().startswith("[0,"))
    assert band.split()[-3:] == ["0", "3", "0.000"], shown.output
    with psycopg.connect(committed_db) as conn:
        conn.execute("DELETE FROM no_match")
