"""``mpi serve``, ``mpi mllp`` and ``mpi webhooks``: the long-running services."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mpi.cli.options import Env, fail_cleanly, pass_env


@click.group("webhooks")
def webhooks_group() -> None:
    """Webhook delivery of identity events.

    Example: mpi webhooks deliver --loop
    """


@webhooks_group.command("deliver")
@click.option("--loop", is_flag=True, help="Keep delivering every few seconds.")
@click.option("--interval", type=float, default=2.0, show_default=True, help="Seconds.")
@pass_env
@fail_cleanly
def webhooks_deliver(env: Env, loop: bool, interval: float) -> None:
    """Send due webhook deliveries from the outbox (retrying failures with backoff).

    HTTPS webhooks and HL7 v2 notifications over MLLP (`mpi systems hl7-subscribe`).

    Example: mpi webhooks deliver --loop
    """
    import functools
    import os
    import time

    from mpi import webhooks
    from mpi.hl7 import notify

    policy = webhooks.WebhookPolicy.from_settings(env.settings)
    mllp = functools.partial(
        notify.mllp_sender, ca_certs=os.environ.get("MPI_MLLP_NOTIFY_CA") or None
    )
    while True:
        with env.connection() as conn:
            report = webhooks.deliver_due(conn, policy=policy, mllp_sender=mllp)
        click.echo(f"delivered {report.delivered}, retrying {report.retrying}, dead {report.dead}")
        if not loop:
            return
        time.sleep(interval)


@click.command("serve")
@click.option("--bind", default="127.0.0.1:8000", show_default=True, help="Address to bind.")
@click.option("--workers", type=click.IntRange(1, 64), default=4, show_default=True)
@click.option("--threads", type=click.IntRange(1, 64), default=1, show_default=True)
@pass_env
@fail_cleanly
def serve(env: Env, bind: str, workers: int, threads: int) -> None:
    """Run the HTTP service (JSON /v1 and FHIR /fhir) under gunicorn.

    The database is migrated first; configuration comes from the environment (see
    api/README.md).

    Example: mpi serve --bind 0.0.0.0:8000 --workers 4
    """
    exec_gunicorn(env.url, bind=bind, workers=workers, threads=threads)


@click.command("mllp")
@click.option("--bind", default="127.0.0.1:2575", show_default=True, help="HOST:PORT to bind.")
@click.option(
    "--processes",
    type=click.IntRange(1, 64),
    default=None,
    help="Listening processes sharing the port (default MPI_MLLP_PROCESSES, or 1).",
)
@pass_env
@fail_cleanly
def mllp(env: Env, bind: str, processes: int | None) -> None:
    """Run the HL7 v2 listener over MLLP (ADT feed, PIX and PDQ queries).

    Same database, configuration and audit as `mpi serve`. MPI_MLLP_TLS_CERT and
    MPI_MLLP_TLS_KEY turn on TLS; without them run it only inside a trusted network.

    Example: mpi mllp --bind 0.0.0.0:2575
    """
    import dataclasses

    from mpi.hl7 import server

    settings = server.MllpSettings.from_env()
    if processes is not None:
        settings = dataclasses.replace(settings, processes=processes)
    server.parse_bind(bind)
    server.run(env.url, env.context(), bind, settings, env.settings)


def exec_gunicorn(url: str, *, bind: str, workers: int, threads: int = 1) -> None:
    """Replace this process with gunicorn serving ``api:create_app()`` on ``url``."""
    import os
    import tempfile

    os.environ["DATABASE_URL"] = url
    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if metrics_dir:  # the figures of this run's workers only (prometheus_client's rule)
        os.makedirs(metrics_dir, exist_ok=True)
        for old in Path(metrics_dir).glob("*.db"):
            old.unlink()
    else:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="mpi-metrics-")
    args = [sys.executable, "-m", "gunicorn", "--bind", bind, "--workers", str(workers)]
    args += ["--config", "python:api.gunicorn_conf"]
    args += ["--threads", str(threads), "--access-logfile", "-"]
    args += ["--access-logformat", "%(m)s %(s)s %(L)ss"]  # no path: it may hold local IDs
    os.execv(sys.executable, [*args, "api:create_app()"])
