"""Anything that exports Arrow -> a stream of bounded chunks, each knowing where its rows came from.

Accepted: ``pyarrow.Table`` / ``RecordBatch`` / ``RecordBatchReader`` / a list of batches or tables, any object with
``__arrow_c_stream__`` (polars, DuckDB results, ...) through ``RecordBatchReader.from_stream``, and pandas
DataFrames through ``pyarrow.Table.from_pandas`` slice by slice. Neither pandas nor polars is imported here: they are
recognized by duck typing. A reader is consumed batch by batch, never collected whole.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from tidemark.errors import ConfigError

#: a column holding each row's file, set by the file readers (write/files.py); removed before writing
ORIGIN_COLUMN = "_tm_origin"


@dataclass
class Source:
    """An input: its schema, its batches (lazy), the row count when known, and how rows are named in messages."""

    schema: pa.Schema
    batches: Iterable[pa.RecordBatch]
    total_rows: int | None = None
    files: int = 0
    total_bytes: int = 0


def open_data(data: Any) -> Source:
    """Recognize ``data``; raise :class:`ConfigError` naming what is accepted when it is none of those."""
    if isinstance(data, Source):
        return data
    if isinstance(data, pa.Table):
        return Source(data.schema, data.to_batches(), data.num_rows)
    if isinstance(data, pa.RecordBatch):
        return Source(data.schema, [data], data.num_rows)
    if isinstance(data, pa.RecordBatchReader):
        return Source(data.schema, data)
    if isinstance(data, list | tuple) and data and all(isinstance(b, pa.RecordBatch | pa.Table) for b in data):
        return _from_parts(list(data))
    if is_pandas(data):
        return _from_pandas(data)
    if hasattr(data, "__arrow_c_stream__"):
        reader = pa.RecordBatchReader.from_stream(data)
        return Source(reader.schema, reader)
    raise ConfigError(
        f"cannot write a {type(data).__module__}.{type(data).__name__}: give a pyarrow Table, RecordBatch, "
        "RecordBatchReader or a list of batches, a pandas DataFrame, or any object with __arrow_c_stream__ "
        "(polars DataFrames, DuckDB results)"
    )


def _from_parts(parts: list[pa.RecordBatch | pa.Table]) -> Source:
    schema = parts[0].schema
    for i, part in enumerate(parts[1:], start=1):
        if not part.schema.equals(schema):
            raise ConfigError(f"batch {i} has another schema than batch 0: {part.schema} vs {schema}")

    def batches() -> Iterator[pa.RecordBatch]:
        for part in parts:
            yield from part.to_batches() if isinstance(part, pa.Table) else [part]

    return Source(schema, batches(), sum(p.num_rows for p in parts))


def is_pandas(data: Any) -> bool:
    cls = type(data)
    return cls.__module__.split(".")[0] == "pandas" and cls.__name__ == "DataFrame"


def _from_pandas(frame: Any, slice_rows: int = 250_000) -> Source:
    """A pandas DataFrame, converted slice by slice with one schema inferred from the whole frame."""
    schema = pa.Schema.from_pandas(frame, preserve_index=False)
    n = len(frame)

    def batches() -> Iterator[pa.RecordBatch]:
        for start in range(0, n, slice_rows):
            part = frame.iloc[start : start + slice_rows]
            yield from pa.Table.from_pandas(part, schema=schema, preserve_index=False).to_batches()

    return Source(schema.remove_metadata(), batches(), n)


@dataclass
class Locator:
    """Names rows in messages: ``row 17`` (0-based position) for data, ``results.json record 3`` for files."""

    starts: list[int] = field(default_factory=list)  # global index where each segment starts
    labels: list[tuple[str, int]] = field(default_factory=list)  # (file, number of its first row in the segment)

    def __call__(self, row: int) -> str:
        i = bisect.bisect_right(self.starts, row) - 1
        if i < 0:
            return f"row {row}"
        name, first = self.labels[i]
        return f"{name} record {first + row - self.starts[i]}"

    def add_files(self, start: int, files: pa.Array, counts: dict[str, int]) -> None:
        """Record the runs of equal file names of a chunk starting at global row ``start``."""
        n = len(files)
        if n == 0:
            return
        change = pc.not_equal(files.slice(1), files.slice(0, n - 1)) if n > 1 else pa.array([], pa.bool_())
        run_starts = [0, *(i + 1 for i in pc.indices_nonzero(pc.fill_null(change, True)).to_pylist())]
        bounds = [*run_starts, n]
        for a, b in itertools.pairwise(bounds):
            name = str(files[a].as_py())
            self.starts.append(start + a)
            self.labels.append((name, counts.get(name, 0) + 1))
            counts[name] = counts.get(name, 0) + b - a


@dataclass
class Chunk:
    """Up to ``batch_rows`` input rows; ``start`` is the global index of its first row."""

    table: pa.Table
    start: int

    def rowids(self) -> pa.Array:
        """start, start + 1, ... (vectorized: a Python range of a million rows takes a second)."""
        ones = pa.repeat(pa.scalar(1, pa.int64()), self.table.num_rows)
        return pc.add(pc.cumulative_sum(ones), self.start - 1)


def chunks(source: Source, batch_rows: int, locator: Locator) -> Iterator[Chunk]:
    """Re-cut the input's batches into chunks of ``batch_rows`` rows (small batches joined, large ones sliced)."""
    schema = source.schema
    pending: list[pa.RecordBatch] = []
    size = start = 0
    counts: dict[str, int] = {}

    def emit() -> Chunk:
        table = pa.Table.from_batches(pending, schema)
        if ORIGIN_COLUMN in schema.names:
            files = table.column(ORIGIN_COLUMN).combine_chunks()
            locator.add_files(start, files, counts)
            table = table.drop_columns([ORIGIN_COLUMN])
        return Chunk(table, start)

    for batch in source.batches:
        offset = 0
        while offset < batch.num_rows:
            take = min(batch_rows - size, batch.num_rows - offset)
            pending.append(batch.slice(offset, take))
            size += take
            offset += take
            if size >= batch_rows:
                yield emit()
                start += size
                pending, size = [], 0
    if pending:
        yield emit()


def drop_origin(schema: pa.Schema) -> pa.Schema:
    return schema.remove(schema.get_field_index(ORIGIN_COLUMN)) if ORIGIN_COLUMN in schema.names else schema


Locate = Callable[[int], str]
