"""From an input's Arrow schema and the write's options to a TableSpec, and each chunk to the spec's columns.

Everything that can be refused from the schema alone is refused here, before a sink is even opened: a key or
timestamp column that does not exist, a timestamp column that is neither a time nor a number, a column type no
store can hold. What needs the values (timestamp strings that do not parse, integers too large) is refused per
chunk by :func:`conform`, naming the column and the row; the write's transaction then leaves the target untouched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from tidemark.contract.counts import Mode
from tidemark.errors import ConfigError, ContractError, did_you_mean
from tidemark.keyspec import KeyRecipe
from tidemark.tables import HASH_COLUMN, Column, TableSpec
from tidemark.timestamps import parse_timestamp
from tidemark.types import LogicalType, from_arrow
from tidemark.write.inputs import Locate

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TIME_KINDS = {"timestamp", "date", "int", "bigint", "double", "decimal"}


@dataclass(frozen=True)
class WritePlan:
    spec: TableSpec
    source: pa.Schema  # the input's columns (as read)
    target: pa.Schema  # the data columns handed to the contract (spec order, key column included)
    key: KeyRecipe | None
    parse_timestamp: bool  # the timestamp column holds ISO 8601 strings


def split_table(name: str) -> tuple[str | None, str]:
    """``schema.table`` or ``table`` -> (schema, table); names are identifiers (they become paths in file stores)."""
    parts = name.split(".")
    if len(parts) > 2 or not all(_NAME.match(p) for p in parts):
        raise ConfigError(f"table {name!r}: use 'table' or 'schema.table' made of letters, digits and _")
    return (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])


def build_plan(
    schema: pa.Schema,
    table: str,
    mode: Mode,
    keys: tuple[str, ...],
    timestamp: str | None,
    key: KeyRecipe | None,
) -> WritePlan:
    """Check the options against the input's columns and build the TableSpec (docs/write.md)."""
    names = list(schema.names)
    if key is not None:
        _check_key(key, names)
    available = names + ([key.name] if key else [])
    if mode in ("upsert", "append_once") and not keys:
        raise ContractError(
            f"mode {mode} needs keys: pass keys=[...] (the columns that identify a row) or key={{'name': ..., "
            "'from': [...]}} to compute one; or write with mode append / overwrite"
        )
    for column in keys:
        if column not in available:
            raise ContractError(f"key column {column!r} is not in the data{_hint(column, available)}")
    parse = False
    if timestamp is not None:
        if timestamp not in names:
            raise ContractError(f"timestamp column {timestamp!r} is not in the data{_hint(timestamp, names)}")
        parse = _is_text(schema.field(timestamp).type)
    columns = [Column(key.name, LogicalType("string"), nullable=False)] if key else []
    for f in schema:
        ltype = LogicalType("timestamp") if parse and f.name == timestamp else logical_type(f)
        if f.name == timestamp and ltype.kind not in _TIME_KINDS:
            raise ContractError(
                f"timestamp column {timestamp!r} is {ltype} ({f.type}): it must be a time, a date or a number "
                "(or ISO 8601 strings), because the contract compares it to decide which row is newer"
            )
        columns.append(Column(f.name, ltype))
    if HASH_COLUMN in names:
        raise ContractError(f"column {HASH_COLUMN!r} is reserved for the contract's content hash: rename it")
    schema_name, table_name = split_table(table)
    spec = TableSpec(schema_name, table_name, tuple(columns), keys, timestamp)
    target = pa.schema([pa.field(c.name, c.type.arrow, nullable=c.nullable) for c in columns])
    return WritePlan(spec, schema, target, key, parse)


def _check_key(key: KeyRecipe, names: list[str]) -> None:
    if key.name in names:
        raise ContractError(
            f"key {key.name!r} would overwrite the column of that name in the data: "
            "name the key differently, or drop the column"
        )
    for column in key.columns:
        if column not in names:
            raise ContractError(f"key {key.name!r}: column {column!r} is not in the data{_hint(column, names)}")


def _hint(name: str, names: list[str]) -> str:
    return did_you_mean(name, names) + f"; columns: {', '.join(names)}"


def _is_text(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        return _is_text(t.value_type)
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t))


def logical_type(f: pa.Field) -> LogicalType:
    """The column type a store keeps for an Arrow field; refuse what no store can hold faithfully."""
    t = f.type.value_type if pa.types.is_dictionary(f.type) else f.type
    if pa.types.is_null(t) or pa.types.is_string_view(t):
        return LogicalType("string")  # a column without any value yet / polars' strings
    if pa.types.is_decimal(t) and t.precision > 38:
        raise ContractError(f"column {f.name!r} is {t}: decimals hold at most 38 digits; cast it to a narrower one")
    if _unsupported(t):
        raise ContractError(
            f"column {f.name!r} is {t}: tables hold numbers, decimals, booleans, strings, dates, timestamps and "
            "JSON (lists, structs, maps); cast it first (binary data to base64 text, times and durations to "
            "strings or numbers)"
        )
    if pa.types.is_integer(t):
        return LogicalType("bigint")  # int8..int64 alike: producers disagree on widths (DuckDB INTEGER, pandas int64)
    return from_arrow(t)


def _unsupported(t: pa.DataType) -> bool:
    checks = (
        pa.types.is_binary,
        pa.types.is_large_binary,
        pa.types.is_fixed_size_binary,
        pa.types.is_binary_view,
        pa.types.is_time,
        pa.types.is_duration,
        pa.types.is_interval,
    )
    return any(check(t) for check in checks)


def conform(table: pa.Table, plan: WritePlan, locate: Locate, start: int) -> pa.Table:
    """One chunk's columns cast to the spec's types (key column excluded: it is computed later)."""
    columns = []
    for f in plan.target:
        if plan.key is not None and f.name == plan.key.name:
            continue
        column = table.column(f.name)
        if plan.parse_timestamp and f.name == plan.spec.timestamp:
            columns.append(parse_timestamps(column, f.name, locate, start))
        else:
            columns.append(_cast(column, f.type, f.name, locate, start))
    fields = [f for f in plan.target if plan.key is None or f.name != plan.key.name]
    return pa.Table.from_arrays(columns, schema=pa.schema([f.with_nullable(True) for f in fields]))


def _cast(column: pa.ChunkedArray, target: pa.DataType, name: str, locate: Locate, start: int) -> pa.ChunkedArray:
    source = column.type
    if pa.types.is_dictionary(source):
        column = pc.cast(column, source.value_type)
        source = column.type
    if source.equals(target):
        return column
    if pa.types.is_nested(source):
        return pa.chunked_array([_json(chunk) for chunk in column.chunks], pa.string())
    try:
        return column.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        row = _first_failure(column, target)
        where = f" at {locate(start + row)}" if row is not None else ""
        value = f" ({column[row].as_py()!r})" if row is not None else ""
        raise ContractError(f"column {name!r}: a value{where}{value} does not fit {target}: {exc}") from exc


def _first_failure(column: pa.ChunkedArray, target: pa.DataType) -> int | None:
    for i, value in enumerate(column.to_pylist()):
        try:
            pa.array([value], column.type).cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return i
    return None


def _json(chunk: pa.Array) -> pa.Array:
    values = chunk.to_pylist()
    return pa.array([None if v is None else orjson.dumps(v, default=str).decode() for v in values], pa.string())


def parse_timestamps(column: pa.ChunkedArray, name: str, locate: Locate, start: int) -> pa.ChunkedArray:
    """ISO 8601 strings -> UTC timestamps (no offset means UTC); one that does not parse is an error with its row."""
    text = pc.cast(column, pa.string()) if not pa.types.is_string(column.type) else column
    for attempt in (_with_offsets, _without_offsets):
        try:
            return attempt(text)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    values = text.combine_chunks() if text.num_chunks != 1 else text.chunk(0)
    distinct = pc.unique(values)
    parsed: list[Any] = []
    for value in distinct.to_pylist():
        try:
            parsed.append(None if value is None else parse_timestamp(value))
        except ValueError:
            row = pc.index(values, value).as_py()
            raise ContractError(
                f"timestamp column {name!r}: {value!r} at {locate(start + row)} is not an ISO 8601 time "
                "(e.g. 2024-07-13T19:05:00Z); fix or drop the row"
            ) from None
    times = pa.array(parsed, pa.timestamp("us", "UTC"))
    return pa.chunked_array([times.take(pc.index_in(values, distinct))])


def _with_offsets(text: pa.ChunkedArray) -> pa.ChunkedArray:
    return text.cast(pa.timestamp("us", "UTC"))


def _without_offsets(text: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.assume_timezone(text.cast(pa.timestamp("us")), "UTC")
