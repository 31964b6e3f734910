"""The write contract for SQL stores, written once: DDL from a TableSpec, staging, classification, apply, reconcile.

A SQL sink (DuckDB, PostgreSQL) only supplies the driver-specific hooks: how to run a statement, how to stage an
Arrow table as a temporary table, its column types and how it reports existing columns. Every identifier goes
through sqlglot's quoting for the sink's dialect; every value is a bound parameter.

Upsert of one prepared batch, inside the run's transaction:

1. stage the rows as ``_tm_stage`` (one row per key, hash included);
2. for a scoped table: merge the batch's scopes into the table's watermarks (``_tm_wm``: per scope value the
   newest snapshot time ever applied); staged rows older than their scope's watermark are ``skipped``;
3. classify each staged row against the stored row of its key: ``insert`` (no stored row), ``update`` (newer, or
   equal time and greater hash), ``unchanged`` (equal time and hash), ``skip`` (older, or equal time and smaller
   hash);
4. insert and update in two set-based statements;
5. for a scoped table: delete stored rows of the touched scopes that are older than the watermark (they are absent
   from the newest snapshot): ``deleted``.
"""

from __future__ import annotations

import functools
import sys
from abc import abstractmethod
from contextlib import suppress
from typing import Any, ClassVar

import pyarrow as pa
from sqlglot import exp

from tidemark.contract import rules
from tidemark.contract.counts import Mode, WriteCounts
from tidemark.sinks.base import META_SCHEMA, QuarantineEntry, Sink
from tidemark.sinks.bookkeeping import legacy_watermark_name, quarantine_spec, quarantine_table, watermark_spec
from tidemark.sinks.schema import columns_to_add
from tidemark.tables import HASH_COLUMN, Column, TableSpec
from tidemark.types import LogicalType

#: The content hash of rows stored before their table gained columns: below every real hash (ties go to new rows).
STALE_HASH = -(2**63) + 1
STAGE = "_tm_stage"
SCOPES = "_tm_scopes"
WATERMARK = "_tm_wm"
CLASSIFIED = "_tm_cls"
ACTION = "_tm_action"


@functools.lru_cache(maxsize=4096)
def _quote(name: str, dialect: str) -> str:
    """An identifier quoted by sqlglot for ``dialect`` (cached: the same few names come back in every statement)."""
    return str(exp.to_identifier(name, quoted=True).sql(dialect=dialect))


class SqlSink(Sink):
    """Shared behaviour of SQL stores; subclasses implement the driver hooks below."""

    dialect: str = "duckdb"
    #: the sink has a first-load shortcut for tables its transaction created (DuckDB, PostgreSQL); off where tables
    #: are filled by other means than write() (the working copies of sinks/working.py)
    fresh_fast_path: ClassVar[bool] = False

    def __init__(self) -> None:
        self._overwritten: set[str] = set()
        self._ensured: set[str] = set()
        # tables this transaction created whose every write so far took the sink's first-load shortcut: each stored
        # row's scope has a watermark, so a scope without one has no rows in them (sinks clear it at begin/rollback)
        self._fresh: set[str] = set()

    # -- driver hooks -------------------------------------------------------------------------------------------
    @abstractmethod
    def _exec(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run one statement; return its rows ([] when it returns none)."""

    @abstractmethod
    def _exec_count(self, sql: str, params: list[Any] | None = None) -> int:
        """Run one DML statement; return the number of rows it affected."""

    @abstractmethod
    def _stage(self, name: str, table: pa.Table) -> None:
        """Create temporary table ``name`` holding ``table`` (replacing any previous one)."""

    @abstractmethod
    def _column_type(self, ltype: LogicalType) -> str:
        """The store's column type for a logical type."""

    @abstractmethod
    def _existing_columns(self, schema: str | None, table: str) -> dict[str, str] | None:
        """``{column: type}`` of an existing table (types as the store spells them), or None if it does not exist."""

    # -- quoting ------------------------------------------------------------------------------------------------
    def q(self, name: str) -> str:
        return _quote(name, self.dialect)

    def qt(self, schema: str | None, name: str) -> str:
        return f"{self.q(schema)}.{self.q(name)}" if schema else self.q(name)

    def table_ref(self, spec: TableSpec) -> str:
        return self.qt(spec.schema, spec.name)

    def watermark_ref(self, spec: TableSpec) -> str:
        return self.table_ref(watermark_spec(spec))

    # -- DDL ----------------------------------------------------------------------------------------------------
    def ensure_table(self, spec: TableSpec) -> None:
        if spec.qualified in self._ensured:
            return
        if spec.schema:
            self._ensure_schema(spec.schema)
        existing = self._existing_columns(spec.schema, spec.name)
        if existing is None:
            self._create_table(spec)
            if self.fresh_fast_path:
                self._fresh.add(spec.qualified)
        else:
            self._evolve_table(spec, existing)
        if spec.scope:
            marks = watermark_spec(spec)
            legacy = legacy_watermark_name(spec)
            if self._existing_columns(META_SCHEMA, marks.name) is None and self._existing_columns(META_SCHEMA, legacy):
                # a store written before watermark names were made collision-free: keep its watermarks
                self._exec(f"ALTER TABLE {self.qt(META_SCHEMA, legacy)} RENAME TO {self.q(marks.name)}")
            self.ensure_table(marks)
        self._ensured.add(spec.qualified)

    def _create_table(self, spec: TableSpec) -> None:
        defs = [self._column_def(c, c.name in spec.primary_key) for c in spec.columns]
        if spec.hashed:
            defs.append(f"{self.q(HASH_COLUMN)} BIGINT NOT NULL")
        if spec.primary_key:
            defs.append(f"PRIMARY KEY ({', '.join(self.q(c) for c in spec.primary_key)})")
        self._exec(f"CREATE TABLE {self.table_ref(spec)} ({', '.join(defs)})")
        for i, index in enumerate(spec.indexes):
            name = index.name or f"ix_{spec.name}_{'_'.join(index.columns)}"[:60] or f"ix_{spec.name}_{i}"
            unique = "UNIQUE " if index.unique else ""
            cols = ", ".join(self.q(c) for c in index.columns)
            self._exec(f"CREATE {unique}INDEX IF NOT EXISTS {self.q(name)} ON {self.table_ref(spec)} ({cols})")
        self._comment(spec)

    def _comment(self, spec: TableSpec) -> None:
        """Table and column descriptions as comments (best effort: stores without COMMENT ignore it)."""
        if spec.description:
            self._exec(f"COMMENT ON TABLE {self.table_ref(spec)} IS {self._literal(spec.description)}")
        for c in spec.columns:
            if c.description:
                self._exec(
                    f"COMMENT ON COLUMN {self.table_ref(spec)}.{self.q(c.name)} IS {self._literal(c.description)}"
                )

    def _literal(self, text: str) -> str:
        return str(exp.Literal.string(text).sql(dialect=self.dialect))

    def _column_def(self, c: Column, in_key: bool) -> str:
        null = " NOT NULL" if (not c.nullable or in_key) else ""
        return f"{self.q(c.name)} {self._column_type(c.type)}{null}"

    def _evolve_table(self, spec: TableSpec, existing: dict[str, str]) -> None:
        added = columns_to_add(spec, existing, self._same_type, where=self.display, check_hash=True)
        for c in added:
            self._exec(f"ALTER TABLE {self.table_ref(spec)} ADD COLUMN {self._column_def(c, False)}")
        if added and spec.hashed:
            # Stored rows were hashed over the old columns: mark them stale so that, at an equal timestamp, the same
            # snapshot re-sent with the new columns replaces them (docs/write-contract.md, "Schema changes").
            stale = exp.Literal.number(STALE_HASH).sql(dialect=self.dialect)
            self._exec(f"UPDATE {self.table_ref(spec)} SET {self.q(HASH_COLUMN)} = {stale}")

    def _same_type(self, have: str, want: LogicalType) -> bool:
        return have.upper().replace(" ", "") == self._column_type(want).upper().replace(" ", "")

    def _ensure_meta_schema(self) -> None:
        self._ensure_schema(META_SCHEMA)

    def _ensure_schema(self, schema: str) -> None:
        self._exec(f"CREATE SCHEMA IF NOT EXISTS {self.q(schema)}")

    # -- writes -------------------------------------------------------------------------------------------------
    def write(self, spec: TableSpec, rows: pa.Table, scopes: pa.Table | None, mode: Mode) -> WriteCounts:
        counts = WriteCounts()
        if mode == "overwrite" and spec.qualified not in self._overwritten:
            counts.deleted += self._exec_count(f"DELETE FROM {self.table_ref(spec)}")
            if spec.scope:
                self._exec(f"DELETE FROM {self.watermark_ref(spec)}")
            self._overwritten.add(spec.qualified)
        reconciles = bool(spec.scope) and mode in ("upsert", "overwrite")  # append_once never deletes
        if rows.num_rows == 0 and (scopes is None or scopes.num_rows == 0 or not reconciles):
            return counts
        self._stage(STAGE, rows)
        try:
            if mode == "append":
                counts.inserted += self._exec_count(self._insert_from(spec, STAGE))
                return counts
            if reconciles:
                counts.skipped += self._apply_watermark(spec, rows, scopes)
            counts += self._classify_and_apply(spec, mode)
            if reconciles:
                counts.deleted += self._reconcile(spec)
            return counts
        finally:
            if sys.exc_info()[0] is None:
                self._drop_work_tables()
            else:  # the store may refuse statements after a failed one: report the failure, not the cleanup's
                with suppress(Exception):
                    self._drop_work_tables()

    def _drop_work_tables(self) -> None:
        """Drop a write's temporary tables (also after a failed write)."""
        for name in (STAGE, SCOPES, WATERMARK, CLASSIFIED):
            self._exec(f"DROP TABLE IF EXISTS {self.q(name)}")

    def _cols(self, spec: TableSpec, alias: str | None = None) -> str:
        prefix = f"{self.q(alias)}." if alias else ""
        return ", ".join(prefix + self.q(c) for c in spec.stored_columns)

    def _insert_from(self, spec: TableSpec, source: str, where: str = "") -> str:
        cols = self._cols(spec)
        return f"INSERT INTO {self.table_ref(spec)} ({cols}) SELECT {cols} FROM {self.q(source)}{where}"

    def _match(self, columns: tuple[str, ...], left: str, right: str) -> str:
        return " AND ".join(f"{left}.{self.q(c)} = {right}.{self.q(c)}" for c in columns)

    def _apply_watermark(self, spec: TableSpec, rows: pa.Table, scopes: pa.Table | None) -> int:
        """Merge scopes into the watermarks; drop (and count) staged rows older than their scope's watermark."""
        assert spec.timestamp is not None
        scope_cols = ", ".join(self.q(c) for c in spec.scope)
        ts = self.q(spec.timestamp)
        if scopes is not None:  # possibly empty: no snapshot of this batch reconciles (runtime.complete_scopes)
            self._stage(SCOPES, scopes.select([*spec.scope, spec.timestamp]))
            source = self.q(SCOPES)
        else:  # no scope batch given: the rows themselves say which scopes they cover
            source = self.q(STAGE)
        wm = self.watermark_ref(spec)
        # the batch's newest snapshot per scope, merged with the stored watermark (rules.sql_merged_mark)
        merged = rules.merged_mark_sql(self.dialect, spec.timestamp, "b", "w")
        self._exec(
            f"CREATE TEMP TABLE {self.q(WATERMARK)} AS SELECT {self._cols_of(spec.scope, 'b')}, {merged} AS {ts} "
            f"FROM (SELECT {scope_cols}, max({ts}) AS {ts} FROM {source} GROUP BY {scope_cols}) AS b "
            f"LEFT JOIN {wm} AS w ON {self._match(spec.scope, 'b', 'w')}"
        )
        self._exec(
            f"DELETE FROM {wm} WHERE EXISTS (SELECT 1 FROM {self.q(WATERMARK)} AS n "
            f"WHERE {self._match(spec.scope, 'n', wm)})"
        )
        self._exec(f"INSERT INTO {wm} ({scope_cols}, {ts}) SELECT {scope_cols}, {ts} FROM {self.q(WATERMARK)}")
        # every stored watermark, not only the touched ones: rows of a scope that this batch does not reconcile
        # are still older than its newest applied snapshot, and must not come back
        older = rules.older_sql(self.dialect, spec.timestamp, "s", "n")
        return self._exec_count(
            f"DELETE FROM {self.q(STAGE)} AS s WHERE EXISTS (SELECT 1 FROM {wm} AS n "
            f"WHERE {self._match(spec.scope, 'n', 's')} AND {older})"
        )

    def _cols_of(self, columns: tuple[str, ...], alias: str) -> str:
        return ", ".join(f"{alias}.{self.q(c)}" for c in columns)

    def _classify_and_apply(self, spec: TableSpec, mode: Mode) -> WriteCounts:
        key = spec.primary_key
        decide = rules.classify_sql(self.dialect, spec.timestamp, "s", "t", key[0], mode == "append_once")
        self._exec(
            f"CREATE TEMP TABLE {self.q(CLASSIFIED)} AS SELECT s.*, {decide} AS {self.q(ACTION)} "
            f"FROM {self.q(STAGE)} AS s LEFT JOIN {self.table_ref(spec)} AS t ON {self._match(key, 's', 't')}"
        )
        tally = dict(self._exec(f"SELECT {self.q(ACTION)}, count(*) FROM {self.q(CLASSIFIED)} GROUP BY 1"))
        counts = WriteCounts(
            inserted=int(tally.get("insert", 0)),
            updated=int(tally.get("update", 0)),
            unchanged=int(tally.get("unchanged", 0)),
            skipped=int(tally.get("skip", 0)),
        )
        if counts.inserted:
            self._exec(self._insert_from(spec, CLASSIFIED, f" WHERE {self.q(ACTION)} = 'insert'"))
        if counts.updated:
            target = self.table_ref(spec)
            sets = ", ".join(f"{self.q(c)} = c.{self.q(c)}" for c in (*spec.column_names, HASH_COLUMN) if c not in key)
            self._exec(
                f"UPDATE {target} SET {sets} FROM {self.q(CLASSIFIED)} AS c "
                f"WHERE {self._match(key, 'c', target)} AND c.{self.q(ACTION)} = 'update'"
            )
        return counts

    def _reconcile(self, spec: TableSpec) -> int:
        assert spec.timestamp is not None
        older = rules.older_sql(self.dialect, spec.timestamp, "t", "n")
        return self._exec_count(
            f"DELETE FROM {self.table_ref(spec)} AS t WHERE EXISTS (SELECT 1 FROM {self.q(WATERMARK)} AS n "
            f"WHERE {self._match(spec.scope, 'n', 't')} AND {older})"
        )

    # -- quarantine & reads -------------------------------------------------------------------------------------
    def quarantine(self, entries: list[QuarantineEntry]) -> None:
        if entries:  # through the ordinary path: a table created from its spec, rows appended
            spec = quarantine_spec()
            self.ensure_table(spec)
            self.write(spec, quarantine_table(entries), None, "append")
