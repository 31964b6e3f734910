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
from dataclasses import dataclass, field
from typing import Any

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


_TEXT_CASTABLE = (
    pa.types.is_integer,
    pa.types.is_floating,
    pa.types.is_boolean,
    pa.types.is_decimal,
    pa.types.is_date,
    pa.types.is_timestamp,
    pa.types.is_string,
    pa.types.is_large_string,
)


def row_hash(table: pa.Table, columns: list[str] | tuple[str, ...]) -> pa.Array:
    """A signed 64-bit hash of each row's canonical content (docs/write-contract.md, "content hash").

    Each value is rendered as text (Arrow's cast; JSON for nested values), prefixed by its length, NULL rendered
    as a lone NUL byte; the values are joined in column order with a record separator. The hash is the first 8 bytes
    of the text's MD5 digest, big-endian, as a two's-complement signed integer, computed in C by DuckDB over the
    whole column (:func:`reference_hash` is the same in plain Python).
    """
    if table.num_rows == 0:
        return pa.array([], pa.int64())
    parts = []
    for name in columns:
        text = _as_text(table.column(name))
        framed = pc.binary_join_element_wise(pc.cast(pc.utf8_length(text), pa.string()), text, ":")
        parts.append(pc.fill_null(framed, "\x00"))
    joined = pc.binary_join_element_wise(*parts, "\x1e") if len(parts) > 1 else parts[0]
    return _md5_64(joined)


_DIGEST_SQL = (
    "WITH d AS (SELECT CAST(('0x' || substr(md5(s), 1, 16)) AS UBIGINT) AS u FROM _tm_text) "
    "SELECT CAST(CAST(u AS HUGEINT) - CASE WHEN u >= CAST(9223372036854775808 AS UBIGINT) "
    "THEN CAST(18446744073709551616 AS HUGEINT) ELSE CAST(0 AS HUGEINT) END AS BIGINT) AS h FROM d"
)
_duck: list[Any] = []  # one in-memory DuckDB for the process; each call uses its own cursor


def _md5_64(text: pa.Array | pa.ChunkedArray) -> pa.Array:
    import duckdb

    if not _duck:
        _duck.append(duckdb.connect(":memory:"))
    cursor = _duck[0].cursor()
    try:
        cursor.register("_tm_text", pa.table({"s": text}))
        hashed = cursor.execute(_DIGEST_SQL).to_arrow_table().column("h")
    finally:
        cursor.close()
    return hashed.combine_chunks() if isinstance(hashed, pa.ChunkedArray) else hashed


def reference_hash(canonical: bytes) -> int:
    """The content hash of one canonical text, in plain Python (for tests and other implementations)."""
    return int.from_bytes(hashlib.md5(canonical).digest()[:8], "big", signed=True)


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray | pa.Array:
    dtype = column.type
    if pa.types.is_string(dtype):
        return column
    if pa.types.is_timestamp(dtype):
        # the same instant renders the same whatever its zone or unit: stores keep UTC microseconds. Rendered as the
        # naive UTC time + "Z": the very text Arrow's cast of a UTC timestamp gives, without its per-value time zone
        # work (25x faster on 1M rows; the hash does not change)
        utc = pc.cast(column, pa.timestamp("us", "UTC"), safe=False)
        return pc.binary_join_element_wise(pc.cast(pc.cast(utc, pa.timestamp("us")), pa.string()), "Z", "")
    if any(test(dtype) for test in _TEXT_CASTABLE):
        return pc.cast(column, pa.string())
    values = column.to_pylist()
    return pa.array([None if v is None else orjson.dumps(v, default=str).decode() for v in values], pa.string())


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
