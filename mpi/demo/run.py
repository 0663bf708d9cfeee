"""``mpi demo``: synthetic connected systems, loaded and measured end to end."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import psycopg

from matching.evaluation import evaluate
from mpi.config import Settings
from mpi.demo.synthetic import SyntheticDataset, SystemSpec, generate, write_dataset
from mpi.evaluation import (
    crossref,
    format_evaluation,
    merged_traps,
    missed_pairs_in_review,
    read_truth,
)
from mpi.loading import LoadReport, load_file
from mpi.models_registry import active_model
from mpi.records import MatchContext
from mpi.store import db, migrate
from mpi.store import persons as person_store
from mpi.store import review as review_store
from mpi.store import systems as system_store

DEMO_DATABASE = "mpi_demo"


def fresh_database(settings: Settings, name: str = DEMO_DATABASE) -> str:
    """Create (or re-create) database ``name`` on the configured server and migrate it."""
    server = db.server_url(settings)
    db.drop_database(server, name)
    url = db.create_database(server, name)
    migrate.upgrade(url)
    return url


def load_dataset(
    url: str,
    ctx: MatchContext,
    dataset: SyntheticDataset,
    paths: Sequence[Path],
    *,
    batch_size: int = 1000,
) -> Iterator[tuple[SystemSpec, LoadReport]]:
    """Load a synthetic dataset's files system by system, as each system's bulk load would.

    Args:
        url: the database.
        ctx: model, thresholds and limits.
        dataset: the dataset (for its systems).
        paths: the files from :func:`mpi.demo.synthetic.write_dataset`, in load order.
        batch_size: records per transaction.

    Yields:
        Each system with its load report, as it finishes.
    """
    specs = {s.code: s for s in dataset.systems}
    for path in paths:
        spec = specs.get(path.stem)
        if spec is None:
            continue
        with psycopg.connect(url) as conn:
            system = system_store.ensure_system(
                conn, spec.code, spec.name, spec.kind, spec.trust_rank
            )
        yield spec, load_file(url, ctx, system, path, batch_size=batch_size)


def demo_token(url: str, system: str) -> tuple[str, str]:
    """A new register-and-lookup token for a demo system, and one of its local IDs to try."""
    from mpi import access
    from mpi.store.records import first_local_id

    with db.connect(url) as conn:
        token = access.issue_token(conn, system, ("register", "lookup"), actor="demo")
        return token, first_local_id(conn, system)


def run_demo(
    settings: Settings,
    *,
    persons: int,
    seed: int,
    out: Path | None,
    echo: Callable[[str], None],
    database: str = DEMO_DATABASE,
) -> str:
    """Generate, load and evaluate; return the demo database's URL."""
    folder = out or Path(tempfile.mkdtemp(prefix="mpi-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    echo(f"generating {persons} synthetic people over six connected systems (seed {seed})")
    dataset = generate(persons, seed=seed)
    paths = write_dataset(dataset, folder)
    url = fresh_database(settings, database)
    with psycopg.connect(url) as conn:
        ctx = MatchContext.build(settings, active_model(conn))
    started = time.perf_counter()
    total = 0
    for spec, report in load_dataset(url, ctx, dataset, paths, batch_size=settings.batch_size):
        total += report.loaded
        summary = ", ".join(f"{k} {v}" for k, v in sorted(report.decisions.items()))
        echo(
            f"  {spec.code:<17} {spec.kind:<13} {report.loaded:>6} records"
            f" ({report.per_second:,.0f}/s): {summary}"
            + (f"; rejected {len(report.rejects)}" if report.rejects else "")
        )
        for reject in report.rejects[:2]:
            echo(f"      rejected line {reject.line}: {reject.reason}")
    elapsed = time.perf_counter() - started
    truth_path = folder / "truth.csv"
    with psycopg.connect(url) as conn:
        counts = person_store.counts(conn)
        reasons = review_store.reasons(conn)
        predicted = crossref(conn)
        reviews = list(review_store.open_pairs(conn))
    truth = read_truth(truth_path)
    echo("")
    echo(
        f"loaded {total} records in {elapsed:.1f}s ({total / elapsed:,.0f} records/s):"
        f" {counts['persons']} identities for {len(set(truth.values()))} true people"
    )
    echo(
        f"review queue: {counts['open_review']} open items"
        + (" (" + ", ".join(f"{k} {v}" for k, v in reasons.items()) + ")" if reasons else "")
    )
    echo("")
    echo("accuracy against the ground truth:")
    in_review = missed_pairs_in_review(predicted, truth, reviews)
    echo(format_evaluation(evaluate(predicted, truth), show=3, missed_in_review=in_review))
    traps = [(t.kind, t.person_ids) for t in dataset.traps]
    merged = merged_traps(predicted, truth, traps)
    kinds = sorted({kind for kind, _ in traps})
    echo("")
    echo("classic traps (different people who must not share an identity):")
    for kind in kinds:
        n = sum(1 for k, _ in traps if k == kind)
        bad = sum(1 for k, _ in merged if k == kind)
        echo(f"  {kind:<24} {n:>4} cases, {bad} merged")
    echo("")
    echo(f"files and truth are in {folder}; the data is in database {database!r}")
    return url
