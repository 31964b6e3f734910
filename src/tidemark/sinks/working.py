"""A transaction's working copy, for stores that have no SQL transactions of their own (Delta, Parquet, CSV).

Those stores apply the write contract with the very code the SQL stores use (:class:`~tidemark.sinks.sql.SqlSink`),
run on an in-memory DuckDB database that holds, per table, only the stored rows the transaction's writes touch:

1. before each write, the store fetches from its committed snapshot the rows whose key is in the batch, or whose
   scope the batch covers (:class:`StoredRows`); they are copied into the working table once, and their key,
   timestamp and hash are remembered as the *original* rows;
2. the write runs the SQL contract on the working table (watermarks, classification, insert / update, reconcile),
   so counts are exactly those of the SQL stores, batch by batch;
3. at commit the store publishes the difference: the working rows that are new or changed, and the original rows
   that are gone (a MERGE for Delta; rewritten files for Parquet / CSV).

Nothing reaches the store before commit, so a failure before it leaves every table as it was.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from tidemark.contract import orphans, rules
from tidemark.contract.counts import Mode, WriteCounts
from tidemark.sinks import fastlane
from tidemark.sinks.base import META_SCHEMA, QuarantineEntry, Sink
from tidemark.sinks.bookkeeping import internal_name, watermark_spec
from tidemark.sinks.duckdb import DuckDBDriver
from tidemark.sinks.rowsets import conform, mark_stale
from tidemark.sinks.sql import SqlContract, SqlState
from tidemark.tables import HASH_COLUMN, Column, ForeignKey, TableSpec
from tidemark.types import LogicalType

FETCHED = "_tm_fetch"
STORED_HASH = fastlane.STORED_HASH  # the hash a store holds for a row, next to the working copy's view of it
STORED_TS = fastlane.STORED_TS


class StoredRows(Protocol):
    """One table's committed rows, as of the snapshot a transaction reads."""

    def fetch(
        self,
        keys: pa.Table | None,
        scopes: pa.Table | None,
        *,
        by: tuple[str, ...] | None = None,
        columns: list[str] | None = None,
    ) -> pa.Table | None:
        """Stored rows whose key is a row of ``keys`` or whose scope is a row of ``scopes`` (data + hash columns).

        A store may return more rows than match (whole files), never fewer; rows already returned may come again.
        ``by`` names other columns to match ``keys`` on (a foreign key's): a lookup, not a copy into the working
        table (a store that tracks what it handed out does not count it); it may read only ``columns``.
        """

    def probe(self, scopes: pa.Table, columns: list[str]) -> pa.Table | None:
        """``columns`` of the stored rows whose scope is a row of ``scopes``, exactly: a read-only look for the fast
        lane (sinks/fastlane.py), with statistics-based skipping where the store keeps statistics."""

    def count(self) -> int:
        """The number of stored rows."""

    def watermarks(self) -> pa.Table | None:
        """The stored watermarks of a scoped table (scope columns + timestamp), None when there are none."""


class ScratchDriver(DuckDBDriver):
    """DuckDB for working copies: JSON kept as text, no comments, and every table is new (created by this
    transaction, dropped before it is created again)."""

    comments = False

    def existing_columns(self, schema: str | None, table: str) -> dict[str, str] | None:
        return None

    def column_type(self, ltype: LogicalType) -> str:
        return "VARCHAR" if ltype.kind == "json" else super().column_type(ltype)


class Scratch:
    """The in-memory DuckDB a transaction's working tables live in (one per transaction, shared by its tables):
    the shared SQL contract on a :class:`ScratchDriver`, and the one transaction's state."""

    def __init__(self) -> None:
        import duckdb

        conn = duckdb.connect(":memory:")
        conn.execute("SET TimeZone = 'UTC'")
        self.driver = ScratchDriver(conn, "the working copy")
        self.sql = SqlContract(self.driver)
        self.state = SqlState()

    def close(self) -> None:
        self.driver.conn.close()


class WorkingTable:
    """One table's pending changes in a transaction (see the module docstring)."""

    def __init__(self, spec: TableSpec, stored: StoredRows, db: Scratch) -> None:
        self.spec = spec
        self.stored = stored
        self.db = db
        self.sql, self.driver = db.sql, db.driver
        self.sql.ensure_table(db.state, dataclasses.replace(spec, indexes=(), foreign_keys=()))
        self.driver.ensure_schema(META_SCHEMA)
        self.original = db.driver.qt(META_SCHEMA, internal_name("orig", spec.schema or "main", spec.name))
        self.counts = WriteCounts()
        self.modes: set[Mode] = set()
        self.overwritten = False
        self.writes: list[tuple[pa.Table, pa.Table | None, Mode]] = []  # kept to replay on a fresh snapshot
        self._loaded = 0
        #: scopes this transaction's working copy holds (differs from the store on): the fast lane leaves them alone
        self.touched: set[fastlane.Scope] = set()
        #: the fast lane's newer batches, kept as Arrow until commit (or until the contract's path needs them here)
        self.pending = fastlane.Pending(spec)
        #: rows were copied into the working DuckDB (else its table is empty: lookups go to the store only)
        self.copied = False
        if spec.primary_key:
            cols = [spec.column(c) for c in self._original_columns[:-1]]
            cols.append(Column(HASH_COLUMN, LogicalType("bigint"), False))
            defs = ", ".join(f"{self.q(c.name)} {self.driver.column_type(c.type)}" for c in cols)
            keys = ", ".join(self.q(c) for c in spec.primary_key)
            self.driver.exec(f"CREATE TABLE {self.original} ({defs}, PRIMARY KEY ({keys}))")
        self.stored_watermarks = stored.watermarks() if spec.scope else None
        if self.stored_watermarks is not None and self.stored_watermarks.num_rows:
            self._insert(self.sql.watermark_ref(spec), self.stored_watermarks, [*spec.scope, spec.timestamp or ""])

    @property
    def _original_columns(self) -> list[str]:
        """What is remembered of each stored row copied here: key, scope, timestamp, hash."""
        spec = self.spec
        names = [*spec.primary_key, *spec.scope, *([spec.timestamp] if spec.timestamp else []), HASH_COLUMN]
        return list(dict.fromkeys(names))

    def q(self, name: str) -> str:
        return self.sql.q(name)

    def close(self) -> None:
        """Drop this table's working state (the scratch database stays, for the other tables)."""
        spec = self.spec
        for ref in (self.sql.table_ref(spec), self.original, *([self.sql.watermark_ref(spec)] if spec.scope else [])):
            self.driver.exec(f"DROP TABLE IF EXISTS {ref}")
        state = self.db.state
        state.ensured.discard(spec.qualified)
        if spec.scope:
            state.ensured.discard(watermark_spec(spec).qualified)
        state.overwritten.discard(spec.qualified)
        self.pending.clear()

    # -- writes -------------------------------------------------------------------------------------------------
    def write(self, rows: pa.Table, scopes: pa.Table | None, mode: Mode) -> WriteCounts:
        self.writes.append((rows, scopes, mode))
        self.modes.add(mode)
        fast = self._fast(rows, scopes, mode)
        counts = fast if fast is not None else self._contract(rows, scopes, mode)
        self.counts += counts
        return counts

    def _contract(self, rows: pa.Table, scopes: pa.Table | None, mode: Mode) -> WriteCounts:
        """The SQL contract on the working copy (the stored rows the batch touches copied in first)."""
        self._flush()
        counts = WriteCounts()
        if mode == "overwrite" and not self.overwritten:
            counts.deleted += self.stored.count() - self._loaded  # stored rows never copied here; the rest below
            self.overwritten = True
        elif not self.overwritten and self.spec.primary_key:
            self._load(rows, scopes)
        if self.spec.scope:
            self.touched |= fastlane.scope_set(rows, self.spec.scope)
            if scopes is not None:
                self.touched |= fastlane.scope_set(scopes, self.spec.scope)
        counts += self.sql.write(self.db.state, self.spec, rows, scopes, mode)
        return counts

    def _fast(self, rows: pa.Table, scopes: pa.Table | None, mode: Mode) -> WriteCounts | None:
        """The batch decided from the stored rows' thin columns (sinks/fastlane.py), or None (the contract's path)."""
        spec = self.spec
        if self.overwritten or not fastlane.applies(spec, rows, scopes, mode):
            return None
        marks = fastlane.batch_marks(spec, rows, scopes)
        if marks is None:
            return None
        batch = fastlane.scope_set(marks, spec.scope)
        if batch & self.touched:
            return None
        columns = fastlane.thin_columns(spec)
        decision = fastlane.decide(
            spec, rows, marks, self.stored_watermarks, lambda wanted: self.stored.probe(wanted, columns)
        )
        if decision is None:
            return None
        if decision.kind == "newer":
            self._replace(rows, decision)
            self.touched |= batch
        return decision.counts

    def _replace(self, rows: pa.Table, decision: fastlane.Decision) -> None:
        """A newer snapshot of untouched scopes: its rows and watermarks replace the stored ones (whose key, scope,
        timestamp and hash become the original rows: published as updates and deletions at commit)."""
        assert decision.originals is not None and decision.marks is not None
        self.pending.add(rows, decision)
        self._loaded += decision.originals.num_rows

    def _flush(self) -> None:
        """Copy the fast lane's pending batches into the working DuckDB (the contract's path reads them there)."""
        self.copied = True
        if not self.pending:
            return
        spec = self.spec
        for thin in self.pending.originals:
            if thin.num_rows:
                self._insert(self.original, thin, self._original_columns)
        for rows in self.pending.rows:
            self._insert(self.sql.table_ref(spec), rows, list(spec.stored_columns))
        wm = self.sql.watermark_ref(spec)
        self.driver.conn.register(FETCHED, pa.concat_tables(self.pending.marks))
        try:  # the pending scopes' marks are newer than the stored ones (fastlane: "newer")
            self.driver.exec(
                f"DELETE FROM {wm} WHERE EXISTS (SELECT 1 FROM {self.q(FETCHED)} AS n "
                f"WHERE {self.sql.match(spec.scope, 'n', wm)})"
            )
            cols = ", ".join(self.q(c) for c in [*spec.scope, spec.timestamp or ""])
            self.driver.exec(f"INSERT INTO {wm} ({cols}) SELECT {cols} FROM {self.q(FETCHED)}")
        finally:
            self.driver.conn.unregister(FETCHED)
        self.pending.clear()

    def _load(self, rows: pa.Table, scopes: pa.Table | None) -> None:
        spec = self.spec
        keys = rows.select(list(spec.primary_key)) if rows.num_rows else None
        scope_rows = None
        if spec.scope:
            scope_rows = scopes.select(list(spec.scope)) if scopes is not None else rows.select(list(spec.scope))
        if keys is None and (scope_rows is None or scope_rows.num_rows == 0):
            return
        fetched = self.stored.fetch(keys, scope_rows)
        if fetched is None or fetched.num_rows == 0:
            return
        if spec.scope:  # copied here: the fast lane must not decide these scopes from the store any more
            self.touched |= fastlane.scope_set(fetched, spec.scope)
        real = conform(fetched, spec.arrow_schema)
        # the working copy sees rows hashed over other columns (stored before the table gained columns) as stale,
        # exactly as the SQL stores do (sql.py, STALE_HASH); the original keeps the hash the store holds
        data = mark_stale(real, spec).append_column(STORED_HASH, real.column(HASH_COLUMN))
        self.driver.conn.register(FETCHED, data)
        try:
            new = (
                f"SELECT * FROM {self.q(FETCHED)} AS f WHERE NOT EXISTS (SELECT 1 FROM {self.original} AS o "
                f"WHERE {self.sql.match(spec.primary_key, 'o', 'f')})"
            )
            self.driver.exec(f"CREATE OR REPLACE TEMP TABLE {self.q('_tm_new')} AS {new}")
        finally:
            self.driver.conn.unregister(FETCHED)
        cols = ", ".join(self.q(c) for c in self._original_columns)
        values = ", ".join(self.q(STORED_HASH if c == HASH_COLUMN else c) for c in self._original_columns)
        self.driver.exec(f"INSERT INTO {self.original} ({cols}) SELECT {values} FROM {self.q('_tm_new')}")
        self.driver.exec(self.sql.insert_from(spec, "_tm_new"))
        self._loaded += self.driver.exec_count(f"SELECT count(*) FROM {self.q('_tm_new')}")
        self.driver.exec(f"DROP TABLE {self.q('_tm_new')}")

    def _insert(self, ref: str, data: pa.Table, columns: list[str]) -> None:
        self.driver.conn.register(FETCHED, data)
        try:
            cols = ", ".join(self.q(c) for c in columns)
            self.driver.exec(f"INSERT INTO {ref} ({cols}) SELECT {cols} FROM {self.q(FETCHED)}")
        finally:
            self.driver.conn.unregister(FETCHED)

    # -- foreign keys (contract/orphans.py) -----------------------------------------------------------------------
    def missing_parents(self, fk: ForeignKey, values: pa.Table) -> pa.Table:
        """The rows of ``values`` (``fk``'s columns) that match no row of this table as the transaction sees it: the
        working table decides for the rows copied here (written, updated or deleted by it), the committed snapshot
        for the others (unless the transaction emptied the table)."""
        ref = list(fk.ref_columns)
        absent = values.rename_columns(ref)
        if self.copied:
            absent = self._anti_join(absent, self.sql.table_ref(self.spec), ref)
        absent = self.pending.absent(absent, ref)
        if absent.num_rows and not self.overwritten:
            needed = list(dict.fromkeys(ref + list(self.spec.primary_key)))
            stored = self.stored.fetch(absent, None, by=fk.ref_columns, columns=needed)
            if stored is not None and stored.num_rows:
                stored = conform(stored, pa.schema([self.spec.arrow_schema.field(c) for c in needed]))
                if self.spec.primary_key and self.copied:  # rows copied here: the working table said they are gone
                    stored = self._anti_join(stored, self.original, list(self.spec.primary_key))
                    stored = self.pending.replaced(stored)
                absent = absent.join(stored.select(ref).group_by(ref).aggregate([]), keys=ref, join_type="left anti")
        return absent.rename_columns(list(fk.columns))

    def would_write(self, rows: pa.Table, mode: Mode) -> pa.Array:
        """Which of ``rows`` (suspected orphans) a write in ``mode`` would store (``SqlContract.would_write`` on the
        working copy, their stored rows copied here first)."""
        if not self.overwritten and self.spec.primary_key:
            self._flush()
            self._load(rows, None)
        return self.sql.would_write(self.db.state, self.spec, rows, mode)

    def _anti_join(self, probe: pa.Table, ref: str, cols: list[str]) -> pa.Table:
        """The rows of ``probe`` whose ``cols`` match no row of the scratch table ``ref``."""
        self.driver.conn.register(FETCHED, probe)
        try:
            return self._select(
                f"SELECT p.* FROM {self.q(FETCHED)} AS p WHERE NOT EXISTS (SELECT 1 FROM {ref} AS w "
                f"WHERE {self.sql.match(tuple(cols), 'w', 'p')})"
            )
        finally:
            self.driver.conn.unregister(FETCHED)

    # -- what to publish ----------------------------------------------------------------------------------------
    @property
    def changed(self) -> bool:
        """Rows or watermarks differ from the snapshot (a table with nothing to publish is left alone)."""
        c = self.counts
        return bool(c.inserted or c.updated or c.deleted) or self.watermark_changes().num_rows > 0

    def rows(self) -> pa.Table:
        """Every row of the working table (all new rows, plus every stored row that was copied here)."""
        rows = self._select(f"SELECT * FROM {self.sql.table_ref(self.spec)}")
        return self._with_pending(rows, self.pending.rows, self.spec.arrow_schema)

    def upserts(self) -> pa.Table:
        """Working rows that are new, or differ from the stored row of their key.

        Two more columns say what the store held for the key when it was read (NULL for new keys): a store with
        concurrent writers applies the row if the stored row is still that one, or if the row wins the guard.
        """
        if not self.spec.primary_key:
            return self.rows()
        h = self.q(HASH_COLUMN)
        ts = self.q(self.spec.timestamp) if self.spec.timestamp else h
        same = rules.same_sql("duckdb", self.spec.timestamp, "w", "o")
        rows = self._select(
            f"SELECT w.*, o.{h} AS {self.q(STORED_HASH)}, o.{ts} AS {self.q(STORED_TS)} "
            f"FROM {self.sql.table_ref(self.spec)} AS w LEFT JOIN {self.original} AS o "
            f"ON {self.sql.match(self.spec.primary_key, 'o', 'w')} "
            f"WHERE o.{h} IS NULL OR NOT {same}"
        )
        return self._with_pending(rows, self.pending.upserts, None)

    def replaced(self) -> pa.Table:
        """Keys of the stored rows copied here that are gone from the working table or differ from it (the rows a
        store that rewrites files must drop from them)."""
        key = self.spec.primary_key
        same = rules.same_sql("duckdb", self.spec.timestamp, "w", "o")
        rows = self._select(
            f"SELECT {self.sql.cols_of(key, 'o')} FROM {self.original} AS o WHERE NOT EXISTS (SELECT 1 FROM "
            f"{self.sql.table_ref(self.spec)} AS w WHERE {self.sql.match(key, 'o', 'w')} AND {same})"
        )
        return self._with_pending(rows, self.pending.gone(), None)

    def deletes(self) -> pa.Table:
        """Key and timestamp of stored rows that are gone from the working table (reconciled away).

        The timestamp is the watermark of the row's scope: a store deletes the row only while it is still older.
        """
        spec = self.spec
        if not spec.primary_key or not spec.timestamp or not spec.scope:
            return pa.table({})
        target = self.sql.table_ref(spec)
        keys = ", ".join(f"o.{self.q(c)}" for c in spec.primary_key)
        ts = self.q(spec.timestamp)
        rows = self._select(
            f"SELECT {keys}, m.{ts} AS {ts} FROM {self.original} AS o "
            f"JOIN {self.sql.watermark_ref(spec)} AS m ON {self.sql.match(spec.scope, 'o', 'm')} "
            f"WHERE NOT EXISTS (SELECT 1 FROM {target} AS w WHERE {self.sql.match(spec.primary_key, 'o', 'w')})"
        )
        return self._with_pending(rows, self.pending.tombstones, None)

    def watermarks(self) -> pa.Table:
        marks = self._select(f"SELECT * FROM {self.sql.watermark_ref(self.spec)}")
        if not self.pending:
            return marks
        newer = pa.concat_tables(self.pending.marks)  # replace the stored marks of the pending scopes
        scope = list(self.spec.scope)
        marks = conform(marks, newer.schema)
        return pa.concat_tables([marks.join(newer.select(scope), keys=scope, join_type="left anti"), newer])

    def watermark_changes(self) -> pa.Table:
        """Watermark rows that are new or newer than the stored ones."""
        if not self.spec.scope:
            return pa.table({})
        current = self.watermarks()
        if self.stored_watermarks is None or self.stored_watermarks.num_rows == 0 or current.num_rows == 0:
            return current
        ts = self.spec.timestamp or ""
        old = self.stored_watermarks.rename_columns([*self.spec.scope, "_tm_old"])
        joined = current.join(old, keys=list(self.spec.scope), join_type="left outer")
        newer = pc.or_kleene(
            pc.is_null(joined.column("_tm_old")), rules.arrow_older(joined.column("_tm_old"), joined.column(ts))
        )
        return joined.filter(newer).drop_columns(["_tm_old"])

    @staticmethod
    def _with_pending(rows: pa.Table, pending: list[pa.Table], schema: pa.Schema | None) -> pa.Table:
        """``rows`` (from the working DuckDB) and the fast lane's pending tables of the same kind, in ``schema``
        (default: the pending tables')."""
        if not pending:
            return rows
        schema = schema if schema is not None else pending[0].schema
        parts = [conform(rows, schema), *(conform(p, schema) for p in pending)]
        return pa.concat_tables([p for p in parts if p.num_rows] or parts[:1])

    def _select(self, sql: str) -> pa.Table:
        return self.driver.arrow(sql)


class Tracked(Protocol):
    """A store's per-table state in a transaction: at least the table's working copy."""

    work: WorkingTable


TableT = TypeVar("TableT", bound=Tracked)


@dataclass
class WorkState(Generic[TableT]):
    """What one transaction of a working-copy store holds: made at ``begin`` (or the first write without one),
    dropped at ``commit`` / ``rollback`` / ``close``. A store adds its own fields in a subclass."""

    #: the transaction's tables, by qualified name
    tables: dict[str, TableT] = field(default_factory=dict)
    #: refused rows and rejected documents, written at commit
    quarantined: list[QuarantineEntry] = field(default_factory=list)
    scratch: Scratch | None = None

    def db(self) -> Scratch:
        """The transaction's working database (created on first use)."""
        if self.scratch is None:
            self.scratch = Scratch()
        return self.scratch

    def close(self) -> None:
        """Release what the transaction holds (a subclass releases its own, then calls this)."""
        if self.scratch is not None:
            self.scratch.close()
            self.scratch = None


StateT = TypeVar("StateT", bound=WorkState[Any])


class WorkingCopySink(Sink, Generic[StateT]):
    """Base of the stores that apply the contract on a working copy (Delta, Parquet, CSV): the open transaction is
    one :class:`WorkState` (``self._work``), made by :meth:`_new_state` and dropped by :meth:`_discard`."""

    _work: StateT | None = None

    def _new_state(self) -> StateT:
        raise NotImplementedError

    def _state(self) -> StateT:
        if self._work is None:
            self._work = self._new_state()
        return self._work

    def _discard(self) -> None:
        work, self._work = self._work, None
        if work is not None:
            work.close()

    def rollback(self) -> None:
        self._discard()

    def close(self) -> None:
        self._discard()

    def quarantine(self, entries: list[QuarantineEntry]) -> None:
        self._state().quarantined.extend(entries)

    def check_parents(self, spec: TableSpec, rows: pa.Table, scopes: pa.Table | None, mode: Mode) -> orphans.Checked:
        """The batch without its orphan rows, and those rows (contract/orphans.py): parents are looked up in their
        working copies (which see the committed snapshot and this transaction's writes)."""
        tables = self._state().tables

        def missing(fk: ForeignKey, values: pa.Table) -> pa.Table | None:
            parent = tables.get(orphans.referenced(fk))
            return None if parent is None else parent.work.missing_parents(fk, values)

        return orphans.check(
            spec, rows, scopes, missing, lambda suspects: tables[spec.qualified].work.would_write(suspects, mode)
        )
