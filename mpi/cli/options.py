"""What the commands share: settings and a migrated database, clean failures, options."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO, TypeVar

import click

from mpi import database
from mpi.config import Settings, load_settings
from mpi.errors import MPIError
from mpi.records import MatchContext

F = TypeVar("F", bound=Callable[..., Any])


def fail_cleanly(func: F) -> F:
    """Turn MPI errors into a one-line message and exit status 1 (no traceback)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except MPIError as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper  # type: ignore[return-value]


class Env:
    """What every command needs: settings and a migrated database."""

    def __init__(self) -> None:
        self._settings: Settings | None = None
        self._url: str | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings()
        return self._settings

    @property
    def url(self) -> str:
        if self._url is None:
            self._url = database.server_url(self.settings)
            database.upgrade(self._url)
        return self._url

    def context(self, version: str | None = None) -> MatchContext:
        """Matching context with the active model, or the model ``version`` when given."""
        from mpi.models_registry import get_model

        with self.connection() as conn:
            return MatchContext.build(self.settings, get_model(conn, version))

    @contextmanager
    def connection(self) -> Iterator[Any]:
        with database.connect(self.url) as conn:
            yield conn


pass_env = click.make_pass_decorator(Env, ensure=True)


def output_option(func: F) -> F:
    """``-o/--output FILE`` (default: standard output)."""
    return click.option(
        "-o",
        "--output",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Write to this file instead of standard output.",
    )(func)


@contextmanager
def open_output(path: Path | None) -> Iterator[TextIO]:
    if path is None:
        yield sys.stdout
        return
    with path.open("w", encoding="utf-8", newline="") as handle:
        yield handle


SCOPE_CHOICE = click.Choice(("register", "lookup", "review", "metrics", "admin"))


def audit_cli(
    conn: Any, action: str, subtype: str, person_id: str | None, detail: dict[str, Any]
) -> None:
    import getpass

    from mpi import audit

    audit.record(
        conn,
        audit.AuditEntry(
            action=action,
            subtype=subtype,
            outcome="success",
            http_status=0,
            system_code="cli",
            user_id=getpass.getuser()[:128],
            person_ids=(person_id,) if person_id else (),
            detail=detail,
        ),
    )
