"""What ``mpi export`` writes: the cross-reference and the open review queue."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg

from mpi.store import persons as person_store
from mpi.store import review as review_store
from mpi.store.review import OpenItem

__all__ = ["OpenItem", "crossref", "open_review"]


def crossref(conn: psycopg.Connection[Any]) -> Iterator[tuple[str, str, str]]:
    """(system, local ID, person ID) of every active record, by system and local ID."""
    yield from person_store.crossref(conn)


def open_review(conn: psycopg.Connection[Any]) -> Iterator[OpenItem]:
    """Every open review item with its candidate's best-scoring record, most probable first."""
    return review_store.open_items_export(conn)
