"""Avro schemas of a mapping's tables: one record schema per table, the row as the mapping defines it.

Types: ``int`` -> int, ``bigint`` -> long, ``double`` -> double, ``bool`` -> boolean, ``string`` / ``json`` ->
string, ``date`` -> int (logical ``date``), ``timestamp`` -> long (logical ``timestamp-micros``, UTC),
``decimal(p,s)`` -> bytes (logical ``decimal``). A nullable column is the union ``["null", T]`` with default null.
The content hash is not part of a row here (it is the store's bookkeeping). Record names are the table names, the
namespace the table's schema (Avro names allow letters, digits and ``_``; others become ``_``).
"""

from __future__ import annotations

import re
from typing import Any

from tidemark.compile.plan import Plan
from tidemark.tables import Column, TableSpec

_PRIMITIVE = {
    "int": "int",
    "bigint": "long",
    "double": "double",
    "bool": "boolean",
    "string": "string",
    "json": "string",
}


def avro_name(text: str) -> str:
    """A valid Avro name: ``[A-Za-z_][A-Za-z0-9_]*``."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", text)
    return name if re.match(r"[A-Za-z_]", name) else f"_{name}"


def avro_type(column: Column) -> Any:
    kind = column.type.kind
    if kind == "date":
        base: Any = {"type": "int", "logicalType": "date"}
    elif kind == "timestamp":
        base = {"type": "long", "logicalType": "timestamp-micros"}
    elif kind == "decimal":
        base = {"type": "bytes", "logicalType": "decimal", "precision": column.type.precision}
        base["scale"] = column.type.scale
    else:
        base = _PRIMITIVE[kind]
    return ["null", base] if column.nullable else base


def table_schema(spec: TableSpec) -> dict[str, Any]:
    """The Avro record schema of one table's rows."""
    fields = []
    for column in spec.columns:
        field: dict[str, Any] = {"name": avro_name(column.name), "type": avro_type(column)}
        if column.nullable:
            field["default"] = None
        if column.description:
            field["doc"] = column.description
        fields.append(field)
    record: dict[str, Any] = {"type": "record", "name": avro_name(spec.name)}
    if spec.schema:
        record["namespace"] = avro_name(spec.schema)
    if spec.description:
        record["doc"] = spec.description
    record["fields"] = fields
    return record


def mapping_avro(plan: Plan) -> dict[str, dict[str, Any]]:
    """``{table (schema.table): Avro record schema}`` for every table of ``plan``, parents first."""
    return {t.spec.qualified: table_schema(t.spec) for t in plan.targets}


__all__ = ["avro_name", "avro_type", "mapping_avro", "table_schema"]
