"""Record and replay HTTP responses as envelope files, as httpx transports.

**Format** (the one of ``data/statsapi/``): one gzip-compressed JSON envelope per response at
``<root>/<endpoint>/<method>/<method>_<k=v>..._<hash>.json.gz``::

    {"endpoint": "game", "method": "liveGameV1", "path_params": {"game_pk": "747175"}, "query_params": {},
     "url": "https://statsapi.mlb.com/api/v1.1/game/747175/feed/live", "status_code": 200,
     "fetched_at": "2024-10-27T23:59:58.123456+00:00", "response": {...the document...}}

Parameter values are strings. The file name lists the parameters (path and query, sorted by name) and 12 hex
digits of the sha256 of the request's :attr:`RequestKey.ident`; it is a convenience for people. **Matching never
reads file names**: a request is answered by the envelope whose ``endpoint``, ``method``, ``path_params`` and
``query_params`` equal the request's (values compared as strings, parameter order ignored). Envelopes written by
other tools (other hashes, other suffixes, ``.json`` without gzip) replay the same.

**Sequences**: a folder beside the files, named like a request's file without ``.json.gz``, holding envelopes of
that one request, is served one per request in file-name order, the last one repeating (a live game replayed
snapshot by snapshot). A request with a sequence ignores single files of the same request.

**Which request is this?** The transports read the :class:`RequestKey` a client puts into the request's
extensions under :data:`KEY_EXTENSION` (see :func:`key_extensions`): the client knows the endpoint and method
names and the parameters as recorded; the URL alone does not say them.

**Recording** (:class:`RecordTransport`) wraps a real transport and writes every response it returns (any
status) before handing it on. The first response to a request in a recording session replaces that request's
file; a second one turns the file into a sequence folder (``000001.json.gz``, ``000002.json.gz``...) and appends,
so a polled live game replays as it was polled; a request that already has a sequence folder appends to it.
Files are written to a temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from tidemark.errors import SourceError, did_you_mean
from tidemark.http.clock import Clock, SystemClock
from tidemark.http.errors import NoRecordingError

#: the request extension carrying a request's :class:`RequestKey`
KEY_EXTENSION = "tidemark.request_key"
_UNSAFE = re.compile(r"[^A-Za-z0-9=.,_-]+")
_ENVELOPE_SUFFIXES = (".json.gz", ".json")


@dataclass(frozen=True)
class RequestKey:
    """What identifies a recorded request: endpoint and method names, and its parameters as strings."""

    endpoint: str
    method: str
    path_params: tuple[tuple[str, str], ...]
    query_params: tuple[tuple[str, str], ...]

    @classmethod
    def of(
        cls, endpoint: str, method: str, path_params: Mapping[str, Any], query_params: Mapping[str, Any]
    ) -> RequestKey:
        return cls(endpoint, method, _pairs(path_params), _pairs(query_params))

    @property
    def ident(self) -> str:
        """Canonical JSON of ``[endpoint, method, path_params, query_params]`` (keys sorted)."""
        value = [self.endpoint, self.method, dict(self.path_params), dict(self.query_params)]
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()

    @property
    def stem(self) -> str:
        """The file name without ``.json.gz``: ``<method>_<k=v>..._<hash>``."""
        params = sorted(self.path_params + self.query_params)
        parts = [self.method, *(f"{k}={v}" for k, v in params)]
        readable = _UNSAFE.sub("-", "_".join(parts))[:150]
        return f"{readable}_{hashlib.sha256(self.ident.encode()).hexdigest()[:12]}"

    def describe(self) -> str:
        params = ", ".join(f"{k}={v}" for k, v in sorted(self.path_params + self.query_params))
        return f"{self.endpoint}/{self.method}" + (f" ({params})" if params else "")


def _pairs(params: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), str(v)) for k, v in params.items()))


def key_extensions(key: RequestKey) -> dict[str, Any]:
    """The ``extensions`` to build a request with so the recording transports know its key."""
    return {KEY_EXTENSION: key}


def request_key(request: httpx.Request) -> RequestKey:
    key = request.extensions.get(KEY_EXTENSION)
    if not isinstance(key, RequestKey):
        raise SourceError(f"GET {request.url}: no request key; build requests with key_extensions(key)")
    return key


def envelope_bytes(
    key: RequestKey, url: str, status: int, fetched_at: str, body: bytes, *, text: bool = False
) -> bytes:
    """The envelope of a response. A JSON ``body`` is kept byte for byte; with ``text`` (a body that is not JSON,
    e.g. an error page) the body is stored as a JSON string and the envelope says ``"text": true``."""
    head: dict[str, Any] = {
        "endpoint": key.endpoint,
        "method": key.method,
        "path_params": dict(key.path_params),
        "query_params": dict(key.query_params),
        "url": url,
        "status_code": status,
        "fetched_at": fetched_at,
    }
    if text:
        head["text"] = True
        body = orjson.dumps(body.decode("utf-8", "replace"))
    return orjson.dumps(head)[:-1] + b',"response":' + body + b"}"


def read_envelope(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
        value = orjson.loads(gzip.decompress(raw) if path.name.endswith(".gz") else raw)
    except (OSError, orjson.JSONDecodeError, gzip.BadGzipFile, EOFError) as exc:
        raise SourceError(f"{path}: not a readable envelope: {exc}") from exc
    if not isinstance(value, dict) or not {"endpoint", "method", "response"} <= value.keys():
        raise SourceError(f"{path}: not an envelope (needs endpoint, method and response)")
    return value


def _key_of(envelope: Mapping[str, Any]) -> RequestKey:
    return RequestKey.of(
        str(envelope["endpoint"]),
        str(envelope["method"]),
        envelope.get("path_params") or {},
        envelope.get("query_params") or {},
    )


def _is_envelope_file(path: Path) -> bool:
    return path.is_file() and path.name.endswith(_ENVELOPE_SUFFIXES)


@dataclass
class _Recorded:
    """The files recorded for one request: single files, or one sequence (ordered)."""

    singles: list[Path]
    sequence: list[Path] | None = None
    served: int = 0


class ReplayTransport(httpx.BaseTransport):
    """Answers requests from a recording directory (see the module docstring); never touches the network."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise SourceError(f"replay directory {self.root} does not exist")
        self._index: dict[tuple[str, str], dict[RequestKey, _Recorded]] = {}
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        key = request_key(request)
        with self._lock:
            recorded = self._folder(key.endpoint, key.method).get(key)
            path = self._pick(key, recorded, str(request.url))
        envelope = read_envelope(path)
        response = envelope["response"]
        body = response.encode() if envelope.get("text") and isinstance(response, str) else orjson.dumps(response)
        status = int(envelope.get("status_code") or 200)
        return httpx.Response(status, content=body, headers={"content-type": "application/json"}, request=request)

    def _pick(self, key: RequestKey, recorded: _Recorded | None, url: str) -> Path:
        if recorded is None:
            known = [k.describe() for k in self._folder(key.endpoint, key.method)]
            hint = did_you_mean(key.describe(), known)
            raise NoRecordingError(
                f"no recorded response for GET {url} ({key.describe()}) in {self.root}{hint}; "
                f"record it once with --record {self.root} (needs network)",
                url=url,
            )
        if recorded.sequence:
            path = recorded.sequence[min(recorded.served, len(recorded.sequence) - 1)]
            recorded.served += 1
            return path
        if len(recorded.singles) > 1:
            names = ", ".join(p.name for p in recorded.singles)
            raise SourceError(
                f"GET {url} is recorded more than once in {self.root} ({names}): keep one, "
                "or put them in a sequence folder to replay them in order"
            )
        return recorded.singles[0]

    def _folder(self, endpoint: str, method: str) -> dict[RequestKey, _Recorded]:
        cached = self._index.get((endpoint, method))
        if cached is None:
            cached = self._index[(endpoint, method)] = _index_folder(self.root / endpoint / method)
        return cached


def _index_folder(folder: Path) -> dict[RequestKey, _Recorded]:
    index: dict[RequestKey, _Recorded] = {}
    if not folder.is_dir():
        return index
    for entry in sorted(folder.iterdir()):
        if _is_envelope_file(entry):
            index.setdefault(_key_of(read_envelope(entry)), _Recorded([])).singles.append(entry)
        elif entry.is_dir():
            members = sorted(p for p in entry.iterdir() if _is_envelope_file(p))
            if members:
                index.setdefault(_sequence_key(entry, members), _Recorded([])).sequence = members
    return index


def _sequence_key(folder: Path, members: list[Path]) -> RequestKey:
    key = _key_of(read_envelope(members[0]))
    for path in members[1:]:
        other = _key_of(read_envelope(path))
        if other != key:
            raise SourceError(
                f"sequence {folder} mixes requests: {members[0].name} is {key.describe()}, "
                f"{path.name} is {other.describe()}; a sequence holds responses to one request"
            )
    return key


class RecordTransport(httpx.BaseTransport):
    """Sends requests through ``inner`` and writes every response into ``root`` (see the module docstring)."""

    def __init__(self, inner: httpx.BaseTransport, root: str | Path, *, clock: Clock | None = None) -> None:
        self.inner = inner
        self.root = Path(root)
        self.clock = clock or SystemClock()
        self._seen: dict[RequestKey, int] = {}
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        key = request_key(request)
        response = self.inner.handle_request(request)
        body = response.read()
        fetched_at = self.clock.now().isoformat()
        data = envelope_bytes(key, str(request.url), response.status_code, fetched_at, body, text=not _is_json(body))
        self._write(key, gzip.compress(data, mtime=0))
        return httpx.Response(response.status_code, headers=response.headers, content=body, request=request)

    def _write(self, key: RequestKey, data: bytes) -> None:
        folder = self.root / key.endpoint / key.method
        single = folder / f"{key.stem}.json.gz"
        sequence = folder / key.stem
        with self._lock:
            seen = self._seen.get(key, 0)
            self._seen[key] = seen + 1
            folder.mkdir(parents=True, exist_ok=True)
            if seen == 0 and not sequence.is_dir():
                _write_atomic(single, data)
                return
            sequence.mkdir(exist_ok=True)
            if single.exists():
                single.rename(sequence / _next_name(sequence))
            _write_atomic(sequence / _next_name(sequence), data)

    def close(self) -> None:
        self.inner.close()


def _is_json(body: bytes) -> bool:
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return True


def _next_name(sequence: Path) -> str:
    numbers = [int(p.name.split(".")[0]) for p in sequence.iterdir() if p.name.split(".")[0].isdigit()]
    return f"{max(numbers, default=0) + 1:06d}.json.gz"


def _write_atomic(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    temporary.replace(path)
