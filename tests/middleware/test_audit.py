"""AuditLog: one record per call in a Store log, arguments kept out unless asked, on every store backend."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from armorer_ray import AuditLog, ConfigError, Decision, Denied, PolicyHooks, Toolbox, ToolCall
from armorer_ray.json_values import canonical_json, digest
from armorer_ray.middleware import AuditLog as ExportedAuditLog
from armorer_ray.stores import (
    MemoryStore,
    PostgresOptions,
    PostgresStore,
    RedisOptions,
    RedisStore,
    SqliteOptions,
    SqliteStore,
    Store,
)
from armorer_ray.testing import mock_tool

RECORD_KEYS = {"time", "call_id", "tool", "tenant_id", "session_id", "user_id", "outcome", "error_code",
               "error_category", "reason", "duration_ms", "dry_run", "arguments_digest", "chain", "seq", "prev",
               "hash"}


@pytest.fixture(params=["memory", "sqlite", pytest.param("redis", marks=pytest.mark.services),
                        pytest.param("postgres", marks=pytest.mark.services)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    backend: Store
    if request.param == "memory":
        backend = MemoryStore()
    elif request.param == "sqlite":
        backend = SqliteStore(SqliteOptions(path=tmp_path / "audit.db"))
    elif request.param == "redis":
        backend = RedisStore(RedisOptions(url=request.getfixturevalue("redis_url"),
                                          key_prefix=request.getfixturevalue("redis_key_prefix")))
    else:
        backend = PostgresStore(PostgresOptions(dsn=request.getfixturevalue("postgres_dsn"),
                                                schema_name=request.getfixturevalue("postgres_schema")))
    async with backend:
        yield backend


def _tools() -> list[object]:
    return [mock_tool("search", impl=lambda q: f"found {q}", read_only=True),
            mock_tool("charge", outcomes=[Denied("card declined", code="DECLINED")])]


async def test_each_call_appends_one_record_readable_from_the_store(store: Store) -> None:
    audit = AuditLog(store, clock=lambda: 1234.5)
    box = Toolbox(_tools(), middleware=[audit])  # type: ignore[arg-type]
    await box.execute(ToolCall(id="c1", name="search", arguments={"q": "shoes"}, tenant_id="acme",
                               session_id="s1", user_id="ada"))
    await box.execute(ToolCall(id="c2", name="charge", arguments={"eur": 5}, tenant_id="acme"))
    first, second = await store.read_log("audit")
    assert isinstance(first, dict) and isinstance(second, dict)
    assert set(first) == RECORD_KEYS and "arguments" not in second
    assert (first["time"], first["call_id"], first["tool"], first["outcome"]) == (1234.5, "c1", "default:search",
                                                                                   "success")
    assert (first["tenant_id"], first["session_id"], first["user_id"]) == ("acme", "s1", "ada")
    assert first["error_code"] is None and first["dry_run"] is False
    assert isinstance(first["duration_ms"], float) and first["duration_ms"] >= 0
    assert first["arguments_digest"] == digest({"q": "shoes"})
    assert (second["call_id"], second["outcome"], second["error_code"], second["error_category"]) == (
        "c2", "error", "DECLINED", "permission")


async def test_used_as_a_policy_too_it_records_refusals_and_pauses_once_each() -> None:
    store = MemoryStore()
    audit = AuditLog(store)
    no_big_charges = PolicyHooks(before=lambda ctx: Decision.deny("over the limit") if ctx.params.get("eur", 0) > 100
                                 else (Decision.needs_approval("needs a manager") if ctx.params.get("eur", 0) > 10
                                       else None))
    box = Toolbox([mock_tool("pay", outcomes=["ok"])], middleware=[audit], policy=[no_big_charges, audit])
    for eur in (5, 50, 500):
        await box.execute(ToolCall(id=f"c{eur}", name="pay", arguments={"eur": eur}))
    records = [record for record in await store.read_log("audit") if isinstance(record, dict)]
    assert [(r["call_id"], r["outcome"], r["error_code"], r["reason"]) for r in records] == [
        ("c5", "success", None, None),
        ("c50", "action_required", None, "needs a manager"),
        ("c500", "error", "POLICY_DENIED", "over the limit"),
    ]


async def test_arguments_are_recorded_only_when_asked_and_redacted_first() -> None:
    store = MemoryStore()
    audit = AuditLog(store, record_arguments=True,
                     redact=lambda args: {key: "***" if key == "password" else value for key, value in args.items()})
    box = Toolbox([mock_tool("login", outcomes=["welcome"])], middleware=[audit])
    await box.execute(ToolCall(name="login", arguments={"user": "ada", "password": "hunter2"}))
    [record] = await store.read_log("audit")
    assert isinstance(record, dict) and record["arguments"] == {"user": "ada", "password": "***"}
    assert "hunter2" not in json.dumps(record)


async def test_a_digest_key_turns_the_digest_into_an_hmac() -> None:
    store = MemoryStore()
    box = Toolbox([mock_tool("unlock", outcomes=["open"])], middleware=[AuditLog(store, digest_key=b"s3cret")])
    await box.execute(ToolCall(name="unlock", arguments={"pin": "1234"}))
    [record] = await store.read_log("audit")
    expected = hmac.new(b"s3cret", canonical_json({"pin": "1234"}).encode(), hashlib.sha256).hexdigest()
    assert isinstance(record, dict) and record["arguments_digest"] == expected != digest({"pin": "1234"})


async def test_a_store_that_fails_leaves_the_result_alone_and_says_so() -> None:
    store = MemoryStore()
    await store.close()
    box = Toolbox([mock_tool("search", outcomes=["hit"])], middleware=[AuditLog(store)])
    failures: list[object] = []
    box.on("audit.failed", lambda event: failures.append(event.detail["error"]))
    result = await box.execute(ToolCall(name="search"))
    assert result.ok and result.result == "hit"
    assert len(failures) == 1 and getattr(failures[0], "code", None) == "StoreError"


async def test_a_redactor_that_returns_something_not_json_is_reported_not_raised() -> None:
    store = MemoryStore()
    box = Toolbox([mock_tool("search", outcomes=["hit"])],
                  middleware=[AuditLog(store, record_arguments=True, redact=lambda args: {"bad": float("nan")})])
    failures: list[object] = []
    box.on("audit.failed", lambda event: failures.append(event.detail["error"]))
    assert (await box.execute(ToolCall(name="search"))).ok
    # The record is still written, in a bounded safe form that says why the arguments are missing.
    [record] = await store.read_log("audit")
    assert len(failures) == 1 and isinstance(record, dict)
    assert record["arguments"] is None and "ValueError" in str(record["unserialisable"])


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(st.text(alphabet="abcxyz", min_size=1, max_size=5),
                       st.text(alphabet="0123456789", min_size=1, max_size=8).map(lambda s: f"SECRET-{s}"),
                       max_size=4))
def test_records_never_hold_raw_arguments_unless_asked(arguments: dict[str, str]) -> None:
    import asyncio

    async def one() -> object:
        async with MemoryStore() as store:
            box = Toolbox([mock_tool("t", outcomes=["ok"])], middleware=[AuditLog(store)])
            await box.execute(ToolCall(name="t", arguments=arguments))
            [record] = await store.read_log("audit")
            return record

    record = asyncio.run(one())
    assert "SECRET-" not in json.dumps(record)
    assert isinstance(record, dict) and record["arguments_digest"] == digest(arguments)


def test_options_are_checked_and_the_layer_is_exported() -> None:
    with pytest.raises(ConfigError):
        AuditLog(MemoryStore(), redact=lambda args: args)
    with pytest.raises(ConfigError):
        AuditLog(MemoryStore(), digest_key=b"")
    assert ExportedAuditLog is AuditLog
