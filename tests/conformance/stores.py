"""The conformance list: every sink the write-contract suite runs against. A new sink is one entry here.

Each entry opens a *fresh connection* to one store that lives for the test (a DuckDB file on tmp_path, a database
on the test PostgreSQL server, a Delta table directory...). Capability gaps are declared by the sink class
(``Sink.capabilities``) and skipped centrally in ``conftest.py``, never inside a test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pytest

from tidemark.sinks import open_sink
from tidemark.sinks.base import Sink

Opener = Callable[[], Sink]  # picklable (a partial of open_sink), so a test can hand it to another process


@dataclass(frozen=True)
class Store:
    name: str
    make: Callable[[pytest.FixtureRequest, Path], Opener]  # -> a function opening a new connection
    marks: tuple[pytest.MarkDecorator, ...] = field(default=())


def _duckdb(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    url = f"duckdb:{tmp_path / 'store.duckdb'}"
    return partial(open_sink, url)


def _postgres(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    dsn = request.getfixturevalue("pg_dsn")  # a fresh database on the session's test server
    return partial(open_sink, dsn)


def _directory(kind: str, tmp_path: Path) -> Opener:
    url = f"{kind}:{tmp_path / kind}"  # Delta tables / Parquet / CSV files in a directory
    return partial(open_sink, url)


def _object_store(kind: str, request: pytest.FixtureRequest) -> Opener:
    server = request.getfixturevalue("s3_server")  # moto's S3 server on loopback (tests/s3server.py)
    return partial(open_sink, f"{kind}:{server.url(kind)}")  # a fresh prefix of the session's bucket


STORES: list[Store] = [
    Store("duckdb", _duckdb),
    Store("postgres", _postgres, marks=(pytest.mark.postgres,)),
    Store("delta", lambda request, tmp_path: _directory("delta", tmp_path)),
    Store("parquet", lambda request, tmp_path: _directory("parquet", tmp_path)),
    Store("csv", lambda request, tmp_path: _directory("csv", tmp_path)),
]

#: the lake sinks again, on object storage (s3:// on moto's server): the same sinks in another place, so only the
#: write-contract suite runs on them (tests/conformance/conftest.py; docs/sinks.md "Object storage")
OBJECT_STORES: list[Store] = [
    Store("delta-s3", lambda request, tmp_path: _object_store("delta", request), marks=(pytest.mark.s3,)),
    Store("parquet-s3", lambda request, tmp_path: _object_store("parquet", request), marks=(pytest.mark.s3,)),
]
