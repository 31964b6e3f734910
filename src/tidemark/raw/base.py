"""The raw store: every API response kept as an append-only record, the source of truth tables are rebuilt from.

A **record** is one response as it arrived::

    RawRecord(endpoint="game", method="liveGameV1",            # the source: what was asked ...
              path_params={"game_pk": "747175"}, query_params={},
              url="https://statsapi.mlb.com/api/v1.1/game/747175/feed/live",
              status_code=200,                                 # ... and what was answered
              fetched_at=datetime(..., tzinfo=UTC),           # when the response arrived (UTC)
              content_hash="9f2c...",                          # sha256 of the response, canonical (below)
              data=b'{"endpoint": "game", ..., "response": {...}}',   # the document: the envelope's JSON bytes
              position=(17,))                                  # set by the store that holds it

The **document** is the envelope of the recorded files of ``data/statsapi/`` (UTF-8 JSON, one object)::

    {"endpoint": "game", "method": "liveGameV1", "path_params": {"game_pk": "747175"}, "query_params": {},
     "url": "https://...", "status_code": 200, "response": <the API's JSON document>}

so mappings read it unchanged (``document: ["$.response", "$"]``). An envelope is kept byte for byte as it was
given (extra keys included); a bare document (no envelope) is wrapped in a minimal one by :func:`bare_record`.
Path and query parameter values are strings. When a record becomes a :class:`~tidemark.documents.RawDocument`,
``fetched_at`` is its ``captured_at`` (and its ``modified_at``, for mappings falling back to ``file_modified``).

**Content hash**: ``sha256`` (hex) of the response serialised canonically: ``orjson.dumps(response,
option=OPT_SORT_KEYS)`` (keys sorted, no whitespace) — see :func:`content_hash`. The **source key** is the
canonical JSON of ``[endpoint, method, path_params, query_params]`` (:func:`source_key`).

**Append-only, deduplicated**: a record is never updated or deleted in place. Appending a record whose source key
and content hash are those of a record already stored (any earlier one, not only the latest) stores nothing and
counts it as a duplicate: polling an unchanged game costs nothing downstream.

**Positions**: every record has a position in one total order per store (what a stream's checkpoint stores); a
store reads records in increasing position, and ``read(after=p)`` resumes strictly after ``p``. A position appended
later is greater than every position a reader could have seen before (so a stream following the store misses
nothing); each backend says how it keeps that promise. Positions are opaque outside their store.

A backend is one file (``raw/directory.py``, ``raw/duckdb.py``, ``raw/postgres.py``) implementing
:class:`RawStore`; :func:`tidemark.raw.open_raw` picks one from a URL.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Protocol

import orjson

from tidemark.documents import Position, RawDocument
from tidemark.errors import SourceError

#: the envelope's keys a record's source and status are read from
ENVELOPE_KEYS = ("endpoint", "method", "path_params", "query_params", "url", "status_code", "response")


@dataclass(frozen=True)
class RawRecord:
    """One stored response (see the module docstring). ``error`` is set (and the rest may be empty) for a record
    the store could not read back: the stream quarantines it with its position and goes on."""

    endpoint: str
    method: str
    path_params: dict[str, str]
    query_params: dict[str, str]
    url: str
    status_code: int
    fetched_at: datetime
    content_hash: str
    data: bytes
    position: Position | None = None
    origin: str = ""
    error: str | None = None

    @property
    def source_key(self) -> str:
        return source_key(self.endpoint, self.method, self.path_params, self.query_params)

    @property
    def size(self) -> int:
        return len(self.data)

    def at(self, position: Position, origin: str) -> RawRecord:
        """This record as stored at ``position``."""
        return replace(self, position=position, origin=origin)

    def document(self) -> RawDocument:
        """The record as the engines read it: the envelope, fetched_at as the capture time."""
        return RawDocument(
            self.data,
            self.origin,
            captured_at=self.fetched_at,
            error=self.error,
            modified_at=self.fetched_at,
            position=self.position,
            content_hash=self.content_hash or None,
        )


@dataclass(frozen=True)
class AppendCounts:
    """What one ``append`` did: records stored, and records already there (stored once, not again)."""

    appended: int = 0
    duplicates: int = 0
    positions: list[Position] = field(default_factory=list)  # of the records appended, in order

    def __add__(self, other: AppendCounts) -> AppendCounts:
        return AppendCounts(
            self.appended + other.appended, self.duplicates + other.duplicates, self.positions + other.positions
        )


@dataclass(frozen=True)
class EndpointStats:
    """Records of one endpoint/method in a store (``tidemark raw ls``)."""

    endpoint: str
    method: str
    records: int
    first_fetched: datetime | None
    last_fetched: datetime | None
    bytes: int


class RawStore(ABC):
    """An append-only store of :class:`RawRecord` objects with positions in one total order. Call protocol::

        counts = store.append(records)          # -> AppendCounts (appended, duplicates); durable when it returns
        batch = store.read(after=p, limit=256, max_bytes=64 << 20, endpoint="game", method="liveGameV1")
        #   -> at most ``limit`` records (and about ``max_bytes``: always at least one), in position order,
        #      strictly after ``p``; [] when there is nothing more. A record that cannot be read comes with
        #      ``error`` set and its position.
        store.stats()                           # -> [EndpointStats] per endpoint/method
        store.count(after=p)                    # -> records after p (a stream's lag)
        store.close()                           # also as a context manager

    ``append`` is all-or-nothing per call where the backend is transactional (DuckDB, PostgreSQL: one transaction;
    a directory: one segment file renamed into place).
    """

    #: what messages and summaries show (never a password)
    display: str = ""

    @abstractmethod
    def append(self, records: Iterable[RawRecord]) -> AppendCounts: ...

    @abstractmethod
    def read(
        self,
        after: Position | None = None,
        *,
        limit: int = 256,
        max_bytes: int = 64 << 20,
        endpoint: str | None = None,
        method: str | None = None,
    ) -> list[RawRecord]: ...

    @abstractmethod
    def stats(self) -> list[EndpointStats]: ...

    def count(self, after: Position | None = None) -> int:
        """Records strictly after ``after`` (all when None): a stream's lag. This default reads them in bounded
        batches; a backend that can count without reading overrides it."""
        return sum(1 for _ in records(self, after, limit=1024))

    def close(self) -> None:  # noqa: B027 - a store without a connection has nothing to close
        pass

    def __enter__(self) -> RawStore:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class Readable(Protocol):
    """Anything that reads records like :meth:`RawStore.read` (a store, or a wrapper around one)."""

    def read(
        self,
        after: Position | None = None,
        *,
        limit: int = 256,
        max_bytes: int = 64 << 20,
        endpoint: str | None = None,
        method: str | None = None,
    ) -> list[Any]: ...


def records(
    store: Readable,
    after: Position | None = None,
    *,
    limit: int = 256,
    max_bytes: int = 64 << 20,
    endpoint: str | None = None,
    method: str | None = None,
) -> Iterator[RawRecord]:
    """Every record of ``store`` after ``after`` (of one endpoint / method), read in bounded batches: the one
    loop every reader of a whole store uses (memory: one batch)."""
    cursor = after
    while batch := store.read(cursor, limit=limit, max_bytes=max_bytes, endpoint=endpoint, method=method):
        yield from batch
        cursor = batch[-1].position


def canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def content_hash(response: Any) -> str:
    """The content hash of a response (a parsed JSON value): sha256 of its canonical JSON."""
    return hashlib.sha256(canonical(response)).hexdigest()


def source_key(endpoint: str, method: str, path_params: dict[str, str], query_params: dict[str, str]) -> str:
    return canonical([endpoint, method, path_params, query_params]).decode()


def record_from_envelope(data: bytes, fetched_at: datetime, origin: str = "", *, parsed: Any = None) -> RawRecord:
    """A record of an envelope's bytes (kept as they are; ``parsed``: the same bytes parsed, if the caller has
    them). Raises :class:`SourceError` when ``data`` is not an envelope (not JSON, or no ``endpoint`` /
    ``method`` / ``response``)."""
    try:
        envelope = orjson.loads(data) if parsed is None else parsed
    except orjson.JSONDecodeError as exc:
        raise SourceError(f"{origin or 'record'}: not JSON: {exc}") from exc
    if not is_envelope(envelope):
        raise SourceError(f"{origin or 'record'}: not an envelope (needs endpoint, method and response)")
    return RawRecord(
        endpoint=str(envelope["endpoint"]),
        method=str(envelope["method"]),
        path_params=string_params(envelope.get("path_params")),
        query_params=string_params(envelope.get("query_params")),
        url=str(envelope.get("url") or ""),
        status_code=int(envelope.get("status_code") or 200),
        fetched_at=utc(fetched_at),
        content_hash=content_hash(envelope["response"]),
        data=data,
        origin=origin,
    )


def record_from_response(
    endpoint: str,
    method: str,
    response: bytes,
    fetched_at: datetime,
    *,
    path_params: dict[str, str] | None = None,
    query_params: dict[str, str] | None = None,
    url: str = "",
    status_code: int = 200,
) -> RawRecord:
    """A record of a response's JSON bytes, wrapped in a new envelope (the API client's way in)."""
    try:
        parsed = orjson.loads(response)
    except orjson.JSONDecodeError as exc:
        raise SourceError(f"{url or endpoint + '/' + method}: the response is not JSON: {exc}") from exc
    path, query = string_params(path_params), string_params(query_params)
    envelope = {
        "endpoint": endpoint,
        "method": method,
        "path_params": path,
        "query_params": query,
        "url": url,
        "status_code": status_code,
        "response": orjson.Fragment(response),
    }
    return RawRecord(
        endpoint, method, path, query, url, status_code, utc(fetched_at), content_hash(parsed), orjson.dumps(envelope)
    )


def bare_record(document: bytes, fetched_at: datetime, *, endpoint: str, method: str, origin: str = "") -> RawRecord:
    """A bare document (no envelope) in a minimal envelope naming ``endpoint`` / ``method`` (e.g. its folders)."""
    record = record_from_response(endpoint, method, document, fetched_at)
    return replace(record, origin=origin)


def is_envelope(value: Any) -> bool:
    return isinstance(value, dict) and "response" in value and "endpoint" in value and "method" in value


def broken(position: Position | None, origin: str, reason: str, fetched_at: datetime | None = None) -> RawRecord:
    """A record that could not be read back: ``error`` says why; its position lets a stream step over it."""
    when = fetched_at or datetime.fromtimestamp(0, UTC)
    return RawRecord("", "", {}, {}, "", 0, when, "", b"", position, origin, reason)


def utc(when: datetime) -> datetime:
    """``when`` in UTC (a naive time is taken as UTC)."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def string_params(params: Any) -> dict[str, str]:
    """An envelope's parameters as strings (a non-string value as its JSON); anything but a mapping: none."""
    if not isinstance(params, dict):
        return {}
    return {str(k): v if isinstance(v, str) else orjson.dumps(v).decode() for k, v in params.items()}


def bounded(records: Sequence[RawRecord], limit: int, max_bytes: int) -> list[RawRecord]:
    """The first records within ``limit`` and ``max_bytes`` (at least one, so a huge record still moves on)."""
    out: list[RawRecord] = []
    size = 0
    for record in records[:limit]:
        if out and size + record.size > max_bytes:
            break
        out.append(record)
        size += record.size
    return out


__all__ = [
    "AppendCounts",
    "EndpointStats",
    "RawRecord",
    "RawStore",
    "bare_record",
    "content_hash",
    "record_from_envelope",
    "record_from_response",
    "records",
    "source_key",
]
