"""One transaction on a sink, and the conflict retries around it: the loop ``run``, ``tidemark.write`` and the
conformance suite share, and the stream runtime (a micro-batch is one transaction, ``txn=`` tags it and
``tx.save_checkpoint`` commits its checkpoint with its rows)::

    def attempt() -> RunResult:                        # reads its input again: source.read(), never a copy
        with Transaction(sink, specs, run_id=...) as tx:   # sink.begin(); sink.ensure_table(spec) for every table
            tx.write(spec, rows, scopes, mode)           # many times
            tx.refuse(row_errors); tx.reject(documents)  # the transaction's quarantine, written as it goes
        ...                                            # committed here; rolled back if anything raised

    result = retry_conflicts(attempt, replayable=source.replayable)

A :class:`~tidemark.errors.SinkConflictError` (a deadlock, a serialization failure, a Delta commit lost to another
writer before anything was published) promises that nothing of the attempt is visible, so the whole attempt runs
again, up to :data:`CONFLICT_RETRIES` times with a jittered, growing pause — when its input can be read again.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TypeVar

import orjson
import pyarrow as pa

from tidemark.contract.counts import Mode, WriteCounts
from tidemark.contract.prepare import RowError
from tidemark.engines.base import RejectedDocument
from tidemark.errors import SinkConflictError, SinkTerminalError
from tidemark.runtime.origins import OriginOf, no_origin
from tidemark.sinks.base import Checkpoint, QuarantineEntry, Sink
from tidemark.tables import TableSpec

#: times a run starts over after a conflict with another writer (deadlock, serialization failure) rolled it back
CONFLICT_RETRIES = 4
T = TypeVar("T")


class Transaction:
    """All-or-nothing on ``sink``: ``begin`` and every table ensured on enter, ``commit`` when the block ends
    normally, ``rollback`` when anything raises (the exception goes on). Owns the quarantine of its writes.

    ``schema_from`` names where the tables' columns come from in messages of ``ensure_table`` (the sinks word
    them for a mapping; ``tidemark.write`` passes ``"data"``).
    """

    def __init__(
        self,
        sink: Sink,
        specs: Iterable[TableSpec],
        *,
        run_id: str,
        schema_from: str = "mapping",
        txn: tuple[str, int] | None = None,
    ) -> None:
        self.sink = sink
        self.specs = list(specs)
        self.run_id = run_id
        self.schema_from = schema_from
        self.txn = txn  # a stream's (name, micro-batch number): Sink.set_transaction
        #: a row was refused for a missing parent (depends on the store, not the documents: runtime/applied.py)
        self.orphans = False
        self.origin_of: OriginOf = no_origin  # set per batch: the document of a refused row (runtime/origins.py)

    def __enter__(self) -> Transaction:
        self.sink.begin()
        try:
            if self.txn is not None:
                self.sink.set_transaction(*self.txn)
            for spec in self.specs:
                self._ensure(spec)
        except BaseException as exc:
            self._rollback(exc)
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc is not None:
            self._rollback(exc)
            return
        try:
            self.sink.commit()
        except BaseException as failed:
            self._rollback(failed)
            raise

    def _rollback(self, cause: BaseException) -> None:
        """Roll back after ``cause``; a rollback that fails too (the store aborted the transaction already, as DuckDB
        does on an interrupted query or a full disk) must not hide the error that caused it: that one goes on."""
        try:
            self.sink.rollback()
        except Exception as exc:  # the cause is what the user must see
            cause.add_note(f"(the rollback after it failed as well: {exc})")

    def _ensure(self, spec: TableSpec) -> None:
        try:
            self.sink.ensure_table(spec)
        except SinkTerminalError as exc:
            if self.schema_from == "mapping":
                raise
            raise SinkTerminalError(str(exc).replace("in the mapping", f"in the {self.schema_from}")) from exc

    def write(self, spec: TableSpec, rows: pa.Table, scopes: pa.Table | None, mode: Mode) -> WriteCounts:
        """One ``Sink.write`` of prepared rows, inside the transaction; rows the sink refused (a child row without
        its parent row, contract/orphans.py) are quarantined here, and stay in ``counts.refused``."""
        counts = self.sink.write(spec, rows, scopes, mode)
        self.orphans = self.orphans or bool(counts.refused)
        self.refuse(counts.refused)
        return counts

    def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        """A stream's checkpoint, committed with the transaction's rows (``Sink.save_checkpoint``)."""
        self.sink.save_checkpoint(checkpoint)

    def refuse(self, errors: Iterable[RowError]) -> None:
        """Quarantine refused rows (with their table, key and row)."""
        now = datetime.now(UTC)
        entries = [
            QuarantineEntry(self.run_id, e.table, _dumps(e.key), e.reason, _dumps(e.row), self.origin_of(e), now)
            for e in errors
        ]
        if entries:
            self.sink.quarantine(entries)

    def reject(self, documents: Iterable[RejectedDocument]) -> None:
        """Quarantine whole documents that were refused (no table, no row: their origin and the reason)."""
        now = datetime.now(UTC)
        entries = [QuarantineEntry(self.run_id, None, None, d.reason, None, d.origin, now) for d in documents]
        if entries:
            self.sink.quarantine(entries)


def retry_conflicts(attempt: Callable[[], T], *, replayable: bool, retries: int = CONFLICT_RETRIES) -> T:
    """``attempt()``, run again after a :class:`SinkConflictError` (which rolled it back whole) up to ``retries``
    times; each attempt must read its input again. With an input that cannot be read twice it is not retried: the
    error says so."""
    for n in range(retries + 1):
        try:
            return attempt()
        except SinkConflictError as exc:
            if not replayable:
                raise SinkConflictError(
                    f"{exc} (not retried: the input is a stream that cannot be read again; "
                    "nothing was written, run it again)"
                ) from exc
            if n == retries:
                raise
            time.sleep(random.uniform(0.05, 0.2) * 2**n)
    raise AssertionError("unreachable")  # pragma: no cover


def _dumps(value: Any) -> str:
    """A refused row or key as JSON text for the quarantine. The row holds what the document held, which may be
    what orjson refuses (an integer beyond 64 bits, the very reason a row is refused): the standard library's
    encoder writes any integer, so the row is still kept, never lost to its own refusal."""
    try:
        return orjson.dumps(value, default=str, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        pass
    try:
        return json.dumps(value, default=str, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except RecursionError:  # a value nested deeper than any encoder goes (why its row was refused): named instead
        if isinstance(value, dict):
            return _dumps({k: _dumps(v) if isinstance(v, list | dict) else v for k, v in value.items()})
        return json.dumps(TOO_DEEP)


TOO_DEEP = "(a value nested too deeply to be written as JSON)"


__all__ = ["CONFLICT_RETRIES", "Transaction", "retry_conflicts"]
