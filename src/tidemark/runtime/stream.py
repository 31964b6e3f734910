"""A stream: the records of a raw store after the stream's checkpoint, in micro-batches, each one transaction.

Each micro-batch runs through the very code of a batch run (:func:`~tidemark.runtime.batch.write_documents`: the
engine, the contract's BatchWriter, one :class:`~tidemark.runtime.transaction.Transaction`, conflicts retried),
and its checkpoint is saved inside that transaction (``Sink.save_checkpoint``)::

    checkpoint = sink.read_checkpoint(name)              # where the stream stands (None: from the first record)
    loop:
        documents = the next records after checkpoint.position (at most batch_documents, about max_batch_bytes)
        [not atomic: save checkpoint.pending = documents[-1].position, in a transaction of its own]
        applied = the records the ledger lets through (those applied before under the plan: unchanged documents)
        begin; set_transaction(name, batch + 1); write rows of applied; record applied in the ledger;
               save_checkpoint(position, batch + 1, totals); commit

What exactly-once means depends on the store (``capabilities.atomic_checkpoint``):

- **atomic** (DuckDB, PostgreSQL, Parquet / CSV: one transaction or one manifest swap holds the rows and the
  checkpoint): a micro-batch is committed whole with its checkpoint, or not at all. After a crash the stream
  resumes after the last committed position; the summed counts (``totals``) equal one batch run's.
- **not atomic** (Delta: one commit per table): before a micro-batch the stream writes its end (``pending``), so a
  restart replays exactly the same records under the same transaction version; every table commit carries the
  Delta transaction identifier (app id = stream name, version = micro-batch number) and a table that already holds
  it is skipped. The tables end up right; a replayed micro-batch counts its rows ``unchanged``.

**The applied-documents ledger** (runtime/applied.py) is the batch run's: a record whose document was applied before
under the same plan (by this stream, another stream, or a ``tidemark run`` over the same raw store) is skipped before
parsing and counted in ``unchanged_documents``; what a micro-batch applies is recorded in its transaction, after its
rows and before its checkpoint. A stream over a raw store a batch run loaded already parses nothing. On a store whose
checkpoint is not atomic the ledger's table is published after every table of the micro-batch (Delta publishes the
tables in the order the transaction first wrote them, the checkpoint last: sinks/delta.py), so "applied" never
names a record whose rows are not all published; a replayed micro-batch skips nothing (its tables' transaction
identifiers skip what was published already, and its counts stay those of the first attempt's records).
``reprocess=True`` skips nothing and records everything again.

Memory is bounded by the micro-batch: ``batch_documents`` records and about ``max_batch_bytes`` (at least one
record, however large). Nothing here prints; ``stop`` (a :class:`threading.Event`, set by the CLI on SIGINT /
SIGTERM) ends the loop between micro-batches.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tidemark.compile.plan import Plan
from tidemark.documents import RawDocument, position_key
from tidemark.engines import DEFAULT_ENGINE, Engine, engine_class
from tidemark.engines.pool import resolve_workers
from tidemark.errors import ConfigError
from tidemark.mapping.models import Mapping
from tidemark.runtime.applied import Ledger
from tidemark.runtime.batch import check_mode, close_after, plan_of, write_documents
from tidemark.runtime.checkpoint import advanced, fresh, pending
from tidemark.runtime.result import NullReporter, Reporter, RunResult
from tidemark.runtime.transaction import Transaction, retry_conflicts
from tidemark.sinks import SinkConfig, open_sink
from tidemark.sinks.base import Checkpoint, Sink
from tidemark.sources import Source

#: refused documents and rows a StreamResult keeps in memory (all of them are in the store's quarantine)
KEEP_REFUSED = 1000


@dataclass
class StreamResult:
    """What one call of :func:`stream` did: micro-batches committed, their counts summed, and where it stopped.

    ``result`` sums this call's micro-batches (a resumed stream: only what it did now); ``checkpoint.totals`` sums
    every micro-batch the stream ever committed. ``stopped``: ended by ``stop`` rather than by running out (once).
    """

    name: str
    result: RunResult
    checkpoint: Checkpoint
    batches: int = 0
    stopped: bool = False
    atomic: bool = True
    seen: list[str] = field(default_factory=list)  # per micro-batch: its first and last position (JSON)


@dataclass
class _Stream:
    """What every micro-batch of one call shares."""

    name: str
    plan: Plan
    source: Source
    sink: Sink
    make_engine: Any
    reporter: Reporter
    batch_documents: int
    max_batch_bytes: int
    engine: Engine | None = None
    #: keys added to every checkpoint's ``totals`` (the Spark stream's query id and batch id: engines/spark_stream.py)
    marks: dict[str, Any] = field(default_factory=dict)
    #: apply the records applied before again (``--reprocess``)
    reprocess: bool = False
    #: the applied-documents ledger, read from the store before the first micro-batch (and after a failed one)
    ledger: Ledger = field(init=False)
    loaded: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.ledger = Ledger(self.plan, "upsert", self.reprocess)


def stream(
    mapping: str | Path | Mapping | Plan,
    raw: Any,
    sink: str | SinkConfig | Sink,
    *,
    name: str | None = None,
    once: bool = False,
    batch_documents: int = 64,
    max_batch_bytes: int = 64 << 20,
    engine: str = DEFAULT_ENGINE,
    poll_seconds: float = 2.0,
    reporter: Reporter | None = None,
    stop: threading.Event | None = None,
    workers: int | str = 1,
    reprocess: bool = False,
) -> StreamResult:
    """Stream the records of ``raw`` after the stream's checkpoint into ``sink``, one transaction per micro-batch.

    ``raw``: a raw store URL (a directory, ``duckdb:FILE``, ``postgresql://...``), a
    :class:`~tidemark.raw.RawStore`, or a replayable :class:`~tidemark.sources.Source` whose documents carry
    positions (e.g. a :class:`~tidemark.raw.RawSource` with ``select``). ``name`` defaults to mapping + raw store.
    ``once``: process what is there and return (a resumable backfill); otherwise poll every ``poll_seconds`` until
    ``stop`` is set. Refused documents and rows are quarantined and the stream goes on; anything else rolls the
    current micro-batch back and raises (the checkpoint stays where it was). Records applied before under the same
    plan are skipped before parsing (``result.unchanged_documents``); ``reprocess=True`` applies them again.
    """
    if batch_documents < 1 or max_batch_bytes < 1:
        raise ConfigError("batch_documents and max_batch_bytes must be at least 1")
    plan = plan_of(mapping)
    check_mode(plan, "upsert")
    workers = resolve_workers(workers)  # engines/pool.py: extraction processes of the local engine
    make_engine = engine_class(engine, {"workers": workers} if workers != 1 else None)
    source, close_source = _source(raw, batch_documents, max_batch_bytes)
    stop = stop or threading.Event()
    reporter = reporter or NullReporter()
    try:
        target = sink if isinstance(sink, Sink) else open_sink(sink)
    except BaseException:
        close_source()
        raise
    label = mapping if isinstance(mapping, str | Path) else plan.source_name
    state = _Stream(
        name or default_name(str(label), source),
        plan,
        source,
        target,
        make_engine,
        reporter,
        batch_documents,
        max_batch_bytes,
        reprocess=reprocess,
    )
    try:
        result = _loop(state, once=once, poll_seconds=poll_seconds, stop=stop)
    except BaseException as exc:
        if not isinstance(sink, Sink):
            close_after(target, exc)
        close_source()
        raise
    if not isinstance(sink, Sink):
        target.close()
    close_source()
    reporter.finish(result.result)
    return result


def default_name(mapping: str, source: Source) -> str:
    """``<mapping> <- <raw store>[/<endpoint>[/<method>]]``: one stream per mapping and raw store (and selection)."""
    store = getattr(source, "store", None)
    where = str(getattr(store, "display", "") or type(source).__name__)
    select = "/".join(p for p in (getattr(source, "endpoint", None), getattr(source, "method", None)) if p)
    return f"{mapping} <- {where}" + (f" [{select}]" if select else "")


def _source(raw: Any, batch_documents: int, max_batch_bytes: int) -> tuple[Source, Any]:
    """The source to stream and how to close it (a store opened here is closed here)."""
    from tidemark.raw import RawSource, RawStore

    if isinstance(raw, str | Path):
        opened = RawSource(str(raw), batch_records=batch_documents, batch_bytes=max_batch_bytes)
        return opened, opened.close
    if isinstance(raw, RawStore):
        return RawSource(raw, batch_records=batch_documents, batch_bytes=max_batch_bytes), lambda: None
    if isinstance(raw, Source) and raw.replayable:
        return raw, lambda: None
    raise ConfigError(
        f"cannot stream from {type(raw).__name__}: give a raw store (a directory, duckdb:FILE, postgresql://...) "
        "or a replayable source whose documents carry positions"
    )


def _loop(state: _Stream, *, once: bool, poll_seconds: float, stop: threading.Event) -> StreamResult:
    checkpoint = state.sink.read_checkpoint(state.name) or fresh(state.name)
    run_id = uuid.uuid4().hex[:12]
    specs = {t.name: t.spec for t in state.plan.targets}
    out = StreamResult(
        state.name,
        RunResult.start(run_id, state.sink.display, "upsert", specs),
        checkpoint,
        atomic=state.sink.capabilities.atomic_checkpoint,
    )
    state.reporter.start(0, 0)
    while not stop.is_set():
        documents = _take(state, checkpoint)
        if not documents:
            if once:
                return out
            stop.wait(poll_seconds)
            continue
        checkpoint, result = _micro_batch(state, checkpoint, documents, run_id)
        _add(out.result, result)
        out.checkpoint, out.batches = checkpoint, out.batches + 1
        out.seen.append(json.dumps([list(documents[0].position or ()), list(documents[-1].position or ())]))
        if (committed := getattr(state.reporter, "committed", None)) is not None:
            committed(out, state.source)  # observers (metrics, logs) hear of each committed micro-batch
    out.stopped = True
    return out


def _take(state: _Stream, checkpoint: Checkpoint) -> list[RawDocument]:
    """The next micro-batch: the records after the checkpoint, bounded (or exactly up to a pending position)."""
    documents: list[RawDocument] = []
    size = 0
    until = None if checkpoint.pending is None else position_key(checkpoint.pending)
    reader = state.source.read(checkpoint.position)
    try:
        for doc in reader:
            if doc.position is None:
                raise ConfigError(f"{doc.origin}: a document without a position cannot be streamed")
            if until is not None:  # a replay: the very records of the micro-batch announced, no more, no less
                if position_key(doc.position) > until:
                    break
                documents.append(_placed(doc))
                continue
            if documents and size + len(doc.data) > state.max_batch_bytes:
                break
            documents.append(_placed(doc))
            size += len(doc.data)
            if len(documents) >= state.batch_documents:
                break
    finally:
        close = getattr(reader, "close", None)
        if close is not None:
            close()
    return documents


def _placed(doc: RawDocument) -> RawDocument:
    """A record the store could not read, named with its position in the quarantine (the stream steps over it)."""
    if doc.error is None:
        return doc
    return replace(doc, origin=f"{doc.origin} (position {json.dumps(list(doc.position or ()))})")


def _micro_batch(
    state: _Stream, checkpoint: Checkpoint, documents: list[RawDocument], run_id: str
) -> tuple[Checkpoint, RunResult]:
    """One micro-batch in one transaction with its checkpoint; the new checkpoint and what the batch did."""
    end = documents[-1].position
    assert end is not None
    sink = state.sink
    replay = checkpoint.pending == end  # a store whose checkpoint is not atomic, after a crash mid-commit
    if not sink.capabilities.atomic_checkpoint and not replay:
        checkpoint = pending(checkpoint, end)  # announced first: a crash mid-commit replays exactly these records
        with Transaction(sink, [], run_id=run_id) as tx:
            tx.save_checkpoint(checkpoint)
    saved: list[Checkpoint] = []

    def attempt() -> RunResult:
        result = RunResult.start(run_id, sink.display, "upsert", {t.name: t.spec for t in state.plan.targets})
        saved.clear()
        applied = _applied(state, documents, skip=not replay)
        result.unchanged_documents = state.ledger.skipped

        def finish(tx: Transaction) -> None:
            done = advanced(checkpoint, end, result)
            saved.append(replace(done, totals={**done.totals, **state.marks}))
            tx.save_checkpoint(saved[-1])

        engine = state.engine or state.make_engine(state.plan)
        state.engine = None  # a failed attempt leaves nothing behind: the next one starts a fresh engine
        write_documents(
            state.plan,
            sink,
            engine,
            applied,
            "upsert",
            result,
            state.reporter,
            state.batch_documents,
            txn=(state.name, checkpoint.batch + 1),
            finish=finish,
            ledger=state.ledger,
        )
        state.engine = engine
        state.loaded = True  # committed: the ledger's hashes in memory are the store's again
        return result

    result = retry_conflicts(attempt, replayable=True)
    return saved[-1], result


def _applied(state: _Stream, documents: list[RawDocument], *, skip: bool) -> list[RawDocument]:
    """The micro-batch's records the ledger lets through (all of them with ``skip=False``), pending in the ledger
    until its transaction records them. The ledger is read from the store first when a micro-batch before did not
    commit (its hashes may hold records that were never committed)."""
    ledger = state.ledger
    if not state.loaded:
        ledger.load(state.sink)
    state.loaded = False  # until this attempt commits
    ledger.pending, ledger.skipped = [], 0
    return list(ledger.filter(documents, _skipped(state.reporter), skip=skip))


def _skipped(reporter: Reporter) -> Any:
    def advance(doc: RawDocument) -> None:
        reporter.advance(bytes_read=len(doc.data))

    return advance


def _add(total: RunResult, result: RunResult) -> None:
    """Sum one micro-batch's result into the stream's."""
    total.documents += result.documents
    total.unchanged_documents += result.unchanged_documents
    total.time_from_file += result.time_from_file
    for name, counts in result.tables.items():
        total.tables[name] += counts
    for name, rows in result.extracted.items():
        total.extracted[name] = total.extracted.get(name, 0) + rows
    for name, filled in result.filled.items():
        into = total.filled.setdefault(name, {})
        for column, n in filled.items():
            into[column] = into.get(column, 0) + n
    for stage, seconds in result.seconds.items():
        total.seconds[stage] += seconds
    total.rejected.extend(result.rejected[: max(0, KEEP_REFUSED - len(total.rejected))])
    total.row_errors.extend(result.row_errors[: max(0, KEEP_REFUSED - len(total.row_errors))])


__all__ = ["StreamResult", "default_name", "stream"]
