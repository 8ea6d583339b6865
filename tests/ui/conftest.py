"""Fixtures for browser tests: a real server on a free loopback port, and headless Chromium via Playwright.

Browser tests skip when /usr/bin/chromium (or Playwright) is missing, unless ARMORER_REQUIRE_BROWSER=1, which
turns the skip into a failure (CI sets it after installing Debian's chromium). Screenshots go to
``$ARMORER_ARTIFACTS/ui`` (default: ``<pytest basetemp>/ui-artifacts``), kept as test artifacts.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")


def _browser_missing() -> str | None:
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ModuleNotFoundError:
        return "Playwright for Python is not installed (pip install playwright)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Module scope: Playwright's sync API keeps an event loop running on the main thread while it is open, so
    # it must be closed before any other module's async tests run.
    missing = _browser_missing()
    if missing is not None:
        if os.environ.get("ARMORER_REQUIRE_BROWSER") == "1":
            pytest.fail(f"ARMORER_REQUIRE_BROWSER=1 but {missing}")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                          args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = os.environ.get("ARMORER_ARTIFACTS")
    folder = Path(root) / "ui" if root else tmp_path_factory.getbasetemp() / "ui-artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """A uvicorn server on a thread, serving ``app`` on 127.0.0.1 at a free port."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        import uvicorn

        self.app = app
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="on", timeout_graceful_shutdown=5))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        started = threading.Event()
        for _ in range(600):  # bounded: 60 s at most on a loaded machine
            if self.server.started:
                started.set()
                break
            started.wait(0.1)
        if not started.is_set():
            raise RuntimeError("the UI server did not start within 60 s")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture
def server() -> Iterator[LiveServer]:
    from armorer_ray.ui import create_app
    from tests.ui import demo

    demo.GATE.clear()
    with LiveServer(create_app(demo.workflows(), toolbox=demo.catalogue())) as live:
        yield live
    demo.GATE.set()  # let a held run end


@pytest.fixture
def page(browser: Any, server: LiveServer) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.set_default_timeout(30_000)
    yield opened
    context.close()
    assert not errors, f"the page raised: {errors}"
