"""Re-normalising stored records from their raw payloads, after normalisation changed.

Each record's raw payload is kept verbatim, so its normalised form (the columns matching
reads: names, phonetic codes, blocking keys, data-quality issues) can be made again with
the current :func:`matching.normalise.normalise`. Records stored before names in other
scripts were transliterated (migration 0100) hold no names at all for such a name and the
issue ``name_not_comparable``; re-normalising gives them their transliteration and
original-script form. Links are not changed here: ``mpi relink`` re-matches afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from matching.blocking import blocking_keys
from matching.errors import InvalidDemographics
from matching.normalise import normalise
from mpi.errors import InvalidInput
from mpi.identities import demographics_of_raw
from mpi.store import records as record_store

__all__ = ["RenormaliseReport", "renormalise"]


@dataclass(frozen=True, slots=True)
class RenormaliseReport:
    """What re-normalising changed (or, in a dry run, would change).

    Attributes:
        records: active records read.
        changed: records whose normalised form or blocking keys changed.
        unreadable: records whose payload no longer normalises (left as they are).
        examples: a few record IDs of each kind.
    """

    dry_run: bool
    records: int
    changed: int
    unreadable: int
    examples: tuple[int, ...] = field(default_factory=tuple)


def renormalise(
    conn: psycopg.Connection[Any],
    *,
    allow_test_nhs_numbers: bool = True,
    dry_run: bool = False,
    batch_size: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> RenormaliseReport:
    """Normalise every active record again from its raw payload; store what changed.

    Each batch is one transaction holding the matching lock exclusively (no registration
    matches against a half-rewritten batch). A dry run changes nothing.

    Args:
        conn: the connection (not in a transaction).
        allow_test_nhs_numbers: as for registrations (``MPI_ENVIRONMENT``).
        dry_run: count only.
        batch_size: records per transaction.
        progress: called with the number of records read so far.
    """
    after, records, changed, unreadable = 0, 0, 0, 0
    examples: list[int] = []
    while True:
        with conn.transaction():
            record_store.lock_for_batch(conn)
            batch = record_store.active_raw_after(conn, after, batch_size)
            if not batch:
                break
            rewrite = []
            for pk, raw, stored, keys in batch:
                try:
                    norm = normalise(
                        demographics_of_raw(raw), allow_test_nhs_numbers=allow_test_nhs_numbers
                    )
                except (InvalidDemographics, InvalidInput):
                    unreadable += 1
                    continue
                new_keys = blocking_keys(norm)
                if norm != stored or new_keys != keys:
                    rewrite.append((pk, norm, new_keys))
            if not dry_run:
                record_store.rewrite_normalised(conn, rewrite)
            changed += len(rewrite)
            examples.extend(pk for pk, _, _ in rewrite[: max(0, 5 - len(examples))])
            records += len(batch)
            after = batch[-1][0]
        if progress is not None:
            progress(records)
    return RenormaliseReport(dry_run, records, changed, unreadable, tuple(examples))
