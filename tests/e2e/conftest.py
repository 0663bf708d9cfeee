"""Browser tests of the review UI: Debian's Chromium driven by Playwright, headless.

Playwright's own browser downloads are never used: Chromium comes from the system
(``/usr/bin/chromium``). On a fresh machine where it is missing and the tests run as
root (CI), the session installs it with apt-get; otherwise the tests fail with the
command to run. The app runs in a thread (werkzeug) against the test database; each
test starts from empty tables with three accounts and the synthetic review scenario.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from werkzeug.serving import make_server

from tests.conftest import truncate_all
from tests.review_data import Scenario, build
from tests.review_web import add_accounts, fresh_sessions, reset_reviewers, review_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Where the tests save screenshots (current ones are copied to docs/ by hand).
SCREENSHOTS = Path(os.environ.get("MPI_SCREENSHOT_DIR", "build/screenshots"))


def _install_chromium() -> None:
    """Install Debian's chromium with apt-get (root only), or fail saying how."""
    if Path(CHROMIUM).exists():
        return
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        try:
            subprocess.run(
                "apt-get update -qq && apt-get install -y -qq chromium",
                shell=True,
                check=True,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                timeout=900,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            pytest.fail(f"could not install chromium with apt-get: {exc}")
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"the browser tests need Debian's Chromium at {CHROMIUM}: install it with"
            " `sudo apt-get install chromium` (Playwright's own browser downloads are not used)"
        )


@pytest.fixture(scope="session")
def chromium() -> str:
    """The path of the system Chromium, installed if missing (as root)."""
    _install_chromium()
    return CHROMIUM


@pytest.fixture(scope="session")
def playwright_driver(chromium: str) -> Iterator[Any]:
    """A started Playwright (its bundled driver; no browser downloads)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


def _context(driver: Any, chromium: str) -> Any:
    profile = tempfile.mkdtemp(prefix="mpi-e2e-profile-")
    context = driver.chromium.launch_persistent_context(
        profile,
        executable_path=chromium,
        args=CHROMIUM_ARGS,
        headless=True,
        viewport={"width": 1280, "height": 900},
        locale="en-GB",
        timezone_id="UTC",
    )
    context.set_default_timeout(10_000)
    return context, profile


@pytest.fixture(scope="session")
def browsers(playwright_driver: Any, chromium: str) -> Iterator[list[Any]]:
    """Two browser profiles (two reviewers' sessions), each with a fresh user-data-dir."""
    made = [_context(playwright_driver, chromium) for _ in range(2)]
    yield [context for context, _ in made]
    for context, profile in made:
        context.close()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="session")
def live_server(database_url: str) -> Iterator[str]:
    """The app served from a thread on a free local port; its base URL."""
    app = review_app(database_url)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    app.extensions["mpi_pool"].close()


@pytest.fixture(scope="session")
def accounts(database_url: str) -> Iterator[None]:
    """The three accounts, made once (argon2 hashing is slow on purpose)."""
    reset_reviewers(database_url)
    add_accounts(database_url)
    yield
    reset_reviewers(database_url)


@pytest.fixture
def scenario(database_url: str, ctx: Any, accounts: None) -> Iterator[Scenario]:
    """Empty tables, no sessions, and the synthetic review scenario (committed)."""
    truncate_all(database_url)
    fresh_sessions(database_url)
    with psycopg.connect(database_url) as conn:
        made = build(conn, ctx)
    yield made
    truncate_all(database_url)


@pytest.fixture
def pages(browsers: list[Any], live_server: str) -> Iterator[list[Any]]:
    """A fresh page in each of the two profiles, cookies cleared."""
    made = []
    for context in browsers:
        context.clear_cookies()
        made.append(context.new_page())
    yield made
    for page in made:
        page.close()


@pytest.fixture
def shots() -> Path:
    """The screenshot folder."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
