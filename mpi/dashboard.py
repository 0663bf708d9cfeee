"""The data-quality dashboard: the queue's size and age, reviewers' throughput (decisions
counted as what they are, per day and per reviewer), the state of each connected system's
data (duplicate suspects, invalid or missing NHS numbers), and what another review
threshold would send to people, from the real scores: the items' and the near misses'
(:mod:`mpi.near_misses`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import psycopg

from mpi.links import Thresholds
from mpi.review import summary
from mpi.store import dashboard as dashboard_store
from mpi.store import quality as quality_store

#: What a reviewer did, in the dashboard's columns: the first review of two is not a decision.
CATEGORIES = {
    "same": "Same person",
    "merge": "Merge",
    "no_match": "Not the same",
    "split": "Split",
    "undo": "Undo",
    "first_review": "First review (of two)",
}

#: Review thresholds for the "review rate by threshold" table.
THRESHOLD_STEPS = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99)


@dataclass(frozen=True, slots=True)
class SystemQuality:
    """One connected system's data quality."""

    system: str
    records: int
    invalid_nhs: int
    missing_nhs: int
    verified_nhs: int
    open_items: int
    duplicates: int

    def share(self, count: int) -> float:
        """``count`` as a share of the system's records (0 with no records)."""
        return count / self.records if self.records else 0.0


@dataclass(frozen=True, slots=True)
class ThresholdRate:
    """How many items a review threshold would send to people, and how many were the same."""

    threshold: float
    items: int
    decided: int
    same: int
    is_current: bool
    near_misses: int = 0

    @property
    def queued(self) -> int:
        """Items this threshold would queue: review items at or above it, and the near
        misses (scored under the current threshold, never queued) at or above it."""
        return self.items + self.near_misses

    @property
    def same_rate(self) -> float | None:
        """The share of decided items judged the same person (``None`` if none decided)."""
        return self.same / self.decided if self.decided else None


@dataclass(frozen=True, slots=True)
class Dashboard:
    """Everything on the dashboard page."""

    queue: dict[str, Any]
    ages: list[tuple[str, int]]
    per_day: list[tuple[date, dict[str, int]]]
    systems: list[SystemQuality]
    rates: list[ThresholdRate]
    records: int
    reviewers: list[tuple[str, dict[str, int]]]
    days: int


def build(
    conn: psycopg.Connection[Any],
    thresholds: Thresholds,
    *,
    days: int = 14,
    today: date | None = None,
) -> Dashboard:
    """Collect the dashboard's figures.

    Args:
        conn: the connection.
        thresholds: the service's thresholds (the current review threshold is marked).
        days: how many days of decisions to show, ending today (UTC).
        today: the last day shown; ``None`` is today.
    """
    from datetime import UTC, datetime

    today = today or datetime.now(UTC).date()
    counts: dict[date, dict[str, int]] = {
        today - timedelta(days=n): {} for n in range(days - 1, -1, -1)
    }
    for day, kind, n in dashboard_store.acts_per_day(conn, days):
        if day in counts:
            counts[day][kind] = n
    per_reviewer: dict[str, dict[str, int]] = {}
    for who, kind, n in dashboard_store.acts_per_reviewer(conn, days):
        per_reviewer.setdefault(who, {})[kind] = n
    suspects = {s: (n, d) for s, n, d in quality_store.suspects_per_system(conn)}
    systems = [
        SystemQuality(code, records, invalid, missing, verified, *suspects.get(code, (0, 0)))
        for code, records, invalid, missing, verified in quality_store.nhs_number_quality(conn)
    ]
    steps = sorted(set(THRESHOLD_STEPS) | {round(thresholds.review, 6)})
    near = dashboard_store.near_misses_at(conn, steps)
    rates = [
        ThresholdRate(t, items, decided, same, abs(t - thresholds.review) < 1e-9, near.get(t, 0))
        for t, items, decided, same in quality_store.review_rate_by_threshold(conn, steps)
    ]
    return Dashboard(
        queue=summary(conn),
        ages=quality_store.open_age_buckets(conn),
        per_day=list(counts.items()),
        systems=systems,
        rates=rates,
        records=quality_store.record_count(conn),
        reviewers=sorted(per_reviewer.items()),
        days=days,
    )


def acts(
    conn: psycopg.Connection[Any],
    *,
    days: int = 14,
    day: date | None = None,
    category: str | None = None,
    who: str | None = None,
    undone: bool = False,
) -> list[dashboard_store.Act]:
    """The decisions and first reviews behind one of the dashboard's figures.

    Raises:
        InvalidInput: an unknown category.
    """
    if category is not None and category not in CATEGORIES:
        from mpi.errors import InvalidInput

        raise InvalidInput.single("kind", f"must be one of {', '.join(CATEGORIES)}")
    return dashboard_store.acts(conn, days=days, day=day, category=category, who=who, undone=undone)
