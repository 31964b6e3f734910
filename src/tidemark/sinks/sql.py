"""The write contract for SQL stores, written once: DDL from a TableSpec, staging, classification, apply, reconcile.

A SQL store composes :class:`SqlContract` with its :class:`SqlDriver` (how to run a statement, how to stage an Arrow
table as a temporary table, its column types, how it reports existing columns) and replaces only the steps that
really differ for it (PostgreSQL: COPY staging and a single guarded statement, see sinks/postgres.py). The
conditions of every statement come from the rule (contract/rules.py), rendered for the driver's dialect. Every
identifier goes through sqlglot's quoting for that dialect; every value is a bound parameter.

Upsert of one prepared batch, inside the run's transaction (:meth:`SqlContract.upsert`, one public step each):

1. :meth:`~SqlContract.stage` the rows as ``_tm_stage`` (one row per key, hash included);
2. for a scoped table: :meth:`~SqlContract.merge_watermarks` (``_tm_wm``: per scope value the newest snapshot time
   ever applied) and :meth:`~SqlContract.skip_older`: staged rows older than their scope's watermark are ``skipped``;
3. :meth:`~SqlContract.classify` each staged row against the stored row of its key (``rules.sql_classify``);
4. :meth:`~SqlContract.apply`: insert and update in two set-based statements;
5. for a scoped table: :meth:`~SqlContract.reconcile`: delete stored rows of the touched scopes older than the
   watermark (they are absent from the newest snapshot): ``deleted``.

What one transaction remembers (tables it emptied, ensured, created...) is one :class:`SqlState`, made by the store's
``begin`` and dropped by its ``commit`` / ``rollback``; the steps take it, and their inputs, as arguments.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa
from sqlglot import exp

from tidemark.contract import orphans, rules
from tidemark.contract.counts import Mode, WriteCounts
from tidemark.sinks.base import META_SCHEMA, QuarantineEntry
from tidemark.sinks.bookkeeping import (
    internal_name,
    legacy_watermark_name,
    quarantine_spec,
    quarantine_table,
    watermark_spec,
)
from tidemark.sinks.schema import columns_to_add
from tidemark.tables import HASH_COLUMN, Column, ForeignKey, Index, TableSpec
from tidemark.types import LogicalType

#: The content hash of rows stored before their table gained columns: below every real hash (ties go to new rows).
STALE_HASH = -(2**63) + 1
STAGE = "_tm_stage"
SCOPES = "_tm_scopes"
WATERMARK = "_tm_wm"
CLASSIFIED = "_tm_cls"
ACTION = "_tm_action"
PARENT_PROBE = "_tm_fk"
WORK_TABLES = (STAGE, SCOPES, WATERMARK, CLASSIFIED)


@functools.lru_cache(maxsize=4096)
def quote(name: str, dialect: str) -> str:
    """An identifier quoted by sqlglot for ``dialect`` (cached: the same few names come back in every statement)."""
    return str(exp.to_identifier(name, quoted=True).sql(dialect=dialect))


def index_name(spec: TableSpec, index: Index) -> str:
    """The index's own name, or one derived from the table and columns (distinct, within PostgreSQL's 63)."""
    return index.name or internal_name("ix", spec.name, *index.columns)


class SqlDriver(Protocol):
    """What a SQL store supplies to the shared contract."""

    dialect: str
    #: a safe description of the store for messages
    display: str
    #: table and column descriptions become COMMENTs
    comments: bool

    def exec(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run one statement; return its rows ([] when it returns none)."""

    def exec_count(self, sql: str, params: list[Any] | None = None) -> int:
        """Run one DML statement; return the number of rows it affected."""

    def stage(self, name: str, table: pa.Table, spec: TableSpec | None) -> None:
        """A work table ``name`` holding ``table`` (replacing any previous one; ``spec`` types it): a TEMP table, or
        a view over the Arrow table where the store keeps dropped TEMP tables until the transaction ends (DuckDB)."""

    def materialize(self, name: str, sql: str) -> None:
        """A work table ``name`` holding the result of the query ``sql`` (replacing one of that name; the query
        may read it)."""

    def unstage(self, names: tuple[str, ...]) -> None:
        """Drop a write's temporary tables (also after a failed write)."""

    def column_type(self, ltype: LogicalType) -> str:
        """The store's column type for a logical type."""

    def same_type(self, have: str, want: LogicalType) -> bool:
        """A column the store reports as ``have`` holds ``want``."""

    def existing_columns(self, schema: str | None, table: str) -> dict[str, str] | None:
        """``{column: type}`` of an existing table (types as the store spells them), or None if it does not exist."""

    def qt(self, schema: str | None, name: str) -> str:
        """A table's quoted, qualified name."""

    def ensure_schema(self, schema: str) -> None:
        """Create the schema if it is missing."""


@dataclass
class SqlState:
    """What one transaction of a SQL store remembers; made at ``begin``, dropped at ``commit`` / ``rollback``."""

    #: tables the transaction emptied (``overwrite``: only its first write to a table deletes)
    overwritten: set[str] = field(default_factory=set)
    #: tables ensured already (the DDL runs once per table and transaction)
    ensured: set[str] = field(default_factory=set)
    #: tables this transaction created whose every write so far took the store's first-load shortcut: each stored
    #: row's scope has a watermark, so a scope without one has no rows in them
    fresh: set[str] = field(default_factory=set)
    #: foreign keys still to add (PostgreSQL): table, key, whether the transaction created the table
    pending_fks: list[tuple[TableSpec, ForeignKey, bool]] = field(default_factory=list)


#: the keyed part of a write, replaceable by a store: (spec, rows, scopes, mode, reconciles) -> counts
Upsert = Callable[[TableSpec, pa.Table, "pa.Table | None", Mode, bool], WriteCounts]


class SqlContract:
    """The contract's steps for one SQL store (see the module docstring)."""

    def __init__(self, driver: SqlDriver, *, reinsert_updates: bool = False) -> None:
        self.driver = driver
        self.dialect = driver.dialect
        #: apply an update of a table with secondary indexes as DELETE + INSERT (DuckDB: an UPDATE that sets an
        #: indexed column is a delete and an insert row by row inside; set-based it costs ~1/20 of the CPU)
        self.reinsert_updates = reinsert_updates

    # -- names --------------------------------------------------------------------------------------------------
    def q(self, name: str) -> str:
        return quote(name, self.dialect)

    def table_ref(self, spec: TableSpec) -> str:
        return self.driver.qt(spec.schema, spec.name)

    def watermark_ref(self, spec: TableSpec) -> str:
        return self.table_ref(watermark_spec(spec))

    def match(self, columns: tuple[str, ...], left: str, right: str) -> str:
        return " AND ".join(f"{left}.{self.q(c)} = {right}.{self.q(c)}" for c in columns)

    def cols(self, spec: TableSpec, alias: str | None = None) -> str:
        prefix = f"{self.q(alias)}." if alias else ""
        return ", ".join(prefix + self.q(c) for c in spec.stored_columns)

    def cols_of(self, columns: tuple[str, ...], alias: str) -> str:
        return ", ".join(f"{alias}.{self.q(c)}" for c in columns)

    def insert_from(self, spec: TableSpec, source: str, where: str = "") -> str:
        cols = self.cols(spec)
        return f"INSERT INTO {self.table_ref(spec)} ({cols}) SELECT {cols} FROM {self.q(source)}{where}"

    # -- DDL ----------------------------------------------------------------------------------------------------
    def ensure_table(self, state: SqlState, spec: TableSpec) -> dict[str, str] | None:
        """Create or evolve the table (and its watermarks); the columns it had before (None: created now)."""
        if spec.schema:
            self.driver.ensure_schema(spec.schema)
        existing = self.driver.existing_columns(spec.schema, spec.name)
        if existing is None:
            self.create_table(spec)
        else:
            self.evolve_table(spec, existing)
        if spec.scope and watermark_spec(spec).qualified not in state.ensured:
            self._ensure_watermarks(state, spec)
        state.ensured.add(spec.qualified)
        return existing

    def _ensure_watermarks(self, state: SqlState, spec: TableSpec) -> None:
        """The watermark table of a scoped table; one that a store written before watermark names were made
        collision-free holds is renamed (and kept)."""
        marks, legacy = watermark_spec(spec), legacy_watermark_name(spec)
        existing = self.driver.existing_columns(META_SCHEMA, marks.name)
        if existing is not None:
            self.evolve_table(marks, existing)
            state.ensured.add(marks.qualified)
            return
        self.driver.ensure_schema(META_SCHEMA)
        if self.driver.existing_columns(META_SCHEMA, legacy) is not None:
            self.driver.exec(f"ALTER TABLE {self.driver.qt(META_SCHEMA, legacy)} RENAME TO {self.q(marks.name)}")
        else:
            self.create_table(marks)
        state.ensured.add(marks.qualified)

    def create_table(self, spec: TableSpec) -> None:
        defs = [self.column_def(c, c.name in spec.primary_key) for c in spec.columns]
        if spec.hashed:
            defs.append(f"{self.q(HASH_COLUMN)} BIGINT NOT NULL")
        if spec.primary_key:
            defs.append(f"PRIMARY KEY ({', '.join(self.q(c) for c in spec.primary_key)})")
        self.driver.exec(f"CREATE TABLE {self.table_ref(spec)} ({', '.join(defs)})")
        for index in spec.indexes:
            unique = "UNIQUE " if index.unique else ""
            cols = ", ".join(self.q(c) for c in index.columns)
            name = self.q(index_name(spec, index))
            self.driver.exec(f"CREATE {unique}INDEX IF NOT EXISTS {name} ON {self.table_ref(spec)} ({cols})")
        if self.driver.comments:
            self.comment(spec)

    def comment(self, spec: TableSpec) -> None:
        """Table and column descriptions as comments."""

        def literal(text: str) -> str:
            return str(exp.Literal.string(text).sql(dialect=self.dialect))

        if spec.description:
            self.driver.exec(f"COMMENT ON TABLE {self.table_ref(spec)} IS {literal(spec.description)}")
        for c in spec.columns:
            if c.description:
                column = f"{self.table_ref(spec)}.{self.q(c.name)}"
                self.driver.exec(f"COMMENT ON COLUMN {column} IS {literal(c.description)}")

    def column_def(self, c: Column, in_key: bool) -> str:
        null = " NOT NULL" if (not c.nullable or in_key) else ""
        return f"{self.q(c.name)} {self.driver.column_type(c.type)}{null}"

    def evolve_table(self, spec: TableSpec, existing: dict[str, str]) -> None:
        added = columns_to_add(spec, existing, self.driver.same_type, where=self.driver.display, check_hash=True)
        for c in added:
            self.driver.exec(f"ALTER TABLE {self.table_ref(spec)} ADD COLUMN {self.column_def(c, False)}")
        if added and spec.hashed:
            # Stored rows were hashed over the old columns: mark them stale so that, at an equal timestamp, the same
            # snapshot re-sent with the new columns replaces them (docs/write-contract.md, "Schema changes").
            stale = exp.Literal.number(STALE_HASH).sql(dialect=self.dialect)
            self.driver.exec(f"UPDATE {self.table_ref(spec)} SET {self.q(HASH_COLUMN)} = {stale}")

    # -- writes -------------------------------------------------------------------------------------------------
    def write(
        self,
        state: SqlState,
        spec: TableSpec,
        rows: pa.Table,
        scopes: pa.Table | None,
        mode: Mode,
        upsert: Upsert | None = None,
    ) -> WriteCounts:
        """One write in ``mode``; ``upsert`` replaces the keyed part (default :meth:`upsert`)."""
        counts = WriteCounts()
        if mode == "overwrite" and spec.qualified not in state.overwritten:
            counts.deleted += self.empty(spec)
            state.overwritten.add(spec.qualified)
        reconciles = bool(spec.scope) and mode in ("upsert", "overwrite")  # append_once never deletes
        if rows.num_rows == 0 and (scopes is None or scopes.num_rows == 0 or not reconciles):
            return counts
        self.stage(spec, rows)
        try:
            if mode == "append":
                counts.inserted += self.driver.exec_count(self.insert_from(spec, STAGE))
            else:
                counts += (upsert or self.upsert)(spec, rows, scopes, mode, reconciles)
            return counts
        finally:
            if sys.exc_info()[0] is None:
                self.driver.unstage(WORK_TABLES)
            else:  # the store may refuse statements after a failed one: report the failure, not the cleanup's
                with suppress(Exception):
                    self.driver.unstage(WORK_TABLES)

    def empty(self, spec: TableSpec) -> int:
        """The first ``overwrite`` write of a transaction: delete every row (and the watermarks)."""
        deleted = self.driver.exec_count(f"DELETE FROM {self.table_ref(spec)}")
        if spec.scope:
            self.driver.exec(f"DELETE FROM {self.watermark_ref(spec)}")
        return deleted

    def stage(self, spec: TableSpec, rows: pa.Table) -> None:
        self.driver.stage(STAGE, rows, spec)

    def upsert(
        self, spec: TableSpec, rows: pa.Table, scopes: pa.Table | None, mode: Mode, reconciles: bool
    ) -> WriteCounts:
        """Steps 2-5 of the module docstring on the staged rows."""
        counts = WriteCounts()
        if reconciles:
            self.merge_watermarks(spec, scopes)
            counts.skipped += self.skip_older(spec)
        counts += self.classify(spec, mode)
        self.apply(spec, counts)
        if reconciles:
            counts.deleted += self.reconcile(spec)
        return counts

    def merge_watermarks(self, spec: TableSpec, scopes: pa.Table | None) -> None:
        """Merge the batch's scopes (None: the staged rows' own) into the watermarks; keep the merged ones as
        ``_tm_wm`` for :meth:`reconcile`."""
        assert spec.timestamp is not None
        scope_cols = ", ".join(self.q(c) for c in spec.scope)
        ts = self.q(spec.timestamp)
        if scopes is not None:  # possibly empty: no snapshot of this batch reconciles (runtime.complete_scopes)
            self.driver.stage(SCOPES, scopes.select([*spec.scope, spec.timestamp]), spec)
            source = self.q(SCOPES)
        else:  # no scope batch given: the rows themselves say which scopes they cover
            source = self.q(STAGE)
        wm = self.watermark_ref(spec)
        # the batch's newest snapshot per scope, merged with the stored watermark (rules.sql_merged_mark)
        merged = rules.merged_mark_sql(self.dialect, spec.timestamp, "b", "w")
        self.driver.materialize(
            WATERMARK,
            f"SELECT {self.cols_of(spec.scope, 'b')}, {merged} AS {ts} "
            f"FROM (SELECT {scope_cols}, max({ts}) AS {ts} FROM {source} GROUP BY {scope_cols}) AS b "
            f"LEFT JOIN {wm} AS w ON {self.match(spec.scope, 'b', 'w')}",
        )
        self.driver.exec(
            f"DELETE FROM {wm} WHERE EXISTS (SELECT 1 FROM {self.q(WATERMARK)} AS n "
            f"WHERE {self.match(spec.scope, 'n', wm)})"
        )
        self.driver.exec(f"INSERT INTO {wm} ({scope_cols}, {ts}) SELECT {scope_cols}, {ts} FROM {self.q(WATERMARK)}")

    def skip_older(self, spec: TableSpec) -> int:
        """Drop (and count) staged rows older than their scope's watermark."""
        assert spec.timestamp is not None
        # every stored watermark, not only the touched ones: rows of a scope that this batch does not reconcile
        # are still older than its newest applied snapshot, and must not come back
        older = rules.older_sql(self.dialect, spec.timestamp, "s", "n")
        match = self.match(spec.scope, "n", "s")
        stale = f"EXISTS (SELECT 1 FROM {self.watermark_ref(spec)} AS n WHERE {match} AND {older})"
        skipped = self.driver.exec_count(f"SELECT count(*) FROM {self.q(STAGE)} AS s WHERE {stale}")
        if skipped:  # the staged rows without the stale ones (a work table, not a DELETE: see SqlDriver.stage)
            self.driver.materialize(STAGE, f"SELECT * FROM {self.q(STAGE)} AS s WHERE NOT {stale}")
        return skipped

    def classify(self, spec: TableSpec, mode: Mode) -> WriteCounts:
        """Label each staged row (``_tm_cls``) against the stored row of its key; the counts of each label."""
        key = spec.primary_key
        decide = rules.classify_sql(self.dialect, spec.timestamp, "s", "t", key[0], mode == "append_once", spec.tie)
        self.driver.materialize(
            CLASSIFIED,
            f"SELECT s.*, {decide} AS {self.q(ACTION)} "
            f"FROM {self.q(STAGE)} AS s LEFT JOIN {self.table_ref(spec)} AS t ON {self.match(key, 's', 't')}",
        )
        tally = dict(self.driver.exec(f"SELECT {self.q(ACTION)}, count(*) FROM {self.q(CLASSIFIED)} GROUP BY 1"))
        return WriteCounts(
            inserted=int(tally.get("insert", 0)),
            updated=int(tally.get("update", 0)),
            unchanged=int(tally.get("unchanged", 0)),
            skipped=int(tally.get("skip", 0)),
        )

    def apply(self, spec: TableSpec, counts: WriteCounts) -> None:
        """Insert and update the classified rows, in two set-based statements (an update by reinsertion: a DELETE
        of the replaced rows, then one INSERT of the new and replacing rows)."""
        key, action = spec.primary_key, self.q(ACTION)
        if counts.updated and self.reinsert_updates and spec.indexes:
            self.driver.exec(
                f"DELETE FROM {self.table_ref(spec)} AS t WHERE EXISTS (SELECT 1 FROM {self.q(CLASSIFIED)} AS c "
                f"WHERE {self.match(key, 'c', 't')} AND c.{action} = 'update')"
            )
            self.driver.exec(self.insert_from(spec, CLASSIFIED, f" WHERE {action} IN ('insert', 'update')"))
            return
        if counts.inserted:
            self.driver.exec(self.insert_from(spec, CLASSIFIED, f" WHERE {action} = 'insert'"))
        if counts.updated:
            sets = ", ".join(f"{self.q(c)} = c.{self.q(c)}" for c in spec.stored_columns if c not in key)
            self.driver.exec(
                f"UPDATE {self.table_ref(spec)} AS t SET {sets} FROM {self.q(CLASSIFIED)} AS c "
                f"WHERE {self.match(key, 'c', 't')} AND c.{action} = 'update'"
            )

    def reconcile(self, spec: TableSpec) -> int:
        """Delete stored rows of the scopes in ``_tm_wm`` older than their watermark."""
        assert spec.timestamp is not None
        older = rules.older_sql(self.dialect, spec.timestamp, "t", "n")
        return self.driver.exec_count(
            f"DELETE FROM {self.table_ref(spec)} AS t WHERE EXISTS (SELECT 1 FROM {self.q(WATERMARK)} AS n "
            f"WHERE {self.match(spec.scope, 'n', 't')} AND {older})"
        )

    # -- foreign keys (contract/orphans.py) ---------------------------------------------------------------------
    def check_parents(
        self, state: SqlState, spec: TableSpec, rows: pa.Table, scopes: pa.Table | None, mode: Mode
    ) -> orphans.Checked:
        """The batch without its orphan rows (child rows whose parent row is not stored), and those rows."""
        return orphans.check(
            spec,
            rows,
            scopes,
            lambda fk, values: self.missing_parents(state, spec, fk, values),
            lambda suspects: self.would_write(state, spec, suspects, mode),
        )

    def would_write(self, state: SqlState, spec: TableSpec, rows: pa.Table, mode: Mode) -> pa.Array:
        """Which of ``rows`` (a few suspected orphans) this write would store: not older than their scope's stored
        watermark, and winning over the stored row of their key (``rules.classify_sql``)."""
        if mode in ("append", "overwrite") or not spec.primary_key:
            return pa.array([True] * rows.num_rows)
        probe = rows.append_column("_tm_i", pa.array(range(rows.num_rows), pa.int64()))
        decide = rules.classify_sql(
            self.dialect, spec.timestamp, "s", "t", spec.primary_key[0], mode == "append_once", spec.tie
        )
        where = f"{decide} IN ('insert', 'update')"
        if spec.scope and spec.timestamp is not None and watermark_spec(spec).qualified in state.ensured:
            older = rules.older_sql(self.dialect, spec.timestamp, "s", "n")
            where += (
                f" AND NOT EXISTS (SELECT 1 FROM {self.watermark_ref(spec)} AS n "
                f"WHERE {self.match(spec.scope, 'n', 's')} AND {older})"
            )
        self.driver.stage(PARENT_PROBE, probe, spec)
        try:
            found = self.driver.exec(
                f"SELECT s.{self.q('_tm_i')} FROM {self.q(PARENT_PROBE)} AS s LEFT JOIN {self.table_ref(spec)} AS t "
                f"ON {self.match(spec.primary_key, 's', 't')} WHERE {where}"
            )
        finally:
            self.driver.unstage((PARENT_PROBE,))
        written = {int(i) for (i,) in found}
        return pa.array([i in written for i in range(rows.num_rows)])

    def missing_parents(self, state: SqlState, spec: TableSpec, fk: ForeignKey, values: pa.Table) -> pa.Table | None:
        """The rows of ``values`` (``fk``'s columns) with no row of the referenced table: one anti-join. None when
        the referenced table is not part of this transaction (not checked)."""
        if orphans.referenced(fk) not in state.ensured:
            return None
        parent = self.driver.qt(fk.ref_schema, fk.ref_table)
        on = " AND ".join(f"p.{self.q(r)} = c.{self.q(c)}" for c, r in zip(fk.columns, fk.ref_columns, strict=True))
        self.driver.stage(PARENT_PROBE, values, spec)
        try:
            found = self.driver.exec(
                f"SELECT {self.cols_of(fk.columns, 'c')} FROM {self.q(PARENT_PROBE)} AS c "
                f"WHERE NOT EXISTS (SELECT 1 FROM {parent} AS p WHERE {on})"
            )
        finally:
            self.driver.unstage((PARENT_PROBE,))
        columns = list(zip(*found, strict=True)) if found else [() for _ in fk.columns]
        return pa.table(
            [pa.array(list(v), values.schema.field(c).type) for v, c in zip(columns, fk.columns, strict=True)],
            names=list(fk.columns),
        )

    # -- quarantine ---------------------------------------------------------------------------------------------
    def quarantine(self, state: SqlState, entries: list[QuarantineEntry]) -> None:
        """Through the ordinary path: the table made from its spec, rows appended."""
        if entries:
            spec = quarantine_spec()
            if spec.qualified not in state.ensured:
                self.ensure_table(state, spec)
            self.write(state, spec, quarantine_table(entries), None, "append")
