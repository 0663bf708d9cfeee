"""The relink's diff: records that move, persons that merge or split, review items.

Each decided group travels from Spark's workers to the driver as text
(:func:`result_to_json`, :func:`result_from_json`). The driver folds the groups into a
:class:`Diff` and can write it as JSON Lines, one change a line:

=================  ============================================================================
``move``           ``record``, ``from`` and ``to`` person, ``probability``
``merge``          ``into`` (the person that ends up with the records) and ``persons`` merged
``split``          ``person`` and the ``into`` persons its records end in
``review_open``    ``record``, ``candidate_person``, ``candidate_record``, ``reason``,
                   ``probability``
``review_close``   ``item`` (superseded: the model no longer finds it uncertain)
=================  ============================================================================

Persons are internal person IDs; a new person is ``"new:<group>:<n>"`` (it has no ID
before the diff is applied).
"""

from __future__ import annotations

import base64
import json
import pickle
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO, Any

from mpi.spark.decide import GroupResult

__all__ = ["Diff", "result_from_json", "result_to_json"]


def result_to_json(result: GroupResult) -> str:
    """A group's result as text (pickled: the driver and the workers run one version)."""
    return base64.b64encode(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)).decode()


def result_from_json(text: str) -> GroupResult:
    """The result :func:`result_to_json` wrote."""
    found: GroupResult = pickle.loads(base64.b64decode(text))  # noqa: S301 (our own workers)
    return found


def _person(group: int, person: int | None) -> int | str | None:
    return f"new:{group}:{-person}" if person is not None and person < 0 else person


@dataclass(slots=True)
class Diff:
    """What the relink changes (or, in a dry run, would change), folded group by group.

    Attributes:
        records: relink targets decided.
        groups: groups decided.
        moved, merges, splits, reviews_opened, reviews_closed: the changes, as rows of
            the JSON Lines format (see the module docstring).
        conflicts: records of groups left alone because the store changed under them
            since the read (filled in by the write-back).
    """

    records: int = 0
    groups: int = 0
    moved: list[dict[str, Any]] = field(default_factory=list)
    merges: list[dict[str, Any]] = field(default_factory=list)
    splits: list[dict[str, Any]] = field(default_factory=list)
    reviews_opened: list[dict[str, Any]] = field(default_factory=list)
    reviews_closed: list[dict[str, Any]] = field(default_factory=list)
    conflicts: int = 0
    assignment: dict[int, int | str | None] = field(default_factory=dict)

    def add(self, group: int, result: GroupResult, open_pairs: set[tuple[int, int]]) -> None:
        """Fold one group in; ``open_pairs`` are ``(record, candidate person)`` of the
        items open before the relink."""
        self.groups += 1
        self.records += result.targets
        probability = {m.record_id: m.probability for m in result.plan.moves}
        old_to_new: dict[int, set[Any]] = defaultdict(set)
        new_to_old: dict[Any, set[int]] = defaultdict(set)
        for record, after in result.assignment.items():
            before = result.before.get(record)
            now = _person(group, after)
            self.assignment[record] = now
            if before is not None:
                old_to_new[before].add(now)
                new_to_old[now].add(before)
            if now != before:
                self.moved.append(
                    {
                        "kind": "move",
                        "record": record,
                        "from": before,
                        "to": now,
                        "probability": probability.get(record),
                    }
                )
        for into, olds in sorted(new_to_old.items(), key=lambda kv: str(kv[0])):
            if len(olds) > 1:
                self.merges.append({"kind": "merge", "into": into, "persons": sorted(olds)})
        for person, news in sorted(old_to_new.items()):
            if len(news) > 1:
                self.splits.append(
                    {"kind": "split", "person": person, "into": sorted(news, key=str)}
                )
        for r in result.reviews:
            if (r.record_id, r.candidate_person_id) in open_pairs:
                continue  # still open: refreshed, not opened
            self.reviews_opened.append(
                {
                    "kind": "review_open",
                    "record": r.record_id,
                    "candidate_person": _person(group, r.candidate_person_id),
                    "candidate_record": r.candidate_record_id,
                    "reason": r.reason,
                    "probability": r.probability,
                }
            )
        self.reviews_closed.extend({"kind": "review_close", "item": i} for i in result.close)

    def lines(self) -> Iterable[dict[str, Any]]:
        """Every change, in the order of the JSON Lines format."""
        for rows in (
            self.moved,
            self.merges,
            self.splits,
            self.reviews_opened,
            self.reviews_closed,
        ):
            yield from rows

    def write(self, out: IO[str]) -> int:
        """Write the changes as JSON Lines; returns how many."""
        n = 0
        for row in self.lines():
            out.write(json.dumps(row, separators=(",", ":")) + "\n")
            n += 1
        return n

    def summary(self) -> dict[str, int]:
        """The number of each kind of change."""
        return {
            "records": self.records,
            "groups": self.groups,
            "records_moved": len(self.moved),
            "persons_merged": len(self.merges),
            "persons_split": len(self.splits),
            "reviews_opened": len(self.reviews_opened),
            "reviews_closed": len(self.reviews_closed),
            "conflicts": self.conflicts,
        }
