"""PostgresStore against the shared-store contract, on the PostgreSQL at 127.0.0.1:5432."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest

from armorer_ray.errors import ConfigError, StoreError
from armorer_ray.stores import PostgresOptions, PostgresStore, Store, open_store
from tests.contracts.store import SharedStoreContract

pytestmark = pytest.mark.services


class TestPostgresStore(SharedStoreContract):
    @pytest.fixture
    async def store(self, postgres_dsn: str, postgres_schema: str) -> AsyncIterator[Store]:
        async with PostgresStore(PostgresOptions(dsn=postgres_dsn, schema_name=postgres_schema)) as store:
            yield store


async def test_tables_are_created_on_first_use(postgres_dsn: str, postgres_schema: str) -> None:
    import psycopg

    store = open_store(f"{postgres_dsn}?schema_name={postgres_schema}&table_prefix=app_")
    with psycopg.connect(postgres_dsn) as conn:
        query = "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY table_name"
        assert conn.execute(query, (postgres_schema,)).fetchall() == []
        async with store:
            await store.set("k", b"v")
        assert conn.execute(query, (postgres_schema,)).fetchall() == [("app_kv",), ("app_log",), ("app_log_head",)]


async def test_a_dropped_connection_is_reopened(postgres_dsn: str, postgres_schema: str) -> None:
    import psycopg

    async with PostgresStore(PostgresOptions(dsn=postgres_dsn, schema_name=postgres_schema)) as store:
        await store.set("k", b"v")
        with psycopg.connect(postgres_dsn, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE %s AND pid <> pg_backend_pid()",
                (f"%{postgres_schema}%",),
            ).fetchall()
        assert killed == [(True,)]
        with pytest.raises(StoreError) as caught:  # the statement in flight when the server hung up
            await store.get("k")
        assert isinstance(caught.value.__cause__, psycopg.OperationalError)
        assert await store.get("k") == b"v"


async def test_an_unreachable_server_is_a_store_error_with_the_cause() -> None:
    import psycopg

    with socket.socket() as probe:  # a port that was just free on loopback, so nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with PostgresStore(PostgresOptions(dsn=f"postgresql://postgres@127.0.0.1:{port}/test")) as store:
        with pytest.raises(StoreError) as caught:
            await store.get("k")
    assert isinstance(caught.value.__cause__, psycopg.OperationalError)


def test_schema_and_table_names_must_be_plain_identifiers() -> None:
    with pytest.raises(ConfigError):
        open_store("postgresql://127.0.0.1/test?schema_name=Robert'); DROP TABLE students;--")
    with pytest.raises(ConfigError):
        open_store("postgresql://127.0.0.1/test?table_prefix=has-dash")
