"""The raw store as a directory: recorded files (read-only) plus the segments tidemark appends beside them.

Layout::

    RAW/<endpoint>/<method>/<name>.json[.gz]        recorded envelopes, e.g. data/statsapi/ (never modified)
    RAW/_segments/<time_ns>-<token>.ndjson.gz       what tidemark appends: one gzip NDJSON file per append
    RAW/_segments/.lock                             held (flock) while appending

A **recorded file** is one record: its endpoint and method are its first two folders, ``fetched_at`` is its
modification time, its document is the file's bytes (a bare document without envelope gets a minimal envelope
naming those folders). Other files (READMEs, deeper or shallower JSON, hidden files) are not records.

A **segment** is written to a hidden temporary name, fsynced, and renamed into place under the lock, so a reader
sees all of it or nothing; it is never changed afterwards. ``<time_ns>`` is 20 digits. Each line is one record::

    {"fetched_at": "2024-10-27T23:59:59.123456+00:00", "content_hash": "<sha256 hex>", "document": <envelope>}

(``document`` is the envelope's JSON as given, its newline bytes — JSON whitespace, never inside a string —
replaced by spaces so that it fits one line). Anyone can write a segment: write the lines to a name starting with
``.`` inside ``_segments/``, fsync, take the lock, rename it to ``<time_ns>-<anything>.ndjson.gz`` with a time
greater than any record's (below), release the lock.

**Positions**: ``(time_ns, kind, name, line)``, compared as tuples: a recorded file is ``(mtime_ns, 0, its path
under RAW, 0)``, line ``n`` (from 1) of a segment is ``(time_ns, 1, the segment's file name, n)``. So records sort by
the time they arrived, recorded files and segments interleaved, and a file copied in later (modification time:
now) sorts after everything a stream has read so far — a stream following the directory sees it. An append
names its segment with ``max(now, newest time in the directory + 1)``, so a new segment sorts after every record
already there even if the clock stepped back. What this order cannot see: a file copied in with an *old*
modification time kept (``cp -p``, ``rsync -a``, ``tar x``) sorts where that time says, behind a stream that has
read past it; ``touch`` such files or ``tidemark raw import`` them. A recorded file rewritten later is a new
record at its new time (downstream, the contract counts it unchanged).

**Dedup**: an append first reads the records it has not seen yet (once per process: every recorded file is parsed
and hashed, every segment decompressed) and skips any whose source and content hash are already there. For stores
of many gigabytes, DuckDB and PostgreSQL keep that index in the database instead.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import os
import time
import uuid
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import orjson

from tidemark.documents import Position
from tidemark.errors import SourceError
from tidemark.raw.base import (
    AppendCounts,
    EndpointStats,
    RawRecord,
    RawStore,
    broken,
)
from tidemark.raw.decode import decode_record
from tidemark.storage import Location, locate
from tidemark.timestamps import from_ns

SEGMENTS = "_segments"
_RECORDED = (".json", ".json.gz")
_LAST_LINE = 2**63 - 1
_GZIP_LEVEL = 5


@dataclass(frozen=True)
class _Entry:
    """A recorded file (kind 0) or a segment (kind 1), and where its records sort."""

    time: int
    kind: int
    name: str
    path: str  # on the store's filesystem
    location: Location = field(compare=False, repr=False)

    def position(self, line: int) -> Position:
        return (self.time, self.kind, self.name, line)

    def last(self) -> Position:
        """The position of its last record (a recorded file holds one, at line 0)."""
        return self.position(_LAST_LINE if self.kind else 0)


class _Line(msgspec.Struct):
    fetched_at: str
    content_hash: str
    document: msgspec.Raw


class DirectoryRawStore(RawStore):
    def __init__(self, path: str | Path, *, create: bool = False) -> None:
        self.location = locate(str(path))
        self.root = Path(self.location.root)
        self.display = str(path)
        if self.location.remote:
            pass  # an object store has no folders to create: the first append makes the prefix
        elif create:
            (self.root / SEGMENTS).mkdir(parents=True, exist_ok=True)
        elif not self.root.is_dir():
            raise SourceError(
                f"raw store {self.display} not found: check the path, or create it with "
                f"`tidemark raw import {self.display} PATH...`"
            )
        self._seen: set[tuple[str, str]] = set()  # (source key, content hash) of the records scanned
        self._scanned: set[Position] = set()  # entries whose records are in _seen

    # -- reading --------------------------------------------------------------------------------------------------
    def read(
        self,
        after: Position | None = None,
        *,
        limit: int = 256,
        max_bytes: int = 64 << 20,
        endpoint: str | None = None,
        method: str | None = None,
    ) -> list[RawRecord]:
        start = self._start(after)
        out: list[RawRecord] = []
        size = 0
        for entry in self._entries():
            if start is not None and entry.last() <= start:
                continue
            for record in self._records(entry, start, endpoint, method):
                if out and (len(out) >= limit or size + record.size > max_bytes):
                    return out
                out.append(record)
                size += record.size
        return out

    def _start(self, after: Position | None) -> Position | None:
        if after is None:
            return None
        if len(after) != 4 or not isinstance(after[0], int) or not isinstance(after[2], str):
            raise SourceError(
                f"position {list(after)} is not a position of the raw directory {self.display} "
                "(there a position is [time_ns, kind, name, line]): was the checkpoint written for another raw store?"
            )
        return after

    def _entries(self) -> list[_Entry]:
        entries: list[_Entry] = []
        where = self.location
        for info in where.files():  # one listing (paged on an object store)
            parts = where.relative(info).split("/")
            name = parts[-1]
            if len(parts) == 2 and parts[0] == SEGMENTS:
                stamp = name[:20]
                if stamp.isdigit() and name[20:21] == "-" and name.endswith(".ndjson.gz"):
                    entries.append(_Entry(int(stamp), 1, name, info.path, where))
                continue
            if len(parts) < 3 or any(p.startswith((".", "_")) for p in parts) or not name.endswith(_RECORDED):
                continue
            if info.mtime_ns is not None:
                entries.append(_Entry(int(info.mtime_ns), 0, "/".join(parts), info.path, where))
        return sorted(entries, key=lambda e: (e.time, e.kind, e.name))

    def _records(
        self, entry: _Entry, start: Position | None, endpoint: str | None, method: str | None
    ) -> Iterator[RawRecord]:
        if entry.kind == 0:
            folders = entry.name.split("/")
            if (endpoint is None or folders[0] == endpoint) and (method is None or folders[1] == method):
                yield _recorded(entry)
            return
        for record in _segment(entry):
            if start is not None and record.position is not None and record.position <= start:
                continue
            if record.error is not None or _selected(record, endpoint, method):
                yield record

    def stats(self) -> list[EndpointStats]:
        groups: dict[tuple[str, str], EndpointStats] = {}
        for entry in self._entries():
            for r in [_recorded(entry)] if entry.kind == 0 else _segment(entry):
                if r.error is None:
                    was = groups.get((r.endpoint, r.method))
                    groups[r.endpoint, r.method] = _fold(was, r)
        return [groups[key] for key in sorted(groups)]

    # -- appending ------------------------------------------------------------------------------------------------
    def append(self, records: Iterable[RawRecord]) -> AppendCounts:
        segments = self.root / SEGMENTS
        if not self.location.remote:
            segments.mkdir(parents=True, exist_ok=True)
        batch = list(records)
        with _locked(None if self.location.remote else segments / ".lock"):
            entries = self._entries()
            self._scan(entries)
            new: list[RawRecord] = []
            for record in batch:
                key = (record.source_key, record.content_hash)
                if key not in self._seen:
                    self._seen.add(key)
                    new.append(record)
            if not new:
                return AppendCounts(0, len(batch), [])
            stamp = max([time.time_ns(), *(e.time + 1 for e in entries)])
            name = f"{stamp:020d}-{uuid.uuid4().hex[:12]}.ndjson.gz"
            if self.location.remote:  # one object put whole: visible complete or not at all, under a new name
                self.location.write_bytes(_segment_bytes(new), SEGMENTS, name)
            else:
                _publish(segments, name, new)
            self._scanned.add((stamp, 1, name, 0))
        positions: list[Position] = [(stamp, 1, name, n) for n in range(1, len(new) + 1)]
        return AppendCounts(len(new), len(batch) - len(new), positions)

    def _scan(self, entries: list[_Entry]) -> None:
        """Learn the (source, content hash) of every record not seen yet (for dedup)."""
        for entry in entries:
            if entry.position(0) in self._scanned:
                continue
            records = [_recorded(entry)] if entry.kind == 0 else _segment(entry)
            self._seen.update((r.source_key, r.content_hash) for r in records if r.error is None)
            self._scanned.add(entry.position(0))


def _recorded(entry: _Entry) -> RawRecord:
    position, where = entry.position(0), str(entry.path)
    try:
        fetched = from_ns(entry.time)
        data = _read(entry)
    except (OSError, EOFError, zlib.error) as exc:
        return broken(position, where, f"cannot read file: {exc}")
    folders = entry.name.split("/")  # a document with no envelope is named by its folders
    return decode_record(data, fetched, position=position, origin=where, bare=(folders[0], folders[1]))


def _read(entry: _Entry) -> bytes:
    with entry.location.fs.open_input_stream(entry.path, compression=None) as fh:
        data = bytes(fh.read())
    return gzip.decompress(data) if entry.path.endswith(".gz") else data


def _selected(record: RawRecord, endpoint: str | None, method: str | None) -> bool:
    return (endpoint is None or record.endpoint == endpoint) and (method is None or record.method == method)


def _segment(entry: _Entry) -> Iterator[RawRecord]:
    """The records of a segment, line by line (a line that is not a record, or a truncated file, yields a
    broken record at its position: the rest of the segment, if any, goes on)."""
    line = 0
    try:
        with entry.location.fs.open_input_stream(entry.path, compression=None) as raw, gzip.open(raw, "rb") as fh:
            for line, text in enumerate(fh, start=1):
                if text.strip():
                    yield _line(entry, line, text)
    except (OSError, EOFError, zlib.error) as exc:
        position = entry.position(line + 1)
        yield broken(position, f"{entry.path}:{line + 1}", f"segment cannot be read from line {line + 1}: {exc}")


def _line(entry: _Entry, number: int, text: bytes) -> RawRecord:
    position, where = entry.position(number), f"{entry.path}:{number}"
    try:
        line = msgspec.json.decode(text, type=_Line)
        fetched = datetime.fromisoformat(line.fetched_at).astimezone(UTC)
    except (msgspec.MsgspecError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
        return broken(position, where, f"not a raw record: {exc}")
    return decode_record(bytes(line.document), fetched, position=position, origin=where, digest=line.content_hash)


def _fold(stats: EndpointStats | None, r: RawRecord) -> EndpointStats:
    if stats is None:
        return EndpointStats(r.endpoint, r.method, 1, r.fetched_at, r.fetched_at, r.size)
    first = min(stats.first_fetched or r.fetched_at, r.fetched_at)
    last = max(stats.last_fetched or r.fetched_at, r.fetched_at)
    return EndpointStats(r.endpoint, r.method, stats.records + 1, first, last, stats.bytes + r.size)


def _publish(segments: Path, name: str, records: list[RawRecord]) -> None:
    """Write the records to a hidden temporary file, fsync it, rename it to ``name``, fsync the directory."""
    temp = segments / f".{name}.{os.getpid()}.tmp"
    try:
        with open(temp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=_GZIP_LEVEL, mtime=0) as fh:
            for record in records:
                fh.write(_segment_line(record))
            fh.close()
            raw.flush()
            os.fsync(raw.fileno())
        os.rename(temp, segments / name)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fd = os.open(segments, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _segment_line(record: RawRecord) -> bytes:
    head = orjson.dumps({"fetched_at": record.fetched_at.isoformat(), "content_hash": record.content_hash})
    document = record.data.replace(b"\r", b" ").replace(b"\n", b" ")
    return head[:-1] + b',"document":' + document + b"}\n"


def _segment_bytes(records: list[RawRecord]) -> bytes:
    return gzip.compress(b"".join(_segment_line(r) for r in records), compresslevel=_GZIP_LEVEL, mtime=0)


@contextlib.contextmanager
def _locked(path: Path | None) -> Iterator[None]:
    if path is None:  # an object store: no lock (module docstring)
        yield
        return
    with open(path, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
