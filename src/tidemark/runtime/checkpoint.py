"""A stream's checkpoint: what it stores, how a micro-batch moves it on, and the status of the streams of a store.

A checkpoint (:class:`~tidemark.sinks.base.Checkpoint`, one row of ``_tidemark.checkpoints``) holds the position
of the last record a stream committed, the number of micro-batches committed and their counts summed (``totals``):
the sum a batch run over the same records reports, crashes included, on a store whose checkpoint is atomic. The
sink writes it (``Sink.save_checkpoint``) inside the micro-batch's transaction; this module only computes it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from tidemark.contract.counts import WriteCounts
from tidemark.documents import Position
from tidemark.runtime.result import RunResult
from tidemark.sinks.base import Checkpoint, Sink

#: what ``totals`` holds besides the counts per table
TOTAL_KEYS = ("documents", "unchanged_documents", "rejected", "row_errors")


def fresh(stream: str) -> Checkpoint:
    """The checkpoint of a stream that never committed: before the first record, no micro-batch."""
    return Checkpoint(stream, None, 0, datetime.now(UTC), {})


def advanced(checkpoint: Checkpoint, position: Position, result: RunResult) -> Checkpoint:
    """The checkpoint after one more micro-batch, ending at ``position``, that did ``result``."""
    totals: dict[str, Any] = {k: int(checkpoint.totals.get(k, 0)) for k in TOTAL_KEYS}
    totals["documents"] += result.documents
    totals["unchanged_documents"] += result.unchanged_documents
    totals["rejected"] += len(result.rejected)
    totals["row_errors"] += len(result.row_errors)
    tables = {name: dict(counts) for name, counts in checkpoint.totals.get("tables", {}).items()}
    for name, counts in result.tables.items():
        was = tables.get(name, {})
        tables[name] = {k: int(was.get(k, 0)) + v for k, v in counts.as_dict().items()}
    totals["tables"] = tables
    return Checkpoint(checkpoint.stream, position, checkpoint.batch + 1, datetime.now(UTC), totals)


def pending(checkpoint: Checkpoint, position: Position) -> Checkpoint:
    """The checkpoint announcing the micro-batch that ends at ``position`` (stores whose checkpoint is not atomic)."""
    return replace(checkpoint, pending=position, committed_at=datetime.now(UTC))


def table_totals(checkpoint: Checkpoint) -> dict[str, WriteCounts]:
    """The counts per table summed over the stream's committed micro-batches."""
    return {name: WriteCounts(**counts) for name, counts in checkpoint.totals.get("tables", {}).items()}


@dataclass(frozen=True)
class StreamStatus:
    """One stream of a store, for ``tidemark stream --status``: where it is and how far behind the raw store."""

    stream: str
    position: Position | None
    batches: int
    committed_at: datetime
    lag: int | None  # records of the raw store after its position (None: no raw store given)
    documents: int
    pending: Position | None


def statuses(sink: Sink, raw: Any = None) -> list[StreamStatus]:
    """The streams that committed to ``sink``; with ``raw`` (a :class:`~tidemark.raw.RawStore`) their lag too."""
    out = []
    for c in sorted(sink.read_checkpoints(), key=lambda c: c.stream):
        lag = None if raw is None else raw.count(after=c.position)
        documents = int(c.totals.get("documents", 0))
        out.append(StreamStatus(c.stream, c.position, c.batch, c.committed_at, lag, documents, c.pending))
    return out


__all__ = ["StreamStatus", "advanced", "fresh", "pending", "statuses", "table_totals"]
