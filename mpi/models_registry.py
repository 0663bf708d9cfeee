"""Match model versions: train from the store, save, activate, show and report.

The active model (``active_model``) is what the service, the CLI and the demo match
with; with no stored model active it is the packaged default. Every trained model is kept
as a version with its training summary, so ``mpi model activate`` can switch back.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg

from matching.model import MatchModel, load_default_model
from matching.training import (
    TrainingOptions,
    TrainingResult,
    check_labels,
    comparison_matrix,
    match_probabilities,
)
from matching.training import train as train_model
from mpi.errors import NotFound
from mpi.store import models as model_store

__all__ = [
    "ModelReport",
    "active_model",
    "active_version",
    "activate",
    "get_model",
    "import_model",
    "report",
    "save",
    "train_from_store",
]


def get_model(conn: psycopg.Connection[Any], version: str | None) -> MatchModel:
    """A model by version: ``None`` is the active one, the default's version the default.

    Raises:
        NotFound: no stored model has this version.
    """
    if version is None:
        return active_model(conn)
    default = load_default_model()
    if version == default.version:
        return default
    row = model_store.get_model(conn, version)
    if row is None:
        raise NotFound(f"no model version {version!r}: see `mpi model show` or train one")
    return MatchModel.from_dict(row.document)


def active_model(conn: psycopg.Connection[Any]) -> MatchModel:
    """The active stored model, or the packaged default when none is active.

    Example:
        >>> active_model(conn).version  # doctest: +SKIP
        'trained-3'
    """
    row = model_store.active_model(conn)
    return MatchModel.from_dict(row.document) if row else load_default_model()


def active_version(conn: psycopg.Connection[Any]) -> str:
    """The version :func:`active_model` would return, without reading the model itself."""
    return model_store.active_version(conn) or load_default_model().version


def activate(conn: psycopg.Connection[Any], version: str) -> MatchModel:
    """Make a stored version (or the default's version) the active model.

    Raises:
        NotFound: no stored model has this version.
    """
    model = get_model(conn, version)
    if version == load_default_model().version:
        model_store.activate(conn, None)
    elif not model_store.activate(conn, version):
        raise NotFound(f"no model version {version!r}")
    return model


def train_from_store(
    conn: psycopg.Connection[Any],
    options: TrainingOptions | None = None,
    *,
    false_merge_rate: float = 0.0001,
) -> TrainingResult:
    """Train a model on every active record, checked against reviewers' decisions.

    The new version is named ``trained-N`` (N = stored versions + 1); it is not saved.
    """
    ids, records = [], []
    for stored in model_store.active_records(conn):
        ids.append(stored.id)
        records.append(stored.norm)
    index = {pk: i for i, pk in enumerate(ids)}
    labels = [
        (index[p.record_a], index[p.record_b], p.is_match)
        for p in model_store.decided_pairs(conn)
        if p.record_a in index and p.record_b in index
    ]
    version = f"trained-{model_store.count_models(conn) + 1}"
    return train_model(
        records,
        options=options,
        labels=labels,
        version=version,
        false_merge_rate=false_merge_rate,
    )


def save(
    conn: psycopg.Connection[Any],
    result: TrainingResult,
    *,
    created_by: str = "cli",
    is_active: bool = False,
) -> str:
    """Store a trained model with its summary; activate it when asked. Returns the version."""
    model_store.save_model(
        conn, result.model.version, result.model.to_dict(), result.summary(), created_by
    )
    if is_active:
        model_store.activate(conn, result.model.version)
    return result.model.version


def import_model(
    conn: psycopg.Connection[Any],
    document: Any,
    *,
    created_by: str = "cli",
    is_active: bool = False,
) -> MatchModel:
    """Store a model document made elsewhere (``mpi model export``) as a new version.

    A model trained on a copy of the data, or in another region, is checked completely
    (:meth:`MatchModel.from_dict`) and stored under its own version, not active unless
    asked.

    Raises:
        InvalidInput: the document is not a valid model (every problem named).
        Conflict: a model with this version is already stored, or it is the default's.
    """
    from matching.errors import InvalidModel
    from mpi.errors import Conflict, FieldProblem, InvalidInput

    try:
        model = MatchModel.from_dict(document)
    except InvalidModel as exc:
        raise InvalidInput([FieldProblem(p.field, p.reason) for p in exc.problems]) from exc
    if model.version == load_default_model().version:
        raise Conflict(f"{model.version!r} is the packaged default's version: rename it")
    summary = {"imported": True, "description": model.description}
    model_store.save_model(conn, model.version, model.to_dict(), summary, created_by)
    if is_active:
        model_store.activate(conn, model.version)
    return model


@dataclass(frozen=True, slots=True)
class ReportRow:
    """Label-based quality for one period (a month, or ``all``)."""

    period: str
    matches: int
    non_matches: int
    precision: float | None
    recall: float | None
    non_matches_linked: int
    matches_below_review: int


@dataclass(frozen=True, slots=True)
class ModelReport:
    """A model's precision and recall estimated from reviewers' decisions, per month."""

    version: str
    rows: tuple[ReportRow, ...]
    sources: dict[str, int]


def report(conn: psycopg.Connection[Any], model: MatchModel) -> ModelReport:
    """Estimate a model's precision and recall from the decided pairs.

    Decided review items, no-match assertions and manual links are labels; each pair is
    scored under ``model`` and counted as linked (at or above the link threshold) or not.
    Decided pairs are the hard cases, so these figures are lower bounds of the whole
    index's quality; their change from month to month shows drift.
    """
    pairs, matrix = _labelled(conn)
    periods: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(pairs):
        periods[p.decided_at.strftime("%Y-%m")].append(i)
    periods_all = {"all": list(range(len(pairs))), **dict(sorted(periods.items()))}
    rows = []
    labels = np.array([p.is_match for p in pairs], dtype=bool)
    for period, members in periods_all.items():
        check = check_labels(model, matrix[members], labels[members])
        rows.append(
            ReportRow(
                period=period,
                matches=check.matches,
                non_matches=check.non_matches,
                precision=check.precision,
                recall=check.recall,
                non_matches_linked=check.non_matches_linked,
                matches_below_review=check.matches - check.matches_linked - check.matches_reviewed,
            )
        )
    sources: dict[str, int] = defaultdict(int)
    for p in pairs:
        sources[p.source] += 1
    return ModelReport(model.version, tuple(rows), dict(sources))


def _labelled(conn: psycopg.Connection[Any]) -> tuple[list[Any], Any]:
    """The decided pairs whose records are stored, and their comparison vectors."""
    from mpi.store import records as record_store

    pairs = model_store.decided_pairs(conn)
    wanted = {pk for p in pairs for pk in (p.record_a, p.record_b)}
    norm = {r.id: r.norm for r in record_store.stored_records(conn, wanted)}
    pairs = [p for p in pairs if p.record_a in norm and p.record_b in norm]
    records = list(norm.values())
    position = {pk: i for i, pk in enumerate(norm)}
    matrix = comparison_matrix(
        records, [(position[p.record_a], position[p.record_b]) for p in pairs]
    )
    return pairs, matrix


#: Probabilities that split the score bands of :func:`band_precision`, besides the
#: model's own review and link thresholds.
BAND_EDGES = (0.5, 0.9, 0.99, 0.999)


@dataclass(frozen=True, slots=True)
class BandRow:
    """Reviewers' labels in one band of match probability ``[low, high)``."""

    low: float
    high: float
    matches: int
    non_matches: int

    @property
    def precision(self) -> float | None:
        """The share of labelled pairs in the band that are one person; ``None`` if none."""
        total = self.matches + self.non_matches
        return self.matches / total if total else None


def band_precision(conn: psycopg.Connection[Any], model: MatchModel) -> list[BandRow]:
    """Precision per band of match probability under ``model``, measured from the labels.

    Every decided pair (review decisions, no-match assertions, manual links) is scored
    under ``model`` and counted in its band; the bands are split at the model's review
    and link thresholds and at :data:`BAND_EDGES`. A band's precision is the share of its
    labelled pairs that reviewers found to be one person: what a link threshold there
    would cost in false merges, on the hard cases reviewers see.
    """
    pairs, matrix = _labelled(conn)
    edges = sorted({0.0, 1.0, model.thresholds["review"], model.thresholds["link"], *BAND_EDGES})
    p = match_probabilities(model, matrix) if len(pairs) else np.zeros(0)
    labels = np.array([x.is_match for x in pairs], dtype=bool)
    rows = []
    for low, high in zip(edges, edges[1:], strict=False):
        inside = (p >= low) & ((p < high) if high < 1.0 else (p <= high))
        rows.append(BandRow(low, high, int((inside & labels).sum()), int((inside & ~labels).sum())))
    return rows


def level_table(model: MatchModel) -> list[tuple[str, str, float | None, float | None, float]]:
    """The model as rows (comparison, level, m, u, weight) for display."""
    return [
        (c.name, level.label, level.m, level.u, level.weight)
        for c in model.comparisons
        for level in c.levels
    ]


def active_model_at(url: str | None) -> MatchModel:
    """The active model of the database at ``url`` (the default when ``url`` is ``None``).

    For start-up code that has settings but no connection yet (the API factory, the CLI).
    """
    if not url:
        return load_default_model()
    document = model_store.active_document_at(url)
    return MatchModel.from_dict(document) if document else load_default_model()
