"""Arrow -> PostgreSQL binary ``COPY`` data, built column by column in Arrow and numpy (no Python per row or value).

CSV costs twice: the client renders every number as text and the server parses it back. The binary format carries
the values as the server stores them: a tuple is ``int16 field count``, then per field ``int32 length`` (-1 for
NULL) and the value's bytes, big-endian. Each column becomes one Arrow binary array of ready fields; the fields of a
row are joined in one pass, and the joined array's data buffer *is* the COPY stream (no copy to concatenate).

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
_NULL = pa.scalar(b"\xff\xff\xff\xff", pa.large_binary())  # field length -1
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
    for batch in table.to_batches(max_chunksize=rows_per_chunk):
        if batch.num_rows == 0:
            continue
        fields = [_field(batch.column(i), t) for i, t in enumerate(pg_types)]
        tuples = pc.binary_join_element_wise(count, *fields, _EMPTY)
        offsets = np.frombuffer(tuples.buffers()[1], dtype=np.int64, count=len(tuples) + 1, offset=8 * tuples.offset)
        yield memoryview(tuples.buffers()[2])[int(offsets[0]) : int(offsets[-1])]
    yield TRAILER


def _field(column: pa.Array, pg_type: str) -> pa.Array:
    """One column as complete binary fields (length + value, or -1 for NULL), one per row."""
    n = len(column)
    if pg_type in _VARIABLE:
        text = column
        if pg_type == "jsonb":  # the jsonb binary format: version 1, then the text
            text = pc.binary_join_element_wise(pa.scalar(b"\x01", pa.large_binary()), text, _EMPTY)
        lengths = pc.fill_null(pc.binary_length(text), -1).to_numpy(zero_copy_only=False)
        prefix = _fixed_binary(lengths.astype(">i4").view(np.uint8).reshape(n, 4))
        return pc.binary_join_element_wise(prefix, pc.fill_null(text, _EMPTY), _EMPTY)
    values, dtype = column, _FIXED[pg_type][1]
    width = np.dtype(dtype).itemsize
    record = np.empty((n, 4 + width), dtype=np.uint8)
    record[:, :4] = np.frombuffer(width.to_bytes(4, "big"), dtype=np.uint8)
    record[:, 4:] = _numbers(values, pg_type).astype(dtype).view(np.uint8).reshape(n, width)
    fields = _fixed_binary(record)
    if values.null_count:
        fields = pc.if_else(pc.is_null(values), _NULL, fields)
    return fields


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


def _fixed_binary(rows: np.ndarray) -> pa.Array:
    """An (n, width) uint8 matrix as a large_binary array of n values (one copy, to add the offsets)."""
    n, width = rows.shape
    fixed = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), n, [None, pa.py_buffer(np.ascontiguousarray(rows))])
    return fixed.cast(pa.large_binary())
