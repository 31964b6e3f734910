"""A batch run: documents -> engine -> write contract -> sink, in one transaction.

The same loop serves streaming later (a micro-batch is a run over the documents since the checkpoint). Nothing here
prints: progress and results go to a :class:`Reporter`; the CLI renders them.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import orjson
import pyarrow as pa

from tidemark.compile.plan import Plan, TargetPlan, compile_mapping
from tidemark.contract.counts import MODES, Mode, WriteCounts
from tidemark.contract.keys import KeyReport, apply_key
from tidemark.contract.prepare import Prepared, RowError, prepare
from tidemark.engines.base import ExtractBatch, RejectedDocument
from tidemark.engines.local import LocalEngine
from tidemark.errors import ConfigError, ContractError, SinkConflictError
from tidemark.mapping.loader import load_mapping
from tidemark.mapping.models import Mapping
from tidemark.sinks import SinkConfig, open_sink
from tidemark.sinks.base import QuarantineEntry, Sink
from tidemark.sources.files import RawDocument, expand_inputs, iter_documents

#: times a run starts over after a conflict with another writer (deadlock, serialization failure) rolled it back
CONFLICT_RETRIES = 4
STAGES = ("extract", "prepare", "write")


class Reporter(Protocol):
    """Receives progress; the CLI implements it with Rich. Every method is optional to act on."""

    def start(self, total_bytes: int, files: int) -> None: ...
    def advance(self, batch: ExtractBatch) -> None: ...
    def finish(self, result: RunResult) -> None: ...


class NullReporter:
    def start(self, total_bytes: int, files: int) -> None:
        pass

    def advance(self, batch: ExtractBatch) -> None:
        pass

    def finish(self, result: RunResult) -> None:
        pass


@dataclass
class RunResult:
    """What a run did: counts per table, documents read, and everything it refused."""

    run_id: str
    sink: str
    mode: str
    tables: dict[str, WriteCounts] = field(default_factory=dict)
    documents: int = 0
    rejected: list[RejectedDocument] = field(default_factory=list)
    row_errors: list[RowError] = field(default_factory=list)
    keys: dict[str, KeyReport] = field(default_factory=dict)  # tables with a computed key: coverage, duplicates
    #: seconds spent per stage: "extract" (engine), "prepare" (contract, in the worker thread: it overlaps
    #: "write"), "write" (the sink, including waiting for a table's prepare); for run history and benchmarks
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))

    @property
    def ok(self) -> bool:
        """True when nothing was refused (the CLI exits non-zero otherwise)."""
        return not self.rejected and not self.row_errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "sink": self.sink,
            "mode": self.mode,
            "documents": self.documents,
            "tables": {name: c.as_dict() for name, c in self.tables.items()},
            "rejected": [{"origin": r.origin, "reason": r.reason} for r in self.rejected],
            "row_errors": len(self.row_errors),
            "keys": {name: k.as_dict() for name, k in self.keys.items()},
        }


def run(
    mapping: str | Path | Mapping | Plan,
    inputs: Iterable[str | Path] | Iterable[RawDocument],
    sink: str | SinkConfig | Sink,
    *,
    mode: Mode = "upsert",
    reporter: Reporter | None = None,
    batch_documents: int = 64,
) -> RunResult:
    """Run a mapping over documents into a sink; all-or-nothing on transactional sinks.

    ``inputs`` are paths (files, directories) or already-read :class:`RawDocument` objects. Rejected documents and
    error rows do not abort the run: they are quarantined and listed in the result (``result.ok`` is False).
    Anything else that fails rolls the whole run back and raises.
    """
    if mode not in MODES:
        raise ConfigError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
    plan = _plan(mapping)
    _check_mode(plan, mode)
    reporter = reporter or NullReporter()
    items = list(inputs)  # read again when a conflict with another writer makes the run start over
    documents, total_bytes, files = _documents(items)
    owns_sink = not isinstance(sink, Sink)
    target = open_sink(sink) if not isinstance(sink, Sink) else sink
    run_id = uuid.uuid4().hex[:12]
    reporter.start(total_bytes, files)
    try:
        for attempt in range(CONFLICT_RETRIES + 1):
            result = RunResult(run_id=run_id, sink=target.display, mode=mode)
            result.tables = {t.name: WriteCounts() for t in plan.targets}
            engine = LocalEngine(plan)  # fresh per attempt: nothing of a rolled-back attempt carries over
            try:
                _attempt(plan, target, engine, documents, mode, result, reporter, batch_documents)
                break
            except SinkConflictError:  # deadlock / serialization failure: nothing was written, start over
                target.rollback()
                if attempt == CONFLICT_RETRIES:
                    raise
                time.sleep(random.uniform(0.05, 0.2) * 2**attempt)
                documents = _documents(items)[0]
            except BaseException:
                target.rollback()
                raise
    finally:
        if owns_sink:
            target.close()
    reporter.finish(result)
    return result


def _attempt(
    plan: Plan,
    target: Sink,
    engine: LocalEngine,
    documents: Iterable[RawDocument],
    mode: Mode,
    result: RunResult,
    reporter: Reporter,
    batch_documents: int,
) -> None:
    """One try of a run, in one transaction."""
    target.begin()
    for t in plan.targets:
        target.ensure_table(t.spec)
    with BatchWriter(plan, target, mode, result) as writer:
        batches = iter(engine.extract(documents, batch_documents=batch_documents))
        while True:
            start = time.perf_counter()
            batch = next(batches, None)
            result.seconds["extract"] += time.perf_counter() - start
            if batch is None:
                break
            writer.write(batch)
            reporter.advance(batch)
    _quarantine_rejected(target, result)
    target.commit()


def _plan(mapping: str | Path | Mapping | Plan) -> Plan:
    if isinstance(mapping, Plan):
        return mapping
    if isinstance(mapping, Mapping):
        return compile_mapping(mapping)
    return compile_mapping(load_mapping(mapping)[0])


def _check_mode(plan: Plan, mode: Mode) -> None:
    if mode in {"upsert", "append_once"}:
        missing = [t.name for t in plan.targets if not t.spec.primary_key]
        if missing:
            raise ContractError(
                f"mode {mode} needs a primary_key on every table; missing on: {', '.join(missing)}. "
                "Add primary_key to those targets or use --mode append / overwrite."
            )


def _documents(inputs: Iterable[Any]) -> tuple[Iterable[RawDocument], int, int]:
    items = list(inputs) if not isinstance(inputs, list) else inputs
    if items and all(isinstance(i, RawDocument) for i in items):
        return items, sum(len(i.data) for i in items), len(items)
    files = expand_inputs(items)
    total = sum(p.stat().st_size for p in files)
    return iter_documents(files), total, len(files)


class BatchWriter:
    """Writes extracted batches to a sink under the contract; a worker thread prepares the next table meanwhile.

    ``contract.prepare`` (content hash, in-batch reduction) runs in Arrow, numpy and DuckDB, which release the GIL,
    and the sink mostly waits on its store: with the preparing of table i + 1 overlapping the write of table i, a
    run costs about the larger of the two instead of their sum. Writes stay in plan order on the calling thread
    (parents before children, one transaction); a failure stops the worker before it is raised.
    """

    def __init__(self, plan: Plan, sink: Sink, mode: Mode, result: RunResult) -> None:
        self.plan, self.sink, self.mode, self.result = plan, sink, mode, result
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tidemark-prepare")

    def __enter__(self) -> BatchWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def write(self, batch: ExtractBatch) -> None:
        """Prepare and write every table of ``batch``; quarantine its refused rows (same transaction)."""
        result = self.result
        result.documents += batch.documents
        result.rejected.extend(batch.rejected)
        now = datetime.now(UTC)
        entries: list[QuarantineEntry] = []
        for err in batch.row_errors:
            result.tables[err.table].error += 1
            entries.append(_entry(result.run_id, err, now))
        if batch.documents == 0:  # every document was rejected: nothing to write, and overwrite must not clear tables
            self.sink.quarantine(entries)
            return
        futures = [self._pool.submit(self._prepare, t, batch.tables[t.name]) for t in self.plan.targets]
        try:
            for t, future in zip(self.plan.targets, futures, strict=True):
                start = time.perf_counter()
                prepared = future.result()
                if t.key is not None:
                    result.keys[t.name].add_reduced(prepared.counts)
                refused = [e for e in batch.row_errors if e.table == t.name] + prepared.errors
                scopes = complete_scopes(t.spec.scope, batch.scopes.get(t.name), refused)
                counts = self.sink.write(t.spec, prepared.rows, scopes, self.mode)
                counts += prepared.counts
                result.tables[t.name] += counts
                for err in prepared.errors:
                    entries.append(_entry(result.run_id, err, now))
                result.row_errors.extend(prepared.errors)
                result.seconds["write"] += time.perf_counter() - start
        except BaseException:
            for future in futures:
                future.cancel()
            wait(futures)  # the worker is idle before the sink rolls back
            raise
        result.row_errors.extend(batch.row_errors)
        self.sink.quarantine(entries)

    def _prepare(self, t: TargetPlan, rows: pa.Table) -> Prepared:
        """In the worker thread: the computed key (if any), then the contract's prepare."""
        start = time.perf_counter()
        rows, keyless = _keyed(t, rows, self.result)
        prepared = prepare(rows, t.spec, self.mode)
        prepared.errors[:0] = keyless
        prepared.counts.error += len(keyless)
        self.result.seconds["prepare"] += time.perf_counter() - start  # only this thread adds to "prepare"
        return prepared


def _keyed(t: TargetPlan, rows: pa.Table, result: RunResult) -> tuple[pa.Table, list[RowError]]:
    """Add a computed key column (contract/keys.py); rows without a complete key become error rows."""
    if t.key is None:
        return rows, []
    report = result.keys.setdefault(t.name, KeyReport(column=t.key.name))
    json_fields = tuple(f.name for f in t.fields if f.type.kind == "json")
    return apply_key(rows, t.key, t.name, report=report, json_columns=json_fields)


def complete_scopes(scope: tuple[str, ...], scopes: pa.Table | None, refused: list[RowError]) -> pa.Table | None:
    """The scope entries that may reconcile: those of snapshots whose rows for the table were all accepted.

    A snapshot with a refused row is not a complete picture of its scope (the row is in it, only unreadable), so it
    must not delete rows nor advance the watermark; its valid rows are still written under the row rules and the
    stored watermark. Entries with an unknown (NULL) scope value cannot reconcile anything either. When a refused
    row's scope cannot be told, no entry of the batch reconciles (the safe side).
    """
    if scopes is None or not scope:
        return scopes
    values = [tuple(entry[c] for c in scope) for entry in scopes.select(list(scope)).to_pylist()]
    bad = {tuple(err.row.get(c) for c in scope) for err in refused}
    known = not bad - set(values)
    keep = [known and None not in v and v not in bad for v in values]
    return scopes if all(keep) else scopes.filter(pa.array(keep, pa.bool_()))


def _dumps(value: Any) -> str:
    return orjson.dumps(value, default=str, option=orjson.OPT_SORT_KEYS).decode()


def _entry(run_id: str, err: RowError, at: datetime) -> QuarantineEntry:
    dumps = _dumps
    return QuarantineEntry(run_id, err.table, dumps(err.key), err.reason, dumps(err.row), err.origin, at)


def _quarantine_rejected(sink: Sink, result: RunResult) -> None:
    now = datetime.now(UTC)
    sink.quarantine(
        [QuarantineEntry(result.run_id, None, None, r.reason, None, r.origin, now) for r in result.rejected]
    )
