"""PostgreSQL (psycopg 3): the shared SQL contract plus a native, concurrency-safe upsert. One transaction per run.

The sink composes :class:`~tidemark.sinks.sql.SqlContract` (DDL, overwrite, append, quarantine) with a
:class:`~tidemark.sinks.pg_driver.PostgresDriver`, and replaces only the keyed steps: watermarks merged with
``GREATEST`` under row locks, one guarded statement that classifies and applies, and a first-load shortcut.

Writes stream each Arrow batch with ``COPY`` into a temporary staging table, then apply the contract with one
statement per table::

    WITH c AS (staged rows LEFT JOIN stored rows: insert / update / unchanged / skip, by contract/rules.py)
    INSERT INTO t SELECT ... FROM c WHERE a IN ('insert', 'update') ORDER BY key
    ON CONFLICT (key) DO UPDATE SET ... WHERE <the incoming row wins, rules.sql_wins>
    RETURNING (xmax = 0)            -- true: inserted, false: updated

The counts equal those of the shared steps (the conformance suite runs on both). The guard is
checked again on the newest committed row under its row lock, so two writers cannot lose each other's newer rows;
watermarks of scoped tables are merged with ``GREATEST`` the same way, and their row lock makes a second writer of
the same scope wait. Keys are locked in key order; a deadlock or serialization failure that still happens is a
:class:`~tidemark.errors.SinkConflictError`: the runtime starts the run over, and that run runs alone.

Foreign keys are created ``DEFERRABLE INITIALLY DEFERRED`` (checked at commit) once the referenced table exists;
``foreign_keys: false`` in the config leaves them out. Errors are translated in ``pg_errors.py``; the password of the
DSN never appears in ``display``, errors or summaries.
"""

from __future__ import annotations

import contextlib
import functools
import os
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field

from tidemark.contract import rules
from tidemark.contract.counts import Mode, WriteCounts
from tidemark.errors import ConfigError, MissingDependencyError, SinkError, SinkTerminalError
from tidemark.sinks import pg_errors
from tidemark.sinks.base import Capabilities, QuarantineEntry, Sink
from tidemark.sinks.bookkeeping import MAX_NAME, internal_name
from tidemark.sinks.names import check_names
from tidemark.sinks.pg_driver import PostgresDriver
from tidemark.sinks.sql import STAGE, SqlContract, SqlState
from tidemark.tables import HASH_COLUMN, ForeignKey, TableSpec

ENV_DSN = "TIDEMARK_PG_DSN"
SCHEMES = ("postgresql", "postgres")
# pg_advisory_xact_lock keys: DDL (creating / altering tables) one run at a time; runs vs a run retrying a conflict
_DDL_LOCK = 0x7469_6465
_RUN_LOCK = 0x7469_6466


def fk_name(spec: TableSpec, fk: ForeignKey) -> str:
    """``fk_<table>_<columns>`` when that fits in 63 bytes (the name existing stores have), else a name derived
    with a digest (sinks/bookkeeping.py), so two keys of one table never share a cut name."""
    name = f"fk_{spec.name}_{'_'.join(fk.columns)}"
    return name if len(name.encode()) <= MAX_NAME else internal_name("fk", spec.name, *fk.columns)


_SWITCH = {"on": True, "true": True, "1": True, "yes": True, "off": False, "false": False, "0": False, "no": False}


class PostgresConfig(BaseModel):
    """``postgresql://user:password@host:port/dbname`` (or ``postgres:`` alone: the DSN in ``TIDEMARK_PG_DSN``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["postgres"] = "postgres"
    dsn: str = Field(repr=False)  # may hold a password: never in repr, logs or errors
    foreign_keys: bool = True

    @classmethod
    def from_url(cls, url: str) -> PostgresConfig:
        """``postgresql://...`` / ``postgres://...`` as given (``?foreign_keys=off`` is tidemark's, the rest goes to
        libpq); ``postgres:`` / ``postgresql:`` alone reads ``TIDEMARK_PG_DSN``; ``postgres:host=... dbname=...`` is a
        libpq key/value string."""
        rest = url.partition(":")[2]
        if rest.startswith("//"):
            parts = urlsplit(url)
            query = parse_qsl(parts.query, keep_blank_values=True)
            flags = [v.lower() for k, v in query if k == "foreign_keys"]
            if any(f not in _SWITCH for f in flags):
                raise ConfigError(f"foreign_keys={flags[-1]} in the sink URL: use on or off")
            dsn = urlunsplit(parts._replace(query=urlencode([(k, v) for k, v in query if k != "foreign_keys"])))
            return cls(dsn=dsn, foreign_keys=_SWITCH[flags[-1]] if flags else True)
        dsn = rest.strip() or os.environ.get(ENV_DSN, "")
        if not dsn:
            raise ConfigError(
                f"no PostgreSQL DSN in {url!r} and {ENV_DSN} is not set: use --sink postgresql://user@host:5432/db "
                f"or set {ENV_DSN}"
            )
        return cls(dsn=dsn)


class PostgresSink(Sink):
    capabilities: ClassVar[Capabilities] = Capabilities(
        transactional=True,
        enforces_foreign_keys=True,
        atomic_checkpoint=True,
        concurrent_writers=True,
        max_identifier_bytes=63,  # NAMEDATALEN - 1: longer names are cut
    )

    def __init__(self, config: PostgresConfig) -> None:
        try:
            import psycopg
        except ImportError as exc:
            raise MissingDependencyError("psycopg", "postgres") from exc
        self._pg = psycopg
        self.config = config
        self.driver = PostgresDriver(psycopg, config.dsn, pg_errors.conninfo(config.dsn))
        self.display = self.driver.display
        self.sql = SqlContract(self.driver)
        self._tx: SqlState | None = None  # the open transaction's state

    @property
    def conn(self) -> Any:
        """The psycopg connection (None once closed)."""
        return self.driver.conn

    def q(self, name: str) -> str:
        return self.sql.q(name)

    def _state(self) -> SqlState:
        if self._tx is None:
            raise SinkTerminalError(f"no transaction is open on {self.display}: call begin() first")
        return self._tx

    # -- transaction --------------------------------------------------------------------------------------------
    def begin(self) -> None:
        self.driver.exec("BEGIN")
        self.driver.in_tx = True
        self._tx = SqlState()
        # Runs share this lock; a run starting over after a conflict takes it alone: it waits for the runs under
        # way to finish, then runs without rivals, so a retry cannot deadlock with the same writers again.
        lock = "pg_advisory_xact_lock" if self.driver.conflicted else "pg_advisory_xact_lock_shared"
        self.driver.conflicted = False
        self.driver.exec(f"SELECT {lock}(%s)", [_RUN_LOCK])

    def commit(self) -> None:
        try:
            state = self._state()
            if state.pending_fks:  # tables created by this run get their foreign keys now, checked set-based
                self._add_foreign_keys(state, at_commit=True)
            self.driver.exec("COMMIT")  # deferred foreign keys are checked here
        finally:
            self.driver.in_tx = False
            self._tx = None

    def rollback(self) -> None:
        conn = self.driver.conn
        if self.driver.in_tx and conn is not None and not conn.closed:
            with contextlib.suppress(self._pg.Error):  # a lost connection: the server rolled back already
                conn.execute("ROLLBACK")
        self.driver.in_tx = False
        self._tx = None

    def close(self) -> None:
        if self.driver.conn is not None:
            self.rollback()
            self.driver.conn.close()
            self.driver.conn = None

    # -- DDL ----------------------------------------------------------------------------------------------------
    def ensure_table(self, spec: TableSpec) -> None:
        state = self._state()
        if spec.qualified in state.ensured:
            return
        check_names(spec, self.capabilities.max_identifier_bytes, self.display)
        existing = self.driver.existing_columns(spec.schema, spec.name)
        if existing is None or not set(spec.column_names) <= set(existing) or self._needs_watermark(spec):
            # creating or altering: one run at a time, so concurrent first runs do not race on CREATE
            self.driver.exec("SELECT pg_advisory_xact_lock(%s)", [_DDL_LOCK])
        created = self.sql.ensure_table(state, spec) is None
        if created:
            state.fresh.add(spec.qualified)  # see _insert_new
        if self.config.foreign_keys:
            state.pending_fks.extend((spec, fk, created) for fk in spec.foreign_keys)
            self._add_foreign_keys(state)

    def _needs_watermark(self, spec: TableSpec) -> bool:
        if not spec.scope:
            return False
        wm = self.sql.watermark_ref(spec)
        return not self.driver.exec("SELECT to_regclass(%s)", [wm])[0][0]

    def _add_foreign_keys(self, state: SqlState, *, at_commit: bool = False) -> None:
        """Add pending foreign keys whose referenced table exists (parents are ensured before children).

        On a table this run created, the key is added just before the commit (``at_commit``), validated by one
        set-based check of all its rows, as ``pg_restore`` does: checking each inserted row at commit instead
        (a deferred trigger per row) cost more than the whole COPY of a first load. Nobody else sees an
        uncommitted table, so nothing can slip in meanwhile. On existing tables the key is added at once."""
        waiting = []
        for spec, fk, created in state.pending_fks:
            if (created and not at_commit) or self.driver.existing_columns(fk.ref_schema, fk.ref_table) is None:
                waiting.append((spec, fk, created))
                continue
            ref, parent = self.sql.table_ref(spec), self.driver.qt(fk.ref_schema, fk.ref_table)
            if self._has_foreign_key(ref, parent, fk):
                continue
            name = fk_name(spec, fk)
            cols = ", ".join(self.q(c) for c in fk.columns)
            ref_cols = ", ".join(self.q(c) for c in fk.ref_columns)
            self.driver.exec(
                f"ALTER TABLE {ref} ADD CONSTRAINT {self.q(name)} FOREIGN KEY ({cols}) "
                f"REFERENCES {parent} ({ref_cols}) DEFERRABLE INITIALLY DEFERRED"
                + ("" if created else " NOT VALID")  # rows stored before are not re-checked
            )
        state.pending_fks = waiting

    def _has_foreign_key(self, table: str, parent: str, fk: ForeignKey) -> bool:
        """The table has this foreign key already, under any name (names were once cut at 63 characters, so two
        keys of one table could share one: the definition decides, and no key is added twice)."""
        found = self.driver.exec(
            "SELECT 1 FROM pg_constraint c WHERE c.conrelid = %s::regclass AND c.contype = 'f' "
            "AND c.confrelid = %s::regclass AND (SELECT array_agg(a.attname::text ORDER BY k.i) "
            "FROM unnest(c.conkey) WITH ORDINALITY AS k(n, i) "
            "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n) = %s::text[]",
            [table, parent, list(fk.columns)],
        )
        return bool(found)

    # -- writes -------------------------------------------------------------------------------------------------
    def write(self, spec: TableSpec, rows: pa.Table, scopes: pa.Table | None, mode: Mode) -> WriteCounts:
        state = self._state()
        # orphan rows are refused here (contract/orphans.py); the deferred constraints stay as a safety net
        checked = self.sql.check_parents(state, spec, rows, scopes, mode)
        rows, scopes = checked.rows, checked.scopes
        touched: _Touched | None = None
        if mode in ("upsert", "append_once") and spec.primary_key and rows.num_rows:
            counts, touched = self._insert_new(state, spec, rows, scopes)
            if counts is not None:
                return checked.charge(counts)
        state.fresh.discard(spec.qualified)
        upsert = functools.partial(self._upsert, touched=touched)
        return checked.charge(self.sql.write(state, spec, rows, scopes, mode, upsert))

    def quarantine(self, entries: list[QuarantineEntry]) -> None:
        self.sql.quarantine(self._state(), entries)

    def _upsert(
        self,
        spec: TableSpec,
        rows: pa.Table,
        scopes: pa.Table | None,
        mode: Mode,
        reconciles: bool,
        *,
        touched: _Touched | None,
    ) -> WriteCounts:
        """The keyed steps on the staged rows: watermarks (unless the first-load attempt merged them already),
        rows older than their scope's watermark skipped, one guarded statement, reconciliation."""
        counts = WriteCounts()
        if reconciles:
            if touched is None:
                touched, _ = self._merge_watermarks(spec, rows, scopes)
            counts.skipped += self._skip_older(spec)
        counts += self._classify_and_apply(spec, mode, rows)
        if reconciles:
            assert touched is not None
            counts.deleted += self._reconcile(spec, touched)
        return counts

    def _insert_new(
        self, state: SqlState, spec: TableSpec, rows: pa.Table, scopes: pa.Table | None
    ) -> tuple[WriteCounts | None, _Touched | None]:
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
        touched = None
        if spec.scope:
            touched, new = self._merge_watermarks(spec, rows, scopes)
            if not new:
                return None, touched
            # games never seen: their rows are almost surely new (a stored one makes the COPY fail, see below)
        else:
            keys, params = self._arrays(spec, rows.select(list(spec.primary_key)))
            match = self.sql.match(spec.primary_key, "s", "t")
            if self.driver.exec(f"SELECT EXISTS (SELECT 1 FROM {keys} JOIN {target} AS t ON {match})", params)[0][0]:
                return None, touched
        if fresh and set(spec.scope) <= set(spec.primary_key):
            self.driver.copy(target, rows, spec)
            return WriteCounts(inserted=rows.num_rows), touched
        self.driver.exec("SAVEPOINT tm_insert_new")
        try:
            self.driver.copy(target, rows, spec)
        except SinkError as exc:
            if not isinstance(exc.__cause__, self._pg.errors.UniqueViolation):
                raise
            self.driver.exec("ROLLBACK TO SAVEPOINT tm_insert_new")  # stored already, or inserted by another writer
            return None, touched
        self.driver.exec("RELEASE SAVEPOINT tm_insert_new")
        deleted = self._reconcile(spec, touched) if touched is not None and not fresh else 0
        return WriteCounts(inserted=rows.num_rows, deleted=deleted), touched

    def _merge_watermarks(self, spec: TableSpec, rows: pa.Table, scopes: pa.Table | None) -> tuple[_Touched, bool]:
        """Merge the batch's scopes into the watermarks with GREATEST under row locks (safe with other writers: a
        second writer of a scope waits for the first to commit); scope values travel as arrays, not a temp table.
        True when none of them had a watermark before and every row is as new as its scope's new watermark (then
        no staged row would be skipped: the fast path of :meth:`_insert_new` may apply), with the touched scopes."""
        timestamp = spec.timestamp
        assert timestamp is not None
        scope_cols = ", ".join(self.sql.q(c) for c in spec.scope)
        ts = self.sql.q(timestamp)
        if scopes is None:  # no scope batch given: the rows themselves say which scopes they cover
            scopes = rows.group_by(list(spec.scope)).aggregate([(spec.timestamp, "max")])
            scopes = scopes.rename_columns([*spec.scope, spec.timestamp])
        touched = scopes.select([*spec.scope, spec.timestamp])
        scoped = self._arrays(spec, touched.select(list(spec.scope)))
        if not touched.num_rows:
            return scoped, False
        source, params = self._arrays(spec, touched)
        merged = rules.merged_mark_sql(self.sql.dialect, timestamp, "EXCLUDED", "w")
        fresh = self.driver.exec(
            f"INSERT INTO {self.sql.watermark_ref(spec)} AS w ({scope_cols}, {ts}) "
            f"SELECT {scope_cols}, max({ts}) FROM {source} GROUP BY {scope_cols} ORDER BY {scope_cols} "
            f"ON CONFLICT ({scope_cols}) DO UPDATE SET {ts} = {merged} "
            "RETURNING (w.xmax = 0)",
            params,
        )
        if not all(f for (f,) in fresh):
            return scoped, False
        # and no row older than its scope's new watermark (two snapshots of a game in one batch)
        scope = list(spec.scope)
        newest = {
            tuple(r[c] for c in scope): r[f"{spec.timestamp}_max"]
            for r in touched.group_by(scope).aggregate([(spec.timestamp, "max")]).to_pylist()
        }
        oldest = rows.group_by(scope).aggregate([(spec.timestamp, "min")]).to_pylist()
        return scoped, all(
            (k := tuple(r[c] for c in scope)) in newest and r[f"{spec.timestamp}_min"] >= newest[k] for r in oldest
        )

    def _skip_older(self, spec: TableSpec) -> int:
        """Drop (and count) staged rows older than their scope's watermark."""
        assert spec.timestamp is not None
        older = rules.older_sql(self.sql.dialect, spec.timestamp, "s", "n")
        # every stored watermark, not only the touched ones: rows of a scope that this batch does not reconcile are
        # still older than its newest applied snapshot, and must not come back
        return self.driver.exec_count(
            f"DELETE FROM {self.sql.q(STAGE)} AS s USING {self.sql.watermark_ref(spec)} AS n "
            f"WHERE {self.sql.match(spec.scope, 'n', 's')} AND {older}"
        )

    def _arrays(self, spec: TableSpec, table: pa.Table) -> tuple[str, list[Any]]:
        """``unnest(%s::type[], ...) AS s(cols)`` and its parameters: a small Arrow table as a row source."""
        types = [self.driver.column_type(spec.column(c).type) for c in table.column_names]
        args = ", ".join(f"%s::{t}[]" for t in types)
        cols = ", ".join(self.sql.q(c) for c in table.column_names)
        return f"unnest({args}) AS s({cols})", [table.column(c).to_pylist() for c in table.column_names]

    def _reconcile(self, spec: TableSpec, touched: _Touched) -> int:
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

    def _classify_and_apply(self, spec: TableSpec, mode: Mode, rows: pa.Table) -> WriteCounts:
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

    # -- reads --------------------------------------------------------------------------------------------------
    def read_table(self, spec: TableSpec) -> pa.Table:
        if self.driver.existing_columns(spec.schema, spec.name) is None:
            raise SinkTerminalError(f"table {spec.qualified} does not exist in {self.display}")
        q = self.sql.q
        columns = spec.column_names
        schema = pa.schema([f for f in spec.arrow_schema if f.name != HASH_COLUMN])
        json_cols = {c.name for c in spec.columns if c.type.kind == "json"}
        select = ", ".join(f"{q(c)}::text" if c in json_cols else q(c) for c in columns)
        key = ", ".join(q(c) for c in spec.primary_key) or "1"
        rows = self.driver.exec(f"SELECT {select} FROM {self.sql.table_ref(spec)} ORDER BY {key}")
        data = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
        return pa.table([pa.array(list(v), type=f.type) for v, f in zip(data, schema, strict=True)], schema=schema)


#: the scopes a write touched, as an ``unnest`` row source and its parameters
_Touched = tuple[str, list[Any]]
