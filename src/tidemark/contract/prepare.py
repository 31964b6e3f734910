"""The sink-independent half of the write contract, done once in Arrow for every sink.

``prepare`` takes the rows of one table and:

1. refuses rows without a timestamp or with a NULL key part (error rows, quarantined, never written);
2. adds the content hash column (:data:`~tidemark.tables.HASH_COLUMN`);
3. reduces duplicate keys inside the batch to one row per key by the contract's order: newest timestamp first,
   then the greater content hash. Losers identical to their winner count as ``unchanged``, the others ``skipped``.

What is left is what a sink compares against its stored rows (the other half of the contract, set-based in SQL or
in a MERGE).
"""

from __future__ import annotations

import hashlib
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from tidemark.contract.counts import Mode, WriteCounts
from tidemark.tables import HASH_COLUMN, TableSpec


@dataclass(frozen=True)
class RowError:
    """One row that is not written (bad type, missing required value, no timestamp, NULL key); quarantined."""

    table: str
    key: dict[str, Any]
    reason: str
    row: dict[str, Any]
    origin: str


@dataclass
class Prepared:
    rows: pa.Table
    errors: list[RowError] = field(default_factory=list)
    counts: WriteCounts = field(default_factory=WriteCounts)  # in-batch unchanged / skipped / error


def row_hash(table: pa.Table, columns: list[str] | tuple[str, ...]) -> pa.Array:
    """A signed 64-bit hash of each row's canonical content (docs/write-contract.md, "The content hash").

    A row's canonical bytes are a NULL bitmap, one little-endian 64-bit slot per column (the value of a fixed-width
    type, the byte length of any other) and then the variable-length values' bytes, in column order; they never
    depend on the other rows of the batch. The hash is the first 8 bytes of their MD5 digest read as a little-endian
    signed integer, computed in C by DuckDB over the whole column (:func:`reference_hash` of
    :func:`reference_row_bytes` is the same in plain Python).
    """
    n = table.num_rows
    if n == 0:
        return pa.array([], pa.int64())
    words = (len(columns) + 63) // 64
    slots = np.empty((n, words + len(columns)), dtype=np.int64)  # every cell is written below
    slots[:, :words] = 0
    tails: list[pa.Array] = []
    for i, name in enumerate(columns):
        column = _plain(table.column(name))
        if column.null_count:
            nulls = pc.is_null(column).to_numpy(zero_copy_only=False).astype(np.int64)
            slots[:, i // 64] |= nulls << (i % 64)
        fixed = _fixed_slot(column)
        if fixed is None:
            tail = _tail_bytes(column)
            slots[:, words + i] = pc.binary_length(tail).to_numpy(zero_copy_only=False)
            tails.append(tail)
        else:
            slots[:, words + i] = fixed
    # the slot matrix's rows, as binary values without a copy (large_binary: a batch may exceed 2 GB)
    offsets = np.arange(0, 8 * slots.size + 1, 8 * slots.shape[1], dtype=np.int64)
    rows = pa.LargeBinaryArray.from_buffers(pa.large_binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(slots)])
    return _md5_64(pc.binary_join_element_wise(rows, *tails, _NO_SEPARATOR) if tails else rows)


def _plain(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """One array of the column's values: chunks combined, a dictionary decoded (the values are the content)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    return column.dictionary_decode() if pa.types.is_dictionary(column.type) else column


_Slots = np.ndarray[Any, np.dtype[np.int64]]


def _fixed_slot(column: pa.Array) -> _Slots | None:
    """The column's 64-bit slots (NULL as 0) if its type is fixed-width in the canonical bytes, else None."""
    dtype = column.type
    if pa.types.is_floating(dtype):
        floats = pc.fill_null(pc.cast(column, pa.float64()), 0.0)
        bits: _Slots = floats.to_numpy(zero_copy_only=False).view(np.int64)
        return bits
    if pa.types.is_timestamp(dtype):
        # the same instant gives the same bytes whatever its zone or unit: stores keep UTC microseconds
        column = pc.cast(pc.cast(column, pa.timestamp("us", "UTC"), safe=False), pa.int64())
    elif pa.types.is_date64(dtype):
        column = pc.cast(pc.cast(column, pa.date32(), safe=False), pa.int32())
    elif pa.types.is_date32(dtype):
        column = pc.cast(column, pa.int32())
    elif not (pa.types.is_integer(dtype) or pa.types.is_boolean(dtype)):
        return None
    ints: _Slots = pc.fill_null(pc.cast(column, pa.int64(), safe=False), 0).to_numpy(zero_copy_only=False)
    return ints


def _tail_bytes(column: pa.Array) -> pa.Array:
    """The bytes a variable-length column adds after the slots (NULL adds none), as large_binary."""
    dtype = column.type
    if pa.types.is_decimal(dtype):
        column = pc.cast(column, pa.string())
    elif not any(test(dtype) for test in _BYTES_AS_IS):
        values = column.to_pylist()
        column = pa.array([None if v is None else orjson.dumps(v, default=str) for v in values], pa.binary())
    return pc.fill_null(pc.cast(column, pa.large_binary()), b"")


_NO_SEPARATOR = pa.scalar(b"", pa.large_binary())
_BYTES_AS_IS = (pa.types.is_string, pa.types.is_large_string, pa.types.is_binary, pa.types.is_large_binary)
_DIGEST_SQL = "SELECT CAST(md5_number(b) & CAST(18446744073709551615 AS UHUGEINT) AS UBIGINT) AS h FROM _tm_rows"
_duck: list[Any] = []  # one in-memory DuckDB for the process; each call uses its own cursor
_duck_lock = threading.Lock()


def _md5_64(rows: pa.Array) -> pa.Array:
    """The first 8 bytes of each value's MD5 digest as a little-endian signed 64-bit integer."""
    import duckdb

    with _duck_lock:
        if not _duck:
            _duck.append(duckdb.connect(":memory:"))
        cursor = _duck[0].cursor()
    try:
        cursor.register("_tm_rows", pa.table({"b": rows}))
        hashed = cursor.execute(_DIGEST_SQL).to_arrow_table().column("h")
    finally:
        cursor.close()
    unsigned = hashed.combine_chunks() if isinstance(hashed, pa.ChunkedArray) else hashed
    return unsigned.view(pa.int64())


def reference_hash(canonical: bytes) -> int:
    """The content hash of one row's canonical bytes, in plain Python (for tests and other implementations)."""
    return int.from_bytes(hashlib.md5(canonical).digest()[:8], "little", signed=True)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def reference_row_bytes(values: Sequence[object], kinds: Sequence[str]) -> bytes:
    """The canonical bytes of one row, in plain Python; ``kinds`` are the columns' LogicalType kinds.

    Values are as Arrow's ``to_pylist`` gives them: ``int``, ``float``, ``bool``, ``date``, ``datetime`` (naive means
    UTC), ``Decimal`` (at its column's scale), ``str`` (``string`` and ``json``), ``bytes``, or ``None``.
    """
    header = bytearray(8 * ((len(kinds) + 63) // 64))
    slots: list[int] = []
    tail = b""
    for i, (value, kind) in enumerate(zip(values, kinds, strict=True)):
        if value is None:
            header[i // 8] |= 1 << (i % 8)
            slots.append(0)
        elif kind in ("int", "bigint", "bool"):
            slots.append(int(value))  # type: ignore[call-overload]
        elif kind == "double":
            slots.append(struct.unpack("<q", struct.pack("<d", value))[0])
        elif kind == "date":
            slots.append((value - date(1970, 1, 1)).days)  # type: ignore[operator]
        elif kind == "timestamp":
            assert isinstance(value, datetime)
            instant = value if value.tzinfo else value.replace(tzinfo=UTC)
            slots.append((instant - _EPOCH) // timedelta(microseconds=1))
        else:
            data = _reference_tail(value)
            slots.append(len(data))
            tail += data
    return bytes(header) + struct.pack(f"<{len(slots)}q", *slots) + tail


def _reference_tail(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, Decimal):
        return str(value).encode()  # Arrow's cast to string: both follow the decimal spec's to-scientific-string
    return orjson.dumps(value, default=str)


def prepare(table: pa.Table, spec: TableSpec, mode: Mode, origin: str = "") -> Prepared:
    """Validate, hash and (for keyed modes) reduce ``table`` to one row per key. See the module docstring."""
    table = table.select(list(spec.column_names))
    errors: list[RowError] = []
    table, errors = _refuse_incomplete(table, spec, origin)
    counts = WriteCounts(error=len(errors))
    table = table.append_column(pa.field(HASH_COLUMN, pa.int64(), nullable=False), row_hash(table, spec.column_names))
    if mode != "append" and spec.primary_key and table.num_rows > 1:
        table, unchanged, skipped = reduce_duplicates(table, spec.primary_key, spec.timestamp)
        counts.unchanged += unchanged
        counts.skipped += skipped
    return Prepared(table, errors, counts)


def _refuse_incomplete(table: pa.Table, spec: TableSpec, origin: str) -> tuple[pa.Table, list[RowError]]:
    checks = [
        (c, "no timestamp: the write contract needs one to decide which row is newer")
        for c in ([spec.timestamp] if spec.timestamp else [])
    ]
    checks += [(c, "NULL in primary key column") for c in spec.primary_key]
    bad = None
    reasons: list[tuple[pa.Array, str]] = []
    for column, reason in checks:
        missing = pc.is_null(table.column(column))
        if pc.any(missing).as_py():
            reasons.append((missing, f"{column}: {reason}"))
            bad = missing if bad is None else pc.or_(bad, missing)
    if bad is None:
        return table, []
    rejected = table.filter(bad).to_pylist()
    masks = [pc.filter(m, bad).to_pylist() for m, _ in reasons]
    errors = []
    for i, row in enumerate(rejected):
        why = "; ".join(reason for (_, reason), mask in zip(reasons, masks, strict=True) if mask[i])
        errors.append(RowError(spec.qualified, {k: row[k] for k in spec.primary_key}, why, row, origin))
    return table.filter(pc.invert(bad)), errors


def reduce_duplicates(table: pa.Table, keys: tuple[str, ...], ts: str | None) -> tuple[pa.Table, int, int]:
    """Keep, per key, the row that sorts first by (timestamp desc, hash desc); count identical and older losers."""
    if _strictly_increasing(table, keys):  # the engine's usual output: one row per key, in key order already
        return table, 0, 0
    order = [(k, "ascending") for k in keys] + ([(ts, "descending")] if ts else []) + [(HASH_COLUMN, "descending")]
    ordered = table.take(pc.sort_indices(table, sort_keys=order))
    n = ordered.num_rows
    changed = None
    for k in keys:
        col = ordered.column(k)
        diff = pc.not_equal(col.slice(1), col.slice(0, n - 1))
        changed = diff if changed is None else pc.or_(changed, diff)
    assert changed is not None
    is_first = pa.concat_arrays(
        [pa.array([True]), pa.concat_arrays(changed.chunks) if isinstance(changed, pa.ChunkedArray) else changed]
    )
    if pc.all(is_first).as_py():
        return ordered, 0, 0
    group = pc.subtract(pc.cumulative_sum(pc.cast(is_first, pa.int64())), 1)
    first_rows = pc.indices_nonzero(is_first)
    same = None
    for name in ([ts] if ts else []) + [HASH_COLUMN]:
        col = ordered.column(name)
        winner = col.take(first_rows).take(group)
        eq = pc.equal(col, winner)
        same = eq if same is None else pc.and_(same, eq)
    losers = pc.invert(is_first)
    unchanged = pc.sum(pc.cast(pc.and_(losers, same), pa.int64())).as_py() or 0
    total_losers = pc.sum(pc.cast(losers, pa.int64())).as_py() or 0
    return ordered.filter(is_first), unchanged, total_losers - unchanged


def _strictly_increasing(table: pa.Table, keys: tuple[str, ...]) -> bool:
    """True when each row's key is greater than the previous row's (so no key repeats); a few vectorized compares
    instead of a sort of the whole table."""
    n = table.num_rows
    if n < 2:
        return True
    if any(table.column(k).null_count for k in keys):
        return False
    greater = equal = None
    for k in keys:
        col = table.column(k)
        after, before = col.slice(1), col.slice(0, n - 1)
        gt = pc.greater(after, before)
        greater = gt if greater is None else pc.or_(greater, pc.and_(equal, gt))
        eq = pc.equal(after, before)
        equal = eq if equal is None else pc.and_(equal, eq)
    return greater is not None and bool(pc.all(greater).as_py())
