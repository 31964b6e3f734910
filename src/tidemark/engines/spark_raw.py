"""A raw directory's records read in the Spark executors (``tidemark run --raw DIR --engine spark``).

A raw directory (raw/directory.py) is recorded files (one record each) and gzip NDJSON segments (one record a line),
read in position order. The driver never reads a record's bytes here; it plans, the executors read:

1. **Listing** (driver): the store's own listing of its entries (recorded files and segments, sorted by position),
   one directory listing, nothing read. The run covers the entries present when it starts.
2. **Index** (one Spark job, one task per group of entries): each entry's records read with the store's own code
   (``DirectoryRawStore._records``: the endpoint / method selection, a corrupt line or a truncated segment as a
   broken record at its position) and the source's filters (``RawSource.keeps``: ``--since`` / ``--until`` /
   ``--game``). Per record kept, the executor sends back its line number and, when the run's ledger records, a
   **stub** (the record's document without its bytes: content hash, origin, times, error), all the
   applied-documents ledger reads. On the driver the stubs go, in position order, through the run's own
   :meth:`~tidemark.runtime.applied.Ledger.filter`, as the documents of the driver-read path would.
3. **Work items** (driver): the records kept, in position order, cut into items of exactly ``batch_documents``
   records (the last one fewer): the slices the driver-read path and the local engine make, so the batches, and
   every count, are theirs. An item is a list of (entry, line numbers).
4. **Extraction** (executors): each item's entries read again from the shared path, the records at its line
   numbers turned into documents (``RawRecord.document``, as ``RawSource`` does), and the local engine run over
   them (engines/spark.py).

Byte ranges are not possible: a segment is one gzip stream (no random access), so an executor decompresses a segment
from its start up to the item's last line; a segment spread over k work items is decompressed k times (segments
hold at most 256 records: ``tidemark raw import`` / the fetcher's appends). The index is one more read of every
entry (decompression and the envelope's head; a recorded file without a stored hash is parsed to hash it).

Only a raw directory on a local or shared filesystem path is read this way; a DuckDB or PostgreSQL raw store, or a
directory on an object store, is read on the driver (``RawSource``, bounded) and its records shipped.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, TypeGuard

from tidemark.documents import RawDocument
from tidemark.raw.base import RawRecord
from tidemark.raw.directory import DirectoryRawStore, _Entry, _recorded, _segment
from tidemark.raw.source import RawSource

if TYPE_CHECKING:
    from tidemark.engines.spark import SparkEngine, _Work
    from tidemark.runtime.applied import Ledger

#: entries per task of the index job (a task per entry would cost more than reading a small one)
_ENTRIES_PER_TASK = 16


def reads_in_executors(source: object) -> TypeGuard[RawSource]:
    """Whether the executors read ``source``'s records themselves: a raw directory on a filesystem path."""
    if not isinstance(source, RawSource) or not isinstance(source.store, DirectoryRawStore):
        return False
    return not source.store.location.remote


@dataclass(frozen=True)
class _Reader:
    """What an executor needs to read a raw directory's records as ``source`` reads them (picklable, small)."""

    root: str
    select: str | None
    since: datetime | None
    until: datetime | None
    games: tuple[str, ...]

    @classmethod
    def of(cls, source: RawSource) -> _Reader:
        store = source.store
        assert isinstance(store, DirectoryRawStore)
        select = "/".join(p for p in (source.endpoint, source.method) if p) or None
        return cls(str(store.root), select, source.since, source.until, tuple(sorted(source.games)))

    def source(self) -> RawSource:
        store = DirectoryRawStore(self.root)
        return RawSource(store, select=self.select, since=self.since, until=self.until, games=self.games)


@dataclass(frozen=True)
class _Records:
    """A work item's records of one entry: its lines (0 for a recorded file), ascending."""

    entry: _Entry
    lines: tuple[int, ...]

    def documents(self) -> Iterator[RawDocument]:
        """In an executor: those records as documents, in position order."""
        if self.entry.kind == 0:
            yield _recorded(self.entry).document()
            return
        wanted, last = set(self.lines), self.lines[-1]
        for record in _segment(self.entry):
            line = _line(record)
            if line in wanted:
                yield record.document()
            if line >= last:
                return


def raw_work(engine: SparkEngine, source: RawSource, batch_documents: int) -> Iterator[_Work]:
    """The records of ``source`` (those the run's ledger lets through) as work items of exactly
    ``batch_documents`` records (the last one fewer)."""
    store = source.store
    assert isinstance(store, DirectoryRawStore)
    entries = store._entries()
    ledger = engine.ledger if engine.ledger is not None and engine.ledger.records else None
    kept = _index(engine, _Reader.of(source), entries, stubs=ledger is not None)
    per_entry = [[line for line, _ in records] for records in kept] if ledger is None else _filtered(kept, ledger)
    item: _Work = []
    size = 0
    for entry, lines in zip(entries, per_entry, strict=True):
        while lines:
            take = lines[: batch_documents - size]
            item.append(_Records(entry, tuple(take)))
            lines, size = lines[len(take) :], size + len(take)
            if size == batch_documents:
                yield item
                item, size = [], 0
    if item:
        yield item


_Kept = list[list[tuple[int, RawDocument | None]]]


def _index(engine: SparkEngine, reader: _Reader, entries: list[_Entry], *, stubs: bool) -> _Kept:
    """Per entry, its records the source keeps: (line, stub when ``stubs``), read by one Spark job."""
    if not entries:
        return []
    groups = [entries[i : i + _ENTRIES_PER_TASK] for i in range(0, len(entries), _ENTRIES_PER_TASK)]
    sc = engine.spark.sparkContext
    sc.setJobGroup(engine.group, "tidemark raw index", interruptOnCancel=True)
    indexed = sc.parallelize([(reader, g, stubs) for g in groups], len(groups)).map(_index_entries).collect()
    return list(itertools.chain.from_iterable(indexed))


def _index_entries(task: tuple[_Reader, list[_Entry], bool]) -> _Kept:
    """In an executor: the kept records of each entry of one group."""
    reader, entries, stubs = task
    source = reader.source()
    store = source.store
    assert isinstance(store, DirectoryRawStore)
    out: _Kept = []
    for entry in entries:
        kept: list[tuple[int, RawDocument | None]] = []
        for record in store._records(entry, None, source.endpoint, source.method):
            if source.keeps(record):
                kept.append((_line(record), _stub(record.document()) if stubs else None))
        out.append(kept)
    return out


def _line(record: RawRecord) -> int:
    """A record's line in its entry (0: a recorded file): the last part of its position."""
    return int(record.position[3]) if record.position is not None else 0


def _stub(doc: RawDocument) -> RawDocument:
    """The document without its bytes: what the ledger reads (its hash is the record's stored content hash)."""
    return RawDocument(b"", doc.origin, doc.captured_at, doc.error, doc.modified_at, doc.position, doc.content_hash)


def _filtered(kept: _Kept, ledger: Ledger) -> list[list[int]]:
    """Per entry, the lines of the records the ledger lets through (the stubs pass through it in position order)."""
    numbered = [(e, line, stub) for e, records in enumerate(kept) for line, stub in records]
    passed = {id(stub) for stub in ledger.filter(stub for _, _, stub in numbered if stub is not None)}
    lines: list[list[int]] = [[] for _ in kept]
    for e, line, stub in numbered:
        if id(stub) in passed:
            lines[e].append(line)
    return lines


__all__ = ["raw_work", "reads_in_executors"]
