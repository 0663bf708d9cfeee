"""Re-linking: re-score automatic links and open review items under a model.

``relink`` re-matches every active record that is not manually linked, or has an open
review item, in batches, with :func:`mpi.records.rematch`: the same engine as loading,
so links move, persons merge and review items open with their identity events as on any
other change. Manual links are never touched. Review items that the model no longer
finds uncertain are closed (``superseded``).

A dry run plans and applies every batch inside a transaction that is rolled back (each
batch is planned against the links the batches before it would leave), and reports the
difference as the plans give it: records that would move, persons that would merge or
lose records to a new person (a split), links that would form or break, and review items
that would open or close, with how each closed one is resolved (its record would be
linked to the candidate, or the new model no longer finds the pair uncertain).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from mpi.linking.plan import LinkPlan
from mpi.records import MatchContext, rematch
from mpi.store import models as model_store
from mpi.store import persons as person_store
from mpi.store import records as record_store
from mpi.store import systems as system_store

__all__ = ["RelinkReport", "relink"]


@dataclass(frozen=True, slots=True)
class RelinkReport:
    """What relinking changed (or, in a dry run, would change).

    Attributes:
        model_version: the model used.
        dry_run: whether the changes were rolled back.
        records: records re-scored.
        links_formed: record pairs now sharing a person that did not before.
        links_broken: record pairs no longer sharing a person.
        records_moved: records whose person changed.
        reviews_opened: open review items that were not open before.
        reviews_closed: open review items closed.
        persons_merged: persons left without records, merged into another.
        persons_split: persons that keep some records and lose others to a new person.
        persons_created: new persons.
        reviews_resolved_by_link: closed items whose record is now linked to the
            candidate person (the model decides them as a match).
        reviews_resolved_apart: closed items whose record stays apart from the candidate
            (the model no longer finds the pair uncertain).
        examples: a few ``(kind, description)`` examples of each change, with local IDs.
    """

    model_version: str
    dry_run: bool
    records: int
    links_formed: int
    links_broken: int
    records_moved: int
    reviews_opened: int
    reviews_closed: int
    persons_merged: int = 0
    persons_split: int = 0
    persons_created: int = 0
    reviews_resolved_by_link: int = 0
    reviews_resolved_apart: int = 0
    examples: tuple[tuple[str, str], ...] = field(default_factory=tuple)


def _snapshot(conn: psycopg.Connection[Any]) -> tuple[dict[int, int], set[tuple[int, int]]]:
    links = model_store.link_map(conn)
    reviews = {(r, p) for _, r, p, _ in model_store.open_review_pairs(conn)}
    return links, reviews


def _pairs(links: dict[int, int], records: set[int]) -> set[tuple[int, int]]:
    """Pairs of records sharing a person, for persons holding any of ``records``."""
    members: dict[int, list[int]] = defaultdict(list)
    persons = {links[r] for r in records if r in links}
    for record, person in links.items():
        if person in persons:
            members[person].append(record)
    out = set()
    for group in members.values():
        group.sort()
        for i, a in enumerate(group):
            for b in group[i + 1 :]:
                out.add((a, b))
    return out


def relink(
    conn: psycopg.Connection[Any],
    ctx: MatchContext,
    *,
    dry_run: bool = False,
    batch_size: int = 1000,
    progress: Callable[[int, int], None] | None = None,
    actor: str | None = None,
    examples: int = 5,
) -> RelinkReport:
    """Re-score automatic links and open review items under ``ctx``'s model.

    Args:
        conn: the connection; the caller owns the transaction (a dry run rolls back its
            own savepoint and leaves the data as it was).
        ctx: the model and thresholds to use.
        dry_run: report the difference without changing anything (default False).
        batch_size: records per batch (default 1000).
        progress: called with (records done, records in all) after each batch.
        actor: who relinks, for history and events (default ``relink:<model version>``).
        examples: how many examples of each kind of change to report (default 5).

    Returns:
        What changed.
    """
    actor = actor or f"relink:{ctx.model.version}"
    with conn.transaction(force_rollback=dry_run):
        record_store.lock_for_batch(conn)
        before_links, before_reviews = _snapshot(conn)
        targets = model_store.relink_targets(conn)
        systems = {s.id: s for s in system_store.list_systems(conn)}
        done = 0
        plans: list[LinkPlan] = []
        for start in range(0, len(targets), batch_size):
            batch = targets[start : start + batch_size]
            by_system: dict[int, list[tuple[int, str]]] = defaultdict(list)
            for pk, local_id, system_id in batch:
                by_system[system_id].append((pk, local_id))
            kept: set[tuple[int, int]] = set()
            for system_id, records in by_system.items():
                _, reviewed, link_plan = rematch(
                    conn, ctx, systems[system_id], records, actor=actor
                )
                kept |= reviewed
                plans.append(link_plan)
            ids = {pk for pk, _, _ in batch}
            stale = [
                item
                for item, record, person, _ in model_store.open_review_pairs(conn)
                if record in ids and (record, person) not in kept
            ]
            model_store.close_review_items(conn, stale, actor)
            done += len(batch)
            if progress:
                progress(done, len(targets))
        after_links, after_reviews = _snapshot(conn)
        moved = {r for r, p in after_links.items() if before_links.get(r, p) != p}
        touched = moved | {r for r in after_links if r not in before_links}
        old_pairs, new_pairs = _pairs(before_links, touched), _pairs(after_links, touched)
        formed, broken = new_pairs - old_pairs, old_pairs - new_pairs
        opened, closed = after_reviews - before_reviews, before_reviews - after_reviews
        survivor = person_store.survivors(conn, {p for _, p in closed})
        by_link = {(r, p) for r, p in closed if after_links.get(r) in (p, survivor.get(p, p))}
        merges = [m for lp in plans for m in lp.merges]
        created = [n for lp in plans for n in lp.new_persons]
        emptied = {m.gone for m in merges}
        split = {
            m.previous_person_id
            for lp in plans
            for m in lp.moves
            if m.changes_person and m.person_id < 0 and m.previous_person_id is not None
        } - emptied
        names = _names(
            conn,
            {r for pair in (*formed, *broken) for r in pair} | {r for r, _ in (*opened, *closed)},
        )
        shown: list[tuple[str, str]] = []
        for kind, items in (("link forms", formed), ("link breaks", broken)):
            for a, b in sorted(items)[:examples]:
                shown.append((kind, f"{names.get(a, a)} + {names.get(b, b)}"))
        for kind, reviews in (
            ("review opens", opened),
            ("review resolved by a link", by_link),
            ("review closes apart", closed - by_link),
        ):
            for record, person in sorted(reviews)[:examples]:
                shown.append((kind, f"{names.get(record, record)} against person #{person}"))
        return RelinkReport(
            model_version=ctx.model.version,
            dry_run=dry_run,
            records=len(targets),
            links_formed=len(formed),
            links_broken=len(broken),
            records_moved=len(moved),
            reviews_opened=len(opened),
            reviews_closed=len(closed),
            persons_merged=len(merges),
            persons_split=len(split),
            persons_created=len(created),
            reviews_resolved_by_link=len(by_link),
            reviews_resolved_apart=len(closed) - len(by_link),
            examples=tuple(shown),
        )


def _names(conn: psycopg.Connection[Any], record_ids: set[int]) -> dict[int, str]:
    return {
        r.id: f"{r.system_code}/{r.local_id}" for r in record_store.stored_records(conn, record_ids)
    }
