"""PostgreSQL (psycopg 3): the shared SQL contract plus a native, concurrency-safe upsert. One transaction per run.

Writes stream each Arrow batch with ``COPY`` (CSV written by Arrow) into a temporary staging table, then apply the
contract with one statement per table::

    WITH c AS (staged rows LEFT JOIN stored rows: insert / update / unchanged / skip, by contract/rules.py)
    INSERT INTO t SELECT ... FROM c WHERE a IN ('insert', 'update') ORDER BY key
    ON CONFLICT (key) DO UPDATE SET ... WHERE <the incoming row wins, rules.sql_wins>
    RETURNING (xmax = 0)            -- true: inserted, false: updated

The counts equal those of :class:`~tidemark.sinks.sql.SqlSink` (the conformance suite runs on both). The guard is
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
import io
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from pydantic import BaseModel, ConfigDict, Field

from tidemark.contract import rules
from tidemark.contract.counts import Mode, WriteCounts
from tidemark.errors import ConfigError, MissingDependencyError, SinkConflictError, SinkError, SinkTerminalError
from tidemark.sinks import pg_copy, pg_errors
from tidemark.sinks.base import Capabilities
from tidemark.sinks.sql import STAGE, SqlSink
from tidemark.tables import HASH_COLUMN, ForeignKey, TableSpec
from tidemark.types import LogicalType, from_arrow

if TYPE_CHECKING:
    import psycopg

ENV_DSN = "TIDEMARK_PG_DSN"
SCHEMES = ("postgresql", "postgres")
# pg_advisory_xact_lock keys: DDL (creating / altering tables) one run at a time; runs vs a run retrying a conflict
_DDL_LOCK = 0x7469_6465
_RUN_LOCK = 0x7469_6466
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


class PostgresSink(SqlSink):
    capabilities: ClassVar[Capabilities] = Capabilities(
        transactional=True,
        native_merge=True,
        enforces_foreign_keys=True,
        atomic_checkpoint=True,
        concurrent_writers=True,
    )
    dialect = "postgres"
    fresh_fast_path = True  # see _insert_new

    def __init__(self, config: PostgresConfig) -> None:
        super().__init__()
        try:
            import psycopg
        except ImportError as exc:
            raise MissingDependencyError("psycopg", "postgres") from exc
        self._pg = psycopg
        self.config = config
        self._info = pg_errors.conninfo(config.dsn)
        self.display = pg_errors.display(self._info)
        self._spec: TableSpec | None = None  # the table being written (types of its staging table)
        self._touched: tuple[str, list[Any]] | None = None  # scopes of the batch being written (unnest source)
        self._rows: pa.Table | None = None  # the batch being written
        self._pending_fks: list[tuple[TableSpec, ForeignKey, bool]] = []
        self._in_tx = False
        self._conflicted = False
        self.conn: psycopg.Connection[Any] | None = self._connect()

    # -- connection & transaction -------------------------------------------------------------------------------
    def _connect(self) -> psycopg.Connection[Any]:
        extra: dict[str, Any] = {"application_name": "tidemark"}
        if "connect_timeout" not in self._info:
            extra["connect_timeout"] = 10
        try:
            conn = self._pg.connect(self.config.dsn, autocommit=True, **extra)
            conn.execute("SET TimeZone TO 'UTC'")
            # staging tables are TEMP: give them memory before the first one exists (the default is 8MB)
            conn.execute("SET temp_buffers TO '64MB'")
            conn.execute("SET work_mem TO '64MB'")  # joins of a staged batch with its table stay in memory
        except self._pg.Error as exc:
            raise pg_errors.connect_error(exc, self._info) from exc
        return conn

    def begin(self) -> None:
        self._exec("BEGIN")
        self._in_tx = True
        self._overwritten.clear()
        self._fresh.clear()
        # Runs share this lock; a run starting over after a conflict takes it alone: it waits for the runs under
        # way to finish, then runs without rivals, so a retry cannot deadlock with the same writers again.
        lock = "pg_advisory_xact_lock" if self._conflicted else "pg_advisory_xact_lock_shared"
        self._conflicted = False
        self._exec(f"SELECT {lock}(%s)", [_RUN_LOCK])

    def commit(self) -> None:
        try:
            if self._pending_fks:  # tables created by this run get their foreign keys now, checked set-based
                self._add_foreign_keys(at_commit=True)
            self._exec("COMMIT")  # deferred foreign keys are checked here
        finally:
            self._in_tx = False

    def rollback(self) -> None:
        if self._in_tx and self.conn is not None and not self.conn.closed:
            with contextlib.suppress(self._pg.Error):  # a lost connection: the server rolled back already
                self.conn.execute("ROLLBACK")
        self._in_tx = False
        self._ensured.clear()
        self._pending_fks.clear()
        self._fresh.clear()

    def close(self) -> None:
        if self.conn is not None:
            self.rollback()
            self.conn.close()
            self.conn = None

    # -- driver hooks -------------------------------------------------------------------------------------------
    def _cursor(self) -> psycopg.Cursor[Any]:
        if self.conn is None:
            raise SinkTerminalError(f"the connection to {self.display} is closed")
        return self.conn.cursor()

    def _exec(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        with self._cursor() as cur:
            try:
                cur.execute(sql, params)
                return list(cur.fetchall()) if cur.description else []
            except self._pg.Error as exc:
                raise self._error(exc) from exc

    def _exec_count(self, sql: str, params: list[Any] | None = None) -> int:
        with self._cursor() as cur:
            try:
                cur.execute(sql, params)
            except self._pg.Error as exc:
                raise self._error(exc) from exc
            return max(cur.rowcount, 0)

    def _stage(self, name: str, table: pa.Table) -> None:
        """A TEMP table typed like the target's columns, filled by COPY of Arrow-written CSV."""
        defs = ", ".join(f"{self.q(f.name)} {self._stage_type(f)}" for f in table.schema)
        on_commit = " ON COMMIT DROP" if self._in_tx else ""  # see _drop_work_tables
        self._exec(f"DROP TABLE IF EXISTS {self.q(name)}; CREATE TEMP TABLE {self.q(name)} ({defs}){on_commit}")
        self._copy(self.q(name), table)

    def _copy(self, relation: str, table: pa.Table) -> None:
        """``COPY relation FROM STDIN`` of an Arrow table: in PostgreSQL's binary format, encoded column by column
        (``pg_copy.py``), or as CSV written by Arrow for column types the encoder does not know (``numeric``). The
        server stores one chunk while the next is encoded."""
        cols = ", ".join(self.q(c) for c in table.column_names)
        types = [self._stage_type(f) for f in table.schema]
        chunks = pg_copy.encoder(table, types, _COPY_ROWS)
        fmt = "binary" if chunks is not None else "csv"
        with self._cursor() as cur:
            try:
                with cur.copy(f"COPY {relation} ({cols}) FROM STDIN (FORMAT {fmt})") as copy:
                    for data in chunks if chunks is not None else self._csv(table):
                        copy.write(data)
            except self._pg.Error as exc:
                raise self._error(exc) from exc

    @staticmethod
    def _csv(table: pa.Table) -> Iterator[memoryview]:
        options = pacsv.WriteOptions(include_header=False)
        for batch in table.to_batches(max_chunksize=_COPY_ROWS):
            buf = io.BytesIO()
            pacsv.write_csv(batch, buf, options)
            yield buf.getbuffer()

    def _stage_type(self, f: pa.Field) -> str:
        if f.name == HASH_COLUMN:
            return "bigint"
        if self._spec is not None and f.name in self._spec.column_names:
            return self._column_type(self._spec.column(f.name).type)
        return self._column_type(from_arrow(f.type))

    def _column_type(self, ltype: LogicalType) -> str:
        if ltype.kind == "decimal":
            return f"numeric({ltype.precision},{ltype.scale})"
        return _TYPES[ltype.kind]

    def _same_type(self, have: str, want: LogicalType) -> bool:
        have = have.lower().split("(")[0] if have.lower().startswith("character varying") else have.lower()
        return _ALIASES.get(have, have) == self._column_type(want)

    def _existing_columns(self, schema: str | None, table: str) -> dict[str, str] | None:
        rows = self._exec(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p') "
            "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            [schema or "public", table],
        )
        return {name: dtype for name, dtype in rows} if rows else None

    def _ensure_schema(self, schema: str) -> None:
        # CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the schema exists: look first.
        if not self._exec("SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema]):
            super()._ensure_schema(schema)

    def _drop_work_tables(self) -> None:
        # In a transaction the staging table goes at commit or rollback (ON COMMIT DROP) or when the next write
        # replaces it: one round trip less per write. The only work table: scopes travel as arrays.
        if not self._in_tx and self.conn is not None:
            self._exec(f"DROP TABLE IF EXISTS {self.q(STAGE)}")

    # -- DDL ----------------------------------------------------------------------------------------------------
    def ensure_table(self, spec: TableSpec) -> None:
        if spec.qualified in self._ensured:
            return
        existing = self._existing_columns(spec.schema, spec.name)
        if existing is None or not set(spec.column_names) <= set(existing) or self._needs_watermark(spec):
            # creating or altering: one run at a time, so concurrent first runs do not race on CREATE
            self._exec("SELECT pg_advisory_xact_lock(%s)", [_DDL_LOCK])
            existing = self._existing_columns(spec.schema, spec.name)
        super().ensure_table(spec)
        if self.config.foreign_keys:
            self._pending_fks.extend((spec, fk, existing is None) for fk in spec.foreign_keys)
            self._add_foreign_keys()

    def _needs_watermark(self, spec: TableSpec) -> bool:
        if not spec.scope:
            return False
        wm = self.watermark_ref(spec)
        return not self._exec("SELECT to_regclass(%s)", [wm])[0][0]

    def _add_foreign_keys(self, *, at_commit: bool = False) -> None:
        """Add pending foreign keys whose referenced table exists (parents are ensured before children).

        On a table this run created, the key is added just before the commit (``at_commit``), validated by one
        set-based check of all its rows, as ``pg_restore`` does: checking each inserted row at commit instead
        (a deferred trigger per row) cost more than the whole COPY of a first load. Nobody else sees an
        uncommitted table, so nothing can slip in meanwhile. On existing tables the key is added at once."""
        waiting = []
        for spec, fk, created in self._pending_fks:
            if (created and not at_commit) or self._existing_columns(fk.ref_schema, fk.ref_table) is None:
                waiting.append((spec, fk, created))
                continue
            name = f"fk_{spec.name}_{'_'.join(fk.columns)}"[:63]
            ref = self.table_ref(spec)
            if self._exec("SELECT 1 FROM pg_constraint WHERE conname = %s AND conrelid = %s::regclass", [name, ref]):
                continue
            cols = ", ".join(self.q(c) for c in fk.columns)
            ref_cols = ", ".join(self.q(c) for c in fk.ref_columns)
            self._exec(
                f"ALTER TABLE {ref} ADD CONSTRAINT {self.q(name)} FOREIGN KEY ({cols}) "
                f"REFERENCES {self.qt(fk.ref_schema, fk.ref_table)} ({ref_cols}) DEFERRABLE INITIALLY DEFERRED"
                + ("" if created else " NOT VALID")  # rows stored before are not re-checked
            )
        self._pending_fks = waiting

    # -- writes -------------------------------------------------------------------------------------------------
    def write(self, spec: TableSpec, rows: pa.Table, scopes: pa.Table | None, mode: Mode) -> WriteCounts:
        self._spec, self._touched, self._rows = spec, None, rows
        try:
            if mode in ("upsert", "append_once") and spec.primary_key and rows.num_rows:
                counts = self._insert_new(spec, rows, scopes)
                if counts is not None:
                    return counts
            self._fresh.discard(spec.qualified)
            return super().write(spec, rows, scopes, mode)
        finally:
            self._spec = self._touched = self._rows = None

    def _insert_new(self, spec: TableSpec, rows: pa.Table, scopes: pa.Table | None) -> WriteCounts | None:
        """The fast path of first loads: when no scope of the batch has a watermark yet (scoped tables) or no key
        of it is stored (the others), every row is an insert and nothing needs staging: COPY the rows straight into
        the table, in a savepoint. None when the batch does not qualify, or when the COPY meets a stored key (one
        written without its scope, or by a concurrent writer): the contract path follows.

        On a scoped table this transaction created and has only written by this path, the scopes without a
        watermark have no rows at all (nobody else sees the table yet): nothing to reconcile, and when the key holds
        the scope columns no key can clash, so the savepoint goes too (a savepoint per table and batch is a
        subtransaction each; PostgreSQL's readers slow down past 64 of them in one transaction)."""
        target = self.table_ref(spec)
        fresh = spec.qualified in self._fresh and bool(spec.scope)
        if spec.scope:
            if not self._merge_watermarks(spec, rows, scopes):
                return None
            # games never seen: their rows are almost surely new (a stored one makes the COPY fail, see below)
        else:
            keys, params = self._arrays(spec, rows.select(list(spec.primary_key)))
            match = self._match(spec.primary_key, "s", "t")
            if self._exec(f"SELECT EXISTS (SELECT 1 FROM {keys} JOIN {target} AS t ON {match})", params)[0][0]:
                return None
        if fresh and set(spec.scope) <= set(spec.primary_key):
            self._copy(target, rows)
            return WriteCounts(inserted=rows.num_rows)
        self._exec("SAVEPOINT tm_insert_new")
        try:
            self._copy(target, rows)
        except SinkError as exc:
            if not isinstance(exc.__cause__, self._pg.errors.UniqueViolation):
                raise
            self._exec("ROLLBACK TO SAVEPOINT tm_insert_new")  # stored already, or inserted by another writer
            return None
        self._exec("RELEASE SAVEPOINT tm_insert_new")
        return WriteCounts(inserted=rows.num_rows, deleted=self._reconcile(spec) if spec.scope and not fresh else 0)

    def _merge_watermarks(self, spec: TableSpec, rows: pa.Table, scopes: pa.Table | None) -> bool:
        """Merge the batch's scopes into the watermarks with GREATEST under row locks (safe with other writers: a
        second writer of a scope waits for the first to commit); scope values travel as arrays, not a temp table.
        True when none of them had a watermark before and every row is as new as its scope's new watermark (then
        no staged row would be skipped: the fast path of :meth:`_insert_new` may apply)."""
        timestamp = spec.timestamp
        assert timestamp is not None
        scope_cols = ", ".join(self.q(c) for c in spec.scope)
        ts = self.q(timestamp)
        if scopes is None:  # no scope batch given: the rows themselves say which scopes they cover
            scopes = rows.group_by(list(spec.scope)).aggregate([(spec.timestamp, "max")])
            scopes = scopes.rename_columns([*spec.scope, spec.timestamp])
        touched = scopes.select([*spec.scope, spec.timestamp])
        self._touched = self._arrays(spec, touched.select(list(spec.scope)))
        if not touched.num_rows:
            return False
        source, params = self._arrays(spec, touched)
        merged = rules.merged_mark_sql(self.dialect, timestamp, "EXCLUDED", "w")
        fresh = self._exec(
            f"INSERT INTO {self.watermark_ref(spec)} AS w ({scope_cols}, {ts}) "
            f"SELECT {scope_cols}, max({ts}) FROM {source} GROUP BY {scope_cols} ORDER BY {scope_cols} "
            f"ON CONFLICT ({scope_cols}) DO UPDATE SET {ts} = {merged} "
            "RETURNING (w.xmax = 0)",
            params,
        )
        if not all(f for (f,) in fresh):
            return False
        # and no row older than its scope's new watermark (two snapshots of a game in one batch)
        scope = list(spec.scope)
        newest = {
            tuple(r[c] for c in scope): r[f"{spec.timestamp}_max"]
            for r in touched.group_by(scope).aggregate([(spec.timestamp, "max")]).to_pylist()
        }
        oldest = rows.group_by(scope).aggregate([(spec.timestamp, "min")]).to_pylist()
        return all(
            (k := tuple(r[c] for c in scope)) in newest and r[f"{spec.timestamp}_min"] >= newest[k] for r in oldest
        )

    def _apply_watermark(self, spec: TableSpec, rows: pa.Table, scopes: pa.Table | None) -> int:
        """Watermarks merged (unless the fast path did already), drop staged rows older than their scope's."""
        if self._touched is None:
            self._merge_watermarks(spec, rows, scopes)
        assert spec.timestamp is not None
        older = rules.older_sql(self.dialect, spec.timestamp, "s", "n")
        # every stored watermark, not only the touched ones: rows of a scope that this batch does not reconcile are
        # still older than its newest applied snapshot, and must not come back
        return self._exec_count(
            f"DELETE FROM {self.q(STAGE)} AS s USING {self.watermark_ref(spec)} AS n "
            f"WHERE {self._match(spec.scope, 'n', 's')} AND {older}"
        )

    def _arrays(self, spec: TableSpec, table: pa.Table) -> tuple[str, list[Any]]:
        """``unnest(%s::type[], ...) AS s(cols)`` and its parameters: a small Arrow table as a row source."""
        types = [self._column_type(spec.column(c).type) for c in table.column_names]
        args = ", ".join(f"%s::{t}[]" for t in types)
        cols = ", ".join(self.q(c) for c in table.column_names)
        return f"unnest({args}) AS s({cols})", [table.column(c).to_pylist() for c in table.column_names]

    def _reconcile(self, spec: TableSpec) -> int:
        """Delete stored rows of the touched scopes older than their (merged) watermark: absent from the newest."""
        assert spec.timestamp is not None and self._touched is not None
        source, params = self._touched
        if not params[0]:
            return 0
        older = rules.older_sql(self.dialect, spec.timestamp, "t", "n")
        return self._exec_count(
            f"DELETE FROM {self.table_ref(spec)} AS t USING {self.watermark_ref(spec)} AS n "
            f"WHERE {self._match(spec.scope, 'n', 't')} AND {older} "
            f"AND ({self._cols_of(spec.scope, 'n')}) IN (SELECT * FROM {source})",
            params,
        )

    def _classify_and_apply(self, spec: TableSpec, mode: Mode) -> WriteCounts:
        """Classify against the stored rows and apply in one statement: only rows classified insert / update go to
        the guarded ``INSERT ... ON CONFLICT`` (the others are neither written nor locked), and the guard decides
        again on the newest committed row, so a concurrent writer's newer row wins. Inserted / updated come from
        ``RETURNING``, unchanged / skipped from the classification (same numbers as the shared SQL)."""
        key = ", ".join(self.q(c) for c in spec.primary_key)
        stage, target, cols = self.q(STAGE), self.table_ref(spec), self._cols(spec)
        first = self.q(spec.primary_key[0])
        append_once = mode == "append_once"
        decide = rules.classify_sql(self.dialect, spec.timestamp, "s", "t", spec.primary_key[0], append_once)
        if append_once:  # existing keys are skipped, never updated nor unchanged
            conflict = "DO NOTHING"
        else:
            sets = ", ".join(
                f"{self.q(c)} = EXCLUDED.{self.q(c)}"
                for c in (*spec.column_names, HASH_COLUMN)
                if c not in spec.primary_key
            )
            # the guard again, on the newest committed row under its lock: a concurrent writer's newer row stays
            conflict = f"DO UPDATE SET {sets} WHERE {rules.wins_sql(self.dialect, spec.timestamp, 'EXCLUDED', 't')}"
        # Only the stored rows whose first key column has a value of the batch can match: saying so lets the server
        # read them by the primary key's index instead of scanning the whole table for every batch.
        probe: list[Any] = []
        stored = target
        if self._rows is not None:
            probe = [pc.unique(self._rows.column(spec.primary_key[0])).to_pylist()]
            array = f"%s::{self._column_type(spec.column(spec.primary_key[0]).type)}[]"
            stored = f"(SELECT * FROM {target} WHERE {first} = ANY({array}))"
        row = self._exec(
            f"WITH c AS (SELECT s.*, {decide} AS a "
            f"FROM {stage} AS s LEFT JOIN {stored} AS t ON {self._match(spec.primary_key, 's', 't')}), "
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

    def _error(self, exc: Exception) -> SinkError:
        lost = self.conn is None or self.conn.closed
        error = pg_errors.translate(self._pg, exc, self._info, connection_lost=lost)
        if isinstance(error, SinkConflictError):
            self._conflicted = True  # the next begin() runs alone
        return error

    # -- reads --------------------------------------------------------------------------------------------------
    def read_table(self, spec: TableSpec) -> pa.Table:
        return self._read(spec, spec.column_names, pa.schema([f for f in spec.arrow_schema if f.name != HASH_COLUMN]))

    def read_hashes(self, spec: TableSpec) -> pa.Table:
        """Stored rows with their content hash (for tests of the tie-break)."""
        return self._read(spec, (*spec.column_names, HASH_COLUMN), spec.arrow_schema)

    def _read(self, spec: TableSpec, columns: tuple[str, ...], schema: pa.Schema) -> pa.Table:
        if self._existing_columns(spec.schema, spec.name) is None:
            raise SinkTerminalError(f"table {spec.qualified} does not exist in {self.display}")
        json_cols = {c.name for c in spec.columns if c.type.kind == "json"}
        select = ", ".join(f"{self.q(c)}::text" if c in json_cols else self.q(c) for c in columns)
        key = ", ".join(self.q(c) for c in spec.primary_key) or "1"
        rows = self._exec(f"SELECT {select} FROM {self.table_ref(spec)} ORDER BY {key}")
        data = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
        return pa.table([pa.array(list(v), type=f.type) for v, f in zip(data, schema, strict=True)], schema=schema)
