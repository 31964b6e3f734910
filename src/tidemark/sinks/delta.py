"""Delta Lake through delta-rs (the ``deltalake`` package; no Spark): ``delta:PATH``, one Delta table per table.

Layout: ``PATH/<schema>/<table>`` for data, ``PATH/_tidemark/wm__<schema>__<table>_<digest>`` for the
watermarks of scoped tables and ``PATH/_tidemark/quarantine`` for refused rows (sinks/bookkeeping.py). Delta has no
transaction across tables, so:

- writes are applied to a working copy (:mod:`tidemark.sinks.working`) and nothing is written before ``commit()``:
  a failure before it leaves every table untouched;
- ``commit()`` publishes each table in one Delta commit (watermarks first, then the rows, then the quarantine):
  every table is atomic, but a crash *during* commit can leave some tables published and others not. Running
  the same input again completes it (the contract makes a re-run idempotent); a streaming caller can tag its
  micro-batches with :meth:`DeltaSink.set_transaction` so that a replay skips the tables that already have them.

An upsert is one MERGE per table whose source is the difference computed on the working copy (new or changed rows,
and tombstones of reconciled rows), guarded by the contract's predicate: newer wins, equal time and greater content
hash wins, a tombstone deletes only a row still older than its scope's watermark. The guard keeps the table right
when another writer commits in between; a ``CommitFailedError`` is retried from a fresh table version (the batches
are classified again against it) ``commit_retries`` times, then reported as a :class:`SinkTransientError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from tidemark.contract.counts import Mode, WriteCounts
from tidemark.errors import (
    ConfigError,
    MissingDependencyError,
    SinkConflictError,
    SinkError,
    SinkTerminalError,
    SinkTransientError,
)
from tidemark.sinks.base import Capabilities
from tidemark.sinks.bookkeeping import (
    checkpoint_spec,
    legacy_watermark_name,
    quarantine_spec,
    quarantine_table,
    watermark_schema,
    watermark_spec,
)
from tidemark.sinks.delta_rows import (
    DiskFull,
    Lost,
    Snapshot,
    delta_type,
    first_line,
    mark_merge,
    merge_source,
    partial,
    row_merge,
)
from tidemark.sinks.errors import ErrorTable, translate
from tidemark.sinks.names import check_names
from tidemark.sinks.rowsets import conform, stored_schema
from tidemark.sinks.schema import columns_to_add
from tidemark.sinks.working import (
    WorkingCopySink,
    WorkingTable,
    WorkState,
)
from tidemark.storage import delta_options, locate
from tidemark.tables import TableSpec


class DeltaConfig(BaseModel):
    """``delta:PATH``: a directory holding one Delta table per target table."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["delta"] = "delta"
    path: str
    commit_retries: int = Field(5, ge=0, description="retries of a commit that lost a race with another writer")
    storage_options: dict[str, str] = Field(
        default_factory=dict, repr=False, description="delta-rs storage options (AWS_ENDPOINT_URL, keys...)"
    )


@dataclass
class _Table:
    """One table's state in a transaction."""

    spec: TableSpec
    work: WorkingTable
    data: Any  # DeltaTable at the snapshot read, None when the table does not exist yet
    marks: Any  # the watermark DeltaTable, or None
    replayed: bool = False  # the transaction id is already in this table's log: nothing to do
    metrics: dict[str, int] = field(default_factory=dict)


@dataclass
class _DeltaState(WorkState[_Table]):
    #: the Delta transaction identifier tagging this transaction's commits (set_transaction)
    txn: tuple[str, int] | None = None
    #: commits made by the current commit()
    published: list[Any] = field(default_factory=list)


class DeltaSink(WorkingCopySink[_DeltaState]):
    capabilities: ClassVar[Capabilities] = Capabilities(
        transactional=False,  # one atomic commit per table; nothing is written before commit() (module docstring)
        enforces_foreign_keys=False,
        atomic_checkpoint=False,  # a checkpoint cannot share a commit with several tables; see set_transaction
        concurrent_writers=True,  # commit conflicts are retried from a fresh version under the MERGE's guard
        max_identifier_bytes=255,  # a table is a directory: a file name
    )

    def __init__(self, config: DeltaConfig) -> None:
        try:
            import deltalake
            from deltalake import exceptions
        except ImportError as exc:
            raise MissingDependencyError("deltalake", "delta") from exc
        self._dl: Any = deltalake  # typed loosely: its write overloads split on literal modes
        self._conflict = exceptions.CommitFailedError
        self._errors: ErrorTable = [
            (DiskFull, SinkTransientError, "no space left on the device holding {root}: free space there"),
            (exceptions.DeltaError, SinkTerminalError, "Delta Lake error in {root}: {exc}"),
            (OSError, SinkTransientError, "cannot write to {root}: {exc}"),
        ]
        self.config = config
        self.location = locate(config.path, config.storage_options)
        self.root = config.path
        self.options = delta_options(config.path, config.storage_options)
        self.display = f"delta:{config.path}"
        #: per table, what the last commit's MERGE (or write) reported: inserted / updated / deleted rows
        self.last_commit: dict[str, dict[str, int]] = {}

    # -- transaction --------------------------------------------------------------------------------------------
    def _new_state(self) -> _DeltaState:
        return _DeltaState()

    def begin(self) -> None:
        self._discard()
        self._work = self._new_state()

    def set_transaction(self, app_id: str, version: int) -> None:
        """Tag this transaction's commits with a Delta transaction identifier (``txn`` action).

        A table whose log already holds ``app_id`` at ``version`` or later is not written again: its writes
        return every row as ``unchanged``. Call right after :meth:`begin`, before any table is touched; a stream
        passes its id and micro-batch number so a replayed micro-batch is applied at most once per table.
        """
        state = self._state()
        if state.tables:
            raise ConfigError("set_transaction must be called right after begin(), before any table is written")
        state.txn = (app_id, version)

    def committed_version(self, spec: TableSpec, app_id: str) -> int | None:
        """The newest transaction version ``app_id`` committed to this table (None if it never did)."""
        data = self._open(self._path(spec))
        version = None if data is None else data.transaction_version(app_id)
        return None if version is None else int(version)

    def commit(self) -> None:
        report: dict[str, dict[str, int]] = {}
        state = self._state()
        names = list(state.tables)
        # a stream's checkpoint is published last, after the quarantine: a crash before it replays the micro-batch
        last = checkpoint_spec().qualified
        try:
            for name, table in sorted(state.tables.items(), key=lambda item: item[0] == last):
                if name == last and state.quarantined:
                    self._publish_quarantine(state)
                report[name] = self._publish(table)
            if state.quarantined and last not in state.tables:
                self._publish_quarantine(state)
        except SinkError as exc:
            raise type(exc)(f"{exc}. {partial(names, list(report))}") from exc
        finally:
            self._discard()
        self.last_commit = report

    def _publish_quarantine(self, state: _DeltaState) -> None:
        path = self._path(quarantine_spec())
        done = None if state.txn is None or (log := self._open(path)) is None else log.transaction_version(state.txn[0])
        if done is not None and state.txn is not None and done >= state.txn[1]:
            return  # a replayed micro-batch whose entries are there already
        rows = quarantine_table(state.quarantined)
        self._commit_op(lambda: self._write(path, rows, mode="append", spec=None))

    # -- tables -------------------------------------------------------------------------------------------------
    def _path(self, spec: TableSpec) -> str:
        return self._table_url(*([spec.schema] if spec.schema else []), spec.name)

    def _table_url(self, *parts: str) -> str:
        """A table's location as delta-rs takes it: an absolute local path, or the object store URL."""
        return self.location.url_of(*parts) if self.location.remote else self.location.path(*parts)

    def _exists(self, path: str) -> bool:
        return bool(self._dl.DeltaTable.is_deltatable(path, storage_options=self.options))

    def _open(self, path: str) -> Any:
        if not self._exists(path):
            return None
        return self._guard(lambda: self._dl.DeltaTable(path, storage_options=self.options))

    def ensure_table(self, spec: TableSpec) -> None:
        tables = self._state().tables
        if spec.qualified not in tables:
            check_names(spec, self.capabilities.max_identifier_bytes, self.display)
            tables[spec.qualified] = self._snapshot(spec)

    def _snapshot(self, spec: TableSpec) -> _Table:
        data = self._open(self._path(spec))
        if data is not None:
            self._check_schema(spec, data)
        marks = self._open(self._wm_path(spec)) if spec.scope else None
        replayed = False
        state = self._state()
        if data is not None and state.txn is not None:
            done = data.transaction_version(state.txn[0])
            replayed = done is not None and done >= state.txn[1]
        return _Table(spec, WorkingTable(spec, Snapshot(spec, data, marks), state.db()), data, marks, replayed)

    def _wm_path(self, spec: TableSpec) -> str:
        path = self._table_url("_tidemark", watermark_spec(spec).name)
        legacy = self._table_url("_tidemark", legacy_watermark_name(spec))
        # a store written before watermark names were made collision-free keeps its watermarks where they are
        return legacy if not self._exists(path) and self._exists(legacy) else path

    def _check_schema(self, spec: TableSpec, data: Any) -> None:
        stored = {
            f.name: str(f.type.type) if hasattr(f.type, "type") else "a nested type" for f in data.schema().fields
        }
        partitions = list(data.metadata().partition_columns)
        where = f"{self.display} ({self._path(spec)})"
        columns_to_add(spec, stored, lambda have, want: have == delta_type(want), where=where, partitions=partitions)

    # -- writes -------------------------------------------------------------------------------------------------
    def write(self, spec: TableSpec, rows: pa.Table, scopes: pa.Table | None, mode: Mode) -> WriteCounts:
        self.ensure_table(spec)
        table = self._state().tables[spec.qualified]
        if table.replayed:
            return WriteCounts(unchanged=rows.num_rows)
        checked = self.check_parents(spec, rows, scopes, mode)  # orphan rows: refused (contract/orphans.py)
        return checked.charge(table.work.write(checked.rows, checked.scopes, mode))

    # -- commit -------------------------------------------------------------------------------------------------
    def _publish(self, table: _Table) -> dict[str, int]:
        for attempt in range(self.config.commit_retries + 1):
            try:
                return self._apply(table)
            except (self._conflict, Lost) as exc:
                if attempt == self.config.commit_retries:
                    # nothing published yet: the whole run may start over (the runtime does); else it must not
                    published = self._state().published
                    error = SinkTransientError if published else SinkConflictError
                    raise error(
                        f"Delta table {table.spec.qualified}: another writer kept committing first "
                        f"({attempt + 1} attempts): {exc}; run again (or raise commit_retries)"
                    ) from exc
                table = self._replay(table)
        raise AssertionError("unreachable")  # pragma: no cover

    def _replay(self, old: _Table) -> _Table:
        """The same writes, classified again against the newest version of the table."""
        old.work.close()
        fresh = self._snapshot(old.spec)
        self._state().tables[old.spec.qualified] = fresh
        if not fresh.replayed:
            for rows, scopes, mode in old.work.writes:
                fresh.work.write(rows, scopes, mode)
        return fresh

    def _apply(self, table: _Table) -> dict[str, int]:
        spec, work = table.spec, table.work
        if table.replayed:
            return {}
        if spec.scope:
            self._publish_watermarks(table)
        if table.data is None:
            if self._exists(self._path(spec)):
                raise Lost("the table was created by another writer")
            rows = conform(work.rows(), stored_schema(spec), nullable=False)
            self._commit_op(lambda: self._write(self._path(spec), rows, mode="error", spec=spec))
            return {"inserted": rows.num_rows, "updated": 0, "deleted": 0}
        self._add_columns(table)
        if not work.changed:
            return {"inserted": 0, "updated": 0, "deleted": 0}
        if work.overwritten:
            rows = conform(work.rows(), stored_schema(spec), nullable=False)
            deleted = table.data.count()
            self._commit_op(lambda: self._write(table.data, rows, mode="overwrite", spec=spec))
            return {"inserted": rows.num_rows, "updated": 0, "deleted": int(deleted)}
        if work.modes == {"append"}:
            rows = conform(work.upserts(), stored_schema(spec), nullable=False)
            self._commit_op(lambda: self._write(table.data, rows, mode="append", spec=spec))
            return {"inserted": rows.num_rows, "updated": 0, "deleted": 0}
        return self._merge(table)

    def _merge(self, table: _Table) -> dict[str, int]:
        spec, work = table.spec, table.work
        deletes = work.deletes()
        source = merge_source(spec, work.upserts(), deletes)
        merger = row_merge(table.data, spec, source, work.modes, bool(deletes.num_rows), self._props())
        metrics = self._commit_op(merger.execute)
        return {
            "inserted": int(metrics["num_target_rows_inserted"]),
            "updated": int(metrics["num_target_rows_updated"]),
            "deleted": int(metrics["num_target_rows_deleted"]),
        }

    def _publish_watermarks(self, table: _Table) -> None:
        """Watermarks first: a crash before the rows leaves them unpublished, never resurrectable by older data."""
        work, wm = table.work, watermark_spec(table.spec)
        path = self._wm_path(table.spec)
        if work.overwritten:
            marks = conform(work.watermarks(), watermark_schema(table.spec), nullable=False)
            self._commit_op(lambda: self._write(table.marks or path, marks, mode="overwrite", spec=None))
            return
        changes = work.watermark_changes()
        if changes.num_rows == 0:
            return
        changes = conform(changes, watermark_schema(table.spec), nullable=False)
        if table.marks is None:
            if self._exists(path):
                raise Lost("the watermark table was created by another writer")
            self._commit_op(lambda: self._write(path, changes, mode="error", spec=None))
            return
        self._commit_op(mark_merge(table.marks, wm, changes, self._props()).execute)

    def _add_columns(self, table: _Table) -> None:
        stored = {f.name for f in table.data.schema().fields}
        new = [c for c in table.spec.columns if c.name not in stored]
        if new:
            fields = [self._dl.Field(c.name, delta_type(c.type), nullable=True) for c in new]
            self._commit_op(lambda: table.data.alter.add_columns(fields, commit_properties=self._props()))

    def _props(self) -> Any:
        txn = self._work.txn if self._work is not None else None
        txns = [self._dl.Transaction(txn[0], txn[1])] if txn else None
        return self._dl.CommitProperties(app_transactions=txns, max_commit_retries=0)

    def _write(self, target: Any, rows: pa.Table, *, mode: str, spec: TableSpec | None) -> None:
        partitions = list(spec.partition_by) if spec is not None and spec.partition_by else None
        options = self.options if isinstance(target, str) else None  # a DeltaTable carries its own
        self._dl.write_deltalake(
            target,
            rows,
            storage_options=options,
            mode=mode,
            partition_by=partitions,
            description=spec.description if spec is not None else None,
            commit_properties=self._props(),
        )

    def _commit_op(self, fn: Any) -> Any:
        """Run one operation that commits a Delta version, and remember that this transaction published something."""
        result = self._guard(fn)
        self._state().published.append(fn)
        return result

    def _guard(self, fn: Any) -> Any:
        try:
            return fn()
        except self._conflict:
            raise  # a lost race: retried by _publish from a fresh version
        except BaseException as exc:  # a panic in delta-rs too (pyo3's PanicException is a BaseException)
            panic = type(exc).__name__ == "PanicException"
            if not isinstance(exc, Exception) and not panic:
                raise  # KeyboardInterrupt, SystemExit
            error = translate(self._errors, exc, root=self.root)
            if error is None and panic:
                error = SinkTerminalError(f"Delta Lake failed in {self.root}: {first_line(exc)}")
            if error is None:
                raise
            raise error from exc

    # -- reads & maintenance ------------------------------------------------------------------------------------
    def read_table(self, spec: TableSpec) -> pa.Table:
        data = self._open(self._path(spec))
        if data is None:
            raise SinkTerminalError(f"table {spec.qualified} does not exist in {self.display}")
        rows = conform(data.to_pyarrow_table(), spec.arrow_schema).select(list(spec.column_names))
        keys = [(k, "ascending") for k in spec.primary_key]
        return rows.sort_by(keys) if keys else rows

    def maintain(self, *, retention_hours: int | None = None) -> dict[str, dict[str, int]]:
        """Compact small files (OPTIMIZE), then delete the files that no version of the last ``retention_hours``
        (default 168, a week) needs (VACUUM). Time travel and readers older than that lose their files."""
        hours = 168 if retention_hours is None else retention_hours
        report = {}
        relative = (self.location.relative(f) for f in self.location.files())
        for table in sorted({r.partition("_delta_log/")[0].rstrip("/") for r in relative if "_delta_log/" in r}):
            data = self._open(self._table_url(table))
            if data is None:
                continue
            optimized = self._guard(data.optimize.compact)
            removed = self._guard(
                lambda d=data: d.vacuum(retention_hours=hours, dry_run=False, enforce_retention_duration=False)
            )
            report[table] = {
                "files_added": int(optimized.get("numFilesAdded", 0)),
                "files_removed": int(optimized.get("numFilesRemoved", 0)),
                "files_vacuumed": len(removed),
            }
        return report


__all__ = ["DeltaConfig", "DeltaSink"]
