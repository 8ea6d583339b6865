"""The default store: one SQLite file, shared safely by every process on the machine that opens it.

The stdlib driver blocks, so each store owns one worker thread that holds its connection and runs every statement;
the event loop only awaits. The file is in WAL mode (readers never wait for the writer) and every write is either a
single statement or a ``BEGIN IMMEDIATE`` transaction, so SQLite's one-writer lock makes pop, set-if-absent, incr and
append atomic across processes; a busy database is waited for up to ``busy_timeout_s``.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar
from urllib.parse import unquote, urlsplit

from pydantic import PositiveFloat

from armorer_ray.errors import ConfigError
from armorer_ray.stores._base import (
    BaseStore,
    PurgeClock,
    StoreOptions,
    add_counter,
    is_live,
    parse_counter,
    prefix_upper_bound,
)
from armorer_ray.stores._urls import build_options, split_query

__all__ = ["DEFAULT_SQLITE_PATH", "SqliteOptions", "SqliteStore"]

T = TypeVar("T")

DEFAULT_SQLITE_PATH = Path("~/.cache/armorer-ray/store.sqlite3")

# WITHOUT ROWID: both tables are looked up only by their primary key, so clustering on it saves an index.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL, expires_at REAL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_expires_at ON kv (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS log (name TEXT, seq INTEGER, record BLOB NOT NULL, PRIMARY KEY (name, seq)) WITHOUT ROWID;
"""


class SqliteOptions(StoreOptions):
    """Options of `SqliteStore`.

    Attributes:
        path: The database file (``~`` is expanded; parent folders are created). Every process that opens the same
            file shares its state.
        busy_timeout_s: How long a statement waits for another connection's write lock before failing.

    Example:
        >>> SqliteOptions(path="state.db", key_prefix="app/").path
        PosixPath('state.db')
    """

    path: Path = DEFAULT_SQLITE_PATH
    busy_timeout_s: PositiveFloat = 30.0


class SqliteStore(BaseStore):
    """A `Store` in a SQLite file, atomic across the processes that share the file.

    Expiry compares against the wall clock (``time.time()``), the one clock all processes share. Expired rows are
    hidden at once and deleted by a sweep at most once a minute per store. The file opens on first use.

    Args:
        options: The options; defaults to `SqliteOptions()`, the file `DEFAULT_SQLITE_PATH`.

    Example:
        >>> import asyncio, tempfile
        >>> path = tempfile.mkdtemp() + "/state.db"
        >>> async def write_then_reopen():
        ...     async with SqliteStore(SqliteOptions(path=path)) as store:
        ...         await store.set("checkpoint/run-1", b'{"node": "fetch"}')
        ...     async with SqliteStore(SqliteOptions(path=path)) as store:
        ...         return await store.get("checkpoint/run-1")
        >>> asyncio.run(write_then_reopen())
        b'{"node": "fetch"}'
    """

    backend = "sqlite"

    def __init__(self, options: SqliteOptions | None = None) -> None:
        self.options = options or SqliteOptions()
        super().__init__(key_prefix=self.options.key_prefix, driver_errors=(sqlite3.Error, OSError))
        # One thread, so the connection is only ever touched by the thread that opened it, in submission order.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="armorer-sqlite")
        self._conn: sqlite3.Connection | None = None
        self._purge = PurgeClock()

    @classmethod
    def from_url(cls, url: str) -> SqliteStore:
        """Open a store from a ``sqlite://`` URL, read as SQLAlchemy reads them.

        ``sqlite:///state.db`` is relative to the working directory, ``sqlite:////var/lib/app/state.db`` is absolute
        (four slashes), and ``sqlite://`` alone is `DEFAULT_SQLITE_PATH`. Query parameters set the other fields.

        Args:
            url: The URL.

        Returns:
            A store that opens the file on first use.

        Raises:
            ConfigError: A URL with a host, or an unknown or invalid query parameter.

        Example:
            >>> SqliteStore.from_url("sqlite:////tmp/app/state.db?busy_timeout_s=5").options.path
            PosixPath('/tmp/app/state.db')
            >>> SqliteStore.from_url("sqlite:///state.db").options.path
            PosixPath('state.db')
        """
        _, fields = split_query(url, SqliteOptions, reserved=("path",))
        parts = urlsplit(url)  # the original: rejoining a split "sqlite:////abs" would turn "abs" into a host
        if parts.netloc:
            raise ConfigError(f"a sqlite URL has no host: use sqlite:///relative.db or sqlite:////absolute.db: {url}")
        path = unquote(parts.path)[1:]  # the slash after the empty host separates it from the path
        options = build_options(SqliteOptions, {**fields, "path": path} if path else fields)
        return cls(options)

    # --- the worker thread ----------------------------------------------------------------------------------------

    async def _run(self, work: Callable[[sqlite3.Connection], T], *, writes: bool = False) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._on_thread, work, writes)

    def _on_thread(self, work: Callable[[sqlite3.Connection], T], writes: bool) -> T:
        conn = self._conn if self._conn is not None else self._open()
        result = work(conn)
        if writes and self._purge.is_due():
            conn.execute("DELETE FROM kv WHERE expires_at <= ?", (time.time(),))
        return result

    def _open(self) -> sqlite3.Connection:
        path = self.options.path.expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: autocommit; transactions are explicit BEGIN IMMEDIATE, never the driver's deferred
        # BEGIN, which in WAL mode can fail with SQLITE_BUSY when a read turns into a write.
        conn = sqlite3.connect(path, timeout=self.options.busy_timeout_s, isolation_level=None, check_same_thread=False)
        try:
            self._switch_to_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across crashes of the process
            conn.executescript(_SCHEMA)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def _switch_to_wal(self, conn: sqlite3.Connection) -> None:
        # Changing the journal mode does not wait on the busy handler, so processes creating the file together retry.
        deadline = time.monotonic() + self.options.busy_timeout_s
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    @staticmethod
    def _in_write_transaction(conn: sqlite3.Connection, work: Callable[[], T]) -> T:
        conn.execute("BEGIN IMMEDIATE")  # takes the write lock now, so the reads below see the latest state
        try:
            result = work()
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    # --- primitives -----------------------------------------------------------------------------------------------

    async def _get(self, key: str) -> bytes | None:
        def work(conn: sqlite3.Connection) -> bytes | None:
            row = conn.execute(
                "SELECT value FROM kv WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)", (key, time.time())
            ).fetchone()
            return None if row is None else bytes(row[0])

        return await self._run(work)

    async def _set(self, key: str, value: bytes, ttl_s: float | None, if_absent: bool) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            now = time.time()
            expires_at = None if ttl_s is None else now + ttl_s
            # One upsert: with if_absent it overwrites only an expired row, and RETURNING says whether it wrote.
            condition = "WHERE kv.expires_at IS NOT NULL AND kv.expires_at <= ?" if if_absent else ""
            params = (key, value, expires_at, now) if if_absent else (key, value, expires_at)
            rows = conn.execute(
                "INSERT INTO kv (key, value, expires_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
                f"value = excluded.value, expires_at = excluded.expires_at {condition} RETURNING 1",
                params,
            ).fetchall()
            return bool(rows)

        return await self._run(work, writes=True)

    async def _pop(self, key: str) -> bytes | None:
        def work(conn: sqlite3.Connection) -> bytes | None:
            # A single DELETE takes the write lock before reading, so two processes cannot both see the row.
            rows = conn.execute("DELETE FROM kv WHERE key = ? RETURNING value, expires_at", (key,)).fetchall()
            if not rows or not is_live(rows[0][1], time.time()):
                return None
            return bytes(rows[0][0])

        return await self._run(work, writes=True)

    async def _delete(self, key: str) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            rows = conn.execute("DELETE FROM kv WHERE key = ? RETURNING expires_at", (key,)).fetchall()
            return bool(rows) and is_live(rows[0][0], time.time())

        return await self._run(work, writes=True)

    async def _delete_prefix(self, prefix: str) -> int:
        def work(conn: sqlite3.Connection) -> int:
            where, params = _prefix_range(prefix)
            rows = conn.execute(f"DELETE FROM kv WHERE {where} RETURNING expires_at", params).fetchall()
            now = time.time()
            return sum(1 for (expires_at,) in rows if is_live(expires_at, now))

        return await self._run(work, writes=True)

    async def _keys(self, prefix: str) -> list[str]:
        def work(conn: sqlite3.Connection) -> list[str]:
            where, params = _prefix_range(prefix)
            rows = conn.execute(
                f"SELECT key FROM kv WHERE {where} AND (expires_at IS NULL OR expires_at > ?) ORDER BY key",
                (*params, time.time()),
            ).fetchall()
            return [str(key) for (key,) in rows]

        return await self._run(work)

    async def _incr(self, key: str, amount: int, ttl_s: float | None) -> int:
        def work(conn: sqlite3.Connection) -> int:
            def read_modify_write() -> int:
                now = time.time()
                row = conn.execute("SELECT value, expires_at FROM kv WHERE key = ?", (key,)).fetchone()
                if row is None or not is_live(row[1], now):
                    total, expires_at = add_counter(0, amount, key), None if ttl_s is None else now + ttl_s
                else:
                    total, expires_at = add_counter(parse_counter(bytes(row[0]), key), amount, key), row[1]
                conn.execute(
                    "INSERT OR REPLACE INTO kv (key, value, expires_at) VALUES (?, ?, ?)",
                    (key, str(total).encode("ascii"), expires_at),
                )
                return total

            return self._in_write_transaction(conn, read_modify_write)

        return await self._run(work, writes=True)

    async def _append(self, log: str, record: bytes) -> int:
        def work(conn: sqlite3.Connection) -> int:
            # The next position is read inside the same statement that writes it, under the write lock.
            row = conn.execute(
                "INSERT INTO log (name, seq, record) SELECT ?, COALESCE(MAX(seq) + 1, 0), ? FROM log WHERE name = ? "
                "RETURNING seq",
                (log, record, log),
            ).fetchall()
            return int(row[0][0])

        return await self._run(work)

    async def _read_log(self, log: str, start: int, limit: int | None) -> list[bytes]:
        def work(conn: sqlite3.Connection) -> list[bytes]:
            rows = conn.execute(
                "SELECT record FROM log WHERE name = ? AND seq >= ? ORDER BY seq LIMIT ?",
                (log, start, -1 if limit is None else limit),
            ).fetchall()
            return [bytes(record) for (record,) in rows]

        return await self._run(work)

    async def _close(self) -> None:
        def work() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        try:
            await asyncio.get_running_loop().run_in_executor(self._thread, work)
        finally:
            self._thread.shutdown(wait=False)


def _prefix_range(prefix: str) -> tuple[str, tuple[str, ...]]:
    # A key range rather than LIKE: LIKE is case-insensitive in SQLite and treats % and _ as wildcards.
    bound = prefix_upper_bound(prefix)
    if bound is None:
        return "key >= ?", (prefix,)
    return "key >= ? AND key < ?", (prefix, bound)
