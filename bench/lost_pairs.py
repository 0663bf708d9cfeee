"""True pairs one index links and another does not: their levels and findings, counted.

Compares the cross-references of two loaded databases of the same synthetic set (for
example before and after a rule change, each made by ``bench/accuracy.py``) and scores
each true pair linked in the first but not in the second with the current code (no
term-frequency adjustment), grouped by the pair's levels and safety findings::

    python bench/lost_pairs.py --before base20 --after new20 --truth /tmp/.../truth.csv
"""

from __future__ import annotations

import argparse
import itertools
from collections import Counter
from pathlib import Path

import psycopg

from matching.comparisons import COMPARISONS, compare
from matching.model import load_default_model
from matching.scoring import score
from mpi.config import load_settings
from mpi.evaluation import crossref, read_truth
from mpi.store import records as record_store

SHOWN = tuple(c.name for c in COMPARISONS if c.name != "sex")


def _url(base: str, database: str) -> str:
    return base.rsplit("/", 1)[0] + "/" + database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="database linking the pairs")
    parser.add_argument("--after", required=True, help="database that may not")
    parser.add_argument("--truth", required=True, type=Path)
    args = parser.parse_args()
    url = load_settings().database_url or "postgresql://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(_url(url, args.before)) as conn:
        before = crossref(conn)
    truth = read_truth(args.truth)
    people: dict[str, list[tuple[str, str]]] = {}
    for key, person in truth.items():
        people.setdefault(person, []).append(key)
    with psycopg.connect(_url(url, args.after)) as conn:
        after = crossref(conn)
        lost = [
            (a, b)
            for keys in people.values()
            for a, b in itertools.combinations(keys, 2)
            if a in before and before.get(a) == before.get(b) and after.get(a) != after.get(b)
        ]
        ids = dict(
            ((code, local), pk)
            for code, local, pk in conn.execute(
                "SELECT s.code, r.local_id, r.id FROM source_record r"
                " JOIN source_system s ON s.id = r.system_id"
            ).fetchall()
        )
        wanted = {ids[k] for pair in lost for k in pair if k in ids}
        records = {r.id: r for r in record_store.stored_records(conn, wanted)}
    model = load_default_model()
    patterns: Counter[str] = Counter()
    for a, b in lost:
        x, y = records[ids[a]].norm, records[ids[b]].norm
        levels = compare(x, y)
        shown = " ".join(
            f"{c.name}={c.labels[level]}"
            for c, level in zip(COMPARISONS, levels, strict=True)
            if c.name in SHOWN
        )
        flags = ",".join(score(model, x, y).flags)
        patterns[f"{shown} | {flags} | same system: {a[0] == b[0]}"] += 1
    print(f"pairs linked before and not after: {len(lost)}")
    for pattern, n in patterns.most_common():
        print(n, pattern)


if __name__ == "__main__":
    main()
