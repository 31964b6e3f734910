"""Arrow -> PostgreSQL binary ``COPY`` data, built column by column in Arrow and numpy (no Python per row or value).

CSV costs twice: the client renders every number as text and the server parses it back. The binary format carries
the values as the server stores them: a tuple is ``int16 field count``, then per field ``int32 length`` (-1 for
NULL) and the value's bytes, big-endian. Each text column, and each run of adjacent fixed-width columns, becomes
one Arrow binary array of ready fields (a run: one numpy matrix of lengths and values per row, the value bytes of
NULL fields masked out); the fields of a row are joined in one pass, and the joined array's data buffer *is* the
COPY stream (no copy to concatenate). Fewer, wider pieces to join made the encoding ~1.8x faster on the live game
tables than one array per column.

Types whose binary form is simple are encoded here: ``integer``, ``bigint``, ``double precision``, ``boolean``,
``text``, ``jsonb`` (version byte 1 + the JSON text), ``date`` (days since 2000-01-01), ``timestamp with time
zone`` (microseconds since 2000-01-01 UTC). A table with any other column type (``numeric``) returns None: the
caller sends CSV.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"  # signature, flags, no extension
TRAILER = b"\xff\xff"
_EMPTY = pa.scalar(b"", pa.large_binary())
_PG_EPOCH_DAYS = 10_957  # 2000-01-01 - 1970-01-01
_PG_EPOCH_US = _PG_EPOCH_DAYS * 86_400 * 1_000_000

# PostgreSQL type (as format_type() spells it) -> (Arrow type the column is cast to, numpy big-endian dtype or None)
_FIXED: dict[str, tuple[pa.DataType, str]] = {
    "integer": (pa.int32(), ">i4"),
    "bigint": (pa.int64(), ">i8"),
    "double precision": (pa.float64(), ">f8"),
    "boolean": (pa.bool_(), "u1"),
    "date": (pa.date32(), ">i4"),
    "timestamp with time zone": (pa.timestamp("us", "UTC"), ">i8"),
}
_VARIABLE = {"text", "jsonb"}


def encoder(table: pa.Table, pg_types: list[str], rows_per_chunk: int) -> Iterator[memoryview | bytes] | None:
    """The binary COPY stream of ``table`` (columns in order, typed as ``pg_types``) in chunks of about
    ``rows_per_chunk`` rows: header, tuples, trailer. None when a column type has no encoder here, or a value does
    not fit its column's type (the caller sends CSV, and the server names what is wrong)."""
    if not all(t in _FIXED or t in _VARIABLE for t in pg_types):
        return None
    try:  # every cast before the first byte is sent: a failure must not leave a COPY half-written
        columns = [_cast(table.column(i), t) for i, t in enumerate(pg_types)]
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return _encode(pa.table(columns, names=[str(i) for i in range(len(columns))]), pg_types, rows_per_chunk)


def _cast(column: pa.ChunkedArray, pg_type: str) -> pa.ChunkedArray:
    want = _FIXED[pg_type][0] if pg_type in _FIXED else pa.large_binary()
    return column if column.type == want else column.cast(want)


def _encode(table: pa.Table, pg_types: list[str], rows_per_chunk: int) -> Iterator[memoryview | bytes]:
    yield HEADER
    count = pa.scalar(len(pg_types).to_bytes(2, "big", signed=True), pa.large_binary())
    runs = _runs(pg_types)
    for batch in table.to_batches(max_chunksize=rows_per_chunk):
        if batch.num_rows == 0:
            continue
        fields = [
            _fixed_fields([batch.column(i) for i in run], [pg_types[i] for i in run])
            if pg_types[run[0]] in _FIXED
            else _field(batch.column(run[0]), pg_types[run[0]])
            for run in runs
        ]
        tuples = pc.binary_join_element_wise(count, *fields, _EMPTY)
        offsets = np.frombuffer(tuples.buffers()[1], dtype=np.int64, count=len(tuples) + 1, offset=8 * tuples.offset)
        yield memoryview(tuples.buffers()[2])[int(offsets[0]) : int(offsets[-1])]
    yield TRAILER


def _runs(pg_types: list[str]) -> list[list[int]]:
    """Column positions grouped: each run of adjacent fixed-width columns together, every other column alone."""
    runs: list[list[int]] = []
    for i, t in enumerate(pg_types):
        if t in _FIXED and runs and pg_types[runs[-1][-1]] in _FIXED:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def _field(column: pa.Array, pg_type: str) -> pa.Array:
    """A variable-width column as complete binary fields (length + value, or -1 for NULL), one per row."""
    n = len(column)
    text = column
    if pg_type == "jsonb":  # the jsonb binary format: version 1, then the text
        text = pc.binary_join_element_wise(pa.scalar(b"\x01", pa.large_binary()), text, _EMPTY)
    lengths = pc.fill_null(pc.binary_length(text), -1).to_numpy(zero_copy_only=False)
    prefix = _binary(lengths.astype(">i4").view(np.uint8).reshape(n, 4))
    return pc.binary_join_element_wise(prefix, pc.fill_null(text, _EMPTY), _EMPTY)


def _fixed_fields(columns: list[pa.Array], pg_types: list[str]) -> pa.Array:
    """Adjacent fixed-width columns as one binary value per row holding all their fields: one (rows, bytes) matrix
    of lengths and big-endian values; a NULL field is its length -1 alone, its value bytes are left out."""
    n = len(columns[0])
    widths = [np.dtype(_FIXED[t][1]).itemsize for t in pg_types]
    record = np.empty((n, sum(4 + w for w in widths)), dtype=np.uint8)
    keep: np.ndarray | None = None  # which bytes of the matrix are sent (all, unless a value is NULL)
    at = 0
    for values, pg_type, width in zip(columns, pg_types, widths, strict=True):
        record[:, at : at + 4] = np.frombuffer(width.to_bytes(4, "big"), dtype=np.uint8)
        numbers = _numbers(values, pg_type).astype(_FIXED[pg_type][1])
        record[:, at + 4 : at + 4 + width] = numbers.view(np.uint8).reshape(n, width)
        if values.null_count:
            nulls = pc.is_null(values).to_numpy(zero_copy_only=False)
            record[nulls, at : at + 4] = 0xFF
            if keep is None:
                keep = np.ones(record.shape, dtype=bool)
            keep[nulls, at + 4 : at + 4 + width] = False
        at += 4 + width
    if keep is None:
        return _binary(record)
    sizes = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(keep.sum(axis=1), out=sizes[1:])
    data = record[keep]  # row by row (C order): each row's kept bytes, in column order
    return pa.LargeBinaryArray.from_buffers(pa.large_binary(), n, [None, pa.py_buffer(sizes), pa.py_buffer(data)])


def _numbers(values: pa.Array, pg_type: str) -> np.ndarray:
    """The column's values as numbers in PostgreSQL's binary meaning (NULLs as 0: their fields are replaced)."""
    if pg_type == "timestamp with time zone":
        numbers: np.ndarray = pc.fill_null(values.cast(pa.int64()), 0).to_numpy() - _PG_EPOCH_US
    elif pg_type == "date":
        numbers = pc.fill_null(values.cast(pa.int32()), 0).to_numpy() - _PG_EPOCH_DAYS
    elif pg_type == "boolean":
        numbers = pc.fill_null(values, False).to_numpy(zero_copy_only=False)
    else:
        numbers = pc.fill_null(values, 0).to_numpy()
    return numbers


def _binary(rows: np.ndarray) -> pa.Array:
    """An (n, width) uint8 matrix as a large_binary array of n values of ``width`` bytes (no copy)."""
    n, width = rows.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
    data = pa.py_buffer(np.ascontiguousarray(rows))
    return pa.LargeBinaryArray.from_buffers(pa.large_binary(), n, [None, pa.py_buffer(offsets), data])
