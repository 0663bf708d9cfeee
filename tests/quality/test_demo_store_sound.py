"""The demo's store passes ``mpi db check``: no review item left open inside one person.

Before migration 0080, ``mpi demo --persons 2000`` left a few open review items whose
candidate person a later record had merged into the record's own person (a bulk load
bridging them); ``mpi db check`` reported them as ``review_item_stale``.
"""

from __future__ import annotations

import psycopg

from mpi import integrity
from mpi.config import Settings
from mpi.demo.run import load_dataset
from mpi.demo.synthetic import generate, write_dataset
from mpi.records import MatchContext
from tests.conftest import truncate_all


def test_the_demo_load_leaves_a_sound_store(tmp_path, database_url, model):
    truncate_all(database_url)
    dataset = generate(2000, seed=1)  # as `mpi demo --persons 2000`
    paths = write_dataset(dataset, tmp_path)
    ctx = MatchContext.build(Settings(), model)
    for _ in load_dataset(database_url, ctx, dataset, paths, batch_size=1000):
        pass
    try:
        with psycopg.connect(database_url) as conn:
            findings = {f.name: f for f in integrity.check(conn, audit_chain=False)}
            closed_by_the_store = conn.execute(
                "SELECT count(*) FROM review_item i JOIN person p ON p.id = i.candidate_person_id"
                " WHERE i.status = 'superseded' AND i.decided_by = 'system'"
            ).fetchone()[0]
        assert findings["review_item_stale"].breaches == 0, findings["review_item_stale"].examples
        assert [name for name, f in findings.items() if not f.ok] == []
        assert closed_by_the_store > 0  # items the store closed itself (bridged persons among them)
    finally:
        truncate_all(database_url)
