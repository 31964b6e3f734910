"""The run ledger ``_tidemark.runs``: what each run did, committed with its rows (docs/history.md).

The one transaction loop (:func:`tidemark.runtime.batch.write_documents`, serving ``run`` and every micro-batch
of ``stream``) opens a :class:`RunRecord` around its transaction and calls :meth:`RunRecord.write` last inside it:
the ledger row is an upsert of ``_tidemark.runs`` through the store's ordinary path, so it commits (or rolls back)
with the rows, and the history never disagrees with the data. When the transaction fails, :meth:`RunRecord.__exit__`
runs after its rollback and records the failure in a small transaction of its own: best effort, it never replaces
the error that failed the run (a failure to record is added to that error as a note).

A stream writes one ledger row per micro-batch (``batch`` = its number, ``inputs`` = its first and last raw
position); a run writes one row (``batch`` 0). A run retried after a conflict keeps its run id: the row of a failed
attempt is replaced by the final one (the key is (run_id, batch)).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from tidemark.compile.plan import plan_hash
from tidemark.errors import SinkTerminalError
from tidemark.observe.redact import redact, redact_data  # no credential in the ledger (a raw store's URL, an error)
from tidemark.sinks.bookkeeping import hashed_rows, runs_spec
from tidemark.tables import TableSpec

if TYPE_CHECKING:
    from tidemark.compile.plan import Plan
    from tidemark.documents import RawDocument
    from tidemark.engines.base import Engine
    from tidemark.runtime.result import RunResult
    from tidemark.runtime.transaction import Transaction
    from tidemark.sinks.base import Sink
    from tidemark.sources import Source

#: the longest error text kept in the ledger (the whole error is what the command printed)
MAX_ERROR = 2000
STATUSES = ("ok", "failed", "interrupted")
#: a run's input files are listed in its ledger row up to this many (a replay checks they are all still there)
MAX_FILES = 10_000
#: more to write in the run's transaction, after its rows (set by a quarantine replay: its resolution markers)
ON_COMMIT: ContextVar[Callable[[Sink, RunResult], None] | None] = ContextVar("tidemark_on_commit", default=None)


class LedgerRow:
    """The ledger row of one transaction: written inside it (:meth:`write`), or after its rollback (the failure).

    ``fixed``: the columns that do not change while it runs (run_id, batch, command, engine, mode, mapping,
    plan_hash, inputs)."""

    def __init__(self, sink: Sink, result: RunResult, fixed: dict[str, Any]) -> None:
        self.sink, self.result, self.fixed = sink, result, fixed

    def __enter__(self) -> LedgerRow:
        return self

    def write(self, tx: Transaction) -> None:
        """The row, inside its transaction (the last write before the commit)."""
        _upsert(tx.sink, self.row("ok"))
        more = ON_COMMIT.get()
        if more is not None:
            more(tx.sink, self.result)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc is None:
            self.committed()
            return
        self._record_failure(exc)

    def committed(self) -> None:
        """After the commit (a run checks its mapping's expectations here)."""

    def _rewrite(self, status: str, error: BaseException | None = None) -> None:
        self.sink.begin()
        try:
            _upsert(self.sink, self.row(status, error))
            self.sink.commit()
        except BaseException:
            self.sink.rollback()
            raise

    def _record_failure(self, exc: BaseException) -> None:
        status = "failed" if isinstance(exc, Exception) else "interrupted"
        try:  # the transaction has rolled back (or committed, for an expectation): a transaction of its own
            self._rewrite(status, exc)
        except BaseException as failed:  # never instead of the run's own error
            exc.add_note(f"(the run could not be recorded as {status} in {runs_spec().qualified}: {failed})")

    def row(self, status: str, error: BaseException | None = None) -> dict[str, Any]:
        """The ledger row as it stands now (``ended_at`` is now)."""
        result = self.result
        return {
            **self.fixed,
            "started_at": result.started_at,
            "ended_at": datetime.now(UTC),
            "status": status,
            "error": None if error is None else redact(f"{type(error).__name__}: {error}")[:MAX_ERROR],
            "counts": json.dumps(counts_of(result), sort_keys=True, default=str),
            "seconds": json.dumps({k: round(v, 6) for k, v in result.seconds.items()}, sort_keys=True),
        }


class RunRecord(LedgerRow):
    """The ledger row of one transaction of the loop (a run, a step of one, or a micro-batch of a stream)."""

    def __init__(
        self,
        sink: Sink,
        plan: Plan,
        engine: Engine,
        documents: Source | Iterable[RawDocument],
        mode: str,
        result: RunResult,
        txn: tuple[str, int] | None = None,
        *,
        expect_after: bool = True,
    ) -> None:
        """``expect_after=False``: the caller runs :meth:`expect` itself (a run committed in steps checks its
        expectations once, after the last step; ``documents`` is then the run's source, described once)."""
        self.plan, self.txn, self.expect_after = plan, txn, expect_after
        fixed: dict[str, Any] = {
            "run_id": result.run_id,
            "batch": 0 if txn is None else txn[1],
            "command": "run" if txn is None else "stream",
            "engine": getattr(engine, "name", type(engine).__name__),
            "mode": mode,
            "mapping": plan.source_name,
            "plan_hash": plan_hash(plan),
            "inputs": json.dumps(redact_data(describe_inputs(documents, txn)), default=str),
        }
        super().__init__(sink, result, fixed)

    def __enter__(self) -> RunRecord:
        return self

    def committed(self) -> None:
        if self.expect_after:
            self.expect()

    def expect(self) -> None:
        """After a run's commit: its mapping's table expectations over the stored tables (not per micro-batch of a
        stream: ``tidemark check`` runs them there). One broken: the ledger row says so; a ``fail`` one raises."""
        if self.txn is not None or not self.plan.expectations:
            return
        from tidemark.quality.expectations import ExpectationError, expect

        outcomes = expect(self.sink, {t.name: t.spec for t in self.plan.targets}, self.plan.expectations)
        self.result.expectations = [o.as_dict() for o in outcomes]
        failed = [o for o in outcomes if not o.passed and o.action == "fail"]
        if failed:
            error = ExpectationError(self.result.run_id, failed)
            self._record_failure(error)
            raise error
        if any(not o.passed for o in outcomes):  # the broken warn ones go to the ledger row too
            self._rewrite("ok")


def write_record(sink: Sink, result: RunResult, table: TableSpec, inputs: dict[str, Any]) -> LedgerRow:
    """The ledger row of a ``tidemark.write`` (command ``write``, batch 0): no mapping, the table written in its
    place; ``inputs`` say what was read (a file, a table's type)."""
    fixed = {
        "run_id": result.run_id,
        "batch": 0,
        "command": "write",
        "engine": "arrow",
        "mode": result.mode,
        "mapping": f"table {table.qualified}",
        "plan_hash": None,
        "inputs": json.dumps(redact_data(inputs), default=str, sort_keys=True),
    }
    return LedgerRow(sink, result, fixed)


def _upsert(sink: Sink, row: dict[str, Any]) -> None:
    spec = runs_spec()
    sink.ensure_table(spec)
    sink.write(spec, hashed_rows(spec, [row]), None, "upsert")


def counts_of(result: RunResult) -> dict[str, Any]:
    """What the ledger keeps of a result: documents, rejected, refused rows, and per table (qualified name) the
    write counts with ``quarantined`` (rows refused) and the table's timestamp column (tidemark status reads it)."""
    tables: dict[str, Any] = {}
    for name, counts in result.tables.items():
        spec = result.specs.get(name)
        qualified = spec.qualified if spec is not None else name
        tables[qualified] = {
            **counts.as_dict(),
            "quarantined": counts.error,
            "timestamp": None if spec is None else spec.timestamp,
        }
    return {
        "documents": result.documents,
        "rows": result.rows,
        "rejected": len(result.rejected),
        "row_errors": len(result.row_errors),
        "tables": tables,
        "quality": {name: dict(rules) for name, rules in result.quality.items() if rules},
        "expectations": [e for e in result.expectations if not e["passed"]],
    }


def read_runs(sink: Sink, *, limit: int | None = None) -> list[dict[str, Any]]:
    """The ledger's rows, newest first (by start, then micro-batch), JSON columns parsed; [] before the first run."""
    rows = read_if_exists(sink, runs_spec())
    rows.sort(key=lambda r: (r["started_at"], r["batch"]), reverse=True)
    for row in rows[:limit]:
        for column in ("inputs", "counts", "seconds"):
            row[column] = json.loads(row[column]) if row[column] else {}
    return rows[:limit]


def read_if_exists(sink: Sink, spec: TableSpec) -> list[dict[str, Any]]:
    """The rows of one of tidemark's own tables; [] when the store does not have it yet."""
    try:
        rows: list[dict[str, Any]] = sink.read_table(spec).to_pylist()
    except SinkTerminalError as exc:
        if f"table {spec.qualified} does not exist" in str(exc):  # the words every store's read_table uses
            return []
        raise
    return rows


def describe_inputs(documents: Any, txn: tuple[str, int] | None) -> dict[str, Any]:
    """Where the documents came from: paths, a raw store (and its selection), or a stream's position range."""
    if txn is not None:
        docs = list(documents) if isinstance(documents, list) else []
        first = docs[0].position if docs else None
        last = docs[-1].position if docs else None
        return {
            "stream": txn[0],
            "documents": len(docs),
            "from": None if first is None else list(first),
            "to": None if last is None else list(last),
        }
    store = getattr(documents, "store", None)
    if store is not None:
        select = "/".join(p for p in (getattr(documents, "endpoint", None), getattr(documents, "method", None)) if p)
        return {"raw": str(getattr(store, "display", store)), "select": select or None}
    paths = getattr(documents, "inputs", None)
    if paths is not None:
        listed = getattr(documents, "listed", None) or []
        files = [str(f.path) for f in listed[: MAX_FILES + 1] if hasattr(f, "path")]
        return {"paths": [str(p) for p in paths], **({"files": files} if len(files) <= MAX_FILES else {})}
    return {"source": type(documents).__name__}


__all__ = [
    "ON_COMMIT",
    "STATUSES",
    "LedgerRow",
    "RunRecord",
    "counts_of",
    "describe_inputs",
    "read_if_exists",
    "read_runs",
    "write_record",
]
