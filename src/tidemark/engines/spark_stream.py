"""Spark Structured Streaming over a raw store: ``tidemark stream --engine spark``.

A Spark streaming query drives the stream; tidemark's raw positions say what each of its batches holds::

    spark.readStream.format("rate-micro-batch")       # one tick per Spark batch: Spark numbers the batches
         .writeStream.foreachBatch(handler)            # on the driver, per Spark batch id N:
            checkpoint = sink.read_checkpoint(name)    #   the sink's checkpoint: the one record of progress
            N <= checkpoint's Spark batch (same query) ->  a replay (Spark re-runs a batch after a crash): skip
            documents = the records after checkpoint.position (at most batch_documents, about max_batch_bytes)
            runtime/stream.py's micro-batch:           #   the SAME code as `tidemark stream`: the records applied
                                                       #   before skipped (the applied-documents ledger), the
                                                       #   Program runs in the executors (SparkEngine), the rows,
                                                       #   the ledger's entries + the checkpoint (position, stream
                                                       #   name, Spark query id and batch id) commit in one sink
                                                       #   transaction

**Why a tick source and the raw positions, not Spark's file source** (exactly-once is the reason): a micro-batch
is exactly-once when what it covers and the fact that it was committed are written in one transaction. The sink's
checkpoint is that record: it commits with the rows. Spark's file source keeps its own log of the files it has seen
in Spark's checkpoint directory, written *outside* the sink's transaction, so after a crash the two can disagree;
it also lists files by modification time and a raw directory's segment is one file of many records (a Spark batch
could not be bounded to ``batch_documents`` records, and the counts would no longer equal a batch run's), and the
DuckDB and PostgreSQL raw stores are no files at all. So the records of every Spark batch are read after the
position the sink committed, bounded exactly as ``tidemark stream`` bounds them; Spark's batch id is saved in the
same transaction, so a batch Spark runs again after a crash (its commit marker not written yet) is recognised and
skipped. Losing Spark's checkpoint directory loses nothing: a new query id, and the sink's position still decides.

What runs where: the driver reads the micro-batch's records from the raw store and ships them to the executors (at
most ``batch_documents`` of them), which run the compiled Program (:class:`~tidemark.engines.spark.SparkEngine`);
the driver then runs the contract and the sink's transaction, as in a batch run. Nothing here prints.
"""

from __future__ import annotations

import functools
import json
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tidemark.engines.spark import DEFAULT_MASTER, SparkEngine, open_session
from tidemark.errors import ConfigError, SourceError
from tidemark.mapping.models import Mapping
from tidemark.runtime.batch import check_mode, close_after, plan_of
from tidemark.runtime.checkpoint import fresh
from tidemark.runtime.result import NullReporter, Reporter, RunResult
from tidemark.runtime.stream import StreamResult, _add, _micro_batch, _source, _Stream, _take, default_name
from tidemark.sinks import SinkConfig, open_sink
from tidemark.sinks.base import Sink

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from pyspark.sql.streaming.query import StreamingQuery

    from tidemark.compile.plan import Plan

#: the key of a checkpoint's ``totals`` holding the Spark query id and batch id of its micro-batch
SPARK_KEY = "spark"


@dataclass
class SparkStreamResult(StreamResult):
    """A :class:`~tidemark.runtime.stream.StreamResult`, plus what Spark did: its query id, and the Spark batches
    run again after a crash and skipped because the sink had committed them."""

    query_id: str = ""
    replayed: int = 0


def spark_stream(
    mapping: str | Path | Mapping | Plan,
    raw: Any,
    sink: str | SinkConfig | Sink,
    *,
    name: str | None = None,
    once: bool = False,
    batch_documents: int = 64,
    max_batch_bytes: int = 64 << 20,
    poll_seconds: float = 2.0,
    master: str = DEFAULT_MASTER,
    conf: dict[str, str] | None = None,
    session: SparkSession | None = None,
    checkpoint_location: str | Path | None = None,
    reporter: Reporter | None = None,
    stop: threading.Event | None = None,
    reprocess: bool = False,
) -> SparkStreamResult:
    """Stream the records of ``raw`` into ``sink`` as a Spark Structured Streaming query (see the module's text).

    The arguments are :func:`tidemark.runtime.stream.stream`'s, plus Spark's: ``master`` / ``conf`` (or the
    active ``session``) and ``checkpoint_location``, Spark's checkpoint directory. Keep that directory to have a
    batch Spark re-runs after a crash skipped by its id; without one a temporary directory serves one call (the
    sink's checkpoint still makes every micro-batch exactly-once). ``once``: stop when the raw store has no more
    records; otherwise poll every ``poll_seconds`` until ``stop`` is set. Records applied before under the same plan
    are skipped on the driver before they are shipped (``reprocess=True``: applied again), as ``tidemark stream``
    skips them.
    """
    if batch_documents < 1 or max_batch_bytes < 1:
        raise ConfigError("batch_documents and max_batch_bytes must be at least 1")
    plan = plan_of(mapping)
    check_mode(plan, "upsert")
    spark = session or open_session(master, conf)
    source, close_source = _source(raw, batch_documents, max_batch_bytes)
    try:
        target = sink if isinstance(sink, Sink) else open_sink(sink)
    except BaseException:
        close_source()
        raise
    label = str(mapping) if isinstance(mapping, str | Path) else plan.source_name
    make_engine = functools.partial(SparkEngine, session=spark, write_mode="upsert")  # a stream only upserts
    state = _Stream(
        name or default_name(label, source),
        plan,
        source,
        target,
        make_engine,
        reporter or NullReporter(),
        batch_documents,
        max_batch_bytes,
        reprocess=reprocess,
    )
    try:
        result = _run(spark, state, checkpoint_location, once, poll_seconds, stop or threading.Event())
    except BaseException as exc:
        if not isinstance(sink, Sink):
            close_after(target, exc)
        close_source()
        raise
    if not isinstance(sink, Sink):
        target.close()
    close_source()
    state.reporter.finish(result.result)
    return result


def _run(
    spark: SparkSession,
    state: _Stream,
    location: str | Path | None,
    once: bool,
    poll_seconds: float,
    stop: threading.Event,
) -> SparkStreamResult:
    """Start the query, wait until it is caught up (``once``), stopped or failed, and stop it between batches."""
    handler = _Handler(state, once, poll_seconds, stop)
    with tempfile.TemporaryDirectory(prefix="tidemark-spark-") as scratch:
        ticks = spark.readStream.format("rate-micro-batch").option("rowsPerBatch", 1).option("numPartitions", 1)
        query: StreamingQuery = (
            ticks.load()
            .writeStream.foreachBatch(handler)
            .option("checkpointLocation", str(location or Path(scratch) / "spark"))
            .start()
        )
        handler.started(str(query.id))
        try:
            while not (stop.is_set() or handler.done.is_set()) and query.isActive:
                handler.done.wait(0.2)
        finally:
            handler.close()
            query.stop()
    if handler.error is not None:
        raise handler.error
    failed = query.exception()
    if failed is not None:
        raise SourceError(f"the Spark stream {state.name!r} failed: {failed}; run it again to resume")
    handler.out.stopped = stop.is_set()
    return handler.out


class _Handler:
    """The ``foreachBatch`` function: one Spark batch -> at most one micro-batch of runtime/stream.py.

    Spark calls it on one thread at a time; ``close`` waits for the batch in progress and makes later calls do
    nothing, so the query is stopped between two transactions, never in one.
    """

    def __init__(self, state: _Stream, once: bool, poll_seconds: float, stop: threading.Event) -> None:
        self.state, self.once, self.poll_seconds, self.stop = state, once, poll_seconds, stop
        self.run_id = uuid.uuid4().hex[:12]
        specs = {t.name: t.spec for t in state.plan.targets}
        checkpoint = state.sink.read_checkpoint(state.name) or fresh(state.name)
        self.out = SparkStreamResult(
            state.name,
            RunResult.start(self.run_id, state.sink.display, "upsert", specs),
            checkpoint,
            atomic=state.sink.capabilities.atomic_checkpoint,
        )
        self.lock = threading.Lock()
        self.ready, self.closing, self.done = threading.Event(), threading.Event(), threading.Event()
        self.error: BaseException | None = None
        state.reporter.start(0, 0)

    def started(self, query_id: str) -> None:
        self.out.query_id = query_id
        self.ready.set()

    def close(self) -> None:
        self.closing.set()
        self.ready.set()
        with self.lock:  # the batch in progress ends first
            pass

    def __call__(self, frame: Any, batch_id: int) -> None:
        self.ready.wait()
        with self.lock:
            if self.closing.is_set():
                return
            try:
                self._batch(batch_id)
            except BaseException as exc:
                self.error = exc
                self.done.set()
                raise

    def _batch(self, batch_id: int) -> None:
        state, out = self.state, self.out
        checkpoint = state.sink.read_checkpoint(state.name) or fresh(state.name)
        mark = checkpoint.totals.get(SPARK_KEY) or {}
        if mark.get("query") == out.query_id and int(mark.get("batch", -1)) >= batch_id:
            out.replayed += 1  # Spark runs a batch the sink committed (a crash before Spark's commit marker)
            return
        documents = _take(state, checkpoint)
        if not documents:
            if self.once:
                self.done.set()
            else:
                self.stop.wait(self.poll_seconds)
            return
        state.marks = {SPARK_KEY: {"query": out.query_id, "batch": batch_id}}
        checkpoint, result = _micro_batch(state, checkpoint, documents, self.run_id)
        _add(out.result, result)
        out.checkpoint, out.batches = checkpoint, out.batches + 1
        out.seen.append(json.dumps([list(documents[0].position or ()), list(documents[-1].position or ())]))


__all__ = ["SPARK_KEY", "SparkStreamResult", "spark_stream"]
