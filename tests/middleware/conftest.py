"""Fixtures for middleware tests: a fake clock whose sleeps return at once, and a memcached the test starts."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest


class FakeClock:
    """A monotonic clock that moves only when told; ``sleep`` records the wait and returns at once.

    With ``advance_on_sleep`` a sleep also moves the clock to the end of the wait (never backwards), which is
    what a single caller sleeping for real would see.
    """

    def __init__(self, start: float = 1000.0, *, advance_on_sleep: bool = False) -> None:
        self.now = start
        self.advance_on_sleep = advance_on_sleep
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.advance_on_sleep:
            self.now += seconds
        await asyncio.sleep(0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def memcached_address() -> Iterator[tuple[str, int]]:
    """A memcached this session starts on a free port; skipped when the binary or the client is missing."""
    binary = shutil.which("memcached")
    if binary is None:
        pytest.skip("memcached is not installed (apt-get install memcached); the memcached cache store is untested")
    try:
        import aiomcache  # noqa: F401
    except ImportError:
        pytest.skip("aiomcache is not installed (pip install aiomcache); the memcached cache store is untested")
    port = _free_port()
    user = ["-u", "root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    process = subprocess.Popen([binary, "-l", "127.0.0.1", "-p", str(port), "-m", "16", "-U", "0", *user],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    stderr = process.stderr.read().decode() if process.stderr else ""
                    pytest.skip(f"memcached did not start on port {port}: {stderr.strip()}")
                time.sleep(0.05)
        yield ("127.0.0.1", port)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def memcached_prefix() -> str:
    return f"armorer-test:{uuid.uuid4().hex[:12]}:"
