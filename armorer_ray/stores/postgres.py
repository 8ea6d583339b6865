"""The PostgreSQL store: every operation one statement, so row locks make the atomic ones atomic across processes.

Tables (created on first use, under an advisory lock so processes starting together do not collide):
``{table_prefix}kv`` holds keys, with an ``expires_at`` that reads filter on and a periodic sweep purges;
``{table_prefix}log`` holds log records by (name, position), and ``{table_prefix}log_head`` each log's next
position, whose row lock hands out positions in commit order. Needs ``pip install 'armorer-ray[postgres]'``.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import PositiveFloat, StringConstraints

from armorer_ray.errors import MissingExtraError
from armorer_ray.stores._base import BaseStore, PurgeClock, StoreOptions, prefix_upper_bound
from armorer_ray.stores._urls import build_options, split_query

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg.sql import Composed

__all__ = ["PostgresOptions", "PostgresStore"]

SqlName = Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_]*$", max_length=40)]

# statement_timestamp(): one instant per statement, so the "is it live" tests inside one upsert cannot disagree,
# and the server's clock, so every client agrees on expiry.
_LIVE = "(t.expires_at IS NULL OR t.expires_at > statement_timestamp())"
_EXPIRES = "statement_timestamp() + %(ttl_s)s::float8 * interval '1 second'"
_RANGE = "t.key >= %(low)s AND (%(high)s::text IS NULL OR t.key < %(high)s)"

_STATEMENTS = {
    "create": """
        CREATE TABLE IF NOT EXISTS {kv} (
            key text COLLATE "C" PRIMARY KEY, value bytea NOT NULL, expires_at timestamptz);
        CREATE INDEX IF NOT EXISTS {kv_expires_at} ON {kv} (expires_at) WHERE expires_at IS NOT NULL;
        CREATE TABLE IF NOT EXISTS {log} (
            name text COLLATE "C", seq bigint, record bytea NOT NULL, PRIMARY KEY (name, seq));
        CREATE TABLE IF NOT EXISTS {log_head} (name text COLLATE "C" PRIMARY KEY, next_seq bigint NOT NULL)""",
    "get": f"SELECT t.value FROM {{kv}} AS t WHERE t.key = %(key)s AND {_LIVE}",
    "set": f"""
        INSERT INTO {{kv}} AS t (key, value, expires_at) VALUES (%(key)s, %(value)s, {_EXPIRES})
        ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at
        RETURNING 1""",
    "set_if_absent": f"""
        INSERT INTO {{kv}} AS t (key, value, expires_at) VALUES (%(key)s, %(value)s, {_EXPIRES})
        ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at
        WHERE NOT {_LIVE}
        RETURNING 1""",
    "pop": f"DELETE FROM {{kv}} AS t WHERE t.key = %(key)s RETURNING t.value, {_LIVE}",
    "delete": f"DELETE FROM {{kv}} AS t WHERE t.key = %(key)s RETURNING {_LIVE}",
    "delete_prefix": f"""
        WITH gone AS (DELETE FROM {{kv}} AS t WHERE {_RANGE} RETURNING {_LIVE} AS live)
        SELECT count(*) FILTER (WHERE live) FROM gone""",
    "keys": f"SELECT t.key FROM {{kv}} AS t WHERE {_RANGE} AND {_LIVE} ORDER BY t.key",
    "incr": f"""
        INSERT INTO {{kv}} AS t (key, value, expires_at)
        VALUES (%(key)s, convert_to(%(amount)s::bigint::text, 'UTF8'), {_EXPIRES})
        ON CONFLICT (key) DO UPDATE SET
            value = CASE WHEN {_LIVE}
                THEN convert_to((convert_from(t.value, 'UTF8')::bigint + %(amount)s::bigint)::text, 'UTF8')
                ELSE EXCLUDED.value END,
            expires_at = CASE WHEN {_LIVE} THEN t.expires_at ELSE EXCLUDED.expires_at END
        RETURNING convert_from(t.value, 'UTF8')::bigint""",
    "append": """
        WITH head AS (
            INSERT INTO {log_head} AS h (name, next_seq) VALUES (%(name)s, 1)
            ON CONFLICT (name) DO UPDATE SET next_seq = h.next_seq + 1
            RETURNING h.next_seq - 1 AS seq)
        INSERT INTO {log} (name, seq, record) SELECT %(name)s, head.seq, %(record)s FROM head RETURNING seq""",
    "read_log": """
        SELECT record FROM {log} WHERE name = %(name)s AND seq >= %(start)s ORDER BY seq LIMIT %(limit)s::bigint""",
    "purge": "DELETE FROM {kv} WHERE expires_at <= statement_timestamp()",
}


class PostgresOptions(StoreOptions):
    """Options of `PostgresStore`.

    Attributes:
        dsn: A libpq connection string or ``postgresql://`` URL.
        schema_name: The schema holding the tables; created if missing (unless ``public``).
        table_prefix: Prepended to the table names, so several stores can share a schema.
        connect_timeout_s: How long connecting may take (libpq counts whole seconds, at least 2).

    Example:
        >>> PostgresOptions(dsn="postgresql://app@db.internal/app", schema_name="agents").table_prefix
        'armorer_'
    """

    dsn: str = "postgresql://127.0.0.1:5432/postgres"
    schema_name: SqlName = "public"
    table_prefix: SqlName = "armorer_"
    connect_timeout_s: PositiveFloat = 10.0


class PostgresStore(BaseStore):
    """A `Store` in PostgreSQL, atomic across every process that uses the same database and tables.

    `pop` is ``DELETE ... RETURNING``, `set` with `if_absent` and `incr` are single upserts, so a row lock settles
    every race; expiry compares with the server's clock. The store holds one connection, opened (and the tables
    created) on first use and reopened after it breaks; statements from concurrent tasks queue on it, so open
    several stores for parallel throughput.

    Args:
        options: The options; defaults to `PostgresOptions()`, a server on 127.0.0.1:5432.

    Raises:
        MissingExtraError: psycopg is not installed.

    Example:
        >>> import asyncio
        >>> store = PostgresStore(PostgresOptions(dsn="postgresql://127.0.0.1/app", schema_name="agents"))
        >>> store.options.schema_name
        'agents'
        >>> asyncio.run(store.close())  # never connected, so this needs no server
    """

    backend = "postgres"

    def __init__(self, options: PostgresOptions | None = None) -> None:
        try:
            import psycopg
            from psycopg import sql
        except ImportError as exc:
            raise MissingExtraError("the postgres store", "postgres") from exc
        self.options = options or PostgresOptions()
        super().__init__(key_prefix=self.options.key_prefix, driver_errors=(psycopg.Error, OSError))
        self._connect = psycopg.AsyncConnection.connect
        schema, prefix = self.options.schema_name, self.options.table_prefix
        names = {
            "kv": sql.Identifier(schema, f"{prefix}kv"),
            "kv_expires_at": sql.Identifier(f"{prefix}kv_expires_at"),
            "log": sql.Identifier(schema, f"{prefix}log"),
            "log_head": sql.Identifier(schema, f"{prefix}log_head"),
        }
        self._sql: dict[str, Composed] = {name: sql.SQL(text).format(**names) for name, text in _STATEMENTS.items()}
        self._create_schema = sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
        digest = hashlib.blake2b(f"armorer-ray store {schema}.{prefix}".encode(), digest_size=8).digest()
        self._setup_lock_id = int.from_bytes(digest, "big", signed=True)
        self._conn: AsyncConnection[Any] | None = None
        self._connecting = asyncio.Lock()
        self._purge = PurgeClock()

    @classmethod
    def from_url(cls, url: str) -> PostgresStore:
        """Open a store from a ``postgresql://`` (or ``postgres://``) URL.

        Query parameters that name `PostgresOptions` fields set them; the others (``sslmode``...) stay in the DSN
        for libpq.

        Args:
            url: Such as ``postgresql://app@db/app?schema_name=agents&sslmode=require``.

        Returns:
            A store that connects on first use.

        Raises:
            ConfigError: An invalid option value, such as a schema name that is not a lowercase SQL identifier.
            MissingExtraError: psycopg is not installed.

        Example:
            >>> store = PostgresStore.from_url("postgresql://app@db/app?schema_name=agents&sslmode=require")
            >>> store.options.schema_name, store.options.dsn
            ('agents', 'postgresql://app@db/app?sslmode=require')
        """
        rest, fields = split_query(url, PostgresOptions, reserved=("dsn",), passthrough=True)
        return cls(build_options(PostgresOptions, {**fields, "dsn": rest}))

    async def _connection(self) -> AsyncConnection[Any]:
        conn = self._conn
        if conn is not None and not conn.closed:
            return conn
        async with self._connecting:
            if self._conn is not None and not self._conn.closed:
                return self._conn
            conn = await self._connect(
                self.options.dsn, autocommit=True, connect_timeout=max(2, math.ceil(self.options.connect_timeout_s))
            )
            try:
                async with conn.transaction():
                    # CREATE ... IF NOT EXISTS still races on the catalogs when two sessions run it together.
                    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._setup_lock_id,))
                    if self.options.schema_name != "public":
                        await conn.execute(self._create_schema)
                    await conn.execute(self._sql["create"])
            except BaseException:
                await conn.close()
                raise
            self._conn = conn
            return conn

    async def _rows(self, statement: str, params: dict[str, Any], *, writes: bool = False) -> list[tuple[Any, ...]]:
        conn = await self._connection()
        cursor = await conn.execute(self._sql[statement], params)
        rows = await cursor.fetchall()
        if writes and self._purge.is_due():
            await conn.execute(self._sql["purge"])
        return rows

    async def _get(self, key: str) -> bytes | None:
        rows = await self._rows("get", {"key": key})
        return bytes(rows[0][0]) if rows else None

    async def _set(self, key: str, value: bytes, ttl_s: float | None, if_absent: bool) -> bool:
        params = {"key": key, "value": value, "ttl_s": ttl_s}
        return bool(await self._rows("set_if_absent" if if_absent else "set", params, writes=True))

    async def _pop(self, key: str) -> bytes | None:
        rows = await self._rows("pop", {"key": key}, writes=True)
        return bytes(rows[0][0]) if rows and rows[0][1] else None

    async def _delete(self, key: str) -> bool:
        rows = await self._rows("delete", {"key": key}, writes=True)
        return bool(rows) and bool(rows[0][0])

    async def _delete_prefix(self, prefix: str) -> int:
        rows = await self._rows("delete_prefix", {"low": prefix, "high": prefix_upper_bound(prefix)}, writes=True)
        return int(rows[0][0])

    async def _keys(self, prefix: str) -> list[str]:
        rows = await self._rows("keys", {"low": prefix, "high": prefix_upper_bound(prefix)})
        return [str(key) for (key,) in rows]

    async def _incr(self, key: str, amount: int, ttl_s: float | None) -> int:
        rows = await self._rows("incr", {"key": key, "amount": amount, "ttl_s": ttl_s}, writes=True)
        return int(rows[0][0])

    async def _append(self, log: str, record: bytes) -> int:
        rows = await self._rows("append", {"name": log, "record": record})
        return int(rows[0][0])

    async def _read_log(self, log: str, start: int, limit: int | None) -> list[bytes]:
        rows = await self._rows("read_log", {"name": log, "start": start, "limit": limit})
        return [bytes(record) for (record,) in rows]

    async def _close(self) -> None:
        async with self._connecting:
            if self._conn is not None:
                await self._conn.close()
                self._conn = None
