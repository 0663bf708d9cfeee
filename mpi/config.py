"""Settings, built once from the environment at the edges (CLI entry point, app factory)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from mpi.errors import ConfigError

ENVIRONMENTS = ("development", "test", "production")


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable about the MPI.

    Attributes:
        database_url: PostgreSQL connection string; ``None`` starts an embedded server.
        data_dir: folder of the embedded server's data (used only without ``database_url``).
        environment: ``development``, ``test`` or ``production``. Production refuses NHS
            numbers from the 999 test range.
        link_threshold: match probability at or above which a record is linked
            automatically; ``None`` takes the model's own threshold.
        review_threshold: match probability at or above which an uncertain match opens a
            review item; ``None`` takes the model's own threshold.
        blocking_cap: a blocking key shared by more records than this is skipped (logged).
        batch_size: records per transaction in bulk loads.
        webhook_allow_hosts: host names (lower case) that webhooks may reach although they
            resolve to internal addresses (``MPI_WEBHOOK_ALLOW_HOSTS``, comma-separated).
        webhook_allow_http: plain http webhooks are accepted (``MPI_WEBHOOK_ALLOW_HTTP``;
            development only).
        read_database_url: a streaming replica of the database for lookups
            (``MPI_READ_DATABASE_URL``); ``None``: lookups read the primary.
    """

    database_url: str | None = None
    data_dir: Path = Path("mpi-data")
    environment: str = "development"
    link_threshold: float | None = None
    review_threshold: float | None = None
    blocking_cap: int = 200
    batch_size: int = 1000
    webhook_allow_hosts: frozenset[str] = frozenset()
    webhook_allow_http: bool = False
    read_database_url: str | None = None

    @property
    def allow_test_nhs_numbers(self) -> bool:
        """Whether NHS numbers from the 999 test range are accepted (not in production)."""
        return self.environment != "production"

    def with_changes(self, **changes: object) -> Settings:
        """Return a copy with some settings changed."""
        return replace(self, **changes)  # type: ignore[arg-type]


def default_data_dir() -> Path:
    """The embedded database's default folder, under the user's data directory."""
    import platformdirs

    return Path(platformdirs.user_data_dir("mpi", appauthor=False)) / "pgdata"


def _float(env: Mapping[str, str], name: str) -> float | None:
    value = env.get(name)
    if value in (None, ""):
        return None
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{name} must be a number between 0 and 1, not {value!r}") from None
    if not 0.0 < number < 1.0:
        raise ConfigError(f"{name} must be between 0 and 1 (exclusive), not {value!r}")
    return number


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name)
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {value!r}") from None
    if number < 1:
        raise ConfigError(f"{name} must be at least 1, not {value!r}")
    return number


def _bool(env: Mapping[str, str], name: str) -> bool:
    value = (env.get(name) or "").strip().lower()
    if value in ("", "false", "0", "no", "off"):
        return False
    if value in ("true", "1", "yes", "on"):
        return True
    raise ConfigError(f"{name} must be true or false, not {env.get(name)!r}")


def _hosts(env: Mapping[str, str], name: str) -> frozenset[str]:
    hosts = [h.strip().lower().rstrip(".") for h in (env.get(name) or "").split(",")]
    if any(h and ("/" in h or " " in h) for h in hosts):
        raise ConfigError(f"{name} must be comma-separated host names, not {env.get(name)!r}")
    return frozenset(h for h in hosts if h)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from environment variables.

    Args:
        env: the variables to read; ``None`` reads ``os.environ``.

    Returns:
        The settings.

    Raises:
        ConfigError: a variable has an unusable value; the message names it.

    Example:
        >>> load_settings({"MPI_ENVIRONMENT": "production"}).allow_test_nhs_numbers
        False
    """
    env = os.environ if env is None else env
    environment = env.get("MPI_ENVIRONMENT", "development") or "development"
    if environment not in ENVIRONMENTS:
        raise ConfigError(
            f"MPI_ENVIRONMENT must be one of {', '.join(ENVIRONMENTS)}, not {environment!r}"
        )
    link = _float(env, "MPI_LINK_THRESHOLD")
    review = _float(env, "MPI_REVIEW_THRESHOLD")
    if link is not None and review is not None and review > link:
        raise ConfigError("MPI_REVIEW_THRESHOLD must not be above MPI_LINK_THRESHOLD")
    data_dir = env.get("MPI_DATA_DIR")
    return Settings(
        database_url=env.get("DATABASE_URL") or None,
        data_dir=Path(data_dir) if data_dir else default_data_dir(),
        environment=environment,
        link_threshold=link,
        review_threshold=review,
        blocking_cap=_int(env, "MPI_BLOCKING_CAP", 200),
        batch_size=_int(env, "MPI_BATCH_SIZE", 1000),
        webhook_allow_hosts=_hosts(env, "MPI_WEBHOOK_ALLOW_HOSTS"),
        webhook_allow_http=_bool(env, "MPI_WEBHOOK_ALLOW_HTTP"),
        read_database_url=env.get("MPI_READ_DATABASE_URL") or None,
    )
