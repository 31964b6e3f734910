"""The sink-independent half of the write contract, done once in Arrow for every sink.

``prepare`` takes the rows of one table and:

1. refuses rows without a timestamp or with a NULL key part (error rows, quarantined, never written);
2. adds the content hash column (:data:`~tidemark.tables.HASH_COLUMN`);
3. reduces duplicate keys inside the batch to one row per key by the contract's order: newest timestamp first,
   then the greater content hash (with ``tie: incoming``: the later row of the batch, its input position).
   Losers identical to their winner count as ``unchanged``, the others ``skipped``.

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

from tidemark.contract import rules
from tidemark.contract.counts import Mode, WriteCounts
from tidemark.contract.counts import RowError as RowError
from tidemark.tables import HASH_COLUMN, TableSpec


@dataclass
class Prepared:
    rows: pa.Table
    errors: list[RowError] = field(default_factory=list)
    counts: WriteCounts = field(default_factory=WriteCounts)  # in-batch unchanged / skipped / error


def row_hash(table: pa.Table, columns: list[str] | tuple[str, ...]) -> pa.Array:
    """A signed 64-bit hash of each row's canonical content (docs/write-contract.md, "The content hash").

    A row's words are a NULL bitmap, one 64-bit slot per column (the value of a fixed-width type, the byte length of
    any other) and, if the table has a variable-length column, the first 8 bytes of the MD5 of the variable-length
    values' bytes; the splitmix64 finalizer chains them into one 64-bit value. The words never depend on the other
    rows of the batch. Fixed-width columns are mixed by numpy over whole columns; only the variable-length bytes go
    through MD5 (hashlib, or DuckDB for large batches; :func:`reference_row_hash` is the same in plain Python).
    """
    n = table.num_rows
    if n == 0:
        return pa.array([], pa.int64())
    plain = [_plain(table.column(name)) for name in columns]
    header = np.zeros(((len(plain) + 63) // 64, n), dtype=np.uint64)
    for i, column in enumerate(plain):
        if column.null_count:
            nulls = pc.is_null(column).to_numpy(zero_copy_only=False).astype(np.uint64)
            header[i // 64] |= nulls << np.uint64(i % 64)
    mixer = _Mixer(n)
    for word in header:
        mixer.add(word)
    tails: list[pa.Array] = []
    for column in plain:
        fixed = _fixed_slot(column)
        if fixed is None:
            tail = _tail_bytes(column)
            mixer.add(pc.binary_length(tail).to_numpy(zero_copy_only=False).view(np.uint64))
            tails.append(tail)
        else:
            mixer.add(fixed)
    if tails:  # the word's presence depends on the column types only: an empty tail is hashed too
        joined = tails[0] if len(tails) == 1 else pc.binary_join_element_wise(*tails, _NO_SEPARATOR)
        mixer.add(_md5_64(joined))
    return pa.array(mixer.h.view(np.int64))


_U64 = np.ndarray[Any, np.dtype[np.uint64]]
_SEED = 0x9E3779B97F4A7C15
_MIX_1, _MIX_2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


class _Mixer:
    """``h = finalizer(h ^ word)`` for each word in turn, over a whole column of rows at once (uint64, wrapping)."""

    def __init__(self, n: int) -> None:
        self.h: _U64 = np.full(n, _SEED, dtype=np.uint64)
        self._tmp: _U64 = np.empty(n, dtype=np.uint64)

    def add(self, word: _U64) -> None:
        h, tmp = self.h, self._tmp
        h ^= word
        for shift, factor in ((30, _MIX_1), (27, _MIX_2)):
            np.right_shift(h, np.uint64(shift), out=tmp)
            h ^= tmp
            h *= np.uint64(factor)
        np.right_shift(h, np.uint64(31), out=tmp)
        h ^= tmp


def _plain(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """One array of the column's values: chunks combined, a dictionary decoded (the values are the content)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    return column.dictionary_decode() if pa.types.is_dictionary(column.type) else column


def _fixed_slot(column: pa.Array) -> _U64 | None:
    """The column's slot words (NULL as 0) if its type is fixed-width, else None (the column goes to the tail)."""
    dtype = column.type
    if pa.types.is_floating(dtype):
        column = _cast(column, pa.float64())
    elif pa.types.is_timestamp(dtype):
        # the same instant gives the same word whatever its zone or unit: stores keep UTC microseconds
        column = _cast(column, _MICROS_UTC).view(pa.int64())
    elif pa.types.is_date64(dtype):
        column = _cast(column, pa.date32()).view(pa.int32())
    elif pa.types.is_date32(dtype):
        column = column.view(pa.int32())
    elif not (pa.types.is_integer(dtype) or pa.types.is_boolean(dtype)):
        return None
    if column.type != pa.float64():
        column = _cast(column, pa.int64())
    if column.null_count:
        column = pc.fill_null(column, 0)
    words: _U64 = column.to_numpy(zero_copy_only=False).view(np.uint64)  # a float's bits, an integer's two's complement
    return words


def _cast(column: pa.Array, dtype: pa.DataType) -> pa.Array:
    return column if column.type == dtype else pc.cast(column, dtype, safe=False)


_MICROS_UTC = pa.timestamp("us", "UTC")


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
_DUCKDB_FROM_ROWS = 4096


def _md5_64(rows: pa.Array) -> _U64:
    """The first 8 bytes of each value's MD5 digest, read little-endian (unsigned 64-bit)."""
    if len(rows) < _DUCKDB_FROM_ROWS:
        # a DuckDB query costs about 1 ms whatever its size: below a few thousand rows hashlib row by row is cheaper
        digests = b"".join([hashlib.md5(value).digest() for value in rows.to_pylist()])
        return np.frombuffer(digests, dtype="<u8")[::2].astype(np.uint64)
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
    unsigned: _U64 = hashed.to_numpy()
    return unsigned


def reference_row_hash(values: Sequence[object], kinds: Sequence[str]) -> int:
    """The content hash of one row, in plain Python; ``kinds`` are the columns' LogicalType kinds.

    Values are as Arrow's ``to_pylist`` gives them: ``int``, ``float``, ``bool``, ``date``, ``datetime`` (naive means
    UTC), ``Decimal`` (at its column's scale), ``str`` (``string`` and ``json``), ``bytes``, or ``None``.
    """
    h = _SEED
    for word in reference_row_words(values, kinds):
        h ^= word
        h ^= h >> 30
        h = h * _MIX_1 & _MASK
        h ^= h >> 27
        h = h * _MIX_2 & _MASK
        h ^= h >> 31
    return h - (1 << 64) if h >> 63 else h


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MASK = (1 << 64) - 1
_FIXED_KINDS = ("int", "bigint", "bool", "double", "date", "timestamp")


def reference_row_words(values: Sequence[object], kinds: Sequence[str]) -> list[int]:
    """The unsigned 64-bit words one row's hash mixes, in order: the NULL bitmap, one slot per column, then (if a
    kind is variable-length) the first 8 bytes, little-endian, of the MD5 of the variable-length values' bytes."""
    header = [0] * ((len(kinds) + 63) // 64)
    slots: list[int] = []
    tail = b""
    for i, (value, kind) in enumerate(zip(values, kinds, strict=True)):
        if value is None:
            header[i // 64] |= 1 << (i % 64)
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
    words = header + [slot & _MASK for slot in slots]
    if any(kind not in _FIXED_KINDS for kind in kinds):
        words.append(int.from_bytes(hashlib.md5(tail).digest()[:8], "little"))
    return words


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
        table, unchanged, skipped = reduce_duplicates(table, spec.primary_key, spec.timestamp, spec.tie)
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


def reduce_duplicates(
    table: pa.Table, keys: tuple[str, ...], ts: str | None, tie: rules.Tie = "hash"
) -> tuple[pa.Table, int, int]:
    """Keep, per key, the row that wins by the contract's order (contract/rules.py: timestamp desc, hash desc, or
    with ``tie="incoming"`` the later row of ``table`` at an equal timestamp); count the losers that are the same row
    as their winner (unchanged) and the others (skipped)."""
    if _strictly_increasing(table, keys):  # the engine's usual output: one row per key, in key order already
        return table, 0, 0
    order = rules.sort_keys(keys, ts, tie)
    sortable = table
    if tie == "incoming":  # the row's position in the batch: the later one wins a tie
        sortable = table.append_column(rules.POSITION, pa.array(np.arange(table.num_rows, dtype=np.int64)))
    ordered = table.take(pc.sort_indices(sortable, sort_keys=order))
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
        eq = rules.arrow_same(col, winner)
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
