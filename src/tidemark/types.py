"""Logical column types: one vocabulary for mappings, Arrow batches and every sink's DDL."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import pyarrow as pa

from tidemark.errors import did_you_mean

Kind = Literal["int", "bigint", "double", "decimal", "bool", "string", "date", "timestamp", "json"]

_ALIASES: dict[str, Kind] = {
    "int": "int",
    "integer": "int",
    "int32": "int",
    "bigint": "bigint",
    "long": "bigint",
    "int64": "bigint",
    "float": "double",
    "double": "double",
    "float64": "double",
    "number": "double",
    "decimal": "decimal",
    "bool": "bool",
    "boolean": "bool",
    "string": "string",
    "text": "string",
    "varchar": "string",
    "date": "date",
    "timestamp": "timestamp",
    "timestamptz": "timestamp",
    "json": "json",
}
_DECIMAL = re.compile(r"^decimal\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)$")
TYPE_NAMES = "int, bigint, float, double, decimal(p,s), bool, string, date, timestamp, json"  # for error messages


@dataclass(frozen=True)
class LogicalType:
    """A column type. ``timestamp`` is always time-zone aware (UTC, microseconds)."""

    kind: Kind
    precision: int = 38
    scale: int = 9

    def __str__(self) -> str:
        return f"decimal({self.precision},{self.scale})" if self.kind == "decimal" else self.kind

    @property
    def arrow(self) -> pa.DataType:
        return _ARROW[self.kind] if self.kind != "decimal" else pa.decimal128(self.precision, self.scale)


_ARROW: dict[str, pa.DataType] = {
    "int": pa.int32(),
    "bigint": pa.int64(),
    "double": pa.float64(),
    "bool": pa.bool_(),
    "string": pa.string(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "json": pa.string(),
}


def parse_type(text: str) -> LogicalType:
    """Parse a type name from a mapping; raise ``ValueError`` with a did-you-mean on unknown names."""
    name = text.strip().lower()
    m = _DECIMAL.match(name)
    if m:
        precision, scale = int(m.group(1)), int(m.group(2))
        if not 1 <= precision <= 38 or scale > precision:
            raise ValueError(f"decimal({precision},{scale}): precision must be 1..38 and scale <= precision")
        return LogicalType("decimal", precision, scale)
    kind = _ALIASES.get(name)
    if kind is None:
        raise ValueError(f"unknown type {text!r}{did_you_mean(name, _ALIASES)}; valid types: {TYPE_NAMES}")
    return LogicalType(kind)


def from_arrow(dtype: pa.DataType) -> LogicalType:
    """The logical type that stores an Arrow type (used when writing arbitrary Arrow tables)."""
    if pa.types.is_boolean(dtype):
        return LogicalType("bool")
    if pa.types.is_integer(dtype):
        return LogicalType("int" if dtype.bit_width <= 32 and pa.types.is_signed_integer(dtype) else "bigint")
    if pa.types.is_floating(dtype):
        return LogicalType("double")
    if pa.types.is_decimal(dtype):
        return LogicalType("decimal", dtype.precision, dtype.scale)
    if pa.types.is_date(dtype):
        return LogicalType("date")
    if pa.types.is_timestamp(dtype):
        return LogicalType("timestamp")
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return LogicalType("string")
    return LogicalType("json")
