"""DuckDB: the embedded default sink. One file, one writing process: the shared SQL contract (sinks/sql.py) run
by a :class:`DuckDBDriver` (work tables are views over Arrow tables), plus a first-load shortcut.

Pinned to duckdb 1.5.x (see pyproject.toml): 2.0.0 was measured several times slower on large upserts and its
RETURNING lost rows on a large mixed batch. Counts therefore never rely on RETURNING: rows are classified against
the stored table first (sinks/sql.py), then inserted and updated set-based.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field

from tidemark.contract.counts import Mode, WriteCounts
from tidemark.errors import MissingDependencyError, SinkTerminalError, SinkTransientError
from tidemark.sinks.base import Capabilities, QuarantineEntry, Sink
from tidemark.sinks.errors import ErrorTable, translate
from tidemark.sinks.names import check_names
from tidemark.sinks.sql import SqlContract, SqlState, quote
from tidemark.tables import TableSpec
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
    """``duckdb:PATH`` (``duckdb::memory:`` for an in-memory database); ``duckdb:PATH?wait=30`` waits up to 30 s
    for another process (a notebook) to close the file."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["duckdb"] = "duckdb"
    path: str
    wait_seconds: float = Field(default=0, ge=0, description="how long to wait for another process to release the file")

    @classmethod
    def from_url(cls, rest: str) -> DuckDBConfig:
        """The part after ``duckdb:``: a path, optionally followed by ``?wait=SECONDS``."""
        path, sep, query = rest.removeprefix("//").rpartition("?")
        if sep and (m := re.fullmatch(r"wait=(\d+(?:\.\d+)?)", query)):
            return cls(path=path or ":memory:", wait_seconds=float(m.group(1)))
        return cls(path=rest.removeprefix("//") or ":memory:")


class DuckDBDriver:
    """Statements on one DuckDB connection (the :class:`~tidemark.sinks.sql.SqlDriver` of DuckDB stores)."""

    dialect = "duckdb"
    comments = True

    def __init__(self, conn: Any, display: str) -> None:
        import duckdb

        self.conn = conn
        self.display = display
        self._errors = _errors(duckdb)
        self._catalog = str(conn.execute("SELECT current_database()").fetchall()[0][0])
        self._views: set[str] = set()  # work tables staged as views over Arrow tables (stage / unstage)
        #: the catalog's columns, read in one query and kept until a statement changes a table (or the next begin)
        self._columns: dict[tuple[str, str], dict[str, str]] | None = None

    def guard(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn``, translating DuckDB's errors (sinks/errors.py)."""
        try:
            return fn()
        except Exception as exc:
            error = translate(self._errors, exc)
            if error is None:
                raise
            raise error from exc

    def exec(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        if sql.startswith(_CHANGES_TABLES):
            self._columns = None
        result = self.guard(lambda: self.conn.execute(sql, params or []))
        return list(self.guard(result.fetchall))  # every statement has a result (DDL: empty; DML: a count)

    def exec_count(self, sql: str, params: list[Any] | None = None) -> int:
        rows = self.exec(sql, params)
        return int(rows[0][0]) if rows else 0

    def arrow(self, sql: str) -> pa.Table:
        result: Any = self.guard(lambda: self.conn.execute(sql))
        return result.to_arrow_table()

    def stage(self, name: str, table: pa.Table, spec: TableSpec | None) -> None:
        # A view over the Arrow table, not a TEMP table: DuckDB keeps a table dropped inside a transaction (and its
        # data) until the transaction ends, so a run's work tables would add up to ~1.5 MB per document of the
        # bundled game; the Arrow table is freed when the view is unregistered.
        self.conn.register(name, table)
        self._views.add(name)

    def materialize(self, name: str, sql: str) -> None:
        self.stage(name, self.arrow(sql), None)

    def unstage(self, names: tuple[str, ...]) -> None:
        for name in names:
            if name in self._views:
                self.conn.unregister(name)
                self._views.discard(name)

    def column_type(self, ltype: LogicalType) -> str:
        if ltype.kind == "decimal":
            return f"DECIMAL({ltype.precision},{ltype.scale})"
        return _TYPES[ltype.kind]

    def same_type(self, have: str, want: LogicalType) -> bool:
        def norm(s: str) -> str:
            return _ALIASES.get(s.upper(), s.upper()).replace(" ", "")

        return norm(have) == norm(self.column_type(want))

    def q(self, name: str) -> str:
        return quote(name, self.dialect)

    def qt(self, schema: str | None, name: str) -> str:
        # qualified with the catalog: a schema named like the database file (results.duckdb, schema results)
        # is otherwise an ambiguous reference
        return f"{self.q(self._catalog)}.{self.q(schema or 'main')}.{self.q(name)}"

    def ensure_schema(self, schema: str) -> None:
        self.exec(f"CREATE SCHEMA IF NOT EXISTS {self.q(self._catalog)}.{self.q(schema)}")

    def existing_columns(self, schema: str | None, table: str) -> dict[str, str] | None:
        if self._columns is None:  # one read of the catalog for a transaction's ~50 lookups, not one each
            rows = self.exec(
                # duckdb_columns(): the same answer as information_schema.columns, in two thirds of the time
                "SELECT schema_name, table_name, column_name, data_type FROM duckdb_columns() "
                "WHERE database_name = ? ORDER BY schema_name, table_name, column_index",
                [self._catalog],
            )
            columns: dict[tuple[str, str], dict[str, str]] = {}
            for schema_name, table_name, name, dtype in rows:
                columns.setdefault((schema_name, table_name), {})[name] = dtype
            self._columns = columns
        found = self._columns.get((schema or "main", table))
        return dict(found) if found is not None else None

    def forget_catalog(self) -> None:
        """Read the catalog again at the next lookup (another connection, or a rollback, may have changed it)."""
        self._columns = None


#: statements after which the cached catalog is read again
_CHANGES_TABLES = ("CREATE TABLE", "CREATE OR REPLACE", "ALTER", "DROP", "CREATE TEMP")

_ALIASES = {"TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ"}


def _errors(duckdb: Any) -> ErrorTable:
    """DuckDB's exceptions -> tidemark's, most specific first."""
    return [
        (
            duckdb.ConstraintException,
            SinkTerminalError,
            "DuckDB refused the write: {exc}. In 'append' mode a key that already exists is an error; "
            "use --mode append_once or --mode upsert.",
        ),
        (duckdb.TransactionException, SinkTransientError, "DuckDB transaction conflict: {exc}; retry the run"),
        (duckdb.Error, SinkTerminalError, "DuckDB error: {exc}"),
    ]


def _connect(duckdb: Any, config: DuckDBConfig) -> Any:
    """Open the file; while another process holds its lock, retry until ``wait_seconds`` have passed."""
    deadline = time.monotonic() + config.wait_seconds
    while True:
        try:
            return duckdb.connect(config.path)
        except duckdb.IOException as exc:
            holder = re.search(r"Conflicting lock is held in (.*?)(?: \(PID (\d+)\))?\.? See also", str(exc))
            if holder is None:
                raise SinkTransientError(f"cannot open DuckDB file {config.path}: {exc}") from exc
            if time.monotonic() < deadline:
                time.sleep(min(0.5, max(deadline - time.monotonic(), 0.01)))
                continue
            who = f"process {holder.group(2)} ({holder.group(1)})" if holder.group(2) else holder.group(1)
            waited = f" (waited {config.wait_seconds:g} s)" if config.wait_seconds else ""
            raise SinkTransientError(
                f"DuckDB file {config.path} is open in another {who}{waited}: close it there (a notebook: "
                f"con.close(), or restart its kernel) and run again, or let tidemark wait for it: "
                f"--sink 'duckdb:{config.path}?wait=60'"
            ) from exc


class DuckDBSink(Sink):
    capabilities: ClassVar[Capabilities] = Capabilities(
        transactional=True,
        enforces_foreign_keys=False,  # DuckDB cannot update a referenced parent row: the contract checks FKs
        atomic_checkpoint=True,
        concurrent_writers=False,  # one writing process per database file
        max_identifier_bytes=None,
    )

    def __init__(self, config: DuckDBConfig) -> None:
        try:
            import duckdb
        except ImportError as exc:  # pragma: no cover - duckdb is a core dependency
            raise MissingDependencyError("duckdb", "duckdb") from exc
        self.config = config
        self.display = f"duckdb:{config.path}"
        if config.path != ":memory:":
            Path(config.path).parent.mkdir(parents=True, exist_ok=True)
        conn = _connect(duckdb, config)
        conn.execute("SET TimeZone = 'UTC'")
        self.driver: DuckDBDriver | None = DuckDBDriver(conn, self.display)
        self.sql = SqlContract(self.driver, reinsert_updates=True)
        self._tx: SqlState | None = None  # the open transaction's state
        # Tables that committed transactions of this sink created and wrote only by the first-load shortcut: a run
        # that commits in steps keeps the shortcut after its first step. Sound because a DuckDB file has one
        # writing process (its lock), and this sink is its only writer in tidemark; a rollback forgets them.
        self._fresh: set[str] = set()

    @property
    def conn(self) -> Any:
        """The DuckDB connection (for tests and benchmarks reading the store directly)."""
        return self._driver().conn

    def q(self, name: str) -> str:
        return self.sql.q(name)

    def _driver(self) -> DuckDBDriver:
        if self.driver is None:
            raise SinkTerminalError(f"{self.display} is closed")
        return self.driver

    def _state(self) -> SqlState:
        if self._tx is None:
            raise SinkTerminalError(f"no transaction is open on {self.display}: call begin() first")
        return self._tx

    # -- transaction --------------------------------------------------------------------------------------------
    def begin(self) -> None:
        self._driver().forget_catalog()
        self._driver().conn.execute("BEGIN TRANSACTION")
        self._tx = SqlState(fresh=set(self._fresh))

    def commit(self) -> None:
        driver = self._driver()
        driver.guard(lambda: driver.conn.execute("COMMIT"))
        self._fresh = self._tx.fresh if self._tx is not None else set()
        self._tx = None

    def rollback(self) -> None:
        if self.driver is not None:
            self.driver.forget_catalog()
        if self._tx is not None and self.driver is not None:
            self.driver.conn.execute("ROLLBACK")
        self._tx, self._fresh = None, set()

    def close(self) -> None:
        if self.driver is not None:
            self.rollback()
            self.driver.conn.close()
            self.driver = None

    # -- tables -------------------------------------------------------------------------------------------------
    def ensure_table(self, spec: TableSpec) -> None:
        state = self._state()
        check_names(spec, self.capabilities.max_identifier_bytes, self.display)
        if spec.qualified not in state.ensured and self.sql.ensure_table(state, spec) is None:
            state.fresh.add(spec.qualified)

    def write(self, spec: TableSpec, rows: pa.Table, scopes: pa.Table | None, mode: Mode) -> WriteCounts:
        state = self._state()
        checked = self.sql.check_parents(state, spec, rows, scopes, mode)  # orphan rows: refused (contract/orphans.py)
        rows, scopes = checked.rows, checked.scopes
        if spec.qualified in state.fresh:
            counts = self._insert_fresh(spec, rows, scopes, mode)
            if counts is not None:
                return checked.charge(counts)
            state.fresh.discard(spec.qualified)
        return checked.charge(self.sql.write(state, spec, rows, scopes, mode))

    def quarantine(self, entries: list[QuarantineEntry]) -> None:
        self.sql.quarantine(self._state(), entries)

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
        driver, sql = self._driver(), self.sql
        cols = ", ".join(sql.q(c) for c in scope)
        wm = sql.watermark_ref(spec)
        driver.conn.register("_tm_fresh_scopes", newest)
        try:
            if driver.exec(f"SELECT count(*) FROM {wm} JOIN _tm_fresh_scopes USING ({cols})")[0][0]:
                return None
            driver.conn.register("_tm_fresh_rows", rows)
            driver.exec(
                f"INSERT INTO {sql.table_ref(spec)} ({sql.cols(spec)}) SELECT {sql.cols(spec)} FROM _tm_fresh_rows"
            )
            driver.exec(
                f"INSERT INTO {wm} ({cols}, {sql.q(ts)}) SELECT {cols}, {sql.q(ts + '_max')} FROM _tm_fresh_scopes"
            )
        finally:
            driver.conn.unregister("_tm_fresh_scopes")
            driver.conn.unregister("_tm_fresh_rows")
        return WriteCounts(inserted=rows.num_rows)

    # -- reads --------------------------------------------------------------------------------------------------
    def read_table(self, spec: TableSpec) -> pa.Table:
        driver = self._driver()
        driver.forget_catalog()  # read outside a transaction: the connection's user may have changed the tables
        if driver.existing_columns(spec.schema, spec.name) is None:
            raise SinkTerminalError(f"table {spec.qualified} does not exist in {self.display}")
        cols = ", ".join(self.sql.q(c) for c in spec.column_names)
        key = ", ".join(self.sql.q(c) for c in spec.primary_key) or "1"
        return driver.arrow(f"SELECT {cols} FROM {self.sql.table_ref(spec)} ORDER BY {key}")
