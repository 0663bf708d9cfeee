"""Figures of the store for monitoring (``/metrics``): counts and ages, never patients."""

from __future__ import annotations

from typing import Any

import psycopg

from mpi.store import monitoring as monitoring_store


def figures(conn: psycopg.Connection[Any]) -> dict[str, tuple[str, float]]:
    """Gauges by name: (help text, value) of the review queue and the webhook outbox."""
    return monitoring_store.figures(conn)
