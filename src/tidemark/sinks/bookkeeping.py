"""tidemark's own tables inside a store, declared once as :class:`TableSpec` s (schema ``_tidemark``).

- ``_tidemark.quarantine``: refused rows and rejected documents, append-only (docs/write-contract.md).
- one watermark table per scoped table: per scope value, the newest snapshot time applied.
- ``_tidemark.checkpoints``: per stream, the position of the last committed micro-batch (written by the streaming
  runtime; declared here so that every store creates it the same way).

Every sink creates and writes them through its ordinary path (DDL from the spec, append / upsert). Bookkeeping
tables carry no content hash (``hashed=False``), except the checkpoints, written as an upsert (see
:func:`checkpoint_spec`).

Internal names are derived so that two tables can never share one: ``wm__<schema>__<table>`` alone made
``a__b.c`` and ``a.b__c`` collide, so the name ends with a digest of the exact (schema, table) pair, and is at most
:data:`MAX_NAME` bytes (PostgreSQL truncates longer identifiers, which would collide again).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Mapping, Sequence

import pyarrow as pa

from tidemark.contract.prepare import row_hash
from tidemark.documents import as_position
from tidemark.sinks.base import META_SCHEMA, QUARANTINE_SCHEMA, QUARANTINE_TABLE, Checkpoint, QuarantineEntry
from tidemark.tables import HASH_COLUMN, Column, TableSpec
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


@functools.lru_cache(maxsize=1)
def checkpoint_spec() -> TableSpec:
    """``_tidemark.checkpoints``: one row per stream (:class:`~tidemark.sinks.base.Checkpoint`): its position and
    pending position (JSON arrays as text), micro-batch number, summed counts (JSON text) and when it committed.

    Unlike the other bookkeeping tables it is hashed: a checkpoint is written as an ordinary upsert keyed by stream
    (no timestamp: the last write wins, docs/write-contract.md), through each store's own path, so it commits with
    the rows wherever the store commits its tables at once.
    """
    cols = (
        Column("stream", LogicalType("string"), nullable=False),
        Column("position", LogicalType("string"), nullable=False),
        Column("batch", LogicalType("bigint"), nullable=False),
        Column("pending", LogicalType("string")),
        Column("totals", LogicalType("string")),
        Column("committed_at", LogicalType("timestamp"), nullable=False),
    )
    return TableSpec(META_SCHEMA, CHECKPOINT_TABLE, cols, primary_key=("stream",))


def checkpoint_rows(checkpoints: list[Checkpoint]) -> pa.Table:
    """Checkpoints as rows of :func:`checkpoint_spec`, content hash included (ready for ``Sink.write``)."""
    spec = checkpoint_spec()
    rows = [
        {
            "stream": c.stream,
            "position": json.dumps(None if c.position is None else list(c.position)),
            "batch": c.batch,
            "pending": None if c.pending is None else json.dumps(list(c.pending)),
            "totals": json.dumps(c.totals, sort_keys=True),
            "committed_at": c.committed_at,
        }
        for c in checkpoints
    ]
    return hashed_rows(spec, rows)


def hashed_rows(spec: TableSpec, rows: Sequence[Mapping[str, object]]) -> pa.Table:
    """Rows (dicts of ``spec`` 's columns) of one of tidemark's own tables as a table with its content hash, ready
    for ``Sink.write`` (the checkpoints, the run ledger, the quarantine resolutions, the applied documents)."""
    data_schema = pa.schema([spec.arrow_schema.field(n) for n in spec.column_names])
    table = pa.Table.from_pylist(rows, schema=data_schema)
    return table.append_column(spec.arrow_schema.field(HASH_COLUMN), row_hash(table, spec.column_names))


def checkpoints_of(rows: pa.Table) -> list[Checkpoint]:
    """The checkpoints held by rows of :func:`checkpoint_spec` (as ``read_table`` returns them)."""
    out = []
    for row in rows.to_pylist():
        position = json.loads(row["position"])
        pending = None if row["pending"] is None else json.loads(row["pending"])
        out.append(
            Checkpoint(
                stream=row["stream"],
                position=None if position is None else as_position(position),
                batch=int(row["batch"]),
                committed_at=row["committed_at"],
                totals=json.loads(row["totals"] or "{}"),
                pending=None if pending is None else as_position(pending),
            )
        )
    return out


# -- the run ledger (history/ledger.py) ----------------------------------------------------------------------------
RUNS_TABLE = "runs"


@functools.lru_cache(maxsize=1)
def runs_spec() -> TableSpec:
    """``_tidemark.runs``: the run ledger, one row per run, per micro-batch of a stream, and per failed attempt
    (history/ledger.py, docs/history.md). ``inputs``, ``counts`` and ``seconds`` are JSON text.

    Keyed by (run_id, batch): ``batch`` is 0 for a run, the micro-batch number for a stream. Written like the
    checkpoints, as an upsert through each store's own path (hashed, no timestamp: the last write wins), inside the
    run's transaction, so it commits with the rows; a failed run's row is written after the rollback.
    """
    text = LogicalType("string")
    cols = (
        Column("run_id", text, nullable=False),
        Column("batch", LogicalType("bigint"), nullable=False),
        Column("command", text, nullable=False),
        Column("engine", text),
        Column("mode", text),
        Column("mapping", text),
        Column("plan_hash", text),
        Column("inputs", text),
        Column("started_at", LogicalType("timestamp"), nullable=False),
        Column("ended_at", LogicalType("timestamp"), nullable=False),
        Column("status", text, nullable=False),
        Column("error", text),
        Column("counts", text),
        Column("seconds", text),
    )
    return TableSpec(META_SCHEMA, RUNS_TABLE, cols, primary_key=("run_id", "batch"))


RESOLVED_TABLE = "quarantine_resolved"


@functools.lru_cache(maxsize=1)
def resolved_spec() -> TableSpec:
    """``_tidemark.quarantine_resolved``: quarantine entries that a replay (``tidemark quarantine --replay``) ran
    again after a mapping fix, by entry id (a digest of the entry, history/quarantine.py), with the outcome:
    ``written`` (it passes now) or ``requarantined`` (it failed again: the replay's own entry replaces it). The
    quarantine itself stays append-only; an entry listed here has left it. Written in the replay's transaction."""
    cols = (
        Column("entry_id", LogicalType("string"), nullable=False),
        Column("resolved_by", LogicalType("string"), nullable=False),
        Column("outcome", LogicalType("string"), nullable=False),
        Column("resolved_at", LogicalType("timestamp"), nullable=False),
    )
    return TableSpec(META_SCHEMA, RESOLVED_TABLE, cols, primary_key=("entry_id",))


# -- the applied-documents ledger (runtime/applied.py) ---------------------------------------------------------
APPLIED_TABLE = "applied_documents"


@functools.lru_cache(maxsize=1)
def applied_spec() -> TableSpec:
    """``_tidemark.applied_documents``: the documents a run applied (runtime/applied.py), one row per (plan hash,
    mode, document hash): the plan's hash, the mode whose result it stands for, the hash of the document's content,
    where it came from, when it was captured (the raw record's fetch time or the file's modification time, if known)
    and when (and by which run) it was applied.

    Written as an upsert in the transaction of the rows it covers (hashed, no timestamp: the last write wins), so a
    document is listed exactly when its rows are committed; ``overwrite`` empties it (docs/write-contract.md).
    """
    cols = (
        Column("plan_hash", LogicalType("string"), nullable=False),
        Column("mode", LogicalType("string"), nullable=False),
        Column("document_hash", LogicalType("string"), nullable=False),
        Column("origin", LogicalType("string")),
        Column("captured_at", LogicalType("timestamp")),
        Column("run_id", LogicalType("string")),
        Column("applied_at", LogicalType("timestamp"), nullable=False),
    )
    return TableSpec(META_SCHEMA, APPLIED_TABLE, cols, primary_key=("plan_hash", "mode", "document_hash"))
