"""The Store contract: what every backend of `armorer_ray.stores` must do, proved by subclassing.

A backend's test module subclasses `StoreContract` (or `SharedStoreContract`, for backends that several processes
share) and supplies one async fixture, ``store``, yielding an open, empty store in its own namespace::

    class TestMemoryStore(StoreContract):
        @pytest.fixture
        async def store(self) -> AsyncIterator[Store]:
            async with MemoryStore() as store:
                yield store

TTL tests use short ttls and poll for expiry with a generous deadline; nothing here asserts how fast anything is.
"""

from __future__ import annotations

import asyncio
import functools
import math
import multiprocessing
import queue
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import JsonValue

from armorer_ray.errors import ConfigError, StoreError
from armorer_ray.stores import Store, get_json, pop_json, set_json

SHORT_TTL_S = 0.2
EXPIRY_DEADLINE_S = 10.0  # a liveness bound for a 0.2 s ttl, not a speed claim
CONCURRENCY = 50
PROCESSES = 4

# Each backend runs these property tests as a method of its own subclass: that is the "differing executors" hypothesis
# warns about, and it is the design; the store fixture is deliberately reused across the examples of one test.
PROPERTY = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors],
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=16,
)
# Characters next to the edges the SQL backends' prefix ranges are computed from, plus the wildcards of LIKE and glob.
_edge_chars = st.sampled_from(
    ["a", "b", "A", "/", "%", "_", "*", "?", "[", "]", "\\", "é", "\ud7ff", "\ue000", "\U0010ffff"]
)
key_text = st.text(alphabet=_edge_chars | st.characters(exclude_characters="\x00", codec="utf-8"), max_size=6)

BAD_KEYS: list[object] = [1, None, b"key", "", "nul\x00inside", "lone\ud800surrogate"]
BAD_TTLS: list[object] = [-1, 0, -0.5, math.nan, math.inf, True, "1"]


async def wait_until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll `check` until it holds; fail with `what` if it has not after EXPIRY_DEADLINE_S."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + EXPIRY_DEADLINE_S
    while not await check():
        if loop.time() > deadline:
            pytest.fail(f"still not true after {EXPIRY_DEADLINE_S}s: {what}")
        await asyncio.sleep(0.05)


async def expired(store: Store, key: str) -> None:
    async def gone() -> bool:
        return await store.get(key) is None

    await wait_until(gone, f"{key!r} expired")


class StoreContract:
    """Behaviour every Store must have. Subclasses provide an async ``store`` fixture."""

    # --- get / set ------------------------------------------------------------------------------------------------

    async def test_get_of_missing_key_is_none(self, store: Store) -> None:
        assert await store.get("never-written") is None

    async def test_set_then_get_returns_exact_bytes(self, store: Store) -> None:
        for value in (b"", b"\x00\xff\x00", "é".encode(), bytes(range(256)) * 40):
            assert await store.set("k", value) is True
            assert await store.get("k") == value

    async def test_set_replaces_value_and_clears_old_ttl(self, store: Store) -> None:
        await store.set("k", b"old", ttl_s=SHORT_TTL_S)
        await store.set("k", b"new")
        await asyncio.sleep(SHORT_TTL_S * 2)  # past the old ttl: the replacement must not inherit it
        assert await store.get("k") == b"new"

    async def test_set_if_absent_writes_only_when_absent(self, store: Store) -> None:
        assert await store.set("k", b"first", if_absent=True) is True
        assert await store.set("k", b"second", if_absent=True) is False
        assert await store.get("k") == b"first"

    async def test_set_if_absent_takes_over_an_expired_entry(self, store: Store) -> None:
        await store.set("k", b"stale", ttl_s=SHORT_TTL_S)
        await expired(store, "k")
        assert await store.set("k", b"fresh", if_absent=True) is True
        assert await store.get("k") == b"fresh"

    # --- pop / delete / prefixes ----------------------------------------------------------------------------------

    async def test_pop_returns_the_value_once(self, store: Store) -> None:
        await store.set("k", b"v")
        assert await store.pop("k") == b"v"
        assert await store.pop("k") is None
        assert await store.get("k") is None

    async def test_delete_reports_whether_a_live_entry_went(self, store: Store) -> None:
        await store.set("k", b"v")
        assert await store.delete("k") is True
        assert await store.delete("k") is False
        assert await store.get("k") is None

    async def test_delete_prefix_removes_exactly_the_matching_keys(self, store: Store) -> None:
        for key in ("cache/a/1", "cache/a/2", "cache/ab", "cache/A/1", "cache/b/1", "other"):
            await store.set(key, b"x")
        assert await store.delete_prefix("cache/a/") == 2
        assert await store.keys() == ["cache/A/1", "cache/ab", "cache/b/1", "other"]

    async def test_prefixes_are_literal_not_patterns(self, store: Store) -> None:
        keys = ["x%1", "x_1", "xa1", "x*1", "x?1", "x[1]", "x\\1", "X%1"]
        for key in keys:
            await store.set(key, b"x")
        for prefix, expected in [
            ("x%", ["x%1"]),
            ("x_", ["x_1"]),
            ("x*", ["x*1"]),
            ("x[", ["x[1]"]),
            ("x\\", ["x\\1"]),
        ]:
            assert await store.keys(prefix) == expected
        assert await store.delete_prefix("x?") == 1
        assert await store.delete_prefix("x_") == 1
        assert await store.keys() == sorted(set(keys) - {"x?1", "x_1"})

    async def test_keys_lists_live_keys_sorted_under_the_prefix(self, store: Store) -> None:
        for key in ("run/2/b", "run/1/z", "run/1/a", "run/10/a", "zzz"):
            await store.set(key, b"{}")
        await store.set("run/1/short-lived", b"{}", ttl_s=SHORT_TTL_S)
        await expired(store, "run/1/short-lived")
        assert await store.keys("run/1/") == ["run/1/a", "run/1/z"]
        assert await store.keys("run/") == ["run/1/a", "run/1/z", "run/10/a", "run/2/b"]
        assert await store.keys("nothing/") == []

    async def test_expired_entries_are_invisible_to_every_method(self, store: Store) -> None:
        await store.set("keep", b"v", ttl_s=600)
        await store.set("brief", b"v", ttl_s=SHORT_TTL_S)
        await store.set("brief/child", b"v", ttl_s=SHORT_TTL_S)
        await expired(store, "brief")
        await expired(store, "brief/child")
        assert await store.keys() == ["keep"]
        assert await store.pop("brief") is None
        assert await store.delete("brief/child") is False
        await store.set("brief/other", b"v", ttl_s=SHORT_TTL_S)
        await expired(store, "brief/other")
        assert await store.delete_prefix("brief") == 0
        assert await store.get("keep") == b"v"

    # --- counters -------------------------------------------------------------------------------------------------

    async def test_incr_counts_from_zero_and_is_readable_as_decimal(self, store: Store) -> None:
        assert await store.incr("n") == 1
        assert await store.incr("n", 41) == 42
        assert await store.incr("n", -50) == -8
        assert await store.get("n") == b"-8"
        await store.set("m", b"10")
        assert await store.incr("m", 5) == 15

    async def test_incr_ttl_starts_the_window_at_creation_only(self, store: Store) -> None:
        assert await store.incr("window", ttl_s=SHORT_TTL_S) == 1
        assert await store.incr("window", ttl_s=600) == 2  # must not extend the window
        await expired(store, "window")
        assert await store.incr("window") == 1

    async def test_incr_of_a_non_integer_value_is_a_store_error(self, store: Store) -> None:
        await store.set("k", b"not a number")
        with pytest.raises(StoreError):
            await store.incr("k")
        assert await store.get("k") == b"not a number"

    async def test_incr_past_64_bits_is_a_store_error(self, store: Store) -> None:
        await store.set("k", str(2**63 - 1).encode())
        with pytest.raises(StoreError):
            await store.incr("k")
        assert await store.get("k") == str(2**63 - 1).encode()

    async def test_concurrent_incr_loses_no_update(self, store: Store) -> None:
        async def hit() -> list[int]:
            return [await store.incr("hits") for _ in range(5)]

        seen = [n for batch in await asyncio.gather(*(hit() for _ in range(CONCURRENCY))) for n in batch]
        assert sorted(seen) == list(range(1, CONCURRENCY * 5 + 1))
        assert await store.get("hits") == str(CONCURRENCY * 5).encode()

    # --- exactly once ---------------------------------------------------------------------------------------------

    async def test_pop_is_exactly_once_under_concurrent_poppers(self, store: Store) -> None:
        for n in range(5):
            await store.set(f"approval/{n}", f"payload-{n}".encode())
        for n in range(5):
            taken = await asyncio.gather(*(store.pop(f"approval/{n}") for _ in range(CONCURRENCY)))
            assert [value for value in taken if value is not None] == [f"payload-{n}".encode()]

    async def test_set_if_absent_has_exactly_one_winner(self, store: Store) -> None:
        won = await asyncio.gather(*(store.set("lock", str(n).encode(), if_absent=True) for n in range(CONCURRENCY)))
        assert won.count(True) == 1
        assert await store.get("lock") == str(won.index(True)).encode()

    # --- logs -----------------------------------------------------------------------------------------------------

    async def test_append_returns_positions_and_read_log_keeps_order(self, store: Store) -> None:
        records: list[JsonValue] = [{"n": n, "tool": "send_email"} for n in range(12)]
        assert [await store.append("audit", record) for record in records] == list(range(12))
        assert await store.read_log("audit") == records
        assert await store.read_log("audit", start=3, limit=4) == records[3:7]
        assert await store.read_log("audit", start=10) == records[10:]
        assert await store.read_log("audit", start=12) == []
        assert await store.read_log("audit", limit=0) == []
        assert await store.read_log("unknown") == []

    async def test_logs_are_independent_of_each_other_and_of_keys(self, store: Store) -> None:
        await store.append("a", "first")
        await store.append("b", "other")
        await store.append("a", "second")
        await store.set("a", b"a key, not the log")
        assert await store.read_log("a") == ["first", "second"]
        assert await store.read_log("b") == ["other"]
        assert await store.delete_prefix("") == 1
        assert await store.keys() == []
        assert await store.read_log("a") == ["first", "second"]

    async def test_concurrent_appends_get_dense_unique_positions(self, store: Store) -> None:
        positions = await asyncio.gather(*(store.append("audit", {"n": n}) for n in range(CONCURRENCY)))
        assert sorted(positions) == list(range(CONCURRENCY))
        records = await store.read_log("audit")
        assert [records[position] for position in positions] == [{"n": n} for n in range(CONCURRENCY)]

    # --- JSON helpers ---------------------------------------------------------------------------------------------

    async def test_json_helpers(self, store: Store) -> None:
        checkpoint: JsonValue = {"node": "fetch", "outputs": [1, 2.5, None, "é"], "done": True}
        assert await set_json(store, "run/1/fetch", checkpoint) is True
        assert await get_json(store, "run/1/fetch") == checkpoint
        assert await set_json(store, "run/1/fetch", {}, if_absent=True) is False
        assert await pop_json(store, "run/1/fetch") == checkpoint
        assert await pop_json(store, "run/1/fetch") is None
        await store.set("raw", b"\xff not json")
        with pytest.raises(StoreError):
            await get_json(store, "raw")

    # --- bad input and lifecycle ----------------------------------------------------------------------------------

    async def test_invalid_keys_are_config_errors(self, store: Store) -> None:
        key_ops: list[Callable[[Any], Awaitable[object]]] = [
            store.get,
            lambda key: store.set(key, b"v"),
            store.pop,
            store.delete,
            store.incr,
            lambda key: store.append(key, {}),
            store.read_log,
        ]
        for op in key_ops:
            for bad in BAD_KEYS:
                with pytest.raises(ConfigError):
                    await op(bad)
        for bad_prefix in (None, 1, b"p", "nul\x00"):
            with pytest.raises(ConfigError):
                await store.keys(bad_prefix)  # type: ignore[arg-type]
            with pytest.raises(ConfigError):
                await store.delete_prefix(bad_prefix)  # type: ignore[arg-type]
        assert await store.keys() == []

    async def test_invalid_ttls_values_and_amounts_are_config_errors(self, store: Store) -> None:
        for ttl in BAD_TTLS:
            with pytest.raises(ConfigError):
                await store.set("k", b"v", ttl_s=ttl)  # type: ignore[arg-type]
            with pytest.raises(ConfigError):
                await store.incr("n", ttl_s=ttl)  # type: ignore[arg-type]
        for value in ("text", bytearray(b"v"), None, 1):
            with pytest.raises(ConfigError):
                await store.set("k", value)  # type: ignore[arg-type]
        for amount in (1.5, True, "1", 2**63):
            with pytest.raises(ConfigError):
                await store.incr("n", amount)  # type: ignore[arg-type]
        assert await store.keys() == []

    async def test_invalid_log_records_and_ranges_are_config_errors(self, store: Store) -> None:
        for record in (math.nan, {"x": math.inf}, {"a": {1, 2}}, b"bytes", object()):
            with pytest.raises(ConfigError):
                await store.append("audit", record)  # type: ignore[arg-type]
        for start, limit in ((-1, None), (0, -1), (1.0, None), (0, "2")):
            with pytest.raises(ConfigError):
                await store.read_log("audit", start, limit)  # type: ignore[arg-type]
        assert await store.read_log("audit") == []

    async def test_a_closed_store_raises_store_error(self, store: Store) -> None:
        await store.set("k", b"v")
        await store.close()
        await store.close()  # idempotent
        calls: list[Callable[[], Awaitable[object]]] = [
            lambda: store.get("k"),
            lambda: store.set("k", b"v"),
            lambda: store.pop("k"),
            lambda: store.delete("k"),
            lambda: store.delete_prefix(""),
            lambda: store.keys(),
            lambda: store.incr("n"),
            lambda: store.append("audit", {}),
            lambda: store.read_log("audit"),
        ]
        for call in calls:
            with pytest.raises(StoreError, match="closed"):
                await call()
        with pytest.raises(StoreError):
            async with store:
                pass

    async def test_async_with_closes_the_store(self, store: Store) -> None:
        async with store as same:
            assert same is store
            await store.set("k", b"v")
        with pytest.raises(StoreError):
            await store.get("k")

    # --- properties -----------------------------------------------------------------------------------------------

    @PROPERTY
    @given(value=st.binary(max_size=4096))
    async def test_any_bytes_round_trip(self, store: Store, value: bytes) -> None:
        await store.set("bytes", value)
        assert await store.get("bytes") == value
        assert await store.pop("bytes") == value

    @PROPERTY
    @given(value=json_values)
    async def test_any_json_value_round_trips(self, store: Store, value: Any) -> None:
        await set_json(store, "json", value)
        assert await get_json(store, "json") == value
        position = await store.append("json-log", value)
        assert await store.read_log("json-log", start=position) == [value]

    @PROPERTY
    @given(keys=st.sets(key_text.filter(bool), max_size=8), prefix=key_text)
    async def test_keys_and_delete_prefix_match_str_startswith(self, store: Store, keys: set[str], prefix: str) -> None:
        await store.delete_prefix("")
        for key in keys:
            await store.set(key, key.encode())
        matching = sorted(key for key in keys if key.startswith(prefix))
        assert await store.keys(prefix) == matching
        assert await store.delete_prefix(prefix) == len(matching)
        assert await store.keys() == sorted(keys - set(matching))
        for key in keys - set(matching):
            assert await store.get(key) == key.encode()


class SharedStoreContract(StoreContract):
    """What a store shared between connections and processes adds: persistence, namespaces, cross-process atomicity.

    `peer_opener` opens another connection to the same data; the default rebuilds the store from its ``options``.
    """

    def peer_opener(self, store: Store, **changes: Any) -> Callable[[], Store]:
        """A picklable function opening another store on the same data; override for a differently built backend."""
        return reopener(store, **changes)

    def open_peer(self, store: Store, **changes: Any) -> Store:
        return self.peer_opener(store, **changes)()

    async def test_values_survive_close_and_reopen(self, store: Store) -> None:
        await store.set("approval/1", b"pending")
        await store.set("session", b"state", ttl_s=600)
        await store.incr("quota")
        await store.append("audit", {"n": 0})
        await store.close()
        async with self.open_peer(store) as reopened:
            assert await reopened.get("approval/1") == b"pending"
            assert await reopened.get("session") == b"state"
            assert await reopened.incr("quota") == 2
            assert await reopened.append("audit", {"n": 1}) == 1
            assert await reopened.read_log("audit") == [{"n": 0}, {"n": 1}]

    async def test_key_prefixes_isolate_namespaces(self, store: Store) -> None:
        base: str = store.options.key_prefix  # type: ignore[attr-defined]
        async with (
            self.open_peer(store, key_prefix=base + "a/") as a,
            self.open_peer(store, key_prefix=base + "b/") as b,
        ):
            await a.set("k", b"from a")
            await a.append("audit", "a")
            assert await b.get("k") is None
            assert await b.keys() == []
            assert await b.read_log("audit") == []
            assert await b.delete_prefix("") == 0
            assert await a.keys() == ["k"]
            assert await store.keys() == ["a/k"]

    async def test_pop_is_exactly_once_across_connections(self, store: Store) -> None:
        peers = [self.open_peer(store) for _ in range(5)]
        try:
            for n in range(10):
                await store.set(f"approval/{n}", str(n).encode())
            for n in range(10):
                pops = [peer.pop(f"approval/{n}") for peer in peers for _ in range(CONCURRENCY // len(peers))]
                taken = [value for value in await asyncio.gather(*pops) if value is not None]
                assert taken == [str(n).encode()]
        finally:
            for peer in peers:
                await peer.close()

    async def test_processes_racing_for_the_same_keys(self, store: Store) -> None:
        keys = [f"approval/{n}" for n in range(60)]
        for key in keys:
            await store.set(key, key.encode())
        outcomes = await asyncio.to_thread(run_race_in_processes, self.peer_opener(store), keys)

        won = [key for outcome in outcomes for key in outcome["won"]]
        assert sorted(won) == sorted(keys), "every key popped by exactly one process"
        assert [outcome["claimed"] for outcome in outcomes].count(True) == 1
        counts = [n for outcome in outcomes for n in outcome["counts"]]
        assert sorted(counts) == list(range(1, PROCESSES * len(keys) + 1))
        positions = {(o["worker"], n): p for o in outcomes for n, p in enumerate(o["positions"])}
        assert sorted(positions.values()) == list(range(PROCESSES * len(keys)))
        log = await store.read_log("race/log")
        assert all(log[p] == {"worker": w, "n": n} for (w, n), p in positions.items())


def reopener(store: Store, **changes: Any) -> Callable[[], Store]:
    """A picklable function opening another store on the same data: the built-in stores' class and options."""
    # `options` and a constructor taking them belong to our backends, not to the Store protocol.
    backend: Callable[[Any], Store] = type(store)
    options: Any = store.options  # type: ignore[attr-defined]
    return functools.partial(backend, options.model_copy(update=changes))


# --- the process race: module-level so spawned children can import it --------------------------------------------


def run_race_in_processes(opener: Callable[[], Store], keys: list[str]) -> list[dict[str, Any]]:
    """Run `race_worker` in PROCESSES spawned processes released together; return their outcomes by worker."""
    ctx = multiprocessing.get_context("spawn")  # fork would copy this process's connections and threads
    barrier = ctx.Barrier(PROCESSES + 1)
    results: Any = ctx.Queue()
    workers = [ctx.Process(target=race_worker, args=(opener, n, keys, barrier, results)) for n in range(PROCESSES)]
    for worker in workers:
        worker.start()
    try:
        try:
            barrier.wait(timeout=120)
        except threading.BrokenBarrierError:
            pass  # a worker failed to start; its error is in the queue
        outcomes = []
        for _ in workers:
            try:
                outcomes.append(results.get(timeout=120))
            except queue.Empty:
                pytest.fail("a racing process neither reported nor failed within 120 s")
    finally:
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.terminate()
    errors = [outcome["error"] for outcome in outcomes if outcome["error"]]
    assert not errors, errors
    return sorted(outcomes, key=lambda outcome: outcome["worker"])


def race_worker(opener: Callable[[], Store], worker: int, keys: list[str], barrier: Any, results: Any) -> None:
    """In a child process: open the store, wait for the start line, then race for every key, counter and log slot."""
    try:
        outcome = asyncio.run(_race(opener, worker, keys, barrier))
    except BaseException as exc:
        barrier.abort()
        results.put({"worker": worker, "error": f"{type(exc).__name__}: {exc}"})
    else:
        results.put(outcome)


async def _race(opener: Callable[[], Store], worker: int, keys: list[str], barrier: Any) -> dict[str, Any]:
    async with opener() as store:
        await store.get("race/warm-up")  # connect before the start line, so the race is between operations
        await asyncio.to_thread(barrier.wait, 120)
        claimed = await store.set("race/claim", str(worker).encode(), if_absent=True)
        won, counts, positions = [], [], []
        # Every process walks the keys in the same order, so each key is contended by all of them at once.
        for n, key in enumerate(keys):
            if await store.pop(key) is not None:
                won.append(key)
            counts.append(await store.incr("race/counter"))
            positions.append(await store.append("race/log", {"worker": worker, "n": n}))
    return {"worker": worker, "error": None, "won": won, "claimed": claimed, "counts": counts, "positions": positions}
