"""JSON Schemas (draft 2020-12) of a mapping's rows: one schema per table under ``$defs``.

A row is an object with every column of the table (the value may be null where the column is nullable), in the
JSON form tidemark's ``--json`` output and a JSON export use: ``int`` / ``bigint`` -> integer, ``double`` /
``decimal`` -> number, ``bool`` -> boolean, ``string`` -> string, ``date`` -> string (``format: date``),
``timestamp`` -> string (``format: date-time``, ISO 8601 with an offset), ``json`` -> any JSON value.
"""

from __future__ import annotations

from typing import Any

from tidemark.compile.plan import Plan
from tidemark.tables import Column, TableSpec

DRAFT = "https://json-schema.org/draft/2020-12/schema"
_TYPES: dict[str, dict[str, Any]] = {
    "int": {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1},
    "bigint": {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1},
    "double": {"type": "number"},
    "decimal": {"type": "number"},
    "bool": {"type": "boolean"},
    "string": {"type": "string"},
    "date": {"type": "string", "format": "date"},
    "timestamp": {"type": "string", "format": "date-time"},
    "json": {},
}


def column_schema(column: Column) -> dict[str, Any]:
    schema = dict(_TYPES[column.type.kind])
    if column.nullable and "type" in schema:
        schema["type"] = [schema["type"], "null"]
    if column.description:
        schema["description"] = column.description
    return schema


def table_schema(spec: TableSpec) -> dict[str, Any]:
    """The JSON Schema of one table's row."""
    schema: dict[str, Any] = {"title": spec.qualified, "type": "object"}
    if spec.description:
        schema["description"] = spec.description
    schema["properties"] = {c.name: column_schema(c) for c in spec.columns}
    schema["required"] = [c.name for c in spec.columns]
    schema["additionalProperties"] = False
    return schema


def mapping_json_schema(plan: Plan) -> dict[str, Any]:
    """One document: ``$defs`` holds each table's row schema (``#/$defs/<schema.table>``); a row of any table is
    valid against the top-level ``anyOf``."""
    defs = {t.spec.qualified: table_schema(t.spec) for t in plan.targets}
    return {
        "$schema": DRAFT,
        "title": f"rows of the tables of mapping {plan.source_name}",
        "anyOf": [{"$ref": f"#/$defs/{name}"} for name in defs],
        "$defs": defs,
    }


__all__ = ["DRAFT", "column_schema", "mapping_json_schema", "table_schema"]
