"""Arrow helpers of the working-copy stores (Delta, Parquet, CSV): tables conformed to a schema, membership masks
by key or scope, and stale content hashes (sinks/working.py, sinks/fastlane.py, the stores)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tidemark.contract.prepare import row_hash
from tidemark.sinks.sql import STALE_HASH
from tidemark.tables import HASH_COLUMN, TableSpec


def mark_stale(rows: pa.Table, spec: TableSpec) -> pa.Table:
    """``rows`` with STALE_HASH where the stored hash is not the hash of the row's content under today's columns."""
    if rows.num_rows == 0:
        return rows
    current = row_hash(rows, spec.column_names)
    stored = rows.column(HASH_COLUMN)
    same = pc.fill_null(pc.equal(stored, current), False)
    if pc.all(same).as_py():
        return rows
    marked = pc.if_else(same, stored, pa.scalar(STALE_HASH, pa.int64()))
    return rows.set_column(rows.schema.get_field_index(HASH_COLUMN), HASH_COLUMN, marked)


def conform(table: pa.Table, schema: pa.Schema, *, nullable: bool = True) -> pa.Table:
    """``table`` with exactly the columns of ``schema``, cast to their types (missing columns NULL).

    ``nullable`` relaxes every field to nullable (tables handed to DuckDB or compared); False keeps ``schema``'s.
    """
    columns = []
    for f in schema:
        if f.name in table.column_names:
            column = table.column(f.name)
            columns.append(column if column.type == f.type else column.cast(f.type))
        else:
            columns.append(pa.nulls(table.num_rows, f.type))
    if nullable:
        schema = pa.schema([f.with_nullable(True) for f in schema])
    return pa.Table.from_arrays(columns, schema=schema)


def stored_schema(spec: TableSpec) -> pa.Schema:
    """The schema a store writes: the data columns and the hash; key columns NOT NULL."""
    return pa.schema([f.with_nullable(f.nullable and f.name not in spec.primary_key) for f in spec.arrow_schema])


def matching(
    table: pa.Table,
    spec: TableSpec,
    keys: pa.Table | None,
    scopes: pa.Table | None,
    by: tuple[str, ...] | None = None,
) -> pa.Array:
    """A boolean mask: rows of ``table`` whose key (or ``by`` columns) is in ``keys`` or whose scope is in
    ``scopes``."""
    hit = pa.array(np.zeros(table.num_rows, dtype=bool))
    for wanted, cols in ((keys, by or spec.primary_key), (scopes, spec.scope)):
        if wanted is None or not cols or wanted.num_rows == 0 or table.num_rows == 0:
            continue
        hit = pc.or_(hit, _member(table, wanted, list(cols)))
    return hit


def _member(table: pa.Table, wanted: pa.Table, cols: list[str]) -> pa.Array:
    """Rows of ``table`` whose ``cols`` are a row of ``wanted`` (NULL matches nothing, as in a join)."""
    if len(cols) == 1:
        column = table.column(cols[0])
        values = pc.unique(wanted.column(cols[0]).cast(column.type))
        return pc.is_in(column, value_set=values, skip_nulls=True)
    index = "_tm_row"
    rows = pa.array(np.arange(table.num_rows, dtype=np.int64))
    left = table.select(cols).append_column(index, rows)
    right = (
        pa.Table.from_arrays([wanted.column(c).cast(left.schema.field(c).type) for c in cols], names=cols)
        .group_by(cols)
        .aggregate([])
    )
    found = left.join(right, keys=cols, join_type="left semi").column(index)
    return pc.is_in(rows, value_set=found.combine_chunks())
