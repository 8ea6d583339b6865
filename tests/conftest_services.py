"""Fixtures for the PostgreSQL and Redis services on 127.0.0.1, imported into ``tests/conftest.py``.

`redis_url` and `postgres_dsn` check that the service answers, once per session. When it does not, tests that use
them are skipped with the reason, unless ``ARMORER_REQUIRE_SERVICES=1`` (as in CI), where they fail instead: a
missing service must not pass for a green run. ``ARMORER_TEST_REDIS_URL`` and ``ARMORER_TEST_POSTGRES_DSN`` point
the tests elsewhere.

Several test runs may share one server, so each test gets its own namespace (`redis_key_prefix`,
`postgres_schema`) and removes it afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import NoReturn

import pytest

__all__ = ["postgres_dsn", "postgres_schema", "redis_key_prefix", "redis_url"]

_REQUIRE = "ARMORER_REQUIRE_SERVICES"
_CONNECT_TIMEOUT_S = 3


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get(_REQUIRE) == "1":
        pytest.fail(f"{reason} ({_REQUIRE}=1, so this is an error, not a skip)", pytrace=False)
    pytest.skip(f"{reason}; set {_REQUIRE}=1 to make this an error")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The URL of a Redis server that answered PING; skips (or fails, see module doc) when there is none."""
    url = os.environ.get("ARMORER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        import redis
    except ImportError:
        _unavailable("redis-py is not installed: pip install 'armorer-ray[redis]'")
    client = redis.Redis.from_url(url, socket_connect_timeout=_CONNECT_TIMEOUT_S, socket_timeout=_CONNECT_TIMEOUT_S)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        _unavailable(f"Redis is not reachable at {url}: {exc}")
    finally:
        client.close()
    return url


@pytest.fixture
def redis_key_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix no other test or run uses; every Redis key under it is deleted after the test."""
    import redis

    prefix = f"armorer-test:{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        doomed = list(client.scan_iter(match=f"{prefix}*", count=500))
        if doomed:
            client.delete(*doomed)
    finally:
        client.close()


@pytest.fixture(scope="session")
def postgres_dsn() -> str:
    """A DSN for a PostgreSQL server that accepted a connection; skips (or fails, see module doc) when none does.

    Tries the ``postgres`` user, then ``root`` (both trust-authenticated on the test machines), on database ``test``.
    """
    configured = os.environ.get("ARMORER_TEST_POSTGRES_DSN")
    candidates = (
        [configured] if configured else [f"postgresql://{user}@127.0.0.1:5432/test" for user in ("postgres", "root")]
    )
    try:
        import psycopg
    except ImportError:
        _unavailable("psycopg is not installed: pip install 'armorer-ray[postgres]'")
    failures = []
    for dsn in candidates:
        try:
            with psycopg.connect(dsn, connect_timeout=_CONNECT_TIMEOUT_S) as conn:
                conn.execute("SELECT 1")
            return dsn
        except psycopg.Error as exc:
            failures.append(f"{dsn}: {str(exc).strip()}")
    _unavailable("PostgreSQL is not reachable: " + "; ".join(failures))


@pytest.fixture
def postgres_schema(postgres_dsn: str) -> Iterator[str]:
    """A schema name no other test or run uses; the schema (created by whoever uses it) is dropped after the test."""
    import psycopg
    from psycopg import sql

    name = f"armorer_test_{uuid.uuid4().hex[:16]}"
    yield name
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
