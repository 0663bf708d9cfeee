"""The linker as plan and apply: :func:`plan` decides (pure), the store writes the plan
(:func:`mpi.store.persons.apply`)."""

from __future__ import annotations

from mpi.linking.plan import (
    CandidateSet,
    LinkMove,
    LinkPlan,
    MatchContext,
    Merge,
    NewPerson,
    Outcome,
    Probe,
    RecordUpdated,
    ReviewClosure,
    ReviewOpen,
    Step,
    plan,
)

__all__ = [
    "CandidateSet",
    "LinkMove",
    "LinkPlan",
    "MatchContext",
    "Merge",
    "NewPerson",
    "Outcome",
    "Probe",
    "RecordUpdated",
    "ReviewClosure",
    "ReviewOpen",
    "Step",
    "plan",
]
