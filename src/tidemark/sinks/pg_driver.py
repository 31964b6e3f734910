"""Statements on one PostgreSQL connection (psycopg 3): the :class:`~tidemark.sinks.sql.SqlDriver` of PostgreSQL.

Staging tables are ``TEMP`` tables typed like the target's columns and filled by ``COPY`` (binary, encoded by
``pg_copy.py``; CSV written by Arrow for types the encoder does not know). Inside a transaction they are created
``ON COMMIT DROP``: they go at commit or rollback, or when the next write replaces them. Errors are translated by
``pg_errors.py``; the password of the DSN never appears in messages.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.csv as pacsv

from tidemark.errors import SinkConflictError, SinkError, SinkTerminalError
from tidemark.sinks import pg_copy, pg_errors
from tidemark.sinks.sql import quote
from tidemark.tables import HASH_COLUMN, TableSpec
from tidemark.types import LogicalType, from_arrow

if TYPE_CHECKING:
    import psycopg

_COPY_ROWS = 8_192  # rows per chunk sent (the server stores one while the next is encoded)

# Spelled as PostgreSQL's format_type() prints them, so existing columns compare by plain equality.
_TYPES = {
    "int": "integer",
    "bigint": "bigint",
    "double": "double precision",
    "bool": "boolean",
    "string": "text",
    "date": "date",
    "timestamp": "timestamp with time zone",
    "json": "jsonb",
}
_ALIASES = {"character varying": "text"}


class PostgresDriver:
    dialect = "postgres"
    comments = True

    def __init__(self, pg: Any, dsn: str, info: dict[str, str]) -> None:
        self.pg = pg  # the psycopg module
        self.info = info
        self.display = pg_errors.display(info)
        self.in_tx = False  # a transaction is open (staging tables drop themselves at its end)
        self.conflicted = False  # the last error was a conflict: the next run runs alone (PostgresSink.begin)
        self.conn: psycopg.Connection[Any] | None = self._connect(dsn)

    def _connect(self, dsn: str) -> psycopg.Connection[Any]:
        extra: dict[str, Any] = {"application_name": "tidemark"}
        if "connect_timeout" not in self.info:
            extra["connect_timeout"] = 10
        try:
            conn: psycopg.Connection[Any] = self.pg.connect(dsn, autocommit=True, **extra)
            conn.execute("SET TimeZone TO 'UTC'")
            # staging tables are TEMP: give them memory before the first one exists (the default is 8MB)
            conn.execute("SET temp_buffers TO '64MB'")
            conn.execute("SET work_mem TO '64MB'")  # joins of a staged batch with its table stay in memory
        except self.pg.Error as exc:
            raise pg_errors.connect_error(exc, self.info) from exc
        return conn

    def _cursor(self) -> psycopg.Cursor[Any]:
        if self.conn is None:
            raise SinkTerminalError(f"the connection to {self.display} is closed")
        return self.conn.cursor()

    def error(self, exc: Exception) -> SinkError:
        """The tidemark error for a failed statement (raise it ``from exc``)."""
        lost = self.conn is None or self.conn.closed
        error = pg_errors.translate(self.pg, exc, self.info, connection_lost=lost)
        if isinstance(error, SinkConflictError):
            self.conflicted = True
        return error

    def exec(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        with self._cursor() as cur:
            try:
                cur.execute(sql, params)
                return list(cur.fetchall()) if cur.description else []
            except self.pg.Error as exc:
                raise self.error(exc) from exc

    def exec_count(self, sql: str, params: list[Any] | None = None) -> int:
        with self._cursor() as cur:
            try:
                cur.execute(sql, params)
            except self.pg.Error as exc:
                raise self.error(exc) from exc
            return max(cur.rowcount, 0)

    def stage(self, name: str, table: pa.Table, spec: TableSpec | None) -> None:
        """A TEMP table typed like the target's columns, filled by COPY."""
        defs = ", ".join(f"{self.q(f.name)} {self._stage_type(f, spec)}" for f in table.schema)
        on_commit = " ON COMMIT DROP" if self.in_tx else ""  # see unstage
        self.exec(f"DROP TABLE IF EXISTS {self.q(name)}; CREATE TEMP TABLE {self.q(name)} ({defs}){on_commit}")
        self.copy(self.q(name), table, spec)

    def materialize(self, name: str, sql: str) -> None:
        """A TEMP table holding a query's result (a work table of the shared steps)."""
        on_commit = " ON COMMIT DROP" if self.in_tx else ""  # see unstage
        new = self.q(f"{name}_new")  # the query may read the table it replaces
        self.exec(
            f"DROP TABLE IF EXISTS {new}; CREATE TEMP TABLE {new}{on_commit} AS {sql}; "
            f"DROP TABLE IF EXISTS {self.q(name)}; ALTER TABLE {new} RENAME TO {self.q(name)}"
        )

    def unstage(self, names: tuple[str, ...]) -> None:
        # In a transaction the staging table goes at commit or rollback (ON COMMIT DROP) or when the next write
        # replaces it: one round trip less per write. PostgreSQL's own steps make no other work table.
        if not self.in_tx and self.conn is not None:
            for name in names:
                self.exec(f"DROP TABLE IF EXISTS {self.q(name)}")

    def copy(self, relation: str, table: pa.Table, spec: TableSpec | None) -> None:
        """``COPY relation FROM STDIN`` of an Arrow table: in PostgreSQL's binary format, encoded column by column
        (``pg_copy.py``), or as CSV written by Arrow for column types the encoder does not know (``numeric``). The
        server stores one chunk while the next is encoded."""
        cols = ", ".join(self.q(c) for c in table.column_names)
        types = [self._stage_type(f, spec) for f in table.schema]
        chunks = pg_copy.encoder(table, types, _COPY_ROWS)
        fmt = "binary" if chunks is not None else "csv"
        with self._cursor() as cur:
            try:
                with cur.copy(f"COPY {relation} ({cols}) FROM STDIN (FORMAT {fmt})") as copy:
                    for data in chunks if chunks is not None else _csv(table):
                        copy.write(data)
            except self.pg.Error as exc:
                raise self.error(exc) from exc

    def _stage_type(self, f: pa.Field, spec: TableSpec | None) -> str:
        if f.name == HASH_COLUMN:
            return "bigint"
        if spec is not None and f.name in spec.column_names:
            return self.column_type(spec.column(f.name).type)
        return self.column_type(from_arrow(f.type))

    def column_type(self, ltype: LogicalType) -> str:
        if ltype.kind == "decimal":
            return f"numeric({ltype.precision},{ltype.scale})"
        return _TYPES[ltype.kind]

    def same_type(self, have: str, want: LogicalType) -> bool:
        have = have.lower().split("(")[0] if have.lower().startswith("character varying") else have.lower()
        return _ALIASES.get(have, have) == self.column_type(want)

    def q(self, name: str) -> str:
        return quote(name, self.dialect)

    def qt(self, schema: str | None, name: str) -> str:
        return f"{self.q(schema)}.{self.q(name)}" if schema else self.q(name)

    def existing_columns(self, schema: str | None, table: str) -> dict[str, str] | None:
        rows = self.exec(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p') "
            "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            [schema or "public", table],
        )
        return {name: dtype for name, dtype in rows} if rows else None

    def ensure_schema(self, schema: str) -> None:
        # CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the schema exists: look first.
        if not self.exec("SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema]):
            self.exec(f"CREATE SCHEMA IF NOT EXISTS {self.q(schema)}")


def _csv(table: pa.Table) -> Iterator[memoryview]:
    options = pacsv.WriteOptions(include_header=False)
    for batch in table.to_batches(max_chunksize=_COPY_ROWS):
        buf = io.BytesIO()
        pacsv.write_csv(batch, buf, options)
        yield buf.getbuffer()
