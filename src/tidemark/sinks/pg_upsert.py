"""PostgreSQL's keyed writes: the contract's upsert (and ``append_once``) as native, concurrency-safe statements.

The shared steps (sinks/sql.py) stage a batch, then classify and apply it in several statements; PostgreSQL
replaces that keyed part (:meth:`PgUpsert.upsert`) and adds a first-load shortcut (:meth:`PgUpsert.insert_new`):

- watermarks of scoped tables are merged with ``INSERT ... ON CONFLICT DO UPDATE SET ts = GREATEST(...)`` under
  row locks (a second writer of the same scope waits for the first to commit), the scopes travelling as arrays;
- staged rows older than their scope's watermark are deleted from the staging table and counted ``skipped``;
- one guarded statement classifies the staged rows against the stored ones and applies them::

    WITH c AS (staged rows LEFT JOIN stored rows: insert / update / unchanged / skip, by contract/rules.py)
    INSERT INTO t SELECT ... FROM c WHERE a IN ('insert', 'update') ORDER BY key
    ON CONFLICT (key) DO UPDATE SET ... WHERE <the incoming row wins, rules.sql_wins>
    RETURNING (xmax = 0)            -- true: inserted, false: updated

- stored rows of the touched scopes older than their merged watermark are deleted (reconciliation).

The counts equal those of the shared steps (the conformance suite runs on both). The guard is checked again on the
newest committed row under its row lock, so two writers cannot lose each other's newer rows.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from tidemark.contract import rules
from tidemark.contract.counts import Mode, WriteCounts
from tidemark.errors import SinkError
from tidemark.sinks.pg_driver import PostgresDriver
from tidemark.sinks.sql import STAGE, SqlContract, SqlState
from tidemark.tables import HASH_COLUMN, TableSpec

#: the scopes a write touched, as an ``unnest`` row source and its parameters
Touched = tuple[str, list[Any]]
_MARK, _ROW = "_tm_mark", "_tm_row"


@dataclass(frozen=True)
class Merged:
    """What merging a batch's watermarks found."""

    #: the scopes the batch touched (for reconciliation)
    touched: Touched
    #: per row of the batch: older than its scope's merged watermark (``rules.arrow_older``); None when a row's scope
    #: is not among the touched ones (then only the stored watermarks can say, :meth:`PgUpsert.skip_older`)
    older: pa.Array | None
    #: none of the touched scopes had a watermark before
    fresh: bool

    @property
    def new(self) -> bool:
        """Every scope is new and no row is older than its scope's new watermark (two snapshots of a game in one
        batch): every row would be inserted, :meth:`PgUpsert.insert_new` may apply."""
        return self.fresh and self.older is not None and not pc.any(self.older).as_py()


def _older(spec: TableSpec, rows: pa.Table, marks: pa.Table) -> pa.Array | None:
    """Per row: older than its scope's watermark in ``marks``; None when a row's scope has no mark there."""
    assert spec.timestamp is not None
    scope = list(spec.scope)
    indexed = rows.select([*scope, spec.timestamp]).append_column(_ROW, pa.array(range(rows.num_rows), pa.int64()))
    joined = indexed.join(marks, keys=scope, join_type="left outer").sort_by(_ROW)
    mark = joined.column(_MARK)
    if mark.null_count:
        return None
    older = rules.arrow_older(joined.column(spec.timestamp), mark)
    return pc.fill_null(older, False).combine_chunks()


class PgUpsert:
    """The keyed steps of one PostgreSQL sink (its shared SQL steps and its driver)."""

    def __init__(self, sql: SqlContract, driver: PostgresDriver) -> None:
        self.sql = sql
        self.driver = driver

    def write(
        self,
        state: SqlState,
        spec: TableSpec,
        rows: pa.Table,
        scopes: pa.Table | None,
        mode: Mode,
        merged: Merged | None,
    ) -> WriteCounts:
        """The contract path, once :meth:`insert_new` declined (``merged``: what it found merging the watermarks).

        When the merged watermarks cover every row's scope, the rows older than them are skipped here, before
        staging (the same rule as :meth:`skip_older`, ``rules.arrow_older``, on the same watermarks: merged under
        their row locks in this transaction); a batch with nothing newer stages nothing at all."""
        skipped = 0
        if mode == "upsert" and merged is not None and merged.older is not None:
            skipped = int(pc.sum(merged.older).as_py() or 0)
            if skipped:
                rows = rows.filter(pc.invert(merged.older))
            if rows.num_rows == 0:
                return WriteCounts(skipped=skipped, deleted=self.reconcile(spec, merged.touched))
        upsert = functools.partial(self.upsert, merged=merged, skipped=merged is not None and merged.older is not None)
        counts = self.sql.write(state, spec, rows, scopes, mode, upsert)
        counts.skipped += skipped
        return counts

    def upsert(
        self,
        spec: TableSpec,
        rows: pa.Table,
        scopes: pa.Table | None,
        mode: Mode,
        reconciles: bool,
        *,
        merged: Merged | None,
        skipped: bool,
    ) -> WriteCounts:
        """The keyed steps on the staged rows: watermarks (unless merged already), rows older than their scope's
        watermark skipped (unless :meth:`write` did), one guarded statement, reconciliation."""
        counts = WriteCounts()
        if reconciles:
            if merged is None:
                merged = self.merge_watermarks(spec, rows, scopes)
            if not (skipped and mode == "upsert"):
                counts.skipped += self.skip_older(spec)
        counts += self.classify_and_apply(spec, mode, rows)
        if reconciles:
            assert merged is not None
            counts.deleted += self.reconcile(spec, merged.touched)
        return counts

    def insert_new(
        self, state: SqlState, spec: TableSpec, rows: pa.Table, scopes: pa.Table | None
    ) -> tuple[WriteCounts | None, Merged | None]:
        """The fast path of first loads: when no scope of the batch has a watermark yet (scoped tables) or no key
        of it is stored (the others), every row is an insert and nothing needs staging: COPY the rows straight into
        the table, in a savepoint. None when the batch does not qualify, or when the COPY meets a stored key (one
        written without its scope, or by a concurrent writer): the contract path follows. Also the scopes whose
        watermarks were merged (None if none were), for that path.

        On a scoped table this transaction created and has only written by this path, the scopes without a
        watermark have no rows at all (nobody else sees the table yet): nothing to reconcile, and when the key holds
        the scope columns no key can clash, so the savepoint goes too (a savepoint per table and batch is a
        subtransaction each; PostgreSQL's readers slow down past 64 of them in one transaction)."""
        target = self.sql.table_ref(spec)
        fresh = spec.qualified in state.fresh and bool(spec.scope)
        merged = None
        if spec.scope:
            merged = self.merge_watermarks(spec, rows, scopes)
            if not merged.new:
                return None, merged
            # games never seen: their rows are almost surely new (a stored one makes the COPY fail, see below)
        else:
            keys, params = self.arrays(spec, rows.select(list(spec.primary_key)))
            match = self.sql.match(spec.primary_key, "s", "t")
            if self.driver.exec(f"SELECT EXISTS (SELECT 1 FROM {keys} JOIN {target} AS t ON {match})", params)[0][0]:
                return None, merged
        if fresh and set(spec.scope) <= set(spec.primary_key):
            self.driver.copy(target, rows, spec)
            return WriteCounts(inserted=rows.num_rows), merged
        self.driver.exec("SAVEPOINT tm_insert_new")
        try:
            self.driver.copy(target, rows, spec)
        except SinkError as exc:
            if not isinstance(exc.__cause__, self.driver.pg.errors.UniqueViolation):
                raise
            self.driver.exec("ROLLBACK TO SAVEPOINT tm_insert_new")  # stored already, or inserted by another writer
            return None, merged
        self.driver.exec("RELEASE SAVEPOINT tm_insert_new")
        deleted = self.reconcile(spec, merged.touched) if merged is not None and not fresh else 0
        return WriteCounts(inserted=rows.num_rows, deleted=deleted), merged

    def merge_watermarks(self, spec: TableSpec, rows: pa.Table, scopes: pa.Table | None) -> Merged:
        """Merge the batch's scopes into the watermarks with GREATEST under row locks (safe with other writers: a
        second writer of a scope waits for the first to commit); scope values travel as arrays, not a temp table.
        The merged watermarks come back (``RETURNING``): which rows are older than their scope's, and whether
        none of the scopes had a watermark before (:class:`Merged`)."""
        timestamp = spec.timestamp
        assert timestamp is not None
        scope = list(spec.scope)
        scope_cols = ", ".join(self.sql.q(c) for c in scope)
        ts = self.sql.q(timestamp)
        if scopes is None:  # no scope batch given: the rows themselves say which scopes they cover
            scopes = rows.group_by(scope).aggregate([(timestamp, "max")]).rename_columns([*scope, timestamp])
        touched = scopes.select([*scope, timestamp])
        scoped = self.arrays(spec, touched.select(scope))
        if not touched.num_rows:
            return Merged(scoped, None, fresh=False)
        source, params = self.arrays(spec, touched)
        merged = rules.merged_mark_sql(self.sql.dialect, timestamp, "EXCLUDED", "w")
        found = self.driver.exec(
            f"INSERT INTO {self.sql.watermark_ref(spec)} AS w ({scope_cols}, {ts}) "
            f"SELECT {scope_cols}, max({ts}) FROM {source} GROUP BY {scope_cols} ORDER BY {scope_cols} "
            f"ON CONFLICT ({scope_cols}) DO UPDATE SET {ts} = {merged} "
            f"RETURNING {self.sql.cols_of(spec.scope, 'w')}, w.{ts}, (w.xmax = 0)",
            params,
        )
        columns = list(zip(*found, strict=True))
        marks = pa.table(
            [
                pa.array(list(v), touched.schema.field(c).type)
                for v, c in zip(columns, [*scope, timestamp], strict=False)
            ],
            names=[*scope, _MARK],
        )
        return Merged(scoped, _older(spec, rows, marks), fresh=all(columns[-1]))

    def skip_older(self, spec: TableSpec) -> int:
        """Drop (and count) staged rows older than their scope's watermark."""
        assert spec.timestamp is not None
        older = rules.older_sql(self.sql.dialect, spec.timestamp, "s", "n")
        # every stored watermark, not only the touched ones: rows of a scope that this batch does not reconcile are
        # still older than its newest applied snapshot, and must not come back
        return self.driver.exec_count(
            f"DELETE FROM {self.sql.q(STAGE)} AS s USING {self.sql.watermark_ref(spec)} AS n "
            f"WHERE {self.sql.match(spec.scope, 'n', 's')} AND {older}"
        )

    def arrays(self, spec: TableSpec, table: pa.Table) -> tuple[str, list[Any]]:
        """``unnest(%s::type[], ...) AS s(cols)`` and its parameters: a small Arrow table as a row source."""
        types = [self.driver.column_type(spec.column(c).type) for c in table.column_names]
        args = ", ".join(f"%s::{t}[]" for t in types)
        cols = ", ".join(self.sql.q(c) for c in table.column_names)
        return f"unnest({args}) AS s({cols})", [table.column(c).to_pylist() for c in table.column_names]

    def reconcile(self, spec: TableSpec, touched: Touched) -> int:
        """Delete stored rows of the touched scopes older than their (merged) watermark: absent from the newest."""
        assert spec.timestamp is not None
        source, params = touched
        if not params[0]:
            return 0
        older = rules.older_sql(self.sql.dialect, spec.timestamp, "t", "n")
        return self.driver.exec_count(
            f"DELETE FROM {self.sql.table_ref(spec)} AS t USING {self.sql.watermark_ref(spec)} AS n "
            f"WHERE {self.sql.match(spec.scope, 'n', 't')} AND {older} "
            f"AND ({self.sql.cols_of(spec.scope, 'n')}) IN (SELECT * FROM {source})",
            params,
        )

    def classify_and_apply(self, spec: TableSpec, mode: Mode, rows: pa.Table) -> WriteCounts:
        """Classify against the stored rows and apply in one statement: only rows classified insert / update go to
        the guarded ``INSERT ... ON CONFLICT`` (the others are neither written nor locked), and the guard decides
        again on the newest committed row, so a concurrent writer's newer row wins. Inserted / updated come from
        ``RETURNING``, unchanged / skipped from the classification (same numbers as the shared SQL)."""
        q, dialect = self.sql.q, self.sql.dialect
        key = ", ".join(q(c) for c in spec.primary_key)
        stage, target, cols = q(STAGE), self.sql.table_ref(spec), self.sql.cols(spec)
        first = q(spec.primary_key[0])
        append_once = mode == "append_once"
        decide = rules.classify_sql(dialect, spec.timestamp, "s", "t", spec.primary_key[0], append_once, spec.tie)
        if append_once:  # existing keys are skipped, never updated nor unchanged
            conflict = "DO NOTHING"
        else:
            sets = ", ".join(
                f"{q(c)} = EXCLUDED.{q(c)}" for c in (*spec.column_names, HASH_COLUMN) if c not in spec.primary_key
            )
            # the guard again, on the newest committed row under its lock: a concurrent writer's newer row stays
            conflict = (
                f"DO UPDATE SET {sets} WHERE {rules.wins_sql(dialect, spec.timestamp, 'EXCLUDED', 't', spec.tie)}"
            )
        # Only the stored rows whose first key column has a value of the batch can match: saying so lets the server
        # read them by the primary key's index instead of scanning the whole table for every batch.
        probe = [pc.unique(rows.column(spec.primary_key[0])).to_pylist()]
        array = f"%s::{self.driver.column_type(spec.column(spec.primary_key[0]).type)}[]"
        stored = f"(SELECT * FROM {target} WHERE {first} = ANY({array}))"
        row = self.driver.exec(
            f"WITH c AS (SELECT s.*, {decide} AS a "
            f"FROM {stage} AS s LEFT JOIN {stored} AS t ON {self.sql.match(spec.primary_key, 's', 't')}), "
            f"up AS (INSERT INTO {target} AS t ({cols}) SELECT {cols} FROM c WHERE a IN ('insert', 'update') "
            f"ORDER BY {key} "
            f"ON CONFLICT ({key}) {conflict} RETURNING (t.xmax = 0) AS ins) "
            "SELECT count(*), count(*) FILTER (WHERE a = 'unchanged'), "
            "(SELECT count(*) FILTER (WHERE ins) FROM up), (SELECT count(*) FILTER (WHERE NOT ins) FROM up) FROM c",
            probe,
        )[0]
        staged, unchanged, inserted, updated = (int(v) for v in row)
        return WriteCounts(
            inserted=inserted,
            updated=updated,
            unchanged=unchanged,
            skipped=staged - inserted - updated - unchanged,  # older, tie lost, or beaten by a concurrent writer
        )
