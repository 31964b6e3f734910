"""A DataFrame of documents read by the Spark engine in its executors (sources/dataframe.py says what it holds).

The documents never pass through the driver. What makes the batches the local engine's is their order: each row
gets its index in the DataFrame (its position), computed in the JVM without moving a document::

    rows + monotonically_increasing_id()          # (partition << 33) + row within the partition; persisted, so
                                                  #   every job below sees the same ids
    rows per partition (one small job)            # -> the driver: each partition's first index (a running sum)
    index = first[partition] + row within it      # a broadcast join; work item = index div batch_documents
    per chunk of work items:                      # the same chunks as files' work items (SparkEngine.chunk_size)
      where(item in chunk).repartition(items, item).sortWithinPartitions(item, index)
      .mapInArrow: per item, its documents in order -> the local engine -> tagged rows (engines/spark.py)

So a work item holds exactly ``batch_documents`` consecutive documents, as the local engine's batches do, and the
driver rebuilds and writes the batches as for files (the quality rules included). Every document is made by
``sources.dataframe.document``, the function the source's own ``read`` uses on the driver.

**The applied-documents ledger** (runtime/applied.py), when the run's ledger records (every mode but ``append``):
one more job over the persisted rows sends back, per row, a **stub** (the document without its bytes: the sha256
of its bytes, computed in the executor, its origin, snapshot time and error; engines/spark_applied.py does the
same for files). The driver passes the stubs, in index order, through the run's own ``Ledger.filter``: the rows
it lets through are ranked (a join with their ranks; none when nothing was skipped) and the work items are cut
from the ranks, so they are the local engine's batches over the same documents, its skipped documents and its
ledger rows. The driver holds one small stub per row.
"""

from __future__ import annotations

import functools
import hashlib
import pickle
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from tidemark.compile.plan import Plan
from tidemark.documents import RawDocument
from tidemark.engines.base import ExtractBatch
from tidemark.engines.local import LocalEngine
from tidemark.engines.spark import SparkEngine, emit
from tidemark.engines.spark_prepare import Eligible
from tidemark.engines.spark_rules import RuleRows
from tidemark.sources.dataframe import DataFrameSource, document

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from tidemark.runtime.applied import Ledger

_ID, _PART, _FIRST, INDEX, ITEM, _RANK = "_tm_id", "_tm_partition", "_tm_first", "_tm_index", "_tm_item", "_tm_rank"
_ROW_BITS = 33  # monotonically_increasing_id: the partition above bit 33, the row within it below


def frame_batches(engine: SparkEngine, source: DataFrameSource, batch_documents: int) -> Iterator[ExtractBatch]:
    """The batches of the DataFrame's documents (those the run's ledger lets through), extracted in the executors,
    in document order."""
    from pyspark.sql import functions as F

    indexed, ided, rows = _indexed(source)
    try:
        layout = (source.origin_column is not None, source.captured_at_column is not None)
        ranked = indexed.withColumn(_RANK, F.col(INDEX))
        if engine.ledger is not None and engine.ledger.records:
            ranked, rows = _kept(indexed, layout, engine.ledger)
        item = F.floor(F.col(_RANK) / F.lit(batch_documents)).cast("long")
        indexed = ranked.withColumn(ITEM, item).select(*source.columns, INDEX, ITEM)
        items = -(-rows // batch_documents)
        size = engine.chunk_size
        jobs = (
            functools.partial(_chunk, engine, indexed, layout, lo, min(lo + size, items), batch_documents)
            for lo in range(0, items, size)
        )
        yield from engine.run_jobs(jobs)
    finally:
        ided.unpersist()


def _indexed(source: DataFrameSource) -> tuple[DataFrame, DataFrame, int]:
    """The source's columns and each row's index; the persisted frame under it; the number of rows."""
    from pyspark.sql import functions as F

    frame = source.frame.select(*source.columns)
    ided = frame.withColumn(_ID, F.monotonically_increasing_id()).withColumn(_PART, F.shiftright(_ID, _ROW_BITS))
    ided = ided.persist()
    counts = sorted((int(p), int(n)) for p, n in ided.groupBy(_PART).count().collect())
    firsts, total = [], 0
    for part, n in counts:
        firsts.append((part, total))
        total += n
    spark = frame.sparkSession
    table = spark.createDataFrame(firsts, f"{_PART} long, {_FIRST} long")
    within = F.col(_ID) - F.shiftleft(F.col(_PART), _ROW_BITS)
    indexed = (
        ided.join(F.broadcast(table), _PART).withColumn(INDEX, F.col(_FIRST) + within).select(*source.columns, INDEX)
    )
    return indexed, ided, total


def _kept(indexed: DataFrame, layout: tuple[bool, bool], ledger: Ledger) -> tuple[DataFrame, int]:
    """The rows the ledger lets through, each with its rank among them (``_RANK``), and their number."""
    payloads = indexed.mapInArrow(functools.partial(_stubs, layout), "payload binary").toArrow().column(0)
    stubs = sorted((s for p in payloads.to_pylist() for s in pickle.loads(p)), key=lambda s: s.position or ())
    passed = [stub.position[0] for stub in ledger.filter(stubs) if stub.position is not None]
    if len(passed) == len(stubs):  # nothing skipped: the rank is the index
        return indexed.withColumn(_RANK, indexed[INDEX]), len(passed)
    ranks = indexed.sparkSession.createDataFrame(
        list(zip(passed, range(len(passed)), strict=True)), f"{INDEX} long, {_RANK} long"
    )
    return indexed.join(ranks, INDEX), len(passed)


def _stubs(layout: tuple[bool, bool], inputs: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """In an executor: each row's document without its bytes, with the hash the ledger reads (one pickled list of
    them per Arrow batch)."""
    fields = 1 + sum(layout)
    for record in inputs:
        columns = [record.column(i).to_pylist() for i in range(record.num_columns)]
        stubs = []
        for values in zip(*columns, strict=True):
            doc = document(values[fields], *_fields(values, layout))
            digest = hashlib.sha256(doc.data).hexdigest()
            stubs.append(RawDocument(b"", doc.origin, doc.captured_at, doc.error, None, doc.position, digest))
        yield pa.record_batch([pa.array([pickle.dumps(stubs)], pa.binary())], ["payload"])


def _chunk(
    engine: SparkEngine, indexed: DataFrame, layout: tuple[bool, bool], lo: int, hi: int, batch_documents: int
) -> DataFrame:
    """The tagged rows of work items ``lo`` .. ``hi - 1``: each item's documents, in order, in one partition."""
    from pyspark.sql import functions as F

    rows = indexed.where((F.col(ITEM) >= lo) & (F.col(ITEM) < hi))
    rows = rows.repartition(hi - lo, ITEM).sortWithinPartitions(ITEM, INDEX)
    run = functools.partial(_extract_rows, engine.plan, engine.rule_rows, engine.eligible, layout, batch_documents)
    return rows.mapInArrow(run, engine.tagged_schema)


def _extract_rows(
    plan: Plan,
    rule_rows: RuleRows | None,
    eligible: Eligible,
    layout: tuple[bool, bool],
    batch_documents: int,
    inputs: Iterator[pa.RecordBatch],
) -> Iterator[pa.RecordBatch]:
    """In an executor: the partition's rows (sorted by item, then index) -> per item, the local engine's batches.
    ``layout``: whether the rows carry an origin and a snapshot time after the document."""
    engine = LocalEngine(plan)
    fields = 1 + sum(layout)
    item: int | None = None
    docs: list[RawDocument] = []
    for record in inputs:
        columns = [record.column(i).to_pylist() for i in range(record.num_columns)]
        for values in zip(*columns, strict=True):
            index, row_item = values[fields], values[fields + 1]
            if row_item != item:
                yield from _item(engine, rule_rows, eligible, item, docs, batch_documents)
                item, docs = row_item, []
            docs.append(document(index, *_fields(values, layout)))
    yield from _item(engine, rule_rows, eligible, item, docs, batch_documents)


def _fields(values: tuple[Any, ...], layout: tuple[bool, bool]) -> tuple[Any, Any, Any]:
    """(document, origin, captured_at) of a row of DataFrameSource.columns (those given, in that order)."""
    rest = iter(values[1:])
    origin = next(rest) if layout[0] else None
    return values[0], origin, (next(rest) if layout[1] else None)


def _item(
    engine: LocalEngine,
    rule_rows: RuleRows | None,
    eligible: Eligible,
    item: int | None,
    docs: list[RawDocument],
    batch_documents: int,
) -> Iterator[pa.RecordBatch]:
    if item is None or not docs:
        return
    for part, batch in enumerate(engine.extract(docs, batch_documents=batch_documents)):
        yield from emit(item, part, batch, rule_rows, eligible)


__all__ = ["INDEX", "ITEM", "frame_batches"]
