"""open_store and the backend registry: URL forms, names, unknown schemes, missing extras, lazy imports."""

from __future__ import annotations

import subprocess
import sys

import pytest

from armorer_ray.errors import ConfigError, MissingExtraError
from armorer_ray.stores import (
    BackendSpec,
    MemoryStore,
    PostgresStore,
    RedisStore,
    backends,
    open_store,
    register_backend,
)


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("memory", MemoryStore),
        ("memory://", MemoryStore),
        ("redis://127.0.0.1:6379/0", RedisStore),
        ("rediss://cache.internal:6380/1", RedisStore),
        ("redis", RedisStore),
        ("postgresql://postgres@127.0.0.1:5432/test", PostgresStore),
        ("postgres://app@db/app", PostgresStore),
    ],
)
async def test_open_store_picks_the_backend_by_scheme(url: str, kind: type) -> None:
    store = open_store(url)
    assert isinstance(store, kind)
    await store.close()


async def test_query_parameters_set_options_and_the_rest_reach_the_driver() -> None:
    redis_store = open_store("redis://127.0.0.1:6379/3?key_prefix=app:&protocol=3")
    assert isinstance(redis_store, RedisStore)
    assert redis_store.options.key_prefix == "app:"
    assert redis_store.options.url == "redis://127.0.0.1:6379/3?protocol=3"
    await redis_store.close()
    pg_store = open_store("postgresql://app@db/app?sslmode=disable&schema_name=agents&key_prefix=t1/")
    assert isinstance(pg_store, PostgresStore)
    assert (pg_store.options.dsn, pg_store.options.schema_name) == ("postgresql://app@db/app?sslmode=disable", "agents")
    assert pg_store.options.key_prefix == "t1/"
    await pg_store.close()


def test_unknown_schemes_and_bad_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="registered: .*memory.*sqlite"):
        open_store("mongodb://127.0.0.1/db")
    with pytest.raises(ConfigError):
        open_store("memory://?not_an_option=1")
    with pytest.raises(ConfigError):
        open_store("redis://127.0.0.1/0?socket_timeout_s=never")
    with pytest.raises(ConfigError):
        open_store(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "driver", "extra"),
    [("redis://127.0.0.1/0", "redis", "redis"), ("postgresql://db/app", "psycopg", "postgres")],
)
def test_a_missing_driver_names_the_extra_to_install(
    url: str, driver: str, extra: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A None entry in sys.modules makes `import driver` raise ImportError, as in an environment without the extra.
    for name in [name for name in sys.modules if name == driver or name.startswith(f"{driver}.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, driver, None)
    with pytest.raises(MissingExtraError, match=rf"pip install 'armorer-ray\[{extra}\]'"):
        open_store(url)


def test_importing_the_package_imports_no_driver() -> None:
    code = "import sys, armorer_ray.stores; print(sorted({'redis', 'psycopg'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_registrations_refuse_silent_overwrite() -> None:
    spec = BackendSpec("armorer_ray.stores.memory", "MemoryStore")
    with pytest.raises(ConfigError, match="already registered"):
        register_backend("memory", spec)
    register_backend("contract-test-memory", spec, replace=True)
    assert backends["contract-test-memory"] == spec
    assert isinstance(open_store("contract-test-memory://"), MemoryStore)
    with pytest.raises(TypeError):
        backends["sneaky"] = spec  # type: ignore[index]
