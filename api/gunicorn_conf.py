"""gunicorn settings of ``mpi serve``.

- Tell prometheus_client when a worker has gone: a dead worker's live gauges (its pool)
  must stop counting in the figures the other workers serve (prometheus_client's
  multi-process mode).
- The longest request line, the same as the app's own (``api.requests.MAX_REQUEST_LINE``),
  and the errors gunicorn answers itself before the app sees a request (an over-long URL
  is a 414, too many or too long headers a 431, a malformed request a 400) in the
  service's error shape, ``application/problem+json`` (RFC 9457), not gunicorn's HTML.
"""

from __future__ import annotations

import json
from typing import Any

from gunicorn import util

from api.requests import MAX_REQUEST_LINE

limit_request_line = MAX_REQUEST_LINE

#: What each status gunicorn answers itself means, without echoing the request (which
#: may hold local IDs or demographics).
_DETAILS = {
    414: f"the URL is too long: a request line of at most {MAX_REQUEST_LINE} bytes is served"
    " (send a long search by POST)",
    431: "the request's header fields are too many or too large",
}


def problem_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's ``util.write_error``, answering problem+json instead of HTML."""
    body = json.dumps(
        {
            "type": f"urn:mpi:problem:http-{status_int}",
            "title": reason,
            "status": status_int,
            "detail": _DETAILS.get(status_int, reason),
        }
    ).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/problem+json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


# gunicorn has no setting for its own error page; its workers call util.write_error
util.write_error = problem_error


def child_exit(server: Any, worker: Any) -> None:
    """gunicorn's hook, called in the master after a worker exits."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
