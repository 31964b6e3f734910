"""DuckDB: the embedded default sink. One file, one transaction per run.

Pinned to duckdb 1.5.x (see pyproject.toml): 2.0.0 was measured several times slower on large upserts and its
RETURNING lost rows on a large mixed batch. Counts therefore never rely on RETURNING: rows are classified against
the stored table first (sinks/sql.py), then inserted and updated set-based.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict

from tidemark.contract.counts import Mode, WriteCounts
from tidemark.errors import MissingDependencyError, SinkTerminalError, SinkTransientError
from tidemark.sinks.base import Capabilities
from tidemark.sinks.sql import SqlSink
from tidemark.tables import HASH_COLUMN, TableSpec
from tidemark.types import LogicalType

_TYPES = {
    "int": "INTEGER",
    "bigint": "BIGINT",
    "double": "DOUBLE",
    "bool": "BOOLEAN",
    "string": "VARCHAR",
    "date": "DATE",
    "timestamp": "TIMESTAMP WITH TIME ZONE",
    "json": "JSON",
}


class DuckDBConfig(BaseModel):
    """``duckdb:PATH`` (``duckdb::memory:`` for an in-memory database)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["duckdb"] = "duckdb"
    path: str


class DuckDBSink(SqlSink):
    capabilities: ClassVar[Capabilities] = Capabilities(
        transactional=True,
        native_merge=False,
        enforces_foreign_keys=False,  # DuckDB cannot update a referenced parent row; FKs are documented, checked by SQL
        atomic_checkpoint=True,
        concurrent_writers=False,  # one writing process per database file
    )
    dialect = "duckdb"
    fresh_fast_path = True  # see _insert_fresh

    def __init__(self, config: DuckDBConfig) -> None:
        super().__init__()
        try:
            import duckdb
        except ImportError as exc:  # pragma: no cover - duckdb is a core dependency
            raise MissingDependencyError("duckdb", "duckdb") from exc
        self._duckdb = duckdb
        self.config = config
        self.display = f"duckdb:{config.path}"
        if config.path != ":memory:":
            Path(config.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = duckdb.connect(config.path)
        except duckdb.IOException as exc:
            raise SinkTransientError(
                f"cannot open DuckDB file {config.path}: {exc}. Another process may hold it open for writing."
            ) from exc
        self.conn.execute("SET TimeZone = 'UTC'")
        self._catalog = str(self.conn.execute("SELECT current_database()").fetchall()[0][0])
        self._in_tx = False

    # -- transaction --------------------------------------------------------------------------------------------
    def begin(self) -> None:
        self.conn.execute("BEGIN TRANSACTION")
        self._in_tx = True
        self._overwritten.clear()
        self._fresh.clear()

    def commit(self) -> None:
        self._guard(lambda: self.conn.execute("COMMIT"))
        self._in_tx = False

    def rollback(self) -> None:
        if self._in_tx:
            self.conn.execute("ROLLBACK")
            self._in_tx = False
        self._ensured.clear()
        self._fresh.clear()

    def close(self) -> None:
        if getattr(self, "conn", None) is not None:
            if self._in_tx:
                self.rollback()
            self.conn.close()
            self.conn = None  # type: ignore[assignment]

    # -- first loads --------------------------------------------------------------------------------------------
    def write(self, spec: TableSpec, rows: pa.Table, scopes: pa.Table | None, mode: Mode) -> WriteCounts:
        if spec.qualified in self._fresh:
            counts = self._insert_fresh(spec, rows, scopes, mode)
            if counts is not None:
                return counts
            self._fresh.discard(spec.qualified)
        return super().write(spec, rows, scopes, mode)

    def _insert_fresh(self, spec: TableSpec, rows: pa.Table, scopes: pa.Table | None, mode: Mode) -> WriteCounts | None:
        """The first load of a scoped table: insert the rows as they are, without staging or classifying.

        Valid when this transaction created the table and has written it only by this path: then every stored
        row's scope has a watermark, so scopes without one have no rows. If none of the batch's scopes has a
        watermark, the key holds the scope columns (no key can clash with another scope's) and each row is of its
        scope's newest snapshot in the batch, every row is an insert and nothing is reconciled: the contract's
        answer, at the cost of a plain INSERT. None when the batch does not qualify (the contract path follows).
        """
        if (
            mode != "upsert"
            or scopes is None
            or scopes.num_rows == 0
            or rows.num_rows == 0
            or spec.timestamp is None
            or not spec.scope
            or not set(spec.scope) <= set(spec.primary_key)
        ):
            return None
        scope, ts = list(spec.scope), spec.timestamp
        newest = scopes.group_by(scope).aggregate([(ts, "max")])
        oldest = rows.group_by(scope).aggregate([(ts, "min")])
        paired = oldest.join(newest, keys=scope, join_type="left outer")
        behind = pc.fill_null(pc.less(paired.column(f"{ts}_min"), paired.column(f"{ts}_max")), True)
        if pc.any(behind).as_py():  # a row outside the batch's scopes, or older than its scope's snapshot
            return None
        cols = ", ".join(self.q(c) for c in scope)
        wm = self.watermark_ref(spec)
        self.conn.register("_tm_fresh_scopes", newest)
        try:
            if self._exec(f"SELECT count(*) FROM {wm} JOIN _tm_fresh_scopes USING ({cols})")[0][0]:
                return None
            self.conn.register("_tm_fresh_rows", rows)
            self._exec(
                f"INSERT INTO {self.table_ref(spec)} ({self._cols(spec)}) SELECT {self._cols(spec)} FROM _tm_fresh_rows"
            )
            self._exec(
                f"INSERT INTO {wm} ({cols}, {self.q(ts)}) SELECT {cols}, {self.q(ts + '_max')} FROM _tm_fresh_scopes"
            )
        finally:
            self.conn.unregister("_tm_fresh_scopes")
            self.conn.unregister("_tm_fresh_rows")
        return WriteCounts(inserted=rows.num_rows)

    # -- hooks --------------------------------------------------------------------------------------------------
    def _guard(self, fn: Any) -> Any:
        duckdb = self._duckdb
        try:
            return fn()
        except duckdb.ConstraintException as exc:
            raise SinkTerminalError(
                f"DuckDB refused the write: {exc}. In 'append' mode a key that already exists is an error; "
                "use --mode append_once or --mode upsert."
            ) from exc
        except duckdb.TransactionException as exc:
            raise SinkTransientError(f"DuckDB transaction conflict: {exc}; retry the run") from exc
        except duckdb.Error as exc:
            raise SinkTerminalError(f"DuckDB error: {exc}") from exc

    def _exec(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        result = self._guard(lambda: self.conn.execute(sql, params or []))
        return list(self._guard(result.fetchall))  # every statement has a result (DDL: empty; DML: a count)

    def _exec_count(self, sql: str, params: list[Any] | None = None) -> int:
        rows = self._exec(sql, params)
        return int(rows[0][0]) if rows else 0

    def _stage(self, name: str, table: pa.Table) -> None:
        view = f"{name}_arrow"
        self.conn.register(view, table)
        try:
            self._exec(f"CREATE OR REPLACE TEMP TABLE {self.q(name)} AS SELECT * FROM {self.q(view)}")
        finally:
            self.conn.unregister(view)

    def _column_type(self, ltype: LogicalType) -> str:
        if ltype.kind == "decimal":
            return f"DECIMAL({ltype.precision},{ltype.scale})"
        return _TYPES[ltype.kind]

    def _same_type(self, have: str, want: LogicalType) -> bool:
        aliases = {"TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ"}

        def norm(s: str) -> str:
            return aliases.get(s.upper(), s.upper()).replace(" ", "")

        return norm(have) == norm(self._column_type(want))

    def qt(self, schema: str | None, name: str) -> str:
        # qualified with the catalog: a schema named like the database file (results.duckdb, schema results)
        # is otherwise an ambiguous reference
        return f"{self.q(self._catalog)}.{self.q(schema or 'main')}.{self.q(name)}"

    def _ensure_schema(self, schema: str) -> None:
        self._exec(f"CREATE SCHEMA IF NOT EXISTS {self.q(self._catalog)}.{self.q(schema)}")

    def _existing_columns(self, schema: str | None, table: str) -> dict[str, str] | None:
        rows = self._exec(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_catalog = ? AND table_schema = ? AND table_name = ? ORDER BY ordinal_position",
            [self._catalog, schema or "main", table],
        )
        return {name: dtype for name, dtype in rows} if rows else None

    def read_table(self, spec: TableSpec) -> pa.Table:
        if self._existing_columns(spec.schema, spec.name) is None:
            raise SinkTerminalError(f"table {spec.qualified} does not exist in {self.display}")
        cols = ", ".join(self.q(c) for c in spec.column_names)
        key = ", ".join(self.q(c) for c in spec.primary_key) or "1"
        result = self.conn.execute(f"SELECT {cols} FROM {self.table_ref(spec)} ORDER BY {key}")
        return result.to_arrow_table()

    def read_hashes(self, spec: TableSpec) -> pa.Table:
        """Stored rows with their content hash (for tests of the tie-break)."""
        cols = ", ".join(self.q(c) for c in (*spec.column_names, HASH_COLUMN))
        return self.conn.execute(f"SELECT {cols} FROM {self.table_ref(spec)}").to_arrow_table()
