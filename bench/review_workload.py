"""Review workload of a loaded index: open items by reason and by contradiction, true ones.

For every open review item the record is scored again against the item's candidate record
and the candidate person's other records (with the final index's name frequencies and
prior, as ``bench/missed_pairs.py`` does), and the pair's independent contradictions
(:func:`mpi.links.contradictions`: another valid NHS number, birth dates years apart,
the twin pattern, another given name or sex) are listed. Each item counts as a true match
when the ground truth puts both records in one person. The last table says which items
:func:`mpi.links.is_clear_non_match` keeps out of the queue (none once that rule is in
force when the index is loaded: they are no longer opened).

The first lines give issue 11's targets: open items as a share of records, the share of
them that is true, automatic precision and recall, and recall after review (every true
item accepted: its two persons merged). ``--dump FILE`` writes one CSV row per item
(reason, truth, probabilities, findings, contradictions and each comparison's level) for
analysis by finding.

Usage (after ``mpi demo`` or ``bench/accuracy.py``, which print the database and the
folder holding ``truth.csv``)::

    python bench/review_workload.py --database mpi_accuracy --truth /tmp/.../truth.csv
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from missed_pairs import final_index  # noqa: E402

from matching.evaluation import evaluate  # noqa: E402
from matching.scoring import score  # noqa: E402
from mpi.config import load_settings  # noqa: E402
from mpi.evaluation import crossref, read_truth  # noqa: E402
from mpi.links import (  # noqa: E402
    CLEAR_NON_MATCH,
    SAFETY_FLAGS,
    contradictions,
    is_clear_non_match,
    person_contradictions,
)
from mpi.models import StoredRecord  # noqa: E402
from mpi.records import match_person  # noqa: E402
from mpi.store import db  # noqa: E402
from mpi.store import review as review_store  # noqa: E402


def _table(title: str, total: Counter[str], true: Counter[str]) -> list[str]:
    lines = [title, f"  {'':34} {'total':>6} {'true':>6}"]
    for key, count in total.most_common():
        lines.append(f"  {key:34} {count:6} {true[key]:6}")
    lines.append(f"  {'all':34} {sum(total.values()):6} {sum(true.values()):6}")
    return lines


def _joined(predicted: dict[Any, str], accepted: list[tuple[str, str]]) -> dict[Any, str]:
    """The cross-reference after a reviewer accepts every true item (identities merged)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.get(x, x) != x:
            x = parent[x]
        return x

    for a, b in accepted:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[ra] = rb
    return {key: find(person) for key, person in predicted.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", required=True, help="database name on DATABASE_URL")
    parser.add_argument("--truth", required=True, help="truth CSV: system,local_id,person_id")
    parser.add_argument("--dump", type=Path, help="write one CSV row per open item here")
    args = parser.parse_args()
    settings = load_settings()
    url = psycopg.conninfo.make_conninfo(db.server_url(settings), dbname=args.database)
    with psycopg.connect(url) as conn:
        ctx, records, adjuster = final_index(conn, settings)
        items = review_store.open_record_pairs(conn)
        predicted = crossref(conn)
    truth = read_truth(Path(args.truth))
    by_id = {r.id: r for r in records}
    members: dict[int, list[StoredRecord]] = defaultdict(list)
    for r in records:
        if r.person is not None:
            members[r.person].append(r)

    reasons: tuple[Counter[str], Counter[str]] = (Counter(), Counter())
    found: tuple[Counter[str], Counter[str]] = (Counter(), Counter())
    rule: tuple[Counter[str], Counter[str]] = (Counter(), Counter())
    pairs: tuple[Counter[str], Counter[str]] = (Counter(), Counter())
    by_finding: tuple[Counter[str], Counter[str]] = (Counter(), Counter())
    accepted: list[tuple[str, str]] = []  # identities joined by a true item
    dump: list[dict[str, Any]] = []
    for record_id, candidate_id, reason in items:
        a, b = by_id.get(record_id), by_id.get(candidate_id) if candidate_id else None
        if a is None or b is None:
            continue
        result = score(ctx.model, a.norm, b.norm, adjuster=adjuster)
        others = [m for m in members[b.person or 0] if m.id != a.id] or [b]
        # the person-level findings as the linker has them; the pair is the item's own
        person = match_person(ctx, adjuster, a, b.person or 0, others)
        match = replace(person, score=result, record_id=b.id)
        person_a = truth.get((a.system_code, a.local_id))
        is_true = person_a is not None and person_a == truth.get((b.system_code, b.local_id))
        kinds = "+".join(sorted(contradictions(result))) or "none"
        outcome = "kept out of review" if is_clear_non_match(match) else "still reviewed"
        for (total, true), key in ((reasons, reason), (found, kinds), (rule, outcome)):
            total[key] += 1
            true[key] += is_true
        for flag in sorted(person.flags & SAFETY_FLAGS) or ["(no safety finding)"]:
            by_finding[0][flag] += 1
            by_finding[1][flag] += is_true
        dump.append(
            {
                "record_id": a.id,
                "candidate_id": b.id,
                "reason": reason,
                "true": int(is_true),
                "probability": round(result.probability, 6),
                "person_probability": round(person.score.probability, 6),
                "person_flags": "+".join(sorted(person.flags)),
                "pair_flags": "+".join(sorted(result.flags)),
                "contradictions": kinds,
                **{f.comparison: f.level for f in result.fields},
            }
        )
        if is_true:
            own = predicted.get((a.system_code, a.local_id))
            other = predicted.get((b.system_code, b.local_id))
            if own and other:
                accepted.append((own, other))
        if outcome == "kept out of review":
            held = person_contradictions(match)
            for clear in CLEAR_NON_MATCH:
                if clear <= held:
                    pairs[0]["+".join(sorted(clear))] += 1
                    pairs[1]["+".join(sorted(clear))] += is_true
    automatic = evaluate(predicted, truth)
    after = evaluate(_joined(predicted, accepted), truth)
    open_items = sum(reasons[0].values())
    true_items = sum(reasons[1].values())
    lines = [
        f"records {len(records)}, open items {open_items}"
        f" ({open_items / max(len(records), 1):.2%} of records),"
        f" true {true_items} ({true_items / max(open_items, 1):.1%} of the queue)",
        f"automatic: precision {automatic.precision:.5f} recall {automatic.recall:.5f};"
        f" recall after review (every true item accepted) {after.recall:.5f}",
    ]
    lines += _table("open review items by reason", *reasons)
    lines += _table("by safety finding against the person (an item may hold several)", *by_finding)
    lines += _table("by contradictions of the pair", *found)
    lines += _table("under mpi.links.is_clear_non_match", *rule)
    lines += _table("kept out, by rule (an item may meet several)", *pairs)
    print("\n".join(lines))
    if args.dump and dump:
        with args.dump.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(dump[0]))
            writer.writeheader()
            writer.writerows(dump)


if __name__ == "__main__":
    main()
