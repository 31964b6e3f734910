"""PostgreSQL (psycopg 3): the shared SQL contract plus a native, concurrency-safe upsert. One transaction per run.

The sink composes :class:`~tidemark.sinks.sql.SqlContract` (DDL, overwrite, append, quarantine) with a
:class:`~tidemark.sinks.pg_driver.PostgresDriver` (statements, ``COPY`` staging), and replaces only what differs:

- the keyed steps (``pg_upsert.py``): watermarks merged with ``GREATEST`` under row locks, one guarded statement
  that classifies and applies, and a first-load shortcut that copies new rows straight into the table;
- foreign keys (``pg_foreign_keys.py``): the contract's orphan probe as one anti-join over arrays, and the
  constraints behind it.

Concurrency: the guard is checked again on the newest committed row under its row lock, so two writers cannot lose
each other's newer rows; the watermark row of a scope makes a second writer of the same scope wait. Keys are
locked in key order; a deadlock or serialization failure that still happens is a
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
from pydantic import BaseModel, ConfigDict, Field

from tidemark.contract import orphans
from tidemark.contract.counts import Mode, WriteCounts
from tidemark.errors import ConfigError, MissingDependencyError, SinkTerminalError
from tidemark.sinks import pg_errors, pg_foreign_keys
from tidemark.sinks.base import Capabilities, QuarantineEntry, Sink
from tidemark.sinks.names import check_names
from tidemark.sinks.pg_driver import PostgresDriver
from tidemark.sinks.pg_foreign_keys import fk_name
from tidemark.sinks.pg_upsert import Merged, PgUpsert
from tidemark.sinks.sql import SqlContract, SqlState
from tidemark.tables import HASH_COLUMN, TableSpec

__all__ = ["ENV_DSN", "SCHEMES", "PostgresConfig", "PostgresSink", "fk_name"]

ENV_DSN = "TIDEMARK_PG_DSN"
SCHEMES = ("postgresql", "postgres")
# pg_advisory_xact_lock keys: DDL (creating / altering tables) one run at a time; runs vs a run retrying a conflict
_DDL_LOCK = 0x7469_6465
_RUN_LOCK = 0x7469_6466


_SWITCH = {"on": True, "true": True, "1": True, "yes": True, "off": False, "false": False, "0": False, "no": False}


class PostgresConfig(BaseModel):
    """``postgresql://user:password@host:port/dbname`` (or ``postgres:`` alone: the DSN in ``TIDEMARK_PG_DSN``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["postgres"] = "postgres"
    dsn: str = Field(repr=False)  # may hold a password: never in repr, logs or errors
    foreign_keys: bool = True
    #: the fill factor of the tables tidemark creates (None: the server's, 100). Room left on each page lets an update
    #: of a row (a newer snapshot) stay on its page without new index entries (a HOT update): docs/sinks.md
    fillfactor: int | None = Field(default=None, ge=10, le=100)

    @classmethod
    def from_url(cls, url: str) -> PostgresConfig:
        """``postgresql://...`` / ``postgres://...`` as given (``?foreign_keys=off`` and ``?fillfactor=N`` are
        tidemark's, the rest goes to libpq); ``postgres:`` / ``postgresql:`` alone reads ``TIDEMARK_PG_DSN``;
        ``postgres:host=... dbname=...`` is a libpq key/value string."""
        rest = url.partition(":")[2]
        if rest.startswith("//"):
            parts = urlsplit(url)
            query = parse_qsl(parts.query, keep_blank_values=True)
            flags = [v.lower() for k, v in query if k == "foreign_keys"]
            if any(f not in _SWITCH for f in flags):
                raise ConfigError(f"foreign_keys={flags[-1]} in the sink URL: use on or off")
            fills = [v for k, v in query if k == "fillfactor"]
            if any(not (f.isdigit() and 10 <= int(f) <= 100) for f in fills):
                raise ConfigError(f"fillfactor={fills[-1]} in the sink URL: use a whole number from 10 to 100")
            ours = ("foreign_keys", "fillfactor")
            dsn = urlunsplit(parts._replace(query=urlencode([(k, v) for k, v in query if k not in ours])))
            return cls(
                dsn=dsn,
                foreign_keys=_SWITCH[flags[-1]] if flags else True,
                fillfactor=int(fills[-1]) if fills else None,
            )
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
        self.keyed = PgUpsert(self.sql, self.driver)
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
                pg_foreign_keys.add_pending(self.sql, self.driver, state, at_commit=True)
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
            state.fresh.add(spec.qualified)  # see PgUpsert.insert_new
            if self.config.fillfactor is not None:  # a validated int (10-100): storage parameters take no parameters
                self.driver.exec(
                    f"ALTER TABLE {self.sql.table_ref(spec)} SET (fillfactor = {int(self.config.fillfactor)})"
                )
        if self.config.foreign_keys:
            state.pending_fks.extend((spec, fk, created) for fk in spec.foreign_keys)
            pg_foreign_keys.add_pending(self.sql, self.driver, state)

    def _needs_watermark(self, spec: TableSpec) -> bool:
        if not spec.scope:
            return False
        wm = self.sql.watermark_ref(spec)
        return not self.driver.exec("SELECT to_regclass(%s)", [wm])[0][0]

    # -- writes -------------------------------------------------------------------------------------------------
    def write(self, spec: TableSpec, rows: pa.Table, scopes: pa.Table | None, mode: Mode) -> WriteCounts:
        state = self._state()
        # orphan rows are refused here (contract/orphans.py); the deferred constraints stay as a safety net
        checked = orphans.check(
            spec,
            rows,
            scopes,
            functools.partial(pg_foreign_keys.missing_parents, self.sql, self.driver, state, spec),
            lambda suspects: self.sql.would_write(state, spec, suspects, mode),
        )
        rows, scopes = checked.rows, checked.scopes
        merged: Merged | None = None
        if mode in ("upsert", "append_once") and spec.primary_key and rows.num_rows:
            counts, merged = self.keyed.insert_new(state, spec, rows, scopes)
            if counts is not None:
                return checked.charge(counts)
        state.fresh.discard(spec.qualified)
        return checked.charge(self.keyed.write(state, spec, rows, scopes, mode, merged))

    def quarantine(self, entries: list[QuarantineEntry]) -> None:
        self.sql.quarantine(self._state(), entries)

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
