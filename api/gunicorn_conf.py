"""gunicorn settings of ``mpi serve``: tell prometheus_client when a worker has gone.

A dead worker's live gauges (its pool) must stop counting in the figures the other
workers serve (prometheus_client's multi-process mode).
"""

from __future__ import annotations

from typing import Any


def child_exit(server: Any, worker: Any) -> None:
    """gunicorn's hook, called in the master after a worker exits."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
