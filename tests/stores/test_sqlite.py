"""SqliteStore against the shared-store contract, plus its file, URL and error handling."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from armorer_ray.errors import ConfigError, StoreError
from armorer_ray.stores import DEFAULT_SQLITE_PATH, SqliteOptions, SqliteStore, Store, open_store
from tests.contracts.store import SharedStoreContract


class TestSqliteStore(SharedStoreContract):
    @pytest.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[Store]:
        async with SqliteStore(SqliteOptions(path=tmp_path / "store.db")) as store:
            yield store


async def test_the_file_is_created_on_first_use_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "store.db"
    store = SqliteStore(SqliteOptions(path=path))
    assert not path.exists()
    async with store:
        await store.set("k", b"v")
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("SELECT value FROM kv WHERE key = 'k'").fetchone() == (b"v",)


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///relative/state.db", Path("relative/state.db")),
        ("sqlite:////absolute/state.db", Path("/absolute/state.db")),
        ("sqlite://", DEFAULT_SQLITE_PATH),
        ("sqlite", DEFAULT_SQLITE_PATH),
        ("sqlite:///with%20space.db?key_prefix=app/&busy_timeout_s=2.5", Path("with space.db")),
    ],
)
async def test_urls_name_the_file(url: str, path: Path) -> None:
    store = open_store(url)
    assert isinstance(store, SqliteStore)
    assert store.options.path == path
    await store.close()


async def test_url_options_are_validated() -> None:
    with pytest.raises(ConfigError, match="no host"):
        open_store("sqlite://somehost/state.db")
    with pytest.raises(ConfigError):
        open_store("sqlite:///state.db?busy_timeout_s=-1")
    with pytest.raises(ConfigError):
        open_store("sqlite:///state.db?no_such_option=1")


async def test_driver_errors_become_store_errors_with_the_cause(tmp_path: Path) -> None:
    async with SqliteStore(SqliteOptions(path=tmp_path)) as store:  # a directory cannot be opened as a database
        with pytest.raises(StoreError) as caught:
            await store.get("k")
    assert isinstance(caught.value.__cause__, sqlite3.Error)
