"""The raw store in PostgreSQL (``postgresql://...``): the table of ``raw/sql.py``, positions from an identity.

**Documents are gzip-compressed ``bytea``, not ``jsonb``.** Measured with ``bench/raw_pg_format.py`` (40
distinct snapshots of the bundled 0.77 MB compact live feed, one transaction per append, PostgreSQL 2 cores shared):
gzip ``bytea`` appended in 0.79 s, read back in 0.16 s and took 5.8 MB; ``jsonb`` took 3.2x as long to append,
3.7x to read (as text, for the engine to parse) and 2.2x the space (TOAST's pglz compresses worse than gzip). And
``jsonb`` would not keep the bytes as given (key order, whitespace). Nothing in tidemark queries inside a stored
document; the indexed columns beside it are plain.

**Concurrent appenders**: each ``append`` is one transaction that first takes a transaction-level advisory lock, so
appends run one after the other and a position is drawn only by the transaction holding the lock. PostgreSQL makes
a commit visible before it releases the lock, so a record with a greater position never becomes visible before one
with a smaller position: a stream reading ``position > p`` can never skip a record committed later.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from tidemark.errors import SinkError, SourceError
from tidemark.raw.sql import TABLE, SqlRawStore
from tidemark.sinks import pg_errors

if TYPE_CHECKING:
    import psycopg

T = TypeVar("T")
_APPEND_LOCK = 0x7469_6472  # pg_advisory_xact_lock key of appends to the raw store

_DDL = (
    "CREATE SCHEMA IF NOT EXISTS _tidemark",
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        endpoint text NOT NULL, method text NOT NULL, path_params text NOT NULL, query_params text NOT NULL,
        url text NOT NULL, status_code integer NOT NULL, fetched_at timestamptz NOT NULL, source_key text NOT NULL,
        content_hash text NOT NULL, size bigint NOT NULL, document bytea NOT NULL,
        UNIQUE (source_key, content_hash))""",
    f"CREATE INDEX IF NOT EXISTS raw_records_source ON {TABLE} (endpoint, method, position)",
)


class PostgresRawStore(SqlRawStore):
    def __init__(self, dsn: str, *, create: bool = False) -> None:
        super().__init__()
        try:
            import psycopg
        except ImportError as exc:
            from tidemark.errors import MissingDependencyError

            raise MissingDependencyError("psycopg", "postgres") from exc
        self._pg = psycopg
        self._info = pg_errors.conninfo(dsn)
        self.display = pg_errors.display(self._info)
        self.conn: psycopg.Connection[Any] = self._connect(dsn)
        if create:
            self._in_transaction(self._create)
        elif not self._query("SELECT to_regclass(?)", [TABLE])[0][0]:
            self.conn.close()
            raise SourceError(
                f"{self.display} holds no raw store (no table {TABLE}): append to it with "
                f"`tidemark raw import {self.display} PATH...`"
            )

    def _connect(self, dsn: str) -> psycopg.Connection[Any]:
        try:
            conn = self._pg.connect(dsn, autocommit=True, application_name="tidemark", connect_timeout=10)
            conn.execute("SET TimeZone TO 'UTC'")
            return conn
        except self._pg.Error as exc:
            error: SinkError = pg_errors.connect_error(exc, self._info)
            raise SourceError(f"raw store: {error}") from None  # the driver's text may quote the password

    def _create(self) -> None:
        for statement in _DDL:
            self._query(statement)

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        # the shared SQL uses "?" placeholders and holds no other "?" or "%": psycopg's are "%s"
        try:
            cursor = self.conn.execute(sql.replace("?", "%s"), list(params))
            return cursor.fetchall() if cursor.description else []
        except self._pg.Error as exc:
            raise SourceError(f"raw store {self.display}: {pg_errors.redact(str(exc), self._info)}") from None

    def _in_transaction(self, work: Callable[[], T]) -> T:
        with self.conn.transaction():
            self._query("SELECT pg_advisory_xact_lock(?)", [_APPEND_LOCK])
            return work()

    def close(self) -> None:
        self.conn.close()
