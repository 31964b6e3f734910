"""Artifacts generated from a mapping's tables: SQL DDL per dialect (ddl.py), Avro schemas (avro.py) and JSON Schemas
of the rows (json_schema.py). Each depends only on the compiled plan's :class:`~tidemark.tables.TableSpec`\\ s, so
its output is a pure function of the mapping (``tidemark schema ddl / avro / json``; golden files pin it)."""

from __future__ import annotations

from tidemark.compile.plan import Plan, compile_mapping
from tidemark.mapping.loader import load_mapping


def plan_for(mapping: str) -> Plan:
    """The compiled plan of a mapping file or built-in name (``mlb:live_game``)."""
    return compile_mapping(load_mapping(mapping)[0])


__all__ = ["plan_for"]
