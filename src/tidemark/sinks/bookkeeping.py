"""tidemark's own tables inside a store, declared once as :class:`TableSpec` s (schema ``_tidemark``).

- ``_tidemark.quarantine``: refused rows and rejected documents, append-only (docs/write-contract.md).
- one watermark table per scoped table: per scope value, the newest snapshot time applied.
- ``_tidemark.checkpoints``: per stream, the position of the last committed micro-batch (written by the streaming
  runtime; declared here so that every store creates it the same way).

Every sink creates and writes them through its ordinary path (DDL from the spec, append / upsert). Bookkeeping
tables carry no content hash (``hashed=False``).

Internal names are derived so that two tables can never share one: ``wm__<schema>__<table>`` alone made
``a__b.c`` and ``a.b__c`` collide, so the name ends with a digest of the exact (schema, table) pair, and is at most
:data:`MAX_NAME` bytes (PostgreSQL truncates longer identifiers, which would collide again).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib

import pyarrow as pa

from tidemark.sinks.base import META_SCHEMA, QUARANTINE_SCHEMA, QUARANTINE_TABLE, QuarantineEntry
from tidemark.tables import Column, TableSpec
from tidemark.types import LogicalType

MAX_NAME = 63  # PostgreSQL's identifier limit (NAMEDATALEN - 1)
CHECKPOINT_TABLE = "checkpoints"


@functools.lru_cache(maxsize=1024)
def internal_name(prefix: str, *parts: str) -> str:
    """``prefix__part__part_<digest>``: readable, at most :data:`MAX_NAME` bytes, distinct for distinct parts."""
    digest = hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:12]
    readable = "__".join((prefix, *parts)).encode()[: MAX_NAME - len(digest) - 1]  # bytes: PostgreSQL's unit
    return f"{readable.decode(errors='ignore')}_{digest}"


def legacy_watermark_name(spec: TableSpec) -> str:
    """The name watermark tables had before :func:`internal_name` (stores written then are migrated on open)."""
    return f"wm__{spec.schema or 'main'}__{spec.name}"


def quarantine_spec() -> TableSpec:
    """``_tidemark.quarantine`` (columns of :data:`~tidemark.sinks.base.QUARANTINE_SCHEMA`)."""
    cols = tuple(
        Column(f.name, LogicalType("timestamp" if pa.types.is_timestamp(f.type) else "string"))
        for f in QUARANTINE_SCHEMA
    )
    return TableSpec(META_SCHEMA, QUARANTINE_TABLE, cols, hashed=False)


def quarantine_table(entries: list[QuarantineEntry]) -> pa.Table:
    """Quarantine entries as rows of :func:`quarantine_spec`."""
    rows = [
        {
            "run_id": e.run_id,
            "table_name": e.table,
            "row_key": e.key,
            "reason": e.reason,
            "row_data": e.row,
            "origin": e.origin,
            "quarantined_at": e.at,
        }
        for e in entries
    ]
    return pa.Table.from_pylist(rows, schema=QUARANTINE_SCHEMA)


@functools.lru_cache(maxsize=1024)
def watermark_spec(spec: TableSpec) -> TableSpec:
    """The watermarks of a scoped table: scope columns (the key) and the snapshot time, all NOT NULL."""
    assert spec.timestamp is not None
    cols = tuple(dataclasses.replace(spec.column(c), nullable=False) for c in (*spec.scope, spec.timestamp))
    name = internal_name("wm", spec.schema or "main", spec.name)
    return TableSpec(META_SCHEMA, name, cols, primary_key=spec.scope, timestamp=spec.timestamp, hashed=False)


def watermark_schema(spec: TableSpec) -> pa.Schema:
    """The Arrow schema of a scoped table's watermarks."""
    return watermark_spec(spec).arrow_schema


def checkpoint_spec() -> TableSpec:
    """``_tidemark.checkpoints``: one row per stream, its position (opaque JSON text) and when it committed."""
    cols = (
        Column("stream", LogicalType("string"), nullable=False),
        Column("position", LogicalType("string"), nullable=False),
        Column("committed_at", LogicalType("timestamp"), nullable=False),
    )
    return TableSpec(META_SCHEMA, CHECKPOINT_TABLE, cols, primary_key=("stream",), hashed=False)
