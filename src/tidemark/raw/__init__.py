"""The raw store: every API response as an append-only record with a position (the format: ``raw/base.py``).

Backends, one file each: a directory (``raw/directory.py``), DuckDB (``raw/duckdb.py``) and PostgreSQL
(``raw/postgres.py``), picked by :func:`open_raw` from the ``RAW`` a user gives: a directory path, ``duckdb:FILE`` or
a ``postgresql://`` URL. :class:`~tidemark.raw.source.RawSource` reads a store as a
:class:`~tidemark.sources.Source`, so ``tidemark.run`` (and the stream) read it like files. Drivers load when a
store is opened.
"""

from __future__ import annotations

import re
from pathlib import Path

from tidemark.errors import ConfigError
from tidemark.raw.base import (
    AppendCounts,
    EndpointStats,
    RawRecord,
    RawStore,
    record_from_envelope,
    record_from_response,
)
from tidemark.raw.source import RawSource
from tidemark.storage import is_remote

_PG_SCHEMES = ("postgresql", "postgres")


def open_raw(url: str, *, create: bool = False) -> RawStore:
    """The raw store at ``url``: ``duckdb:FILE``, ``postgresql://...``, or a directory path.

    With ``create`` a missing store is created (a directory, a DuckDB file, the table in a PostgreSQL database);
    without it a store that is not there is a :class:`~tidemark.errors.SourceError` naming it and the fix.
    """
    scheme, sep, rest = url.partition(":")
    if scheme == "duckdb" and sep:
        from tidemark.raw.duckdb import DuckDBRawStore

        if not rest:
            raise ConfigError("raw store duckdb: needs a file: duckdb:raw.duckdb")
        return DuckDBRawStore(rest, create=create)
    if scheme in _PG_SCHEMES and rest.startswith("//"):
        from tidemark.raw.postgres import PostgresRawStore

        return PostgresRawStore(url, create=create)
    if sep and re.fullmatch(r"[a-z][a-z0-9+.-]+", scheme) and not Path(url).exists() and not is_remote(url):
        raise ConfigError(
            f"unknown raw store {url!r}: give a directory, duckdb:FILE or a postgresql://user@host/db URL"
        )
    from tidemark.raw.directory import DirectoryRawStore  # a local directory or s3://bucket/prefix (storage.py)

    return DirectoryRawStore(url, create=create)


__all__ = [
    "AppendCounts",
    "EndpointStats",
    "RawRecord",
    "RawSource",
    "RawStore",
    "open_raw",
    "record_from_envelope",
    "record_from_response",
]
