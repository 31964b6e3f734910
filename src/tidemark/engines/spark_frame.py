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
"""

from __future__ import annotations

import functools
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

_ID, _PART, _FIRST, INDEX, ITEM = "_tm_id", "_tm_partition", "_tm_first", "_tm_index", "_tm_item"
_ROW_BITS = 33  # monotonically_increasing_id: the partition above bit 33, the row within it below


def frame_batches(engine: SparkEngine, source: DataFrameSource, batch_documents: int) -> Iterator[ExtractBatch]:
    """The batches of the DataFrame's documents, extracted in the executors, in document order."""
    indexed, ided, rows = _indexed(source, batch_documents)
    try:
        items = -(-rows // batch_documents)
        size = engine.chunk_size
        layout = (source.origin_column is not None, source.captured_at_column is not None)
        jobs = (
            functools.partial(_chunk, engine, indexed, layout, lo, min(lo + size, items), batch_documents)
            for lo in range(0, items, size)
        )
        yield from engine.run_jobs(jobs)
    finally:
        ided.unpersist()


def _indexed(source: DataFrameSource, batch_documents: int) -> tuple[DataFrame, DataFrame, int]:
    """The source's columns, each row's index and work item; the persisted frame under it; the number of rows."""
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
        ided.join(F.broadcast(table), _PART)
        .withColumn(INDEX, F.col(_FIRST) + within)
        .withColumn(ITEM, F.floor(F.col(INDEX) / F.lit(batch_documents)).cast("long"))
        .select(*source.columns, INDEX, ITEM)
    )
    return indexed, ided, total


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
