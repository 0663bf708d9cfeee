"""``mpi demo``: synthetic connected systems, loaded, measured and optionally served."""

from __future__ import annotations

from pathlib import Path

import click

from mpi.cli import service
from mpi.cli.options import Env, fail_cleanly, pass_env


@click.command("demo")
@click.option(
    "--persons",
    type=click.IntRange(10, 1_000_000),
    default=2000,
    show_default=True,
    help="How many synthetic people to generate.",
)
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep the generated files in this folder (default: a temporary one).",
)
@click.option(
    "--database",
    default="mpi_demo",
    show_default=True,
    help="Name of the demo database on the server (re-created on each run).",
)
@click.option(
    "--serve", is_flag=True, help="Then go on serving the demo database over HTTP (Ctrl-C)."
)
@click.option(
    "--bind", default="127.0.0.1:8000", show_default=True, help="With --serve: the address."
)
@pass_env
@fail_cleanly
def demo(
    env: Env, persons: int, seed: int, out: Path | None, database: str, serve: bool, bind: str
) -> None:
    """Generate synthetic patients over six connected systems, load them and measure accuracy.

    The data (synthetic only, NHS numbers from the 999 test range) holds typos, nicknames,
    missing and mistyped NHS numbers, married surnames and old addresses, plus twins,
    same-name parents and children and a relative's NHS number on the wrong record. It is
    loaded system by system into a fresh database named mpi_demo, then the command prints
    what was linked, what went to review and the measured accuracy. With --serve it then
    goes on serving the demo database (JSON /v1 and FHIR /fhir) and prints a token for one
    of the demo systems.

    Example: mpi demo --persons 2000
    """
    from mpi.demo.run import run_demo

    url = run_demo(
        env.settings, persons=persons, seed=seed, out=out, echo=click.echo, database=database
    )
    if serve:
        _serve_demo(url, bind)


def _serve_demo(url: str, bind: str) -> None:
    """Issue a token for a demo system, show how to use it, and serve the demo database."""
    from mpi.demo.run import demo_token

    token, local_id = demo_token(url, "GP_CLUSTER")
    base = f"http://{bind}"
    click.echo("")
    click.echo(f"serving the demo on {base} (Ctrl-C to stop); a token for GP_CLUSTER:")
    click.echo(f"  export TOKEN={token}")
    click.echo(
        f'  curl -H "Authorization: Bearer $TOKEN" {base}/v1/systems/GP_CLUSTER/records/{local_id}'
    )
    click.echo(
        f"review UI: {base}/review/ (add an account first: DATABASE_URL=... mpi users add NAME;"
        " plain HTTP needs MPI_REVIEW_COOKIE_SECURE=false outside localhost)"
    )
    service.exec_gunicorn(url, bind=bind, workers=2)
