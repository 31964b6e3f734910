"""The raw store in one SQL table, written once for DuckDB and PostgreSQL (each backend supplies the driver).

The table (``_tidemark.raw_records``; PostgreSQL spells ``BLOB`` as ``bytea`` and the position as an identity)::

    position      BIGINT PRIMARY KEY     -- from a sequence: the record's position is (position,)
    endpoint      VARCHAR NOT NULL       -- the source, as in the envelope
    method        VARCHAR NOT NULL
    path_params   VARCHAR NOT NULL       -- canonical JSON object of strings (keys sorted)
    query_params  VARCHAR NOT NULL
    url           VARCHAR NOT NULL
    status_code   INTEGER NOT NULL
    fetched_at    TIMESTAMPTZ NOT NULL   -- when the response arrived (UTC)
    source_key    VARCHAR NOT NULL       -- raw.base.source_key: canonical [endpoint, method, path, query]
    content_hash  VARCHAR NOT NULL       -- raw.base.content_hash: sha256 of the canonical response
    size          BIGINT NOT NULL        -- bytes of the envelope, uncompressed
    document      BLOB NOT NULL          -- the envelope's JSON bytes, gzip-compressed (RFC 1952)
    UNIQUE (source_key, content_hash)    -- a duplicate is not stored again

A record is inserted with ``ON CONFLICT DO NOTHING``: no row back means it was a duplicate. Rows are never updated
or deleted. A read takes the positions and sizes first (to stop at ``max_bytes`` without loading documents), then
the documents of that range.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from tidemark.documents import Position
from tidemark.errors import SourceError
from tidemark.raw.base import AppendCounts, EndpointStats, RawRecord, RawStore, canonical, utc
from tidemark.raw.decode import decode_record

TABLE = "_tidemark.raw_records"
_COLUMNS = (
    "endpoint, method, path_params, query_params, url, status_code, fetched_at, source_key, content_hash, size, "
    "document"
)
#: what a read needs: the envelope's head is in the document (decoded by raw.decode, as for every store)
_READ = "position, fetched_at, content_hash, document"
INSERT = (
    f"INSERT INTO {TABLE} ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (source_key, content_hash) DO NOTHING RETURNING position"
)
_STATS = (
    f"SELECT endpoint, method, count(*), min(fetched_at), max(fetched_at), sum(size) FROM {TABLE} "
    "GROUP BY endpoint, method ORDER BY endpoint, method"
)
T = TypeVar("T")
_GZIP_LEVEL = 5  # a 1.6 MB pretty-printed feed: ~20 ms, ~11% of its size (level 9: 3x slower, 1% smaller)


class SqlRawStore(RawStore):
    """The raw store on a SQL table; a backend supplies ``_query`` (``?`` placeholders, rows back) and
    ``_transaction`` (runs a function in one transaction)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # one connection: one caller at a time

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _in_transaction(self, work: Callable[[], T]) -> T:
        raise NotImplementedError

    def append(self, records: Iterable[RawRecord]) -> AppendCounts:
        batch = list(records)
        with self._lock:
            return self._in_transaction(lambda: self._insert(batch))

    def _insert(self, records: list[RawRecord]) -> AppendCounts:
        positions: list[Position] = []
        for r in records:
            row = self._query(INSERT, _values(r))
            if row:
                positions.append((int(row[0][0]),))
        return AppendCounts(len(positions), len(records) - len(positions), positions)

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
        where, params = _filter(endpoint, method)
        with self._lock:
            sizes = self._query(
                f"SELECT position, size FROM {TABLE} WHERE position > ?{where} ORDER BY position LIMIT ?",
                [start, *params, max(limit, 1)],
            )
            last = _last_within(sizes, max_bytes)
            if last is None:
                return []
            rows = self._query(
                f"SELECT {_READ} FROM {TABLE} WHERE position > ? AND position <= ?{where} ORDER BY position",
                [start, last, *params],
            )
        return [self._record(row) for row in rows]

    def count(self, after: Position | None = None) -> int:
        with self._lock:
            rows = self._query(f"SELECT count(*) FROM {TABLE} WHERE position > ?", [self._start(after)])
        return int(rows[0][0])

    def stats(self) -> list[EndpointStats]:
        with self._lock:
            rows = self._query(_STATS)
        return [EndpointStats(e, m, int(n), utc(first), utc(last), int(size)) for e, m, n, first, last, size in rows]

    def _start(self, after: Position | None) -> int:
        if after is None:
            return 0
        if len(after) != 1 or not isinstance(after[0], int):
            raise SourceError(
                f"position {list(after)} is not a position of {self.display} (a position there is [n]): "
                "was the checkpoint written for another raw store?"
            )
        return after[0]

    def _record(self, row: tuple[Any, ...]) -> RawRecord:
        position, fetched, digest, blob = row
        where, at = f"{self.display}@{position}", (int(position),)
        return decode_record(bytes(blob), fetched, position=at, origin=where, digest=digest, compressed=True)


def _values(r: RawRecord) -> list[Any]:
    return [
        r.endpoint,
        r.method,
        canonical(r.path_params).decode(),
        canonical(r.query_params).decode(),
        r.url,
        r.status_code,
        utc(r.fetched_at),
        r.source_key,
        r.content_hash,
        r.size,
        gzip.compress(r.data, compresslevel=_GZIP_LEVEL, mtime=0),
    ]


def _filter(endpoint: str | None, method: str | None) -> tuple[str, list[Any]]:
    where, params = "", list[Any]()
    for column, value in (("endpoint", endpoint), ("method", method)):
        if value is not None:
            where += f" AND {column} = ?"  # a column name of this module, not user input
            params.append(value)
    return where, params


def _last_within(sizes: list[tuple[Any, ...]], max_bytes: int) -> int | None:
    """The last position of a read: as many rows as fit ``max_bytes`` (at least one)."""
    last, total = None, 0
    for position, size in sizes:
        if last is not None and total + int(size) > max_bytes:
            break
        last, total = int(position), total + int(size)
    return last


__all__ = ["INSERT", "TABLE", "SqlRawStore"]
