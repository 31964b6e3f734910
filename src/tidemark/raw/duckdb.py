"""The raw store in a DuckDB file (``duckdb:FILE``): the table of ``raw/sql.py``, positions from a sequence.

One process at a time opens a DuckDB file for writing (DuckDB locks it), so an ingester and a stream that share a
DuckDB raw store run in one process (``tidemark live`` does); use PostgreSQL or a directory for several processes.
The raw store may live in the same file as the tables (its table is ``_tidemark.raw_records``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from tidemark.errors import SourceError
from tidemark.raw.sql import TABLE, SqlRawStore

T = TypeVar("T")

_DDL = (
    "CREATE SCHEMA IF NOT EXISTS _tidemark",
    "CREATE SEQUENCE IF NOT EXISTS _tidemark.raw_position",
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        position BIGINT PRIMARY KEY DEFAULT nextval('_tidemark.raw_position'),
        endpoint VARCHAR NOT NULL, method VARCHAR NOT NULL, path_params VARCHAR NOT NULL,
        query_params VARCHAR NOT NULL, url VARCHAR NOT NULL, status_code INTEGER NOT NULL,
        fetched_at TIMESTAMPTZ NOT NULL, source_key VARCHAR NOT NULL, content_hash VARCHAR NOT NULL,
        size BIGINT NOT NULL, document BLOB NOT NULL, UNIQUE (source_key, content_hash))""",
)


class DuckDBRawStore(SqlRawStore):
    def __init__(self, path: str, *, create: bool = False) -> None:
        super().__init__()
        import duckdb

        self._duckdb = duckdb
        self.display = f"duckdb:{path}"
        if not create and not Path(path).is_file():
            raise SourceError(
                f"raw store {self.display} not found: check the path, or create it with "
                f"`tidemark raw import {self.display} PATH...`"
            )
        try:
            self.conn = duckdb.connect(path)
        except duckdb.Error as exc:
            raise SourceError(f"cannot open the raw store {self.display}: {exc}") from exc
        if create:
            for statement in _DDL:
                self.conn.execute(statement)
        elif not self._query(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = '_tidemark' AND table_name = 'raw_records'"
        ):
            self.conn.close()
            raise SourceError(
                f"{self.display} holds no raw store (no table {TABLE}): append to it with "
                f"`tidemark raw import {self.display} PATH...`"
            )

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self.conn.execute(sql, list(params)).fetchall()
        except self._duckdb.Error as exc:
            raise SourceError(f"raw store {self.display}: {exc}") from exc

    def _in_transaction(self, work: Callable[[], T]) -> T:
        self.conn.execute("BEGIN TRANSACTION")
        try:
            result = work()
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")
        return result

    def close(self) -> None:
        self.conn.close()
