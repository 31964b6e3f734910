"""The sink interface. A store is one file implementing :class:`Sink`, plus one line in the conformance list.

The runtime calls, per run::

    sink.begin()
    sink.ensure_table(spec)               # for every target, before any write
    counts = sink.write(spec, rows, scopes, mode)   # many times; rows already prepared by the contract
    sink.quarantine(entries)              # error rows and rejected documents
    sink.commit()                         # or sink.rollback() on any failure

and, for a stream's micro-batch (runtime/stream.py), ``sink.set_transaction(stream, batch)`` right after ``begin``
and ``sink.save_checkpoint(checkpoint)`` before ``commit``; ``sink.read_checkpoint(stream)`` between transactions.

``rows`` always carries the content hash column and has at most one row per key (except in ``append``). The sink
implements the comparison with stored rows (insert / update / unchanged / skipped), reconciliation of scoped tables
(deleted) and the modes, exactly as docs/write-contract.md says. The runtime and the tests branch on
:class:`Capabilities`, never on a sink's name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import pyarrow as pa

from tidemark.contract.counts import Mode, WriteCounts
from tidemark.documents import Position
from tidemark.tables import TableSpec

#: Where tidemark keeps its own bookkeeping (watermarks of scoped tables, quarantine) inside a store.
META_SCHEMA = "_tidemark"
QUARANTINE_TABLE = "quarantine"


@dataclass(frozen=True)
class Capabilities:
    """What a sink can promise, as data: the runtime, the sinks' shared code and the tests read these instead of
    checking sink names. Each flag names who reads it.

    transactional: a whole run commits or rolls back as one unit. Read by the conformance suite (the cross-table
    rollback test runs only where it holds) and by the docs; a store without it publishes table by table at commit
    and says which tables were committed when that fails (Delta).
    enforces_foreign_keys: declared foreign keys are also constraints the store checks at commit: the safety net
    behind the contract's own check (contract/orphans.py runs on every store). Read by the conformance suite.
    atomic_checkpoint: a streaming checkpoint can commit in the same transaction as the rows it covers. Read by the
    stream runtime (a store without it tags its commits instead, e.g. Delta's ``set_transaction``).
    concurrent_writers: two processes may write the same table at once and the contract still holds. Read by the
    conformance suite (the concurrency tests run only where it holds).
    max_identifier_bytes: the longest schema / table / column name the store holds (None: no limit that a mapping
    can reach). Read by sinks/names.py: checked when a sink ensures a table, and by ``tidemark validate``.
    """

    transactional: bool
    enforces_foreign_keys: bool
    atomic_checkpoint: bool
    concurrent_writers: bool
    max_identifier_bytes: int | None


@dataclass(frozen=True)
class QuarantineEntry:
    """A refused row (``table`` set) or a rejected document (``table`` None)."""

    run_id: str
    table: str | None
    key: str | None  # canonical JSON of the key
    reason: str
    row: str | None  # canonical JSON of the row
    origin: str
    at: datetime


@dataclass(frozen=True)
class Checkpoint:
    """Where a stream stands in a store (one row of ``_tidemark.checkpoints``, sinks/bookkeeping.py).

    ``position``: of the last record its committed micro-batches covered (None before the first one); ``batch``:
    micro-batches committed (the Delta transaction version of the last one); ``totals``: what they did, summed
    (JSON: documents, rejected, row_errors, counts per table); ``pending``: on a store whose checkpoint is not
    atomic, the last position of the micro-batch being committed (written before it: a restart replays exactly
    that micro-batch, under the same transaction version).
    """

    stream: str
    position: Position | None
    batch: int
    committed_at: datetime
    totals: dict[str, Any]
    pending: Position | None = None


QUARANTINE_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("table_name", pa.string()),
        ("row_key", pa.string()),
        ("reason", pa.string()),
        ("row_data", pa.string()),
        ("origin", pa.string()),
        ("quarantined_at", pa.timestamp("us", tz="UTC")),
    ]
)


class Sink(ABC):
    """A store that tables are written to under the write contract."""

    capabilities: ClassVar[Capabilities]
    #: a safe description for logs and summaries (never contains a password)
    display: str = ""

    @abstractmethod
    def begin(self) -> None:
        """Start the run's transaction."""

    @abstractmethod
    def commit(self) -> None:
        """Make every write since ``begin`` durable and visible, all at once."""

    @abstractmethod
    def rollback(self) -> None:
        """Undo every write since ``begin``."""

    @abstractmethod
    def close(self) -> None:
        """Release connections; safe to call twice."""

    @abstractmethod
    def ensure_table(self, spec: TableSpec) -> None:
        """Create the table (schema, key, indexes) if missing; add new nullable columns; refuse incompatible ones."""

    @abstractmethod
    def write(self, spec: TableSpec, rows: pa.Table, scopes: pa.Table | None, mode: Mode) -> WriteCounts:
        """Apply prepared rows in ``mode``; ``scopes`` (scope columns + snapshot time) drive reconciliation."""

    @abstractmethod
    def quarantine(self, entries: list[QuarantineEntry]) -> None:
        """Store refused rows and rejected documents (append-only) in the same transaction."""

    @abstractmethod
    def read_table(self, spec: TableSpec) -> pa.Table:
        """The stored rows (data columns only), for status, tests and exports."""

    # -- streams (runtime/stream.py) ------------------------------------------------------------------------------
    def set_transaction(self, app_id: str, version: int) -> None:  # noqa: B027 - optional: most stores need none
        """Tag this transaction as micro-batch ``version`` of stream ``app_id``, right after :meth:`begin`.

        A store whose checkpoint is not atomic (``capabilities.atomic_checkpoint`` False) keeps the tag with each
        table it commits and skips the tables that already hold it when the micro-batch is replayed (Delta's
        transaction identifiers). Stores whose checkpoint commits with the rows need nothing: the default does
        nothing.
        """

    def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Write ``checkpoint`` inside the transaction (before :meth:`commit`): the ``_tidemark.checkpoints`` table
        through the ordinary path (ensure_table, an upsert keyed by stream), so it commits with the rows on every
        store that commits its tables at once."""
        from tidemark.sinks.bookkeeping import checkpoint_rows, checkpoint_spec

        spec = checkpoint_spec()
        self.ensure_table(spec)
        self.write(spec, checkpoint_rows([checkpoint]), None, "upsert")

    def read_checkpoints(self) -> list[Checkpoint]:
        """Every stream's committed checkpoint in this store ([] when no stream ever committed)."""
        from tidemark.errors import SinkTerminalError
        from tidemark.sinks.bookkeeping import checkpoint_spec, checkpoints_of

        spec = checkpoint_spec()
        try:
            rows = self.read_table(spec)
        except SinkTerminalError as exc:
            if f"table {spec.qualified} does not exist" in str(exc):  # the words every store's read_table uses
                return []
            raise
        return checkpoints_of(rows)

    def read_checkpoint(self, stream: str) -> Checkpoint | None:
        """The stream's committed checkpoint; None when it never committed (it starts from the first record)."""
        return next((c for c in self.read_checkpoints() if c.stream == stream), None)

    def maintain(self, *, retention_hours: int | None = None) -> dict[str, dict[str, int]]:
        """Housekeeping (``tidemark maintain``): compact small files, delete files older than ``retention_hours``
        that no current version needs. Returns what was done per table; stores with nothing to do return {}."""
        return {}

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
